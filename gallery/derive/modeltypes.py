"""Every model type transformers maps to a causal-LM class, and what the gallery does with it.

The table is data, ``model_types.tsv`` beside this module: one row per key of transformers'
``MODEL_FOR_CAUSAL_LM_MAPPING_NAMES`` (``models/auto/modeling_auto.py``), with its status

- ``read``: a family in ``families/`` reads it (``detail``: "via text_config (…)" for a multimodal
  wrapper read through its language model's config);
- ``todo``: a decoder-only text LM the gallery does not read yet (``detail``: what it needs);
- ``out``: not a decoder-only text LM (``detail``: why, one of :data:`REASONS`),

and a ``note`` (such as "transformers cannot build its default config"). The README's "Supported
model types" section is generated from it (``python -m gallery types``); the tests check that the
table covers exactly the mapping's keys and that ``read`` means read.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

TABLE = Path(__file__).with_name("model_types.tsv")
STATUSES = ("read", "todo", "out")
REASONS = ("encoder with an LM head", "seq2seq decoder", "speech", "music", "vision", "OCR", "speech and vision")
BEGIN = "<!-- model-types: generated from gallery/derive/model_types.tsv by python -m gallery types -->"
END = "<!-- /model-types -->"


@dataclass(frozen=True)
class ModelType:
    """One row of the table."""

    name: str
    status: str
    detail: str
    note: str


def load(path: Path = TABLE) -> list[ModelType]:
    """The table's rows in file order (lines starting with ``#`` are comments)."""
    with path.open(newline="", encoding="utf-8") as f:
        lines = [line for line in f if not line.startswith("#")]
    return [ModelType(*row) for row in csv.reader(lines, delimiter="\t")]


def _code(names) -> str:
    return ", ".join(f"`{n}`" for n in names)


def section(rows: list[ModelType]) -> str:
    """The README section (between :data:`BEGIN` and :data:`END`) for ``rows``."""
    by = {s: [r for r in rows if r.status == s] for s in STATUSES}
    in_scope = len(by["read"]) + len(by["todo"])
    lines = [
        BEGIN,
        f"`transformers` 5.23 maps {len(rows)} model types to a causal-LM class "
        f"(`MODEL_FOR_CAUSAL_LM_MAPPING_NAMES`). {in_scope} are decoder-only text language models (counting "
        f"multimodal wrappers read through their `text_config`); the gallery reads **{len(by['read'])}** of them. "
        "The list is data, `gallery/derive/model_types.tsv`; regenerate this section with `python -m gallery types`.",
        "",
        f"**Read ({len(by['read'])}):** {_code(r.name for r in by['read'])}.",
        "",
    ]
    lines += [f"- `{r.name}`: {'; '.join(filter(None, (r.detail, r.note)))}" for r in by["read"] if r.detail or r.note]
    if by["todo"]:  # a type transformers adds is listed here, with what it needs, until it is read
        lines += ["", f"**Not read yet ({len(by['todo'])}):**", "", "| type | what it needs | note |", "|---|---|---|"]
        lines += [f"| `{r.name}` | {r.detail} | {r.note} |" for r in by["todo"]]
    else:
        lines += ["", "Every decoder-only text type is read."]
    reasons = Counter(r.detail for r in by["out"])
    lines += ["", f"**Left out ({len(by['out'])}), not decoder-only text models:**", "", "| why | types |", "|---|---|"]
    lines += [f"| {why} | {_code(r.name for r in by['out'] if r.detail == why)} |" for why in reasons]
    return "\n".join(lines + [END])


def updated(readme: str, rows: list[ModelType]) -> str:
    """``readme`` with its generated section replaced by the one for ``rows``."""
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[:start] + section(rows) + readme[end:]
