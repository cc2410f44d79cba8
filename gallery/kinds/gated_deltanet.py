"""Gated DeltaNet linear attention (Qwen3NextGatedDeltaNet, Qwen3_5GatedDeltaNet, OlmoHybridGatedDeltaNet): a
fixed-size state per value head, updated by the gated delta rule, instead of a cache that grows with the context.

Schema :class:`GatedDeltaNet`; parameters (fused or split in_proj, conv1d, dt_bias, A_log, the gated norm, out_proj);
the fixed state (``n_v_heads × k_head_dim × v_head_dim`` plus the conv window, transformers'
``LinearAttentionLayer``); state FLOPs (``6 × n_v_heads × k_head_dim × v_head_dim``: the read by the key, the rank-1
delta write, the read-out by the query); the label; the trace and toy of ``torch_recurrent_gated_delta_rule`` token by
token (transformers runs a prompt through the equivalent ``torch_chunk_gated_delta_rule``, in float32); the shrink
rule (two key heads at the real value-to-key ratio, heads of 8, the real kernel); the Trace page's state picture.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from ..layercache import LayerCache, f32_state, state_only
from ..specbase import Strict, rule_error
from ..steps import Ctx, Step, conv_step, ew, linear
from ..terms import Weight, WeightTerms, Weights, params, table, weight
from ..toyops import ACT, HEAD_TOY, Run, conv, delta_rule, heads
from . import delta
from .contract import Fact, fixed_state

DECAY = "g = −exp(A_log) · softplus(a + dt_bias)"  # the step that makes the log-decay (trace, toy, picture)
_BETA = {False: "σ(b)", True: "2σ(b)"}  # the write strength, in (0, 1) or, with neg_eigval, (0, 2)


def _beta(m: "GatedDeltaNet") -> str:
    """The step that makes β (trace, toy, picture)."""
    return f"β = {_BETA[m.neg_eigval]}"


class GatedDeltaNet(Strict):
    """Gated DeltaNet linear attention (Qwen3-Next, Qwen3.5): a fixed-size state per value head, updated by
    the gated delta rule, instead of a cache that grows with the context.

    q, k and v are projected, passed through a short causal depthwise convolution (silu) and q, k are
    L2-normalised; per value head, β = σ(b) sets how strongly a token is written and
    g = −exp(A_log) · softplus(a + dt_bias) how fast the state decays. The read-out is RMS-normed (one weight of
    ``v_head_dim``) and gated by silu(z) before ``out_proj``. Each key head serves
    ``n_v_heads / n_k_heads`` value heads.
    """

    kind: Literal["gated_deltanet"]
    n_k_heads: PositiveInt = Field(description="Query/key heads (linear_num_key_heads)")
    n_v_heads: PositiveInt = Field(description="Value heads, each with its own state (linear_num_value_heads)")
    k_head_dim: PositiveInt = Field(description="Dims per query/key head (linear_key_head_dim)")
    v_head_dim: PositiveInt = Field(description="Dims per value head (linear_value_head_dim)")
    conv_kernel: PositiveInt = Field(
        description="Width of the causal depthwise convolution over q, k and v (linear_conv_kernel_dim)")
    fused_projections: bool = Field(
        False, description="q, k, v, z in one in_proj_qkvz and b, a in one in_proj_ba (Qwen3-Next); false: "
        "in_proj_qkv, in_proj_z, in_proj_b, in_proj_a (Qwen3.5); the same parameters either way")
    neg_eigval: bool = Field(
        False, description="β = 2σ(b), in (0, 2): a write may overshoot and flip what the state holds under a key "
        "(OLMo hybrid linear_allow_neg_eigval); false: β = σ(b)")
    gate_activation: Literal["silu", "sigmoid"] = Field(
        "silu", description="What the output gate applies to z (Qwen4-Exp output_gate_type, else hidden_act: "
        "Qwen4ExpTextRMSNormGated); silu elsewhere")
    norm_eps: float | None = Field(
        None, gt=0, description="The gated output norm's own eps (OLMo hybrid's o_norm: 1e-5); null: the model's")

    @model_validator(mode="after")
    def _heads(self) -> "GatedDeltaNet":
        if self.n_v_heads % self.n_k_heads:
            raise rule_error(
                "n_k_heads", "heads_not_divisible",
                f"n_v_heads ({self.n_v_heads}) must be a multiple of n_k_heads ({self.n_k_heads})",
            )
        return self

    @property
    def conv_dim(self) -> int:
        """Channels of the convolution: q, k and v side by side (conv_dim in the reference code)."""
        return 2 * self.n_k_heads * self.k_head_dim + self.n_v_heads * self.v_head_dim


def weights(d: tuple[str, int], m: GatedDeltaNet) -> list[Weight]:
    """Qwen3NextGatedDeltaNet (fused in_proj_qkvz, in_proj_ba) / Qwen3_5GatedDeltaNet (four in_proj_*)."""
    c = "linear_mixers"
    hv, dv = ("n_v_heads", m.n_v_heads), ("v_head_dim", m.v_head_dim)
    conv = ("(2 × n_k_heads × k_head_dim + n_v_heads × v_head_dim)", m.conv_dim)  # q, k, v: conv_dim in the code
    if m.fused_projections:
        proj = [weight(c, "in_proj_qkvz", d, ("(2 × n_k_heads × k_head_dim + 2 × n_v_heads × v_head_dim)",
                                              2 * m.n_k_heads * m.k_head_dim + 2 * m.n_v_heads * m.v_head_dim)),
                weight(c, "in_proj_ba", d, ("2", 2), hv, shape=(d[1], 2 * hv[1]))]
    else:
        proj = [weight(c, "in_proj_qkv", d, conv), weight(c, "in_proj_z", d, hv, dv, shape=(d[1], hv[1] * dv[1])),
                weight(c, "in_proj_b", d, hv), weight(c, "in_proj_a", d, hv)]
    return proj + [
        weight(c, "conv1d", conv, ("conv_kernel", m.conv_kernel)),  # depthwise, no bias: (conv_dim, 1, kernel)
        weight(c, "dt_bias", hv, tensor="dt_bias"),
        weight(c, "A_log", hv, tensor="A_log"),
        weight(c, "norm", dv),  # Qwen3NextRMSNormGated: one weight of v_head_dim shared by all heads
        weight(c, "out_proj", hv, dv, d, shape=(hv[1] * dv[1], d[1])),
    ]


def cache(kind: str, n: int, m: GatedDeltaNet, d_model: int) -> LayerCache:
    """Qwen3NextGatedDeltaNet's cache: nothing per token, a recurrent state and a conv state per sequence."""
    recurrent = m.n_v_heads * m.k_head_dim * m.v_head_dim  # (n_v_heads, k_head_dim, v_head_dim)
    conv = m.conv_dim * m.conv_kernel  # (conv_dim, conv_kernel): the last conv_kernel inputs of q, k, v
    formula = (f"recurrent n_v_heads × k_head_dim × v_head_dim = {m.n_v_heads} × {m.k_head_dim} × {m.v_head_dim} "
               f"= {recurrent:,} + conv conv_dim × conv_kernel = {m.conv_dim:,} × {m.conv_kernel} = {conv:,} "
               f"→ {recurrent + conv:,}")
    return state_only(kind, n, recurrent + conv, formula, f32_state("recurrent state", m.conv_kernel))


