"""Kimi Delta Attention, KDA (KimiLinearDeltaAttention, transformers ``models/kimi_linear``): the gated delta rule
with a decay per key channel instead of one per head, a fixed-size state per head instead of a growing cache.

Schema :class:`KimiDeltaAttention`; parameters (q, k, v projections, their depthwise conv1d, the forget gate's
low-rank f_a_proj/f_b_proj with dt_bias and A_log, b_proj, the output gate's low-rank g_a_proj/g_b_proj, the gated
norm o_norm, o_proj; or, in Ling 3.0's ``BailingHybridDeltaAttention``, the full-rank f_proj and g_proj, and the
bounded "safe" forget gate); the fixed state (``n_heads × head_dim × head_dim`` plus the conv window over q, k, v, the
``LinearAttentionLayer`` of transformers' cache); state FLOPs (``6 × n_heads × head_dim²``: the read by the key, the
rank-1 delta write, the read-out by the query); the label; the trace and toy of ``recurrent_kimi_delta_attention``
token by token (transformers runs a prompt through the equivalent ``chunk_kimi_delta_attention``, in float32); the
shrink rule (two heads of 8, the real kernel); the Trace page's state picture with its per-channel decay.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt

from ..layercache import LayerCache, f32_state, state_only
from ..specbase import Activation, Strict
from ..steps import ACTIVATIONS, Ctx, Step, conv_step, ew, linear
from ..terms import Weight, WeightTerms, params, table, weight
from ..toyops import ACT, HEAD_TOY, Run, conv, delta_rule, heads
from . import delta
from .contract import fixed_state

DECAY = "g = −exp(A_log) · softplus(f + dt_bias)"  # the per-channel log-decay (trace, toy, picture)
SAFE = "g = lower · σ(exp(A_log) · (f + dt_bias))"  # BailingHybridForgetGate with kda_safe_gate


class KimiDeltaAttention(Strict):
    """Kimi Delta Attention (Kimi Linear): the gated delta rule with a decay per key channel, not per head.

    q, k and v (``n_heads × head_dim`` each) pass a short causal depthwise convolution with the model's activation,
    q and k are L2-normalised; per head, β = σ(b) sets how strongly a token is written, and a low-rank forget gate
    (``d_model → head_dim → n_heads × head_dim``) gives each key channel its own decay
    g = −exp(A_log) · softplus(f + dt_bias). The read-out is RMS-normed (one weight of ``head_dim``) and gated by
    σ of a low-rank output gate before ``o_proj``. Query, key and value heads are the same heads.
    """

    kind: Literal["kda"]
    n_heads: PositiveInt = Field(description="Heads, each with its own state (linear_attn_config.num_heads)")
    head_dim: PositiveInt = Field(
        description="Dims per query, key and value head, also the rank of the forget and output gates "
        "(linear_attn_config.head_dim)")
    conv_kernel: PositiveInt = Field(
        description="Width of the causal depthwise convolution over q, k and v (linear_conv_kernel_dim, or the "
        "kernel size in linear_attn_config)")
    activation: Activation = Field("silu", description="Activation after the convolution (hidden_act)")
    full_rank_gates: bool = Field(
        False, description="The forget and output gates are one projection each, forget_gate.f_proj and g_proj "
        "(d_model → n_heads × head_dim), not the rank-head_dim pairs f_a/f_b_proj and g_a/g_b_proj (Ling 3.0 "
        "BailingHybridDeltaAttention)")
    safe_gate: float | None = Field(
        None, description="The bounded forget gate of kda_safe_gate, its kda_lower_bound: g = lower_bound · "
        "σ(exp(A_log) · (f + dt_bias)), between lower_bound and 0 (Ling 3.0); null: g = −exp(A_log) · "
        "softplus(f + dt_bias)")

    @property
    def width(self) -> int:
        """q, k and v are each ``n_heads × head_dim`` wide (qkv_dim in the reference code)."""
        return self.n_heads * self.head_dim


def weights(d: tuple[str, int], m: KimiDeltaAttention) -> list[Weight]:
    """KimiLinearDeltaAttention.__init__, in build order (its KimiLinearForgetGate inside)."""
    c = "linear_mixers"
    hd, w, r = ("head_dim", m.head_dim), ("n_heads × head_dim", m.width), ("head_dim", m.head_dim)  # r: gate rank
    forget, out = ([weight(c, "forget_gate.f_proj", d, w)], [weight(c, "g_proj", d, w)]) if m.full_rank_gates else (
        [weight(c, "forget_gate.f_a_proj", d, r), weight(c, "forget_gate.f_b_proj", r, w)],
        [weight(c, "g_a_proj", d, r), weight(c, "g_b_proj", r, w)])
    return [
        weight(c, "q_proj", d, w), weight(c, "k_proj", d, w), weight(c, "v_proj", d, w),
        weight(c, "conv1d", ("3 × n_heads × head_dim", 3 * m.width), ("conv_kernel", m.conv_kernel)),
        *forget,
        weight(c, "forget_gate.dt_bias", w, tensor="forget_gate.dt_bias"),  # one per key channel
        weight(c, "forget_gate.A_log", ("n_heads", m.n_heads), tensor="forget_gate.A_log"),  # (1, 1, n_heads, 1)
        weight(c, "b_proj", d, ("n_heads", m.n_heads)),
        *out,
        weight(c, "o_norm", hd),  # KimiLinearRMSNormGated: one weight of head_dim shared by all heads
        weight(c, "o_proj", w, d),
    ]


def cache(kind: str, n: int, m: KimiDeltaAttention, d_model: int) -> LayerCache:
    """KimiLinearDeltaAttention's cache: nothing per token, a recurrent state and a conv state per sequence."""
    recurrent = m.n_heads * m.head_dim * m.head_dim  # (n_heads, head_dim, head_dim)
    conv = 3 * m.width * m.conv_kernel  # (3 × n_heads × head_dim, conv_kernel): the last inputs of q, k, v
    formula = (f"recurrent n_heads × head_dim × head_dim = {m.n_heads} × {m.head_dim} × {m.head_dim} = "
               f"{recurrent:,} + conv 3 × n_heads × head_dim × conv_kernel = {3 * m.width:,} × {m.conv_kernel} = "
               f"{conv:,} → {recurrent + conv:,}")
    return state_only(kind, n, recurrent + conv, formula, f32_state("recurrent state", m.conv_kernel))


