"""What the attention kinds (softmax, latent, compressed) share: RoPE in words and in the compare table, the tail of
their diagram labels, and the Trace page's score heatmaps (before and after the mask, after the softmax)."""

from __future__ import annotations

import numpy as np

from ..specbase import rule_error
from .contract import Caption, Choose, Fact, Heatmap, MixerKind, or_none


def rope_text(rope) -> str:
    """RoPE in words for a diagram label: θ, the rotated fraction, the scaling."""
    if rope is None:
        return "NoPE (no positional encoding)"
    text = f"RoPE θ {rope.theta:,.0f}"
    if rope.partial < 1:
        text += f" on {rope.partial:.0%} of dims"
    if rope.pairs:
        text += " (adjacent pairs)"
    if rope.scaling:
        factor = f" ×{rope.scaling.factor:g}" if rope.scaling.factor else ""
        text += f" ({rope.scaling.type}{factor})"
    return text


def tail_lines(span: str, sinks: bool = False, softcap: float | None = None, biases: tuple[str, ...] = ()) -> list[str]:
    """The last lines of an attention label: what a query sees, sinks, soft-cap, biases."""
    return [span, *(["learned attention sinks"] if sinks else []),
            *([f"logit soft-cap {softcap:g}"] if softcap else []), *(["bias: " + ", ".join(biases)] if biases else [])]


def _scaling(rope) -> str:
    s = rope.scaling
    if s is None:
        return "none"
    return f"{s.type} ×{s.factor:g}" if s.factor else s.type


def rope_facts() -> tuple[Fact, ...]:
    """The Positions rows of the compare table, for a mixer with a ``rope`` field (None: NoPE)."""
    return (Fact("Positions", "RoPE θ", lambda m: "none (NoPE)" if m.rope is None else m.rope.theta),
            Fact("Positions", "RoPE scaling", lambda m: None if m.rope is None else _scaling(m.rope)),
            Fact("Positions", "partial rotary", lambda m: None if m.rope is None else m.rope.partial))


def head_facts() -> tuple[Fact, ...]:
    """The head-layout rows of the compare table, for a mixer with query and KV heads of one head_dim and a window."""
    return (Fact("Attention", "query heads", lambda m: m.n_heads), Fact("Attention", "KV heads", lambda m: m.n_kv_heads),
            Fact("Attention", "head dim", lambda m: m.head_dim), Fact("Attention", "group size", lambda m: m.group_size),
            Fact("Attention", "sliding window", lambda m: or_none(m.window)))


def whole_groups(m):
    """``m`` when its query heads split into whole groups per KV head, else the rule error naming n_kv_heads."""
    if m.n_heads % m.n_kv_heads:
        raise rule_error("n_kv_heads", "heads_not_divisible",
                         f"n_heads ({m.n_heads}) must be a multiple of n_kv_heads ({m.n_kv_heads})")
    return m


def scores_picture(steps: list, choose: Choose) -> list:
    """One head's scores before and after the mask, and its softmax weights, as heatmaps (query × key)."""
    import pandas as pd  # with the picture: the CLI starts without pandas
    by_op = {s.op: s for s in steps}
    n_heads, T, keys = by_op["softmax"].value.shape
    head = choose("Head", list(range(n_heads)), "head") or 0
    grid = [(name, i, j, float(v[head, i, j]))
            for name, v in (("scores before the mask", by_op["mask"].details["before"]),
                            ("after the mask", by_op["mask"].value), ("softmax weights", by_op["softmax"].value))
            for i in range(T) for j in range(v.shape[-1])]  # keys: the tokens, then any compressed entries
    cells = pd.DataFrame(grid, columns=["matrix", "query", "key", "value"])
    cells["value"] = cells["value"].where(np.isfinite(cells["value"]))  # −∞ (masked) drawn empty
    return [Heatmap(cells, "key", "query", "matrix"),
            Caption("Empty cells are masked (−∞ before the softmax, weight 0 after)." + (
                f" Keys {T}–{keys - 1} are the compressed entries (one per complete block of tokens)."
                if keys > T else ""))]


def attention(**facets) -> MixerKind:
    """An attention mixer: no state beyond its cache, the ``attention`` fill, norms named ``attn``, score heatmaps."""
    return MixerKind(state_flops=lambda m: 0, fill="attention", label="attn", picture=scores_picture, **facets)
