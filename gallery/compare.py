"""The compare table: the same facts of 2–6 models side by side, grouped, with differences marked.

Rows come from one table of (group, field, getter) so the page, the CSV export and the tests read the
same thing: the model-wide rows below, and the rows each mixer and feed-forward kind declares
(``gallery/kinds/``, its ``facts``), read over the blocks of that kind. A fact that differs between block kinds of one model is shown per kind
("4,096 (sliding) / none (full)"). "none" means a setting the model could have and does not (no
window, no soft-cap); "—" means the fact does not apply (KV heads of MLA, experts of a dense FFN).
A row that applies to none of the compared models is left out, as is a parameter component that
is zero in all of them. Counts are exact ints (shown compactly, 8.03B, by :func:`frame`; in full
in :func:`to_csv`); the published sizes follow them as the publisher writes them, with what differs
("3.6B (input embedding left out, rounding)", ``gallery.published``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd

from . import block_attn_residual, byte_latent, draft_head, gated_norm, hyper, ngram_embedding, recurrent_stacks
from .catalog import attention_label
from .counts import COMPONENTS, active_params, breakdown, total_params, unrouted
from .published import published_text
from .memory import kv_bytes, kv_bytes_per_token, state_bytes
from .pattern import summary
from .sharedblock import summary as shared_summary
from .kinds import FFNS, MIXERS, ffn_kind, mixer_kind
from .kinds.contract import or_none
from .memo import per_object
from .spec import Block, Spec

CACHE_AT = 131_072  # the context at which the table compares whole caches (windows, states, compression)
GROUPS = ("Parameters", "Attention", "Fixed-state mixers", "Norms", "Positions", "Feed-forward",
          "Vocabulary & context")


def compact(n: int | None) -> str:
    """A count in compact units, three significant digits: 8,030,261,248 → "8.03B", 124,439,808 → "124M"; None (a
    figure the config leaves undefined, such as the active parameters of an MoE without top_k) → "undefined"."""
    if n is None:
        return "undefined"
    rounded = float(f"{n:.3g}")  # round first, so 999,885,952 becomes 1.00B rather than 1000M
    for size, unit in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if abs(rounded) >= size:
            value = rounded / size
            digits = 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
            return f"{value:.{digits}f}{unit}"
    return str(n)


def exact(value: Any) -> str:
    """A cell value written out in full: 8,030,261,248; 1e-05; 10,000; yes/no; — for not applicable."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 1000 and value.is_integer() else f"{value:g}"
    return str(value)


# --- per block kind --------------------------------------------------------------------------


def _per_kind(spec: Spec, get: Callable[[Block], Any], applies: Callable[[Block], bool] = lambda b: True) -> Any:
    """``get(block)`` for every block kind: the value if all agree, else "v (kind) / w (kind, kind)".

    Only the block kinds the fact ``applies`` to are read (a mixer fact skips Nemotron-H's MoE-only
    layers); — when it applies to none.
    """
    read = [(kind, get(block)) for kind, block in spec.arch.blocks.items() if applies(block)]
    if not read:
        return None
    kinds: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for kind, value in read:
        kinds.setdefault(exact(value), []).append(kind)
        values.setdefault(exact(value), value)
    if len(values) <= 1:
        return next(iter(values.values()), None)
    return " / ".join(f"{text} ({', '.join(names)})" for text, names in kinds.items())


Getter = Callable[[Spec], Any]


def _mixer_fact(field: str) -> Getter:
    """A fact of the token mixer, read by its kind over the blocks whose mixer kind has it (— when none does)."""
    def get(block: Block) -> Any:  # the first of the block's mixers (Falcon-H1: two) whose kind has the fact
        return next(f.get(m) for m in block.mixers for f in mixer_kind(m).facts if f.field == field)
    return lambda spec: _per_kind(spec, get, lambda b: any(
        f.field == field for m in b.mixers for f in mixer_kind(m).facts))