def lines(m: KimiDeltaAttention) -> list[str]:
    """The KDA label: heads, convolution, gates, state, output."""
    rank = "full-rank" if m.full_rank_gates else f"rank-{m.head_dim}"
    bound = f" (safe: within ({m.safe_gate:g}, 0))" if m.safe_gate is not None else ""
    return [
        "Kimi Delta Attention (linear attention)",
        f"{m.n_heads} heads × {m.head_dim} (q, k, v)",
        f"causal conv (kernel {m.conv_kernel}) on q, k, v · q, k L2-normed",
        f"delta rule: write β = σ(b) · decay per key channel from a {rank} gate{bound}",
        f"fixed state {m.n_heads} × {m.head_dim} × {m.head_dim} per sequence",
        f"RMSNorm ⊙ σ({rank} gate) → o_proj",
    ]


def steps(c: Ctx, m: KimiDeltaAttention) -> list[Step]:
    """KimiLinearDeltaAttention.forward with the token-by-token recurrent_kimi_delta_attention.

    The recurrence runs per token in turn; its steps below are one pass of that loop, listed once, and the state
    (n_heads, head_dim, head_dim) stays that size at any T. For a prompt, transformers runs the equivalent chunked
    form (chunk_kimi_delta_attention), which gives the same output.
    """
    T, p, W = c.T, "kimi delta attention", table(weights(c.dm, m))
    h, dk, w = m.n_heads, m.head_dim, m.width
    x, s, per = (T, 3 * w), (h, dk, dk), (h, T, dk)  # mixed q|k|v; the state; per head and token
    return [
        linear(c, "q_proj", p, W, "q = x · W_q"),
        linear(c, "k_proj", p, W, "k = x · W_k"),
        linear(c, "v_proj", p, W, "v = x · W_v"),
        ew("concat q, k, v", p, (T, w), "[q | k | v] side by side for the convolution", per=0, out=x),
        conv_step(c, "causal conv1d", p, W, "conv1d"),
        ew(m.activation, p, x, ACTIVATIONS[m.activation], per=4),
        ew("split Q heads", p, x, f"q = channels 0–{w - 1} as ({h}, T, {dk})", per=0, out=per),
        ew("split K heads", p, x, f"k = the next {w} channels as ({h}, T, {dk})", per=0, out=per),
        ew("split V heads", p, x, f"v = the last {w} channels as ({h}, T, {dk})", per=0, out=per),
        *_gate_steps(c, m, W, "forget_gate.f", "f", "forget gate"),
        ew(_decay(m), p, (T, w), "the log-decay per token, head and key channel (≤ 0)"
           + (f", lower = kda_lower_bound {m.safe_gate:g}" if m.safe_gate is not None else ""), per=6,
           out=(T, h, dk), params=params(W, "forget_gate.dt_bias", "forget_gate.A_log")),
        linear(c, "b_proj", p, W, "b = x · W_b (write strength, one per head)"),
        ew("β = σ(b)", p, (T, h), "β = 1 / (1 + exp(−b)): how strongly each token writes, per head", per=3),
        ew("L2 norm Q", p, per, "x / √(Σ x² + 1e-6), no weights", per=3),
        ew("L2 norm K", p, per, "x / √(Σ x² + 1e-6), no weights", per=3),
        ew("scale Q", p, per, f"q / √{dk}"),
        Step("decay state", p, (T, h, dk), s, f"for each token t in turn: S ← diag(exp(g_t)) · S, each of the {dk} "
             f"key rows of a head's {dk} × {dk} state by its own channel's decay; zeros before the first token",
             T * h * dk * dk),
        Step("read by k", p, s, per, "m_t = k_tᵀ · S: what the state holds under the key k_t", 2 * T * h * dk * dk),
        ew("delta", p, per, "δ_t = β_t · (v_t − m_t)", per=2),
        Step("write state", p, per, s, "S ← S + k_t ⊗ δ_t (a rank-1 write: the delta rule)", 2 * T * h * dk * dk),
        Step("read-out by q", p, s, per, "o_t = q_tᵀ · S, after token t's write", 2 * T * h * dk * dk),
        *_gate_steps(c, m, W, "g", "u", "output gate"),
        c.norm("o_norm (gated)", p, "o_norm", per, params=params(W, "o_norm.weight")),  # KimiLinearRMSNormGated: one weight of head_dim
        ew("× σ(u)", p, per, "o ⊙ σ(u) (u of the same head)", per=4),
        ew("merge heads", p, per, "transpose and concatenate the heads", per=0, out=(T, w)),
        linear(c, "o_proj", p, W, "y = o · W_o"),
    ]