def lines(m: GatedDeltaNet) -> list[str]:
    """The Gated DeltaNet label: heads and dims, convolution, gating, state, output (Qwen3NextGatedDeltaNet)."""
    return [
        "Gated DeltaNet (linear attention)",
        f"{m.n_k_heads} query/key heads × {m.k_head_dim} · {m.n_v_heads} value heads × {m.v_head_dim}",
        f"causal conv (kernel {m.conv_kernel}) on q, k, v · q, k L2-normed",
        f"delta rule: write β = {_BETA[m.neg_eigval]} · decay from a, A_log, dt_bias",
        f"fixed state {m.n_v_heads} × {m.k_head_dim} × {m.v_head_dim} per sequence",
        "RMSNorm" + (f" (eps {m.norm_eps:g})" if m.norm_eps else "") + f" ⊙ {m.gate_activation}(z) → out_proj",
        "fused in_proj_qkvz, in_proj_ba" if m.fused_projections else "",
    ]


def _projections(c: Ctx, m: GatedDeltaNet, W: Weights) -> list[Step]:
    """x → the convolution's input [q | k | v] (T, conv_dim), z, b and a: fused (Qwen3-Next) or split (Qwen3.5)."""
    T, p = c.T, "gated deltanet"
    nk, nv, dk, dv, r = m.n_k_heads, m.n_v_heads, m.k_head_dim, m.v_head_dim, m.n_v_heads // m.n_k_heads
    if not m.fused_projections:  # Qwen3_5GatedDeltaNet
        return [linear(c, "in_proj_qkv", p, W, "[q | k | v] = x · W_qkv"),
                linear(c, "in_proj_z", p, W, "z = x · W_z (the output gate)"),
                linear(c, "in_proj_b", p, W, "b = x · W_b (write strength, one per value head)"),
                linear(c, "in_proj_a", p, W, "a = x · W_a (decay drive, one per value head)")]
    qkvz = 2 * nk * dk + 2 * nv * dv
    return [  # Qwen3NextGatedDeltaNet.fix_query_key_value_ordering: the fused outputs are grouped per key head
        linear(c, "in_proj_qkvz", p, W, "[q | k | v | z] = x · W_qkvz"),
        linear(c, "in_proj_ba", p, W, "[b | a] = x · W_ba"),
        ew("split q, k, v, z", p, (T, qkvz), f"view as (T, {nk} key heads, {dk} + {dk} + 2 × {r}·{dv}): each key "
            f"head's q and k, then v and z of its {r} value heads; q, k, v side by side for the convolution, z kept "
            f"as (T, {nv}·{dv})", per=0, out=(T, m.conv_dim)),
        ew("split b, a", p, (T, 2 * nv), f"view as (T, {nk}, 2 × {r}): b and a, (T, {nv}) each", per=0,
            out=(T, nv)),
    ]