def _ffn_fact(field: str) -> Getter:
    """A fact of the feed-forward, read by its kind (— for a kind without it) over the blocks with one."""
    def get(block: Block) -> Any:  # the first of the block's feed-forwards (LongCat-Flash: a shortcut MoE) with it
        return next((f.get(x) for x in block.ffns for f in ffn_kind(x).facts if f.field == field), None)
    return lambda spec: _per_kind(spec, get, lambda b: b.ffn is not None)  # Nemotron-H: mixer-only blocks skipped


def _kind_facts() -> list[tuple[str, str, Getter]]:
    """Every row a kind declares, once, in registry order (mixer kinds, then feed-forward kinds)."""
    seen: dict[tuple[str, str], Getter] = {}
    for kinds, fact in ((MIXERS, _mixer_fact), (FFNS, _ffn_fact)):
        for kind in kinds:
            for f in kind.facts:
                seen.setdefault((f.group, f.field), fact(f.field))
    return [(group, field, get) for (group, field), get in seen.items()]


_MODEL_FACTS: list[tuple[str, str, Getter]] = [
    ("Attention", "attention kind", attention_label),
    ("Attention", "layer pattern", lambda s: summary(s.arch.layers)),
    ("Attention", "shared blocks", lambda s: shared_summary(s.arch)),
    ("Attention", "recurrent stacks", lambda s: recurrent_stacks.words(s.arch.recurrent_stacks)),
    ("Norms", "norm", lambda s: s.arch.norm.kind + (" (bias)" if s.arch.norm.bias else "")
     + ("" if s.arch.norm.weights else " (no weights)")),
    ("Norms", "eps", lambda s: s.arch.norm.eps),
    ("Norms", "placement", lambda s: _per_kind(s, lambda b: b.norm_placement)),
    ("Norms", "final norm", lambda s: s.arch.final_norm),
    ("Norms", "embedding norm", lambda s: s.arch.embedding.norm),
    ("Norms", "parallel block", lambda s: _per_kind(s, lambda b: b.parallel)),
    ("Norms", "hyper-connections", lambda s: hyper.fact(s.arch.hyper_connections)),
    ("Norms", "block attention residuals", lambda s: block_attn_residual.fact(s.arch.block_attn_residual)),
    ("Norms", "reversible two-stream layers", lambda s: s.arch.reversible),
    ("Norms", "AltUp", lambda s: f"{a.streams} streams" if (a := s.arch.altup) else "none"),
    ("Norms", "LAuReL", lambda s: f"rank {r.rank}" if (r := s.arch.laurel) else "none"),
    ("Norms", "gated norm", lambda s: _per_kind(s, lambda b: gated_norm.text(b.gated_norm))),
    ("Positions", "learned positions", lambda s: or_none(s.arch.embedding.learned_positions)),
    ("Positions", "sinusoidal positions", lambda s: f"offset {p.offset}" if (p := s.arch.embedding.sinusoidal_positions)
     else "none"),
    ("Positions", "axial positions", lambda s: " × ".join(map(str, a.shape)) if (a := s.arch.embedding.axial_positions)
     else "none"),
    ("Vocabulary & context", "vocab", lambda s: s.arch.vocab_size),
    ("Vocabulary & context", "context", lambda s: or_none(s.arch.context_length)),
    ("Vocabulary & context", "d_model", lambda s: s.arch.d_model),
    ("Vocabulary & context", "layers", lambda s: s.arch.n_layers),
    ("Vocabulary & context", "tied embeddings", lambda s: s.arch.embedding.tied),
    ("Vocabulary & context", "scaled embeddings", lambda s: s.arch.embedding.scaled),
    ("Vocabulary & context", "embedding multiplier", lambda s: or_none(s.arch.embedding.multiplier)),
    ("Vocabulary & context", "prompt rows", lambda s: f"{p.types} × {p.length}" if (p := s.arch.embedding.prompt_rows)
     else "none"),
    ("Vocabulary & context", "segment embedding", lambda s: or_none(s.arch.embedding.segments)),
    ("Vocabulary & context", "hashed n-gram embeddings", lambda s: ngram_embedding.fact(s.arch.ngram_embedding)),
    ("Vocabulary & context", "byte-level parts", lambda s: byte_latent.summary(s.arch)),  # BLT
    ("Vocabulary & context", "per-layer embeddings", lambda s: f"d_per_layer {s.arch.per_layer_embedding.d_per_layer}"
     if s.arch.per_layer_embedding else "none"),
    ("Vocabulary & context", "final logit soft-cap", lambda s: or_none(s.arch.embedding.logit_softcap)),
    ("Vocabulary & context", "draft head", lambda s: draft_head.fact(s.arch)),
    ("Vocabulary & context", "KV cache bytes / token (bf16)", lambda s: kv_bytes_per_token(s.arch)),
    ("Vocabulary & context", "fixed state bytes / sequence (bf16)", lambda s: state_bytes(s.arch) or None),
    ("Vocabulary & context", f"cache bytes at {CACHE_AT:,} tokens (bf16)", lambda s: kv_bytes(s.arch, CACHE_AT)),
]
_FACTS = sorted(_MODEL_FACTS + _kind_facts(), key=lambda fact: GROUPS.index(fact[0]))  # stable: by group, in order


