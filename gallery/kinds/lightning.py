"""Lightning attention (MiniMaxLightningAttention, transformers ``models/minimax``): linear attention whose state
decays by a fixed rate per head, a fixed-size state per head instead of a growing cache.

Schema :class:`LightningAttention`; parameters (the fused qkv_proj, the RMSNorm over all heads, out_proj, the
output gate; the decay rates are buffers, not parameters); the fixed state (``n_heads × head_dim × head_dim``, the
``attn_weights_inter`` that ``MiniMaxCache`` keeps per layer, in the model's dtype, no convolution); state FLOPs
(``4 × n_heads × head_dim²``: the rank-1 write k ⊗ v and the read-out by the query); the label; the trace and toy
of the recurrence transformers runs while decoding (a prompt goes through the equivalent block form, intra-block
(QKᵀ ⊙ decay)·V plus the decayed state, in blocks of ``block_size``); the shrink rule (two heads of 8); the Trace
page's state picture.

The decay rate of head i (0-based) in layer l of L is λ = (2^(−8/n_heads))^(i+1) · (1 − l/(L − 1 + 1e-5) + 1e-5)
(``get_slope_rate``): the ALiBi slopes, weaker with depth. It depends on the layer, which a block kind shared by many
layers does not know, so the trace states it per layer and the toy runs the rate of a first layer (l = 0).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt

from ..layercache import LayerCache, state_only
from ..specbase import Activation, Strict
from ..steps import ACTIVATIONS, Ctx, Step, ew, linear
from ..terms import Weight, WeightTerms, params, table, weight
from ..toyops import ACT, HEAD_TOY, Run, heads
from .contract import Caption, Choose, Fact, Heatmap, Table, fixed_state
from .pictures import cells

NORM_EPS = 1e-6  # MiniMaxLightningAttention.norm = MiniMaxRMSNorm(n_heads × head_dim): the class default eps


class LightningAttention(Strict):
    """Lightning attention (MiniMax-01): linear attention with a fixed decay per head.

    One projection gives q, k and v (``n_heads × head_dim`` each, grouped per head), passed through the model's
    activation; per head the state S (``head_dim × head_dim``) decays by exp(−λ) each token and takes the rank-1
    write k ⊗ v; the read-out q·S of all heads is RMS-normed (one weight over all heads) and gated by σ of a
    projection of the layer input before ``out_proj``. No scaling, no normalisation of q and k, no convolution.
    """

    kind: Literal["lightning"]
    n_heads: PositiveInt = Field(description="Heads, each with its own state and decay (num_attention_heads)")
    head_dim: PositiveInt = Field(description="Dims per query, key and value head (head_dim, else hidden_size / "
                                  "num_attention_heads)")
    activation: Activation = Field("silu", description="Applied to q, k and v after the projection (hidden_act)")
    block_size: PositiveInt = Field(
        256, description="Tokens per block of the prompt's block form (block_size); the output is the recurrence's")

    @property
    def width(self) -> int:
        """q, k and v are each ``n_heads × head_dim`` wide."""
        return self.n_heads * self.head_dim


def slopes(n_heads: int, layer: int = 0, n_layers: int = 1) -> np.ndarray:
    """MiniMaxLightningAttention.get_slope_rate: the decay rate λ of each head in layer ``layer`` of ``n_layers``."""
    factor = 1 - layer / (n_layers - 1 + 1e-5) + 1e-5
    return (1 / 2 ** (8 / n_heads)) ** (np.arange(n_heads) + 1) * factor


def weights(d: tuple[str, int], m: LightningAttention) -> list[Weight]:
    """MiniMaxLightningAttention.__init__, in build order (its slope and decay tables are buffers)."""
    c, w = "linear_mixers", ("n_heads × head_dim", m.width)
    return [
        weight(c, "norm", w),  # MiniMaxRMSNorm over all heads at once
        weight(c, "qkv_proj", d, ("3 × n_heads × head_dim", 3 * m.width)),
        weight(c, "out_proj", w, d),
        weight(c, "output_gate", d, w),
    ]


def cache(kind: str, n: int, m: LightningAttention, d_model: int) -> LayerCache:
    """MiniMaxCache's linear_cache: one (n_heads, head_dim, head_dim) state per layer and sequence."""
    state = m.n_heads * m.head_dim * m.head_dim
    formula = f"state n_heads × head_dim × head_dim = {m.n_heads} × {m.head_dim} × {m.head_dim} = {state:,}"
    return state_only(kind, n, state, formula, "")


def lines(m: LightningAttention) -> list[str]:
    """The lightning-attention label: heads, activation, decay, state, output."""
    return [
        "Lightning attention (linear attention)",
        f"{m.n_heads} heads × {m.head_dim} (q, k, v from one qkv_proj) · {m.activation}",
        "state decays by exp(−λ) per token, λ fixed per head and layer",
        f"fixed state {m.n_heads} × {m.head_dim} × {m.head_dim} per sequence",
        "RMSNorm ⊙ σ(output_gate) → out_proj",
    ]