def steps(c: Ctx, m: GatedDeltaNet) -> list[Step]:
    """Qwen3NextGatedDeltaNet / Qwen3_5GatedDeltaNet with the token-by-token torch_recurrent_gated_delta_rule.

    The recurrence runs per token in turn; its steps below are one pass of that loop, listed once, and the state
    (n_v_heads, k_head_dim, v_head_dim) stays that size at any T. For a prompt, transformers runs the equivalent
    chunked form (torch_chunk_gated_delta_rule), which gives the same output.
    """
    T, p, W = c.T, "gated deltanet", table(weights(c.dm, m))
    nk, nv, dk, dv = m.n_k_heads, m.n_v_heads, m.k_head_dim, m.v_head_dim
    x, s, per_v = (T, m.conv_dim), (nv, dk, dv), (nv, T, dv)  # mixed q|k|v; the state; per value head and token
    steps = _projections(c, m, W) + [
        conv_step(c, "causal conv1d", p, W, "conv1d"),
        ew("SiLU", p, x, "y · σ(y)", per=4),
        ew("split Q heads", p, x, f"q = channels 0–{nk * dk - 1} as ({nk}, T, {dk})", per=0, out=(nk, T, dk)),
        ew("split K heads", p, x, f"k = the next {nk * dk} channels as ({nk}, T, {dk})", per=0, out=(nk, T, dk)),
        ew("split V heads", p, x, f"v = the last {nv * dv} channels as ({nv}, T, {dv})", per=0, out=(nv, T, dv)),
        ew(_beta(m), p, (T, nv), f"β = {1 + m.neg_eigval} / (1 + exp(−b)): how strongly each token writes, per "
            "value head", per=3 + m.neg_eigval),
        ew(DECAY, p, (T, nv), "the log-decay per token and value head (≤ 0)",
            per=6, params=params(W, "dt_bias", "A_log")),
    ]
    if nv > nk:
        serves = f"each of the {nk} key heads serves {nv // nk} consecutive value heads (repeat_interleave)"
        steps += [ew(f"repeat {t} heads", p, (nk, T, dk), serves, per=0, out=(nv, T, dk)) for t in "QK"]
    steps += [ew(f"L2 norm {t}", p, (nv, T, dk), "x / √(Σ x² + 1e-6), no weights", per=3) for t in "QK"]
    steps += [
        ew("scale Q", p, (nv, T, dk), f"q / √{dk}"),
        Step("decay state", p, (T, nv), s, f"for each token t in turn: S ← exp(g_t) · S; S is one {dk} × {dv} matrix "
             f"per value head, zeros before the first token", T * nv * dk * dv),
        Step("read by k", p, s, per_v, "m_t = k_tᵀ · S: what the state holds under the key k_t", 2 * T * nv * dk * dv),
        ew("delta", p, per_v, "δ_t = β_t · (v_t − m_t)", per=2),
        Step("write state", p, per_v, s, "S ← S + k_t ⊗ δ_t (a rank-1 write: the delta rule)", 2 * T * nv * dk * dv),
        Step("read-out by q", p, s, per_v, "o_t = q_tᵀ · S, after token t's write", 2 * T * nv * dk * dv),
        # Qwen3NextRMSNormGated: one weight of v_head_dim, a plain RMSNorm (OLMo hybrid's o_norm: with its own eps)
        ew("norm (gated)", p, per_v, f"x · rsqrt(mean(x²) + eps) · w (eps = {m.norm_eps:g})", per=4,
           params=params(W, "norm.weight")) if m.norm_eps else c.norm("norm (gated)", p, "norm", per_v,
                                                                     params=params(W, "norm.weight")),
        ew(f"× {m.gate_activation}(z)", p, per_v, ("o ⊙ z · σ(z)" if m.gate_activation == "silu" else "o ⊙ σ(z)")
           + " (z of the same value head)", per=5),
        ew("merge heads", p, per_v, "transpose and concatenate the value heads", per=0, out=(T, nv * dv)),
        linear(c, "out_proj", p, W, "y = o · W_out"),
    ]
    return steps