def _decay(m: KimiDeltaAttention) -> str:
    return DECAY if m.safe_gate is None else SAFE


def _gate_steps(c: Ctx, m: KimiDeltaAttention, W, name: str, value: str, what: str) -> list[Step]:
    """A gate's projection: full rank (``name``_proj), or down to rank head_dim and up (``name``_a/_b_proj)."""
    p, short = "kimi delta attention", name.rsplit(".", 1)[-1]
    if m.full_rank_gates:
        return [linear(c, f"{short}_proj", p, W, f"{value} = x · W_{short} ({what}: one value per channel)",
                       f"{name}_proj")]
    return [linear(c, f"{short}_a_proj", p, W, f"{value} = x · W_{short}a ({what}, down to rank head_dim)",
                   f"{name}_a_proj"),
            linear(c, f"{short}_b_proj", p, W, f"{value} = {value} · W_{short}b (one value per channel)",
                   f"{name}_b_proj")]


def _gate(R: Run, m: KimiDeltaAttention, name: str, x: np.ndarray) -> np.ndarray:
    short = name.rsplit(".", 1)[-1]
    if m.full_rank_gates:
        return R.linear(f"{short}_proj", x, f"{name}_proj")
    return R.linear(f"{short}_b_proj", R.linear(f"{short}_a_proj", x, f"{name}_a_proj"), f"{name}_b_proj")


