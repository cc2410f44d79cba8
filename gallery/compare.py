"""The compare table: the same facts of 2–6 models side by side, grouped, with differences marked.

Rows come from one table of (group, field, getter) so the page, the CSV export and the tests read the
same thing. A fact that differs between block kinds of one model is shown per kind
("4,096 (sliding) / none (full)"). Parameter counts are exact ints (shown compactly, 8.03B, by
:func:`frame`; exactly in :func:`to_csv`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd

from .catalog import attention_label
from .counts import COMPONENTS, active_params, breakdown, total_params
from .memory import kv_bytes, kv_bytes_per_token
from .pattern import summary
from .spec import LatentAttention, Moe, SoftmaxAttention, Spec


def compact(n: int) -> str:
    """A count in compact units, three significant digits: 8,030,261,248 → "8.03B", 124,439,808 → "124M"."""
    rounded = float(f"{n:.3g}")  # round first, so 999,885,952 becomes 1.00B rather than 1000M
    for size, unit in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if abs(rounded) >= size:
            value = rounded / size
            return (f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}") + unit
    return str(n)


def exact(value: Any) -> str:
    """A cell value written out in full: 8,030,261,248; 1e-05; yes/no; — for nothing."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 1000 and value.is_integer() else f"{value:g}"
    return str(value)


def _per_kind(spec: Spec, get: Callable[[Any], Any]) -> Any:
    """``get(block)`` for every block kind: one value if all agree, else "v (kind) / v (kind)"."""
    values = {kind: get(block) for kind, block in spec.arch.blocks.items()}
    distinct = list(dict.fromkeys(map(exact, values.values())))
    if len(distinct) == 1:
        return next(iter(values.values()))
    return " / ".join(f"{exact(v)} ({kind})" for kind, v in values.items())


def _mixer(attr: str, kinds=(SoftmaxAttention, LatentAttention)) -> Callable[[Spec], Any]:
    def get(spec: Spec) -> Any:
        return _per_kind(spec, lambda b: getattr(b.mixer, attr, None) if isinstance(b.mixer, kinds) else None)
    return get


def _ffn(get_mlp: Callable[[Any], Any] | None, get_moe: Callable[[Any], Any] | None) -> Callable[[Spec], Any]:
    def get(spec: Spec) -> Any:
        def one(block):
            if isinstance(block.ffn, Moe):
                return get_moe(block.ffn) if get_moe else None
            return get_mlp(block.ffn) if get_mlp and block.ffn is not None else None
        return _per_kind(spec, one)
    return get


def _rope(attr: str) -> Callable[[Spec], Any]:
    def get(spec: Spec) -> Any:
        def one(block):
            rope = getattr(block.mixer, "rope", None)
            if rope is None:
                return "none (NoPE)" if attr == "theta" else None
            if attr == "scaling":
                s = rope.scaling
                return f"{s.type} ×{s.factor:g}" if s and s.factor else (s.type if s else None)
            return getattr(rope, attr)
        return _per_kind(spec, one)
    return get


def _group_size(block) -> int | None:
    m = block.mixer
    return m.n_heads // m.n_kv_heads if isinstance(m, SoftmaxAttention) else None


def _kv_heads(block) -> int | None:
    m = block.mixer
    return m.n_kv_heads if isinstance(m, SoftmaxAttention) else None


def _head_dim(block) -> Any:
    m = block.mixer
    if isinstance(m, LatentAttention):
        return f"{m.qk_nope_head_dim}+{m.qk_rope_head_dim} (V {m.v_head_dim})"
    return m.head_dim if m is not None else None


