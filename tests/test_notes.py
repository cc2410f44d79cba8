"""Curated facts of every bundled spec: notes that point into the reference implementation, with checkable numbers.

Every note names where the installed ``transformers`` shows it, as
``models/<dir>/<file>.py: <Name>`` (a class or function of that file) or
``models/<dir>/<file>.py: <Class>.<method>`` (a method defined in that class's body).

Numbers a note states next to a known noun ("39 layers", "a 129-token sliding window", "8 KV heads",
"top-10", "θ 1,000,000", "X of Y parameters active", "6 KiB per token", ...) must be values the spec holds for
that noun (:data:`CLAIMS`, :data:`CACHE_CLAIMS`); numbers about another model go in a parenthesis that opens with
its name and a colon, "(V3: 256)", and are not checked.

A code name a note uses (``q_proj``, ``norm_topk_prob``: a snake_case word) must be in the source of the class or
function its ref cites, or be a config key (the vendored config, the model's configuration file) or a name of
transformers' shared modules; a module or attribute of another class of the model means the ref does not show the
claim (split the note), a name found nowhere is stale or misspelt.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from pathlib import Path

import pytest

from gallery.loader import load_spec
from gallery.spec import Note

from .conftest import SPEC_DIR, SPEC_FILES

REF = re.compile(r"^(?P<file>models/[A-Za-z0-9_]+/[A-Za-z0-9_]+\.py): (?P<name>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)$")


@lru_cache(maxsize=1)
def transformers_root() -> Path:
    import transformers

    return Path(transformers.__file__).parent


@lru_cache(maxsize=None)
def source(file: str) -> str:
    return (transformers_root() / file).read_text(encoding="utf-8")


def class_body(text: str, name: str, keyword: str = "class") -> str | None:
    """The source of module-level ``class <name>`` (or ``def``): its line and every more indented (or blank) line
    after. Module level includes one level inside a module-level ``if``/``else``: modeling_xlstm defines its
    classes only when the xlstm package is absent."""
    lines = text.splitlines()
    found = next(((i, len(m[1])) for i, ln in enumerate(lines)
                  if (m := re.match(rf"( {{0,4}}){keyword} {re.escape(name)}\b", ln))), None)
    if found is None:
        return None
    start, indent = found
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
        end += 1
    return "\n".join(lines[start:end])


def ref_problem(ref: str) -> str | None:
    """Why ``ref`` does not point at a class, function or method of the installed transformers."""
    m = REF.match(ref)
    if not m:
        return f"{ref!r} is not of the form 'models/<dir>/<file>.py: <Name>' (or '<Class>.<method>')"
    file, name = m["file"], m["name"]
    if not (transformers_root() / file).is_file():
        return f"{file} does not exist in transformers {transformers_root()}"
    text = source(file)
    if "." in name:
        cls, method = name.split(".")
        body = class_body(text, cls)
        if body is None:
            return f"{file} has no 'class {cls}'"
        if not re.search(rf"^\s+def {re.escape(method)}\b", body, re.M):
            return f"class {cls} in {file} defines no method '{method}'"
        return None
    if class_body(text, name, "(?:class|def)") is None:
        return f"{file} has no top-level 'class {name}' or 'def {name}'"
    return None


def symbol_source(file: str, name: str) -> str:
    """The source of the class, function or (its class's body for) method ``name`` of ``file``."""
    text = source(file)
    return class_body(text, name.split(".")[0]) or class_body(text, name, "def")


CODE_NAME = re.compile(r"(?<![\w.])([a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?![\w(])")
FIELD_NAMES = {"d_model", "n_heads", "n_kv_heads", "head_dim", "d_ff", "top_k"}  # the gallery's own vocabulary


SHARED = ("configuration_utils.py", "modeling_utils.py", "modeling_rope_utils.py", "masking_utils.py", "cache_utils.py")
"""transformers' modules every model reads through (config keys, from_config, RoPE, masks, caches)."""


@lru_cache(maxsize=None)
def _texts(folder: str, pattern: str) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted((transformers_root() / folder).glob(pattern)))