def steps(c: Ctx, m: LightningAttention) -> list[Step]:
    """MiniMaxLightningAttention.forward with the token-by-token recurrence it runs while decoding.

    The recurrence runs per token in turn; its steps below are one pass of that loop, listed once, and the state
    (n_heads, head_dim, head_dim) stays that size at any T. For a prompt, transformers runs the equivalent block form
    (blocks of block_size tokens), which gives the same output.
    """
    T, p, W = c.T, "lightning attention", table(weights(c.dm, m))
    h, hd, w = m.n_heads, m.head_dim, m.width
    x, s, per = (T, 3 * w), (h, hd, hd), (h, T, hd)
    split = [ew(f"split {t} heads", p, x, f"{t.lower()} = dims {i * hd}–{(i + 1) * hd - 1} of each head's "
                f"{3 * hd} as ({h}, T, {hd})", per=0, out=per) for i, t in enumerate("QKV")]
    return [
        linear(c, "qkv_proj", p, W, "[q | k | v] per head = x · W_qkv"),
        ew(m.activation, p, x, ACTIVATIONS[m.activation], per=4),
        *split,
        Step("decay state", p, per, s, f"for each token t in turn: S ← exp(−λ_h) · S, λ_h = (2^(−8/{h}))^(h+1) · "
             "(1 − l/(L − 1 + 1e-5) + 1e-5) in layer l of L; zeros before the first token", T * h * hd * hd),
        Step("write state", p, per, s, "S ← S + k_t ⊗ v_t (a rank-1 write)", 2 * T * h * hd * hd),
        Step("read-out by q", p, s, per, "o_t = q_tᵀ · S, after token t's write (no scaling)", 2 * T * h * hd * hd),
        ew("merge heads", p, per, "transpose and concatenate the heads", per=0, out=(T, w)),
        ew("norm", p, (T, w), f"x · rsqrt(mean(x²) + eps) · w over all {h} heads (eps = {NORM_EPS:g})", per=4,
           params=params(W, "norm.weight")),
        linear(c, "output_gate", p, W, "g = x · W_gate (the layer input)"),
        ew("× σ(g)", p, (T, w), "o ⊙ 1 / (1 + exp(−g))", per=5),
        linear(c, "out_proj", p, W, "y = o · W_out"),
    ]


def forward(R: Run, m: LightningAttention, x: np.ndarray) -> np.ndarray:
    """MiniMaxLightningAttention, the recurrence token by token at the decay rates of a first layer."""
    T, h, hd = len(x), m.n_heads, m.head_dim
    y = R.rec(m.activation, ACT[m.activation](R.linear("qkv_proj", x)))
    grouped = y.reshape(T, h, 3 * hd).transpose(1, 0, 2)  # (heads, T, 3·head_dim): [q | k | v] per head
    q, k, v = (R.rec(f"split {t} heads", grouped[..., i * hd:(i + 1) * hd]) for i, t in enumerate("QKV"))
    decay = np.exp(-slopes(h))  # one factor per head
    S, out, states = np.zeros((h, hd, hd)), np.zeros(v.shape), []
    for t in range(T):
        S = S * decay[:, None, None]
        decayed = S
        S = S + k[:, t, :, None] * v[:, t, None, :]
        out[:, t] = np.einsum("hkv,hk->hv", S, q[:, t])
        states.append(S)
    R.rec("decay state", decayed, **{"decay factor exp(−λ)": decay})  # the values at the last token
    R.rec("write state", S, **{"state after each token": np.stack(states)})  # (T, heads, hd, hd)
    o = R.rec("merge heads", R.rec("read-out by q", out).transpose(1, 0, 2).reshape(T, -1))
    o = R.rec("norm", o / np.sqrt((o * o).mean(-1, keepdims=True) + NORM_EPS) * R.w["norm.weight"])
    g = R.linear("output_gate", x)
    return R.linear("out_proj", R.rec("× σ(g)", o / (1 + np.exp(-g))))


def shrink(m: dict) -> dict:
    """Two heads (one if the model has one) of 8; a block of 4 tokens."""
    return {**m, "n_heads": min(m["n_heads"], 2), "head_dim": HEAD_TOY, "block_size": 4}


def picture(steps: list, choose: Choose) -> list:
    """One head's state after each token, with the decay factor of every head."""
    import pandas as pd  # with the picture: the CLI starts without pandas
    by_op = {s.op: s for s in steps}
    states = by_op["write state"].details["state after each token"]  # (T, heads, hd, hd)
    T, n_heads, hd, _ = states.shape
    head = choose("Head", list(range(n_heads)), "head") or 0
    frames = [cells(states[t, head], "key dim", "value dim").assign(state=f"after token {t}") for t in range(T)]
    decay = by_op["decay state"].details["decay factor exp(−λ)"]
    return [Heatmap(pd.concat(frames), "value dim", "key dim", "state", diverging=True, size=110, independent=False),
            Table(pd.DataFrame({"head": range(n_heads), "decay exp(−λ)": decay}).round(4)),
            Caption(f"The state S of head {head} ({hd} × {hd}) after each token: each token first scales it by the "
                    "head's fixed decay exp(−λ), then adds k ⊗ v. S keeps its size at any length: the layer keeps "
                    "it instead of a KV cache.")]


KIND = fixed_state(
    schema=LightningAttention, name=lambda m: "Lightning", terms=WeightTerms(weights), cache=cache,
    state_flops=lambda m: 4 * m.n_heads * m.head_dim * m.head_dim,  # rank-1 write, read-out by q
    lines=lines, steps=steps, forward=forward, shrink=shrink,
    facts=(
        Fact("Fixed-state mixers", "linear-attention Q/K heads", lambda m: m.n_heads),
        Fact("Fixed-state mixers", "linear-attention V heads", lambda m: m.n_heads),
        Fact("Fixed-state mixers", "linear-attention head dim", lambda m: f"{m.head_dim} (V {m.head_dim})"),
    ),
    picture=picture,
)