_FACTS: list[tuple[str, str, Callable[[Spec], Any]]] = [
    ("Attention", "attention kind", attention_label),
    ("Attention", "query heads", _mixer("n_heads")),
    ("Attention", "KV heads", lambda s: _per_kind(s, _kv_heads)),
    ("Attention", "head dim", lambda s: _per_kind(s, _head_dim)),
    ("Attention", "query heads per KV head", lambda s: _per_kind(s, _group_size)),
    ("Attention", "QKV bias", _mixer("qkv_bias", SoftmaxAttention)),
    ("Attention", "sliding window", _mixer("window")),
    ("Attention", "layer pattern", lambda s: summary(s.arch.layers)),
    ("Attention", "attention sinks", _mixer("sinks", SoftmaxAttention)),
    ("Attention", "logit soft-cap", _mixer("softcap")),
    ("Attention", "MLA KV latent", _mixer("kv_lora_rank", LatentAttention)),
    ("Attention", "MLA query latent", _mixer("q_lora_rank", LatentAttention)),
    ("Norms", "norm", lambda s: s.arch.norm.kind + (" (bias)" if s.arch.norm.bias else "")),
    ("Norms", "eps", lambda s: s.arch.norm.eps),
    ("Norms", "placement", lambda s: _per_kind(s, lambda b: b.norm_placement)),
    ("Norms", "parallel attention + FFN", lambda s: _per_kind(s, lambda b: b.parallel)),
    ("Norms", "QK-norm", _mixer("qk_norm", SoftmaxAttention)),
    ("Norms", "final norm", lambda s: s.arch.final_norm),
    ("Positions", "RoPE θ", _rope("theta")),
    ("Positions", "RoPE scaling", _rope("scaling")),
    ("Positions", "rotary fraction", _rope("partial")),
    ("Positions", "learned positions", lambda s: s.arch.embedding.learned_positions),
    ("Feed-forward", "kind", _ffn(lambda f: "dense", lambda f: "MoE")),
    ("Feed-forward", "activation", _ffn(lambda f: f.activation, lambda f: f.activation)),
    ("Feed-forward", "gated", _ffn(lambda f: f.gated, lambda f: f.gated)),
    ("Feed-forward", "d_ff", _ffn(lambda f: f.d_ff, None)),
    ("Feed-forward", "experts", _ffn(None, lambda f: f.n_experts)),
    ("Feed-forward", "active experts", _ffn(None, lambda f: f.top_k)),
    ("Feed-forward", "expert width", _ffn(None, lambda f: f.d_expert)),
    ("Feed-forward", "shared experts", _ffn(None, lambda f: f.n_shared_experts)),
    ("Vocabulary & context", "vocab", lambda s: s.arch.vocab_size),
    ("Vocabulary & context", "context", lambda s: s.arch.context_length),
    ("Vocabulary & context", "d_model", lambda s: s.arch.d_model),
    ("Vocabulary & context", "layers", lambda s: s.arch.n_layers),
    ("Vocabulary & context", "tied embeddings", lambda s: s.arch.embedding.tied),
    ("Vocabulary & context", "scaled embeddings", lambda s: s.arch.embedding.scaled),
    ("Vocabulary & context", "KV cache bytes / token (bf16)", lambda s: kv_bytes_per_token(s.arch)),
]


@dataclass(frozen=True)
class Row:
    """One fact of every compared model."""

    group: str
    field: str
    values: tuple  # raw values (ints stay ints)
    exact: tuple[str, ...]  # the values written out in full
    differs: bool


def _row(group: str, field: str, values: list) -> Row:
    texts = tuple(map(exact, values))
    return Row(group, field, tuple(values), texts, len(set(texts)) > 1)


def rows(specs: list[Spec]) -> list[Row]:
    """Every fact of the compared models, parameters first; rows empty for all models are left out."""
    out = [_row("Parameters", "total", [total_params(s.arch) for s in specs]),
           _row("Parameters", "active per token", [active_params(s.arch) for s in specs])]
    parts = [breakdown(s.arch) for s in specs]
    out += [_row("Parameters", component, [p[component] for p in parts])
            for component in COMPONENTS if any(p[component] for p in parts)]
    for group, field, get in _FACTS:
        values = [get(s) for s in specs]
        if any(v is not None and v is not False for v in values) or field in ("final norm", "tied embeddings"):
            out.append(_row(group, field, values))
    return out


def _columns(specs: list[Spec]) -> list[str]:
    names = [s.name for s in specs]
    return [n if names.count(n) == 1 else f"{n} ({s.slug})" for n, s in zip(names, specs)]


def frame(specs: list[Spec]) -> pd.DataFrame:
    """The table for display: index (group, field), one column per model; counts compact (8.03B)."""
    data = [[compact(v) if r.group == "Parameters" else t for v, t in zip(r.values, r.exact)] for r in rows(specs)]
    index = pd.MultiIndex.from_tuples([(r.group, r.field) for r in rows(specs)], names=["group", "field"])
    return pd.DataFrame(data, index=index, columns=_columns(specs))


def differs(specs: list[Spec]) -> pd.Series:
    """True for the rows of :func:`frame` whose values are not all equal."""
    table = rows(specs)
    index = pd.MultiIndex.from_tuples([(r.group, r.field) for r in table], names=["group", "field"])
    return pd.Series([r.differs for r in table], index=index)


def to_csv(specs: list[Spec]) -> str:
    """The table as CSV with exact values: group, field, then one column per model."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["group", "field", *_columns(specs)])
    for r in rows(specs):
        writer.writerow([r.group, r.field, *r.exact])
    return buf.getvalue()


def kv_curve(specs: list[Spec], contexts: list[int], batch: int = 1) -> pd.DataFrame:
    """Window-aware KV-cache bytes (bf16) at each context length, long form for a line chart."""
    return pd.DataFrame([{"model": name, "context": n, "kv_bytes": kv_bytes(s.arch, n, batch)}
                         for name, s in zip(_columns(specs), specs) for n in contexts])


def breakdown_frame(specs: list[Spec]) -> pd.DataFrame:
    """Parameters per component, long form (model, component, params) for a stacked bar chart."""
    return pd.DataFrame([{"model": name, "component": c, "params": n}
                         for name, s in zip(_columns(specs), specs) for c, n in breakdown(s.arch).items() if n])