def _renamings(cls: str) -> str:
    """The checkpoint renamings conversion_mapping.py lists for ``cls`` (the names weights have on the Hub)."""
    m = re.search(rf'"{re.escape(cls)}": \[(.*?)^\s*\],', source("conversion_mapping.py"), re.S | re.M)
    return m[1] if m else ""


def code_name_problems(notes: list[Note], config_text: str) -> list[str]:
    """Each snake_case name a note uses that its ref's source does not show: with where it is instead."""
    problems = []
    for i, note in enumerate(notes, 1):
        m = REF.match(note.ref)
        if not m or ref_problem(note.ref):
            continue  # reported by test_every_note_ref_exists_in_transformers
        folder, cls = str(Path(m["file"]).parent), m["name"].split(".")[0]
        known = (symbol_source(m["file"], m["name"]), config_text, _renamings(cls), *(source(f) for f in SHARED))
        for name in sorted(set(CODE_NAME.findall(OTHER_MODEL.sub("", note.text))) - FIELD_NAMES):
            config_key = rf"^\s+{name}\s*:|self\.{name}\b|kwargs\.(?:get|pop)\([\"']{name}\b"
            if not (any(name in text for text in known)
                    or re.search(config_key, _texts(folder, "configuration_*.py"), re.M)):
                where = ("elsewhere in " + folder if name in _texts(folder, "modeling_*.py") else
                         f"nor in {folder}, the config or transformers' shared modules")
                problems.append(f"note {i}: '{name}' is not in {m['name']} ({where})")
    return problems


def _specs():
    return [pytest.param(path, id=path.stem) for path in SPEC_FILES]


@pytest.fixture
def spec(request):
    loaded = load_spec(request.param)
    assert loaded.spec is not None, [str(p) for p in loaded.problems]
    return loaded.spec


@pytest.mark.parametrize("spec", _specs(), indirect=True)
def test_curated_facts_are_set(spec):
    assert spec.release_date is not None, f"{spec.slug}: set release_date"
    assert dt.date(2017, 6, 1) <= spec.release_date <= dt.date.today(), spec.release_date
    assert spec.licence, f"{spec.slug}: set licence"


@pytest.mark.parametrize("spec", _specs(), indirect=True)
def test_two_to_five_notes(spec):
    assert 2 <= len(spec.notes) <= 5, f"{spec.slug} has {len(spec.notes)} notes; write 2 to 5"
    texts = [n.text for n in spec.notes]
    assert len(set(texts)) == len(texts), f"{spec.slug}: duplicate note"


@pytest.mark.parametrize("spec", _specs(), indirect=True)
def test_every_note_ref_exists_in_transformers(spec):
    problems = [f"note {i + 1}: {p}" for i, n in enumerate(spec.notes) if (p := ref_problem(n.ref))]
    assert not problems, f"{spec.slug}:\n" + "\n".join(problems)


@pytest.mark.parametrize("spec", _specs(), indirect=True)
def test_every_code_name_in_a_note_is_in_its_ref(spec):
    config_text = (SPEC_DIR / spec.source.config).read_text(encoding="utf-8")
    problems = code_name_problems(spec.notes, config_text)
    assert not problems, f"{spec.slug}:\n" + "\n".join(problems)


