"""Dynamic-mask attention (Doge, ``DogeAttention``): an option of softmax attention (:mod:`.softmax`).

From the values (computed after RoPE and the cache update: all the cached ones in generation) ``dt_proj`` maps each token's merged value heads
(n_kv_heads × head_dim) to one number per KV head, and ``b = exp(A · softplus(dt))`` with ``A`` a learned scalar per
KV head (``A`` starts at zero, so b starts at 1 everywhere). ``prepare_dynamic_mask`` turns b into the attention
mask: every query of a KV head's group adds its key's b to the scaled score (after the causal mask; masked keys stay
−∞), and once the keys outnumber ``keep_window_size`` a query keeps only the keep_window_size keys of largest b it
may see, the rest masked: sparse attention picked by content, not position. ``repeat_kv`` repeats the mask to the
query heads. The eager path computes every score and then masks, so the FLOPs and the KV cache are full attention's
(the cache keeps every key: which ones a query keeps changes as tokens come). Used by :mod:`gallery.kinds.softmax`
(its ``dynamic_mask`` field): the schema, the weights, the trace steps, the toy, the label and the compare row.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, PositiveInt

from ..specbase import Strict
from ..steps import Ctx, Step, ew, linear
from ..terms import Weight, Weights, params, weight
from ..toyops import LOCAL_TOY, Run, attend as attend_all, causal
from .contract import Fact

BIAS_OP = "dynamic mask bias"


class DynamicMask(Strict):
    """Doge's dynamic mask: a learned bias per key and KV head added to the scores, and a top-k of keys by it."""

    keep_window_size: PositiveInt = Field(description="Keys a query keeps, those of largest bias, once the keys "
                                          "outnumber it (keep_window_size)")
    bias: bool = Field(False, description="dt_proj has a bias (attention_bias)")


def weights(kv: tuple[str, int], hd: tuple[str, int], m: DynamicMask) -> list[Weight]:
    """``A`` (n_kv_heads) and ``dt_proj`` (n_kv_heads × head_dim → n_kv_heads), as DogeAttention builds them."""
    out = [weight("attention", "A", kv, tensor="A"),
           weight("attention", "dt_proj", kv, hd, kv, shape=(kv[1] * hd[1], kv[1]))]
    return out + ([weight("attention", "dt_proj.bias", kv)] if m.bias else [])


def steps(c: Ctx, p: str, kv: int, hd: int, W: Weights) -> list[Step]:
    """From the value heads to the bias of each key and KV head (after RoPE, where DogeAttention computes it)."""
    T = c.T
    return [
        ew("merge V for dt", p, (kv, T, hd), "transpose and concatenate the value heads", per=0, out=(T, kv * hd)),
        linear(c, "dt_proj", p, W, "dt = V · W_dt (one number per KV head and key)"),
        Step("dynamic bias", p, (T, kv), (kv, T), "b = exp(A · softplus(dt)), A one learned scalar per KV head",
             5 * T * kv, params(W, "A")),
    ]


def bias_step(p: str, h: int, T: int) -> Step:
    """Each score + its key's bias (the mask's values, repeated from the KV heads to their query heads)."""
    return ew(BIAS_OP, p, (h, T, T), "S + b[kv head of h, j] (prepare_dynamic_mask, then repeat_kv)")


def mask_text(m: DynamicMask, T: int, window: int | None) -> str:
    """The mask step's formula: causal (or windowed), then the top-k of keys by their bias when it bites."""
    base = f"−∞ where j > i or i − j ≥ {window}" if window else "−∞ where j > i"
    keep = m.keep_window_size
    topk = (f" or j is not among the {keep:,} keys of largest b[j] the row may see" if T > keep else
            f" (at {T} tokens ≤ keep_window_size {keep:,}: no top-k)")
    return base + topk


def forward(R: Run, m: DynamicMask, v: np.ndarray) -> np.ndarray:
    """The toy's bias (n_kv_heads, T) from the value heads ``v`` (n_kv_heads, T, head_dim)."""
    merged = R.rec("merge V for dt", v.transpose(1, 0, 2).reshape(v.shape[1], -1))
    dt = R.linear("dt_proj", merged)
    return R.rec("dynamic bias", np.exp(R.w["A"] * np.logaddexp(0, dt)).T, dt=dt)


def attend(R: Run, a, q: np.ndarray, k: np.ndarray, v: np.ndarray, b: np.ndarray, scale: float) -> np.ndarray:
    """The toy's attention of the softmax mixer ``a``: each key's bias on the scores, only the kept keys."""
    kept = keep(a.dynamic_mask, b, causal(q.shape[1], a.window), a.group_size)
    return attend_all(R, q, k, v, scale, a.softcap, a.window, a.chunk, a.sinks, extra_mask=kept,
                      bias=np.repeat(b, a.group_size, 0)[:, None, :], bias_op=BIAS_OP)


def shrink(m: dict) -> dict:
    """At toy size the top-k of keys bites in a few tokens."""
    return {**m, "keep_window_size": min(m["keep_window_size"], LOCAL_TOY)}


def keep(m: DynamicMask, b: np.ndarray, allowed: np.ndarray, group: int) -> np.ndarray:
    """(n_heads, T, S) True where a query keeps a key: ``allowed`` (T, S), then the keep_window_size keys of largest
    bias ``b`` (n_kv_heads, S) when S exceeds it, per KV head, repeated to its ``group`` query heads."""
    kept = np.broadcast_to(allowed, (len(b), *allowed.shape))
    if allowed.shape[1] > m.keep_window_size:
        ranked = np.where(kept, b[:, None, :], -np.inf)
        top = np.argsort(-ranked, -1, kind="stable")[..., :m.keep_window_size]
        chosen = np.zeros_like(kept)
        np.put_along_axis(chosen, top, True, -1)
        kept = kept & chosen
    return np.repeat(kept, group, axis=0)


def text(m: DynamicMask) -> str:
    """The mask in words for a diagram label."""
    return f"dynamic mask: + exp(A · softplus(dt_proj(V))) per key; top {m.keep_window_size:,} keys kept"


FACT = Fact("Attention", "dynamic mask (keys kept)", lambda m: "none" if getattr(m, "dynamic_mask", None) is None
            else m.dynamic_mask.keep_window_size)