def forward(R: Run, m: GatedDeltaNet, x: np.ndarray) -> np.ndarray:
    """Qwen3NextGatedDeltaNet / Qwen3_5GatedDeltaNet, the delta rule token by token as
    torch_recurrent_gated_delta_rule writes it (the chunked form transformers runs on a prompt is equivalent)."""
    T, nk, nv, dk, dv = len(x), m.n_k_heads, m.n_v_heads, m.k_head_dim, m.v_head_dim
    r, kd = nv // nk, nk * dk
    if m.fused_projections:  # grouped per key head: [q (dk) | k (dk) | v (r·dv) | z (r·dv)], [b (r) | a (r)]
        qkvz = R.linear("in_proj_qkvz", x).reshape(T, nk, -1)
        ba = R.linear("in_proj_ba", x).reshape(T, nk, 2 * r)
        q, k, v, z = np.split(qkvz, [dk, 2 * dk, 2 * dk + r * dv], -1)
        z = z.reshape(T, -1)
        mixed = R.rec("split q, k, v, z", np.concatenate([t.reshape(T, -1) for t in (q, k, v)], -1), z=z)
        a = ba[..., r:].reshape(T, nv)
        b = R.rec("split b, a", ba[..., :r].reshape(T, nv), a=a)
    else:
        mixed, z = R.linear("in_proj_qkv", x), R.linear("in_proj_z", x)
        b, a = R.linear("in_proj_b", x), R.linear("in_proj_a", x)
    convolved = R.rec("causal conv1d", conv(mixed, R.w["conv1d.weight"]))  # weight (conv_dim, kernel), no bias
    h = R.rec("SiLU", ACT["silu"](convolved))
    q, k = R.rec("split Q heads", heads(h[:, :kd], dk)), R.rec("split K heads", heads(h[:, kd:2 * kd], dk))
    v = R.rec("split V heads", heads(h[:, 2 * kd:], dv))
    beta = R.rec(_beta(m), (1 + m.neg_eigval) / (1 + np.exp(-b)))  # (T, nv)
    g = -np.exp(R.w["A_log"]) * np.logaddexp(0, a + R.w["dt_bias"])  # softplus(y) = log(1 + e^y)
    g = R.rec(DECAY, g, **{"decay factor exp(g)": np.exp(g)})
    if r > 1:
        q, k = R.rec("repeat Q heads", np.repeat(q, r, 0)), R.rec("repeat K heads", np.repeat(k, r, 0))
    q = R.rec("L2 norm Q", q / np.sqrt((q * q).sum(-1, keepdims=True) + 1e-6))
    k = R.rec("L2 norm K", k / np.sqrt((k * k).sum(-1, keepdims=True) + 1e-6))
    q = R.rec("scale Q", q * dk ** -0.5)
    o = delta_rule(R, q, k, v, beta, np.exp(g)[:, :, None, None])  # one decay per value head
    if m.norm_eps:  # OlmoHybridRMSNormGated(head_v_dim, eps=1e-5), whatever the model's eps
        o = R.rec("norm (gated)", o / np.sqrt((o * o).mean(-1, keepdims=True) + m.norm_eps) * R.w["norm.weight"])
    else:
        o = R.norm("norm (gated)", "norm", o)
    gate = ACT["silu"](heads(z, dv)) if m.gate_activation == "silu" else 1 / (1 + np.exp(-heads(z, dv)))
    o = R.rec(f"× {m.gate_activation}(z)", o * gate)
    o = R.rec("merge heads", o.transpose(1, 0, 2).reshape(T, -1))
    return R.linear("out_proj", o)


