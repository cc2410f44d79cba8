"""Differential attention (Ye et al. 2024, DiffLlama's ``DiffLlamaAttention``): an option of softmax attention.

The projections, RoPE and KV cache are Llama's; what differs is after the attention weights. The values split into two
halves by KV head (V1: the first n_kv_heads/2, V2: the rest, each repeated to n_kv_heads), every head's weights read
both, and heads i and i + n_heads/2 pair up: ``(O_i − λ · O_{i + n_heads/2})``, with ``λ = exp(λ_q1 · λ_k1) −
exp(λ_q2 · λ_k2) + λ_init`` from four learned vectors of head_dim and ``λ_init = 0.8 − 0.6 · exp(−0.3 · layer)``;
then an RMS norm without weights over the pair's 2 · head_dim and × (1 − λ_init). transformers runs two attention
calls with the same weights (V1, then V2); the trace computes the weights once. ``λ_init`` depends on the layer index
while a block kind stands for many layers: the toy runs its block as layer 0 (λ_init = 0.2). Used by
:mod:`gallery.kinds.softmax` (its ``differential`` field): the λ terms, the trace steps and the toy's tail.
"""

from __future__ import annotations

import numpy as np

from ..steps import Ctx, Step, ew, linear, scores_to_output
from ..terms import Weight, Weights, params, weight
from ..toyops import Run, attend

TOY_LAMBDA_INIT = 0.8 - 0.6 * np.exp(-0.3 * 0)  # lambda_init_fn(0): the toy's block runs as layer 0
LAMBDAS = ("lambda_q1", "lambda_k1", "lambda_q2", "lambda_k2")


def weights(hd: tuple[str, int]) -> list[Weight]:
    """The four λ vectors of DiffLlamaAttention, head_dim each (bare parameters)."""
    return [weight("attention", name, hd, tensor=name) for name in LAMBDAS]


def steps(c: Ctx, m, p: str, W: Weights) -> list[Step]:
    """From Q, K and V in heads (after RoPE) to the output projection; ``W`` the attention's tensors."""
    T, h, kv, hd = c.T, m.n_heads, m.n_kv_heads, m.head_dim
    out = [ew("split V halves", p, (kv, T, hd), f"V1 = V heads 0…{kv // 2 - 1}, V2 = V heads {kv // 2}…{kv - 1}, "
              f"each repeated to {kv} heads, side by side: (kv, T, 2 × head_dim)", per=0, out=(kv, T, 2 * hd))]
    if m.group_size > 1:
        serves = f"each of the {kv} KV heads serves {m.group_size} query heads (repeat_kv)"
        out += [ew(f"repeat {t} heads", p, (kv, T, dim), serves, per=0, out=(h, T, dim)) for t, dim in (("K", hd),
                                                                                                       ("V", 2 * hd))]
    out += scores_to_output(c, p, h, hd, 2 * hd, m.scale or hd ** -0.5, None, m.window, None, (), (h, T, hd))[:-1]
    pair = (h // 2, T, 2 * hd)
    lam = ("λ = exp(λ_q1 · λ_k1) − exp(λ_q2 · λ_k2) + λ_init, λ_init = 0.8 − 0.6 · exp(−0.3 · layer); "
           f"head i pairs with head i + {h // 2}: O_i − λ · O_(i+{h // 2})")
    return out + [
        Step("O1 − λ · O2", p, (h, T, 2 * hd), pair, lam, 2 * h // 2 * T * 2 * hd + 4 * hd + 6,
             params(W, *LAMBDAS)),
        ew("RMS norm per pair", p, pair, "x · rsqrt(mean(x²) + eps) over 2 × head_dim, no weight", per=3),
        ew("× (1 − λ_init)", p, pair, "the layer's 1 − λ_init"),
        ew("merge heads", p, pair, "transpose and concatenate the pairs", per=0, out=(T, h * hd)),
        linear(c, "o_proj", p, W, "y = O · W_o"),
    ]


def forward(R: Run, m, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The toy's tail from Q, K and V in heads; the block runs as layer 0."""
    half, h = m.n_kv_heads // 2, m.n_heads
    v = R.rec("split V halves", np.concatenate([np.tile(v[:half], (2, 1, 1)), np.tile(v[half:], (2, 1, 1))], -1))
    if m.group_size > 1:
        k = R.rec("repeat K heads", np.repeat(k, m.group_size, axis=0))
        v = R.rec("repeat V heads", np.repeat(v, m.group_size, axis=0))
    o = attend(R, q, k, v, m.scale or m.head_dim ** -0.5, None, m.window, None, False, merge=False)
    lam = (np.exp(R.w["lambda_q1"] @ R.w["lambda_k1"]) - np.exp(R.w["lambda_q2"] @ R.w["lambda_k2"])
           + TOY_LAMBDA_INIT)
    x = R.rec("O1 − λ · O2", o[:h // 2] - lam * o[h // 2:], λ=np.array(lam))
    x = R.rec("RMS norm per pair", x / np.sqrt((x * x).mean(-1, keepdims=True) + R.arch.norm.eps))
    x = R.rec("× (1 − λ_init)", x * (1 - TOY_LAMBDA_INIT))
    return R.linear("o_proj", R.rec("merge heads", x.transpose(1, 0, 2).reshape(x.shape[1], -1)))