# --- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One fact of every compared model."""

    group: str
    field: str
    values: tuple  # raw values (ints stay ints; per-kind values are text)
    exact: tuple[str, ...]  # the values written out in full
    differs: bool


_CANDIDATES: list[tuple[str, str, Callable[[list], bool]]] = [
    ("Parameters", "total", lambda values: True), ("Parameters", "active", lambda values: True),
    *(("Parameters", f"published {which}", any) for which in ("total", "active")),
    *(("Parameters", component, any) for component in COMPONENTS),
    *((group, field, lambda values: any(v is not None for v in values)) for group, field, _ in _FACTS)]
"""Every row the table can have, in order, with the test that keeps it: a published size or a parameter
component when some model has one, a fact when it applies to some model."""


@per_object
def _column(spec: Spec) -> tuple[tuple[Any, str], ...]:
    """One model's (value, value written out) for every row of :data:`_CANDIDATES`, once per spec object (a
    selection of models only assembles them: the page, each change list and the figure read the same ones)."""
    arch, parts = spec.arch, breakdown(spec.arch)
    values = [total_params(arch), compact(None) if unrouted(arch) else active_params(arch),
              published_text(spec, "total"), published_text(spec, "active"), *(parts[c] for c in COMPONENTS),
              *(get(spec) for _, _, get in _FACTS)]
    return tuple((v, exact(v)) for v in values)


def rows(specs: list[Spec]) -> list[Row]:
    """Every fact of the compared models, in :data:`GROUPS` order."""
    columns = [_column(s) for s in specs]
    out = []
    for i, (group, field, keep) in enumerate(_CANDIDATES):
        values = [c[i][0] for c in columns]
        if keep(values):
            texts = tuple(c[i][1] for c in columns)
            out.append(Row(group, field, tuple(values), texts, len(set(texts)) > 1))
    return out


def _columns(specs: list[Spec]) -> list[str]:
    """Column labels: the spec names, with the slug added where two specs share a name."""
    names = [s.name for s in specs]
    return [n if names.count(n) == 1 else f"{n} ({s.slug})" for n, s in zip(names, specs)]


def _index(table: list[Row]) -> pd.MultiIndex:
    return pd.MultiIndex.from_tuples([(r.group, r.field) for r in table], names=["group", "field"])


def frame(specs: list[Spec], exact_counts: bool = False) -> pd.DataFrame:
    """The table for display: index (group, field), one text column per model.

    Parameter counts are compact (8.03B) unless ``exact_counts`` (8,030,261,248).
    """
    return marked_frame(specs, exact_counts)[0]