def test_code_name_check_finds_refs_that_do_not_show_the_claim():
    """What the audit found, put back: a gate named under the rotary class, a checkpoint's renamed weight."""
    notes = [Note(text="q_proj doubled for the output gate; RoPE θ 10,000,000.",
                  ref="models/qwen3_5/modeling_qwen3_5.py: Qwen3_5TextRotaryEmbedding"),
             Note(text="Output head (embed_out).", ref="models/gpt_neox/modeling_gpt_neox.py: GPTNeoXForCausalLM"),
             Note(text="norm_topk_prob false: no renormalisation.",
                  ref="models/qwen2_moe/modeling_qwen2_moe.py: Qwen2MoeTopKRouter")]
    assert code_name_problems(notes[:1], "{}") == [
        "note 1: 'q_proj' is not in Qwen3_5TextRotaryEmbedding (elsewhere in models/qwen3_5)"]
    assert not code_name_problems(notes[1:], "{}")  # embed_out: conversion_mapping.py renames it; a config key
    assert code_name_problems([Note(text="The head (emb_out).", ref=notes[1].ref)], "{}") == [
        "note 1: 'emb_out' is not in GPTNeoXForCausalLM (nor in models/gpt_neox, the config or transformers' shared "
        "modules)"]


def test_ref_checker_rejects_what_does_not_exist():
    assert ref_problem("models/llama/modeling_llama.py: LlamaAttention") is None
    assert ref_problem("models/llama/modeling_llama.py: repeat_kv") is None
    assert ref_problem("models/llama/modeling_llama.py: LlamaModel.forward") is None
    assert "form" in ref_problem("modeling_llama.py: LlamaAttention")
    assert "form" in ref_problem("models/llama/modeling_llama.py:LlamaAttention")
    assert "does not exist" in ref_problem("models/llama/modeling_lama.py: LlamaAttention")
    assert "no top-level" in ref_problem("models/llama/modeling_llama.py: LlamaAtention")
    assert "no method" in ref_problem("models/llama/modeling_llama.py: LlamaMLP.prepare_inputs_for_generation")
    assert "no 'class" in ref_problem("models/llama/modeling_llama.py: repeat_kv.forward")


# --- numbers a note states, checked against the spec fields they name ---------------------------

NUM = r"(?<![\w.-])(\d[\d,]*(?:\.\d+)?)"
OTHER_MODEL = re.compile(r"\((?:[A-Z]|v\d)[^():]*: [^()]*\)")
"""A parenthesis that opens with another model's name and a colon, "(V3: 256)": its numbers are not this model's."""


def _mixers(spec):
    return [b.mixer for b in spec.arch.blocks.values() if b.mixer is not None]


def _ffns(spec):
    return [b.ffn for b in spec.arch.blocks.values() if b.ffn is not None]


def _indexers(spec):
    return [m.indexer for m in _mixers(spec) if getattr(m, "indexer", None)]


def _ropes(spec):
    return [m.rope for m in _mixers(spec) if getattr(m, "rope", None)]


def _values(items, *names):
    """Every value of the named attributes over ``items`` (None and missing left out)."""
    return {v for item in items for name in names if (v := getattr(item, name, None)) is not None}


def layer_groups(spec) -> set[int]:
    """Layer counts a note may state: all layers, each block kind, and the layers grouped by what
    their block does (mixer kind, window or chunk or not, RoPE or NoPE, feed-forward kind)."""
    arch = spec.arch
    groups = {arch.n_layers, *arch.layer_counts().values()}
    features = (
        lambda b: b.mixer.kind if b.mixer else None,
        lambda b: bool(getattr(b.mixer, "window", None)),
        lambda b: bool(getattr(b.mixer, "chunk", None)),
        lambda b: getattr(b.mixer, "rope", "none") is None,
        lambda b: b.ffn.kind if b.ffn else None,
        lambda b: getattr(getattr(b.ffn, "router", None), "hash", None),
    )
    for feature in features:
        count: dict = {}
        for kind in arch.layers:
            key = feature(arch.blocks[kind])
            count[key] = count.get(key, 0) + 1
        groups |= set(count.values())
    return groups


def arch_numbers(spec) -> set:
    """Every number anywhere in the spec's ``arch`` (widths, ranks, dims): what "N wide" may name."""
    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from walk(v)
        elif isinstance(value, list):
            for v in value:
                yield from walk(v)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield value
    query_widths = {m.n_heads * m.head_dim for m in _mixers(spec)
                    if getattr(m, "n_heads", None) and getattr(m, "head_dim", None)}  # Mamba: n_heads may be null
    return set(walk(spec.arch.model_dump())) | query_widths