def shrink(m: dict) -> dict:
    """Two key heads (one if the model has one) at the real value-to-key head ratio; heads of 8; the real kernel."""
    nk = min(m["n_k_heads"], 2)
    return {**m, "n_k_heads": nk, "n_v_heads": nk * (m["n_v_heads"] // m["n_k_heads"]), "k_head_dim": HEAD_TOY,
            "v_head_dim": HEAD_TOY}


KIND = fixed_state(
    schema=GatedDeltaNet, name=lambda m: "Gated DeltaNet", terms=WeightTerms(weights), cache=cache,
    state_flops=lambda m: 6 * m.n_v_heads * m.k_head_dim * m.v_head_dim,  # read by k, delta write, read by q
    lines=lines, steps=steps, forward=forward, shrink=shrink,
    facts=delta.facts(lambda m: m.n_k_heads, lambda m: m.n_v_heads, lambda m: m.k_head_dim, lambda m: m.v_head_dim)
    + (Fact("Fixed-state mixers", "linear-attention output gate", lambda m: f"{m.gate_activation}(z)"),),
    picture=delta.picture("Value head", lambda head, dk, dv: (
        f"The state S of value head {head} ({dk} × {dv}) after each token: each token first scales it by its decay "
        "exp(g), then writes β · (v − Sᵀk) along its key k (the delta rule). S keeps its size at any length: the "
        "layer keeps it instead of a KV cache.")),
    init=delta.init(),
)