def marked_frame(specs: list[Spec], exact_counts: bool = False) -> tuple[pd.DataFrame, pd.Series]:
    """:func:`frame`, and True for its rows whose values are not all equal (same index): one pass over the rows."""
    table = rows(specs)
    index = _index(table)
    data = [[compact(v) if isinstance(v, int) and r.group == "Parameters" and not exact_counts else t
             for v, t in zip(r.values, r.exact)]
            for r in table]
    return pd.DataFrame(data, index=index, columns=_columns(specs)), pd.Series([r.differs for r in table], index=index)


def to_csv(specs: list[Spec]) -> str:
    """The table as CSV with exact values: group, field, then one column per model."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["group", "field", *_columns(specs)])
    for r in rows(specs):
        writer.writerow([r.group, r.field, *r.exact])
    return buf.getvalue()


# --- stories: comparisons worth opening first ------------------------------------------------


@dataclass(frozen=True)
class Story:
    """A ready-made comparison: the models, in order, and what to look at."""

    title: str
    slugs: tuple[str, ...]
    look_at: str


STORIES = (
    Story("Hybrid attention: Qwen3 → Qwen3-Next → Qwen3.5",
          ("qwen3-30b-a3b", "qwen3-next-80b-a3b-instruct", "qwen3.5-397b-a17b"),
          "Qwen3 attends with softmax in every layer; Qwen3-Next and Qwen3.5 swap three layers in four for Gated "
          "DeltaNet, so the cache grows in a quarter of the layers and the rest keep a fixed state (the cache "
          "curve, 'cache bytes at 131,072 tokens (bf16)'). The config of Qwen3.5-35B-A3B is not bundled; 397B-A17B stands in."),
    Story("The KV-cache diet: MHA → GQA → MLA",
          ("llama-2-7b-hf", "llama-3.1-8b-instruct", "deepseek-v2-lite-chat"),
          "32 KV heads, then 8 shared by groups of four, then one compressed latent: 'KV cache bytes / token (bf16)'."),
    Story("Sliding windows: Mistral → Gemma 2 → Gemma 3",
          ("mistral-7b-v0.1", "gemma-2-9b", "gemma-3-27b-it"),
          "Every layer windowed, then alternating with global layers, then five local layers to one global: "
          "'layer pattern' and the cache curve flattening."),
    Story("Nemotron 3 in 2026: Nano → Super → 3.5 Lightning",
          ("nvidia-nemotron-3-nano-30b-a3b", "nvidia-nemotron-3-super-120b-a12b", "nvidia-nemotron-3.5-lightning-30b-a3b"),
          "One hybrid of state-space mixers, MoE layers and a few attention layers without positions, at three points: "
          "Super is deeper ('layers') and routes 22 of 512 experts ('routed experts', 'top-k') inside a 1,024-wide "
          "latent, for four times the parameters yet only 8 KiB of cache per token; Lightning keeps the Nano stack "
          "layer for layer and stretches the 'context' to 1,048,576 positions."),
)


def stories(available: set[str]) -> list[Story]:
    """The stories whose models are all in ``available`` (a spec folder may hold other models)."""
    return [s for s in STORIES if set(s.slugs) <= available]


# --- charts ----------------------------------------------------------------------------------


def kv_curve(specs: list[Spec], contexts: list[int], batch: int = 1) -> pd.DataFrame:
    """Cache bytes (bf16: KV per token, window-aware, plus fixed states) at each context length a model supports,
    long form for a line chart."""
    return pd.DataFrame([{"model": name, "context": n, "kv_bytes": kv_bytes(s.arch, n, batch)}
                         for name, s in zip(_columns(specs), specs) for n in contexts
                         if n <= (s.arch.context_length or n)],  # no model drawn past the context it supports
                        columns=["model", "context", "kv_bytes"])


def breakdown_frame(specs: list[Spec]) -> pd.DataFrame:
    """Parameters per nonzero component, long form (model, component, params) for a stacked bar chart."""
    return pd.DataFrame([{"model": name, "component": c, "params": n}
                         for name, s in zip(_columns(specs), specs) for c, n in breakdown(s.arch).items() if n],
                        columns=["model", "component", "params"])