def forward(R: Run, m: KimiDeltaAttention, x: np.ndarray) -> np.ndarray:
    """KimiLinearDeltaAttention, the delta rule token by token as recurrent_kimi_delta_attention writes it (the
    chunked form transformers runs on a prompt is equivalent)."""
    T, h, dk, w = len(x), m.n_heads, m.head_dim, m.width
    q, k, v = R.linear("q_proj", x), R.linear("k_proj", x), R.linear("v_proj", x)
    mixed = R.rec("concat q, k, v", np.concatenate([q, k, v], -1))
    convolved = R.rec("causal conv1d", conv(mixed, R.w["conv1d.weight"]))  # weight (3·width, kernel), no bias
    y = R.rec(m.activation, ACT[m.activation](convolved))
    q, k = R.rec("split Q heads", heads(y[:, :w], dk)), R.rec("split K heads", heads(y[:, w:2 * w], dk))
    v = R.rec("split V heads", heads(y[:, 2 * w:], dk))
    f = (_gate(R, m, "forget_gate.f", x) + R.w["forget_gate.dt_bias"]).reshape(T, h, dk)
    rate = np.exp(R.w["forget_gate.A_log"])[:, None]
    g = -rate * np.logaddexp(0, f) if m.safe_gate is None else m.safe_gate / (1 + np.exp(-rate * f))  # softplus; σ
    g = R.rec(_decay(m), g, **{"decay factor exp(g)": np.exp(g)})  # (T, heads, key channels)
    beta = R.rec("β = σ(b)", 1 / (1 + np.exp(-R.linear("b_proj", x))))  # (T, heads)
    q = R.rec("L2 norm Q", q / np.sqrt((q * q).sum(-1, keepdims=True) + 1e-6))
    k = R.rec("L2 norm K", k / np.sqrt((k * k).sum(-1, keepdims=True) + 1e-6))
    q = R.rec("scale Q", q * dk ** -0.5)
    o = delta_rule(R, q, k, v, beta, np.exp(g)[:, :, :, None])  # each key row by its own channel's decay
    u = _gate(R, m, "g", x)
    o = R.norm("o_norm (gated)", "o_norm", o)
    o = R.rec("× σ(u)", o / (1 + np.exp(-heads(u, dk))))
    o = R.rec("merge heads", o.transpose(1, 0, 2).reshape(T, -1))
    return R.linear("o_proj", o)


def shrink(m: dict) -> dict:
    """Two heads (one if the model has one) of 8; the real kernel."""
    return {**m, "n_heads": min(m["n_heads"], 2), "head_dim": HEAD_TOY}


KIND = fixed_state(
    schema=KimiDeltaAttention, name=lambda m: "KDA", terms=WeightTerms(weights), cache=cache,
    state_flops=lambda m: 6 * m.n_heads * m.head_dim * m.head_dim,  # read by k, delta write, read by q
    lines=lines, steps=steps, forward=forward, shrink=shrink,
    facts=delta.facts(lambda m: m.n_heads, lambda m: m.n_heads, lambda m: m.head_dim, lambda m: m.head_dim),
    picture=delta.picture("Head", lambda head, dk, dv: (
        f"The state S of head {head} ({dk} × {dv}) after each token: each token first scales each key row of S by "
        "that channel's decay exp(g), then writes β · (v − Sᵀk) along its key k (the delta rule). S keeps its size "
        "at any length: the layer keeps it instead of a KV cache.")),
    init=delta.init("forget_gate."),
)