def _heads(spec) -> set[int]:
    mixers = _mixers(spec)
    groups = {m.n_heads // n for m in mixers for n in (getattr(m, "n_kv_heads", None), getattr(m, "o_groups", None)) if n}
    return (_values(mixers, "n_heads", "n_kv_heads", "n_k_heads", "n_v_heads") | _values(_indexers(spec), "n_heads")
            | groups)


def _billions(text: str) -> tuple[float, float]:
    """'3.35B' → (3.35e9, 0.01e9): the value and one unit of its last digit."""
    scale = {"M": 1e6, "B": 1e9, "T": 1e12}[text[-1]]
    digits = text[:-1]
    decimals = len(digits.partition(".")[2])
    return float(digits) * scale, 10**-decimals * scale


def _rounds_to(exact: int, stated: str) -> bool:
    value, unit = _billions(stated)
    return abs(exact - value) <= unit / 2


# (what the note says, pattern whose groups are the numbers, the values the spec allows)
CLAIMS = [
    ("layers", rf"{NUM} (?:(?!on |in |of |for )[\w-]+ ){{0,3}}layers\b", layer_groups),
    ("window", rf"{NUM}-token (?:sliding )?window", lambda s: _values(_mixers(s), "window")),
    ("chunk", rf"{NUM}-token chunks", lambda s: _values(_mixers(s), "chunk")),
    ("query heads", rf"{NUM} query heads",
     lambda s: _values(_mixers(s), "n_heads") | _values(_mixers(s), "n_k_heads")),
    ("KV heads", rf"{NUM} (?:key/value|KV) heads", lambda s: _values(_mixers(s), "n_kv_heads")),
    ("heads", rf"{NUM} (?:attention |MLA |small |value |query/key )?heads\b", _heads),
    ("width", rf"{NUM}[ -]wide\b(?! (?:model|residual stream))|\b(?:width|wide) {NUM}", arch_numbers),
    ("positions", rf"{NUM}(?:-token)? (?:positions|context)\b",
     lambda s: {s.arch.context_length} | _values([r.scaling for r in _ropes(s) if r.scaling], "original_context")),
    ("experts", rf"{NUM} (?:routed |fine-grained )?experts\b", lambda s: _values(_ffns(s), "n_experts", "top_k")),
    ("active experts", rf"{NUM} (?:active|used per token)\b", lambda s: _values(_ffns(s), "top_k")),
    ("shared experts", rf"{NUM} (?:always-on )?shared(?: experts?)?\b", lambda s: _values(_ffns(s), "n_shared_experts")),
    ("top-k", rf"top-(\d+)\b", lambda s: _values(_ffns(s), "top_k")
     | _values(_indexers(s), "topk", "top_k")),
    ("vocabulary", rf"{NUM}-token (?:[\w-]+ )?vocabulary", lambda s: {s.arch.vocab_size}),
    ("d_model", rf"\bd_model (?:of )?{NUM}|{NUM}-wide (?:model|residual stream)", lambda s: {s.arch.d_model}),
    ("RoPE θ", rf"θ {NUM}", lambda s: _values(_ropes(s), "theta")),
]


def _kib_per_token(spec) -> set[float]:
    """KV cache a note may state, KiB per token in bf16: of all layers, or of the layers of one block kind."""
    from gallery.memory import BF16, kv_bytes_per_token, layer_caches

    return {kv_bytes_per_token(spec.arch) / 1024} | {c.n_layers * c.elements_per_token * BF16 / 1024
                                                     for c in layer_caches(spec.arch)}


def _state_mb(spec) -> set[float]:
    from gallery.memory import state_bytes

    return {state_bytes(spec.arch) / 1e6}


# (what the note says, pattern whose group is the number, the exact values it may round)
CACHE_CLAIMS = [("KV cache (KiB per token, bf16)", rf"{NUM} KiB\b", _kib_per_token),
                ("fixed state (MB per sequence, bf16)", rf"{NUM} MB (?:of )?state\b", _state_mb)]


def _rounds(stated: str, exact: float) -> bool:
    """``exact`` written to the digits of ``stated``: '33' for 33.42, '2.4' for 2.36."""
    return abs(exact - float(stated.replace(",", ""))) <= 10 ** -len(stated.partition(".")[2]) / 2


def note_number_problems(spec) -> list[str]:
    """Every number a note states next to a known noun that no spec field of that kind holds, and every
    "X of Y parameters active" figure that is not the exact active and total count, rounded as written."""
    from gallery.counts import active_params, total_params

    problems = []
    for i, note in enumerate(spec.notes, 1):
        text = OTHER_MODEL.sub("", note.text)
        for what, pattern, allowed in CLAIMS:
            values = allowed(spec)
            for match in re.finditer(pattern, text):
                number = next(g for g in match.groups() if g is not None)
                if float(number.replace(",", "")) not in values:
                    problems.append(f"note {i}: '{match[0]}' — the spec's {what}: {sorted(values)}")
        for what, pattern, allowed in CACHE_CLAIMS:
            for match in re.finditer(pattern, text):
                if not any(_rounds(match[1], value) for value in allowed(spec)):
                    problems.append(f"note {i}: '{match[0]}' — the spec's {what}: "
                                    f"{', '.join(f'{v:,.2f}' for v in sorted(allowed(spec)))}")
        for match in re.finditer(rf"{NUM}([MBT]) of {NUM}([MBT]) parameters", text):
            active, total = match[1] + match[2], match[3] + match[4]
            if not (_rounds_to(active_params(spec.arch), active) and _rounds_to(total_params(spec.arch), total)):
                problems.append(f"note {i}: '{match[0]}' — exact: {active_params(spec.arch):,} active of "
                                f"{total_params(spec.arch):,}")
    return problems


@pytest.mark.parametrize("spec", _specs(), indirect=True)
def test_note_numbers_agree_with_the_spec(spec):
    problems = note_number_problems(spec)
    assert not problems, f"{spec.slug}:\n" + "\n".join(problems)


def test_note_number_check_finds_what_the_audit_found():
    """The errors issue 21 names, put back into a real spec, are reported; another model's numbers are not."""
    spec = load_spec(SPEC_DIR / "mimo-v2-flash.yaml").spec
    bad = spec.model_copy(update={"notes": [
        Note(text="The other 40 layers use a 129-token sliding window.", ref="x"),
        Note(text="256 experts, 8 active: 15.4B of 308.8B parameters active (V3: 671B, 61 layers).", ref="x"),
        Note(text="A 128-token sliding window, 4 KV heads, top-9.", ref="x"),
    ]})
    problems = note_number_problems(bad)
    assert [p.split(":")[0] for p in problems] == ["note 1", "note 3", "note 3"], problems
    assert "'40 layers'" in problems[0] and "39" in problems[0]
    assert "'128-token sliding window'" in problems[1] and "'top-9'" in problems[2]
    nano = load_spec(SPEC_DIR / "nvidia-nemotron-3-nano-30b-a3b.yaml").spec
    cache = nano.model_copy(update={"notes": [Note(text="6 KiB of KV cache per token; 12 KiB (V3: 70 KiB).", ref="x"),
                                              Note(text="A fixed 2 MB state per sequence.", ref="x")]})
    assert [p.split(" — ")[0] for p in note_number_problems(cache)] == ["note 1: '12 KiB'", "note 2: '2 MB state'"]
    qwen = load_spec(SPEC_DIR / "qwen3-30b-a3b.yaml").spec
    truncated = qwen.model_copy(update={"notes": [Note(text="3.3B of 30.5B parameters active.", ref="x")]})
    assert note_number_problems(truncated), "3,353,032,704 does not round to 3.3B"
