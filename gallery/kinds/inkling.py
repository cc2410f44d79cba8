"""Inkling's attention (``InklingAttention``, models/inkling/modeling_inkling.py): grouped-query softmax attention
without RoPE, whose positions come from a relative bias computed from the hidden state.

K and V each pass a depthwise causal convolution of a few taps, added to them (``k_sconv``, ``v_sconv``:
k + conv(k)); Q and K are RMS-normed per head with one head_dim weight shared by all heads and the scores scaled by 1/head_dim (not
1/√head_dim); ``r_proj`` gives each query ``d_rel`` relative states per head, which a learned ``d_rel × rel_extent``
table (``InklingRelativeLogits.proj``) turns into one bias per backward distance, zero from ``rel_extent`` on
(sliding layers: the window); full layers may scale queries and bias up logarithmically with the position
(``log_scaling_n_floor``, ``log_scaling_alpha``).

Inkling 2 (``Inkling2SlidingAttention``, ``Inkling2FullAttention``, models/inkling2/modeling_inkling2.py) is this kind
with options: the K/V convolutions scaled or dynamic (:mod:`.kv_conv`), L2 clips in place of the QK-norm
(:mod:`.l2_clip`), an output gate from ``gate_proj`` (:mod:`.gate`, σ per element), a sink logit per head and token
from ``sink_proj`` (``token_sinks``) and, in full layers, Q, K and V read from three inputs through norms of their
own (``three_inputs``: the decoder layer's q/k/v_input_layernorm).

Schema :class:`InklingAttention`; parameters; the KV cache and the two convolution windows; attention and relative-bias
FLOPs; the label; the trace and toy of ``InklingAttention.forward`` without a cache; the shrink rule; score heatmaps.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from ..layercache import LayerCache
from ..specbase import Strict
from ..steps import Ctx, Step, ew, linear, scores_to_output
from ..terms import Weight, WeightTerms, table, weight
from ..toyops import HEAD_TOY, LOCAL_TOY, Run, attend, heads
from . import gate as output_gate, kv_conv, l2_clip, qk_norm
from .gate import OutputGate
from .l2_clip import L2Clip
from .attention import attention, head_facts, tail_lines, whole_groups
from .contract import Fact

REL_TOY = 4  # the toy's d_rel, and its rel_extent in full layers (beyond the toy window, short of its tokens)


class LogScaling(Strict):
    """Queries and relative bias × τ = 1 + alpha · log(max((i + 1) / n_floor, 1)) at query position i."""

    n_floor: PositiveInt = Field(description="Position from which the logits grow (log_scaling_n_floor)")
    alpha: float = Field(gt=0, description="Strength of the growth (log_scaling_alpha)")


class InklingAttention(Strict):
    """Grouped-query attention with causal convolutions on K and V, QK-norm, scale 1/head_dim and a relative bias
    from the hidden state (Inkling); no RoPE."""

    kind: Literal["inkling"]
    n_heads: PositiveInt = Field(description="Query heads (num_attention_heads; sliding layers "
                                 "swa_num_attention_heads)")
    n_kv_heads: PositiveInt = Field(description="Key/value heads (num_key_value_heads; swa_num_key_value_heads)")
    head_dim: PositiveInt = Field(description="Dims per head (head_dim; swa_head_dim)")
    d_rel: PositiveInt = Field(description="Relative states per head that r_proj gives each query (d_rel)")
    rel_extent: PositiveInt = Field(description="Backward distances the relative bias covers, zero beyond (rel_extent; "
                                    "sliding layers: sliding_window_size)")
    conv_kernel: PositiveInt = Field(description="Taps of the depthwise causal convolutions on K and V "
                                     "(conv_kernel_size, sconv_kernel_size)")
    window: PositiveInt | None = Field(None, description="Sliding-window size in tokens; null = full causal")
    log_scaling: LogScaling | None = Field(None, description="Logits scaled up logarithmically with the position "
                                           "(full layers with log_scaling_n_floor); null = none")
    conv_form: kv_conv.Form = Field("add", description=kv_conv.DESCRIPTION)
    clip: L2Clip | None = Field(None, description="L2 clips of Q, K and the relative states, V RMS-normed, scale "
                                "1/√head_dim, in place of the QK-norm and scale 1/head_dim (Inkling 2); null = QK-norm")
    gate: OutputGate | None = Field(None, description="Each head's output × act(x · W_g) before o_proj (Inkling 2 "
                                    "gate_proj: σ per element); null = none")
    token_sinks: bool = Field(False, description="A sink logit per head and query token, x · W_sink (sink_proj), as an "
                              "extra softmax column (Inkling 2)")
    three_inputs: bool = Field(False, description="Q (with the relative states, gate and sinks), K and V read three "
                               "inputs, each through a norm of its own (Inkling 2's full layers: q/k/v_input_layernorm, "
                               "the block's three attention-residual queries)")

    @model_validator(mode="after")
    def _heads(self) -> "InklingAttention":
        return whole_groups(self)

    @property
    def group_size(self) -> int:
        return self.n_heads // self.n_kv_heads


def weights(d: tuple[str, int], m: InklingAttention) -> list[Weight]:
    """InklingAttention in build order: q/k/v/r/o projections, the K and V convolutions, QK-norm (or the clips' scales
    after the gate and sink projections), the bias table; with three inputs, their norms (the decoder layer's)."""
    h, kv, hd = ("n_heads", m.n_heads), ("n_kv_heads", m.n_kv_heads), ("head_dim", m.head_dim)
    d_rel, a = ("d_rel", m.d_rel), "attention"
    out = [weight(a, "q_proj", d, h, hd, shape=(d[1], m.n_heads * m.head_dim)),
           weight(a, "k_proj", d, kv, hd, shape=(d[1], m.n_kv_heads * m.head_dim)),
           weight(a, "v_proj", d, kv, hd, shape=(d[1], m.n_kv_heads * m.head_dim)),
           weight(a, "r_proj", d, h, d_rel, shape=(d[1], m.n_heads * m.d_rel)),
           weight(a, "o_proj", h, hd, d, shape=(m.n_heads * m.head_dim, d[1])),
           *kv_conv.weights(d, m, "k"), *kv_conv.weights(d, m, "v"),
           *([] if m.clip else qk_norm.weights("per_head_shared", h, kv, hd)),
           weight(a, "rel_logits_proj.proj", d_rel, ("rel_extent", m.rel_extent), tensor="rel_logits_proj.proj")]
    out += output_gate.weights(d, h, hd, m.gate) if m.gate else []
    out += [weight(a, "sink_proj", d, h)] if m.token_sinks else []
    out += l2_clip.weights(h, hd, d_rel) if m.clip else []
    return out + [weight("norms", f"{t}_input_layernorm", d) for t in "qkv" if m.three_inputs]


def cache(kind: str, n: int, m: InklingAttention, d_model: int) -> LayerCache:
    """K (after its convolution and norm) and V of every KV head per token, for the window when there is one; and
    the K and V convolutions' input windows, a fixed state."""
    elements = 2 * m.n_kv_heads * m.head_dim
    state = 2 * m.n_kv_heads * m.head_dim * m.conv_kernel
    per_token = f"2 × n_kv_heads × head_dim = 2 × {m.n_kv_heads} × {m.head_dim} = {elements:,}"
    return LayerCache(
        kind, n, elements, per_token, m.window, state, f"K and V conv windows: 2 × n_kv_heads × head_dim × "
        f"conv_kernel = 2 × {m.n_kv_heads} × {m.head_dim} × {m.conv_kernel} = {state:,}",
        caveat=f"transformers keeps the conv windows in float32 (bytes here assume bf16) and {m.conv_kernel} inputs "
        f"per channel where {m.conv_kernel - 1} would do")


def context_flops(m: InklingAttention, context: int) -> int:
    """QKᵀ and A·V over the tokens a query sees, and its relative bias: each head's d_rel states times the table's
    columns for the distances that occur (the table is a parameter every head multiplies, so it is counted here)."""
    seen = min(context, m.window) if m.window else context
    return 2 * m.n_heads * 2 * m.head_dim * seen + 2 * m.n_heads * m.d_rel * min(context, m.rel_extent)


def lines(m: InklingAttention) -> list[str]:
    kind = "GQA" if m.n_kv_heads > 1 else "MQA"
    if m.n_kv_heads == m.n_heads:
        kind = "MHA"
    norms = l2_clip.line(m.clip) if m.clip else "QK-norm per head · scale 1/head_dim"
    return ["Relative-logit attention (no RoPE)",
            *(["Q, K, V from three inputs, each normed"] if m.three_inputs else []),
            f"{kind} · {m.n_heads} query heads · {m.n_kv_heads} KV heads · head dim {m.head_dim}",
            f"{kv_conv.line(m)} · {norms}" if m.conv_form == "add" else kv_conv.line(m), *([norms] if m.conv_form != "add" else []),
            f"relative bias from x: r_proj → {m.d_rel} per head × table over {m.rel_extent:,} distances",
            *([f"log-scaled logits from position {m.log_scaling.n_floor:,} (α {m.log_scaling.alpha:g})"]
              if m.log_scaling else []),
            *(["a sink logit per head and token from sink_proj"] if m.token_sinks else []),
            *([output_gate.text(m.gate)] if m.gate else []),
            *tail_lines(f"sliding window {m.window:,}" if m.window else "full causal attention")]


def tau(m: InklingAttention, T: int) -> np.ndarray:
    """τ per query position 0…T−1 (1 without log scaling)."""
    if m.log_scaling is None:
        return np.ones(T)
    s = m.log_scaling
    return 1 + s.alpha * np.log(np.maximum((np.arange(T) + 1) / s.n_floor, 1.0))


def steps(c: Ctx, m: InklingAttention) -> list[Step]:
    """InklingAttention.forward (Inkling2SlidingAttention, Inkling2FullAttention) + eager_attention_forward, without a
    cache."""
    T, d, p, W = c.T, c.d, "attention", table(weights(c.dm, m))
    h, kv, hd, E = m.n_heads, m.n_kv_heads, m.head_dim, m.rel_extent
    split = "reshape (T, heads·dim) → (T, heads, dim), transpose to (heads, T, dim)"
    x = "x_q" if m.three_inputs else "x"
    steps = [c.norm(f"{t} input norm", p, f"{t}_input_layernorm", (T, d)) for t in "qkv" if m.three_inputs]
    steps.append(linear(c, "q_proj", p, W, f"q = {x} · W_q"))
    for t in "kv":
        steps += [linear(c, f"{t}_proj", p, W, f"{t} = x_{t} · W_{t}" if m.three_inputs else f"{t} = x · W_{t}"),
                  *kv_conv.steps(c, m, W, t)]
    steps.append(linear(c, "r_proj", p, W, f"r = {x} · W_r: d_rel relative states per head"))
    steps += [output_gate.proj_step(c, m.gate, p, W)] if m.gate else []
    steps += [linear(c, "sink_proj", p, W, f"z = {x} · W_sink: one sink logit per head")] if m.token_sinks else []
    steps += [ew("split Q heads", p, (T, h * hd), split, per=0, out=(h, T, hd)),
              ew("split K heads", p, (T, kv * hd), split, per=0, out=(kv, T, hd)),
              ew("split V heads", p, (T, kv * hd), split, per=0, out=(kv, T, hd))]
    if m.clip:
        steps += [*l2_clip.head_steps(c, m.clip, p, W, h, kv, hd), l2_clip.rel_step(c, m.clip, p, W, h, m.d_rel)]
    else:
        steps += [qk_norm.step(c, p, W, t, (n, T, hd)) for t, n in (("q_norm", h), ("k_norm", kv))]
    steps += [Step("relative logits", p, (T, h * m.d_rel), (h, T, E), f"L[h, i, δ] = Σ_r r[i, h, r] · P[r, δ] for "
                   f"each of the {E:,} distances δ", 2 * T * h * m.d_rel * E, (W["rel_logits_proj.proj"],)),
              ew("bias by distance", p, (h, T, E), f"B[h, i, j] = L[h, i, i − j] where 0 ≤ i − j < {E:,}, else 0",
                 per=0, out=(h, T, T))]
    if m.log_scaling:
        tau = f"τ_i = 1 + {m.log_scaling.alpha:g} · log(max((i + 1) / {m.log_scaling.n_floor:,}, 1))"
        steps += [ew("log-scale Q", p, (h, T, hd), f"Q[h, i] · {tau}"),
                  ew("log-scale bias", p, (h, T, T), "B · τ_i" + (" (the relative states × τ_i: the same)"
                                                                 if m.clip else ""))]
    if m.group_size > 1:
        serves = f"each of the {kv} KV heads serves {m.group_size} query heads (repeat_kv)"
        steps += [ew(f"repeat {t} heads", p, (kv, T, hd), serves, per=0, out=(h, T, hd)) for t in "KV"]
    scale = hd ** -0.5 if m.clip else 1 / hd
    attend_steps = scores_to_output(c, p, h, hd, hd, scale, None, m.window, None, (), (h, T, hd),
                                    token_sinks=m.token_sinks)
    at = next(i for i, s in enumerate(attend_steps) if s.op == "mask")
    attend_steps.insert(at, ew("add relative bias", p, (h, T, T), f"S + B (after the scale {scale:.6g})"))
    steps += attend_steps + ([output_gate.apply_step(c, m.gate, p, h, hd, W)] if m.gate else [])
    return steps + [linear(c, "o_proj", p, W, "y = O · W_o")]


def relative_bias(r: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the relative logits (heads, T, E), the bias (heads, T, T)) from r (T, heads, d_rel) and the table (d_rel, E):
    InklingRelativeLogits.forward at positions 0…T−1."""
    logits = np.einsum("thr,re->hte", r, table)
    T, E = r.shape[0], table.shape[1]
    dist = np.arange(T)[:, None] - np.arange(T)[None, :]
    inside = (dist >= 0) & (dist < E)
    index = np.broadcast_to(np.clip(dist, 0, E - 1), logits.shape[:1] + (T, T))
    bias = np.where(inside, np.take_along_axis(logits, index, -1), 0.0)
    return logits, bias


def forward(R: Run, m: InklingAttention, x: np.ndarray) -> np.ndarray:
    """The toy's InklingAttention; with three inputs ``x`` is (T, 3, d_model): the Q, K and V inputs, each normed here
    (a first layer passes one (T, d_model) to all three)."""
    hd, T = m.head_dim, len(x)
    if m.three_inputs:
        x = x if x.ndim == 3 else np.stack([x] * 3, 1)
        xq, xk, xv = (R.norm(f"{t} input norm", f"{t}_input_layernorm", x[:, i]) for i, t in enumerate("qkv"))
    else:
        xq = xk = xv = x
    q = R.linear("q_proj", xq)
    kv = [kv_conv.forward(R, m, R.linear(f"{t}_proj", xt), xt, t) for t, xt in (("k", xk), ("v", xv))]
    r = R.linear("r_proj", xq).reshape(T, m.n_heads, m.d_rel)
    g = output_gate.project(R, m.gate, xq)
    sinks = R.linear("sink_proj", xq).T if m.token_sinks else m.token_sinks  # (heads, T)
    q, k, v = (R.rec(f"split {t} heads", heads(a, hd)) for t, a in zip("QKV", (q, *kv)))
    if m.clip:
        q, k, v = l2_clip.head_forward(R, m.clip, q, k, v)
        r = l2_clip.rel_forward(R, m.clip, r)
    else:
        q, k = R.norm("q_norm", "q_norm", q), R.norm("k_norm", "k_norm", k)
    logits, bias = relative_bias(r, R.w["rel_logits_proj.proj"])
    R.rec("relative logits", logits)
    bias = R.rec("bias by distance", bias)
    if m.log_scaling:
        t = tau(m, T)
        q = R.rec("log-scale Q", q * t[None, :, None], τ=t)
        bias = R.rec("log-scale bias", bias * t[None, :, None])
    if m.group_size > 1:
        k = R.rec("repeat K heads", np.repeat(k, m.group_size, axis=0))
        v = R.rec("repeat V heads", np.repeat(v, m.group_size, axis=0))
    o = attend(R, q, k, v, hd ** -0.5 if m.clip else 1 / hd, None, m.window, None, sinks, bias=bias,
               bias_op="add relative bias")
    return R.linear("o_proj", output_gate.apply(R, m.gate, o, g, hd))


def shrink(m: dict) -> dict:
    """Two KV heads at the real group size, heads of 8, d_rel 4; the window and the bias extent cut so they bite,
    the log scaling from position 2, the clips cut so they bite."""
    group = m["n_heads"] // m["n_kv_heads"]
    kv = min(m["n_kv_heads"], 2)
    window = min(m["window"], LOCAL_TOY) if m.get("window") else None
    out = {**m, "n_heads": kv * group, "n_kv_heads": kv, "head_dim": HEAD_TOY, "d_rel": REL_TOY, "window": window,
           "rel_extent": min(m["rel_extent"], window or REL_TOY)}
    if m.get("log_scaling"):
        out["log_scaling"] = {**m["log_scaling"], "n_floor": min(m["log_scaling"]["n_floor"], 2)}
    if m.get("clip"):  # cut so that they bite on the toy's vectors
        out["clip"] = {"qk": min(m["clip"]["qk"], 2.5), "rel": min(m["clip"]["rel"], 1.5)}
    return out


KIND = attention(
    schema=InklingAttention, name=lambda m: "Relative-logit GQA", terms=WeightTerms(weights), cache=cache,
    context_flops=context_flops, lines=lines, steps=steps, forward=forward, shrink=shrink,
    facts=(
        *head_facts(),
        Fact("Attention", "K/V convolution taps", lambda m: m.conv_kernel),
        Fact("Positions", "relative bias (d_rel × distances)", lambda m: f"{m.d_rel} × {m.rel_extent:,}"),
        Fact("Positions", "RoPE θ", lambda m: "none (NoPE)"),
        Fact("Norms", "QK-norm", lambda m: "none (L2 clips)" if m.clip else qk_norm.FACTS["per_head_shared"]),
        Fact("Attention", "L2 clip of Q and K", lambda m: m.clip.qk if m.clip else "none"),
        Fact("Attention", "K/V convolution form", lambda m: m.conv_form),
        Fact("Attention", "sinks", lambda m: "per token (sink_proj)" if m.token_sinks else False),
        output_gate.FACT,
    ),
)
