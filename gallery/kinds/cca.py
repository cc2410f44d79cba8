"""Compressed convolutional attention (ZAYA: ``ZayaAttention`` with ``ZayaCCAProjection`` and ``ZayaQKNorm``).

Queries and keys are projected as in GQA, then mixed over the last few tokens by two causal convolutions over
their concatenated channels: a depthwise one of ``conv_taps`` (cca_time0) taps, then one grouped per head
(each head's head_dim channels mixed with each other) of ``grouped_taps`` (cca_time1) taps; both read a window of
``conv_taps − 1 + grouped_taps − 1`` earlier inputs that zeros fill before the first token. Residual paths add the
projections back: each query head averaged with its KV head's key, each key the mean of its group's averaged
queries. The values come in two halves: ``v_proj_current`` of this token and ``v_proj_delayed`` of the previous
one (the model keeps its last projection), concatenated and split into heads. Queries and keys are L2-normed to
length √head_dim, the keys times a learned temperature per KV head (``ZayaQKNorm.temp``), then RoPE and softmax
attention as ``eager_attention_forward``.

Schema :class:`ConvAttention`; parameters (o_proj, the projections, the two convolutions with their biases, the
temperatures, in build order); the cache (K and V per token, the convolution window and the delayed value as a
fixed state); attention FLOPs; the label; the trace and toy of the projection and attention without a cache; the
shrink rule; the score heatmaps.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from ..layercache import LayerCache
from ..specbase import Rope, Strict, rule_error
from ..steps import Ctx, Step, ew, linear, rope_step, scores_to_output
from ..terms import Weight, WeightTerms, params, table, weight
from ..toyops import HEAD_TOY, LOCAL_TOY, Run, attend, heads, rope_toy, rotate
from .attention import attention, rope_facts, rope_text, tail_lines
from .contract import Fact, or_none


class ConvAttention(Strict):
    """Compressed convolutional attention: GQA whose queries and keys are mixed over the last tokens by a depthwise
    then a per-head grouped causal convolution, with residual paths, and whose values are half this token's, half
    the previous token's projection; queries and keys L2-normed, keys × a learned temperature per KV head."""

    kind: Literal["cca"]
    n_heads: PositiveInt = Field(description="Query heads (num_attention_heads)")
    n_kv_heads: PositiveInt = Field(description="Key/value heads (num_key_value_heads)")
    head_dim: PositiveInt = Field(description="Dims per head (head_dim)")
    conv_taps: PositiveInt = Field(description="Taps of the depthwise convolution over Q and K channels (cca_time0)")
    grouped_taps: PositiveInt = Field(description="Taps of the grouped convolution, one group per head (cca_time1)")
    bias: bool = Field(False, description="Biases on the q/k/v projections and o_proj (attention_bias); the two "
                       "convolutions always have theirs")
    rope: Rope | None = Field(description="RoPE settings (rope_parameters of the layer type)")
    window: PositiveInt | None = Field(None, description="Sliding-window size in tokens (hybrid_sliding layers); "
                                       "null = full causal")

    @model_validator(mode="after")
    def _heads(self) -> "ConvAttention":
        if self.n_heads % self.n_kv_heads:
            raise rule_error("n_kv_heads", "heads_not_divisible",
                             f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})")
        if self.n_kv_heads * self.head_dim % 2:
            raise rule_error("head_dim", "heads_not_divisible", f"the values split into two halves: n_kv_heads × "
                             f"head_dim ({self.n_kv_heads} × {self.head_dim}) must be even (transformers builds an odd one but "
                             "cannot split its values into heads)")
        return self

    @property
    def group_size(self) -> int:
        return self.n_heads // self.n_kv_heads

    @property
    def channels(self) -> int:
        """Q and K channels the convolutions mix: (n_heads + n_kv_heads) × head_dim."""
        return (self.n_heads + self.n_kv_heads) * self.head_dim

    @property
    def window_inputs(self) -> int:
        """Earlier inputs the two convolutions read: (conv_taps − 1) + (grouped_taps − 1)."""
        return self.conv_taps - 1 + self.grouped_taps - 1


def weights(d: tuple[str, int], m: ConvAttention) -> list[Weight]:
    """ZayaAttention's o_proj, then ZayaCCAProjection's projections and convolutions, then ZayaQKNorm's temp."""
    h, kv, hd = ("n_heads", m.n_heads), ("n_kv_heads", m.n_kv_heads), ("head_dim", m.head_dim)
    half = ("n_kv_heads × head_dim / 2", m.n_kv_heads * m.head_dim // 2)
    ch = ("(n_heads + n_kv_heads) × head_dim", m.channels)
    out = [weight("attention", "o_proj", h, hd, d, shape=(m.n_heads * m.head_dim, d[1]))]
    if m.bias:
        out.append(weight("attention", "o_proj.bias", d))
    for name, *dims in (("q_proj", h, hd), ("k_proj", kv, hd), ("v_proj_current", half), ("v_proj_delayed", half)):
        width = int(np.prod([v for _, v in dims]))
        out.append(weight("attention", name, d, *dims, shape=(d[1], width)))
        if m.bias:
            out.append(weight("attention", f"{name}.bias", *dims, shape=(width,)))
    out += [weight("attention", "conv_qk_depthwise", ch, ("conv_taps", m.conv_taps)),
            weight("attention", "conv_qk_depthwise.bias", ch),
            weight("attention", "conv_qk_grouped", ch, hd, ("grouped_taps", m.grouped_taps)),
            weight("attention", "conv_qk_grouped.bias", ch),
            weight("attention", "qk_norm.temp", kv, tensor="qk_norm.temp")]
    return out


def cache(kind: str, n: int, m: ConvAttention, d_model: int) -> LayerCache:
    """K and V per token (for the window on sliding layers), and a fixed state: the convolutions' window of Q and
    K channels (conv_states) and the previous token's delayed value projection (recurrent_states)."""
    kv = 2 * m.n_kv_heads * m.head_dim
    conv, delayed = m.channels * m.window_inputs, m.n_kv_heads * m.head_dim // 2
    state = (f"(n_heads + n_kv_heads) × head_dim × (conv_taps − 1 + grouped_taps − 1) + n_kv_heads × head_dim / 2 "
             f"= {m.channels:,} × {m.window_inputs} + {delayed:,} = {conv + delayed:,}")
    return LayerCache(kind, n, kv, f"2 × n_kv_heads × head_dim = 2 × {m.n_kv_heads} × {m.head_dim} = {kv:,}",
                      m.window, conv + delayed, state)


def context_flops(m: ConvAttention, context: int) -> int:
    """QKᵀ and A·V for one query over the tokens it sees."""
    return 2 * m.n_heads * 2 * m.head_dim * (min(context, m.window) if m.window else context)


def lines(m: ConvAttention) -> list[str]:
    """The label: head layout, the convolutions, the split values, the norms, positions and span."""
    return ["Compressed convolutional attention",
            f"{m.n_heads} query heads · {m.n_kv_heads} KV heads · head dim {m.head_dim}",
            f"Q, K: depthwise conv {m.conv_taps} taps → grouped conv {m.grouped_taps} taps (per head) + residuals",
            "V: half this token's projection, half the previous token's",
            "Q, K L2-normed to √head_dim · K × temperature per KV head", rope_text(m.rope),
            *tail_lines(f"sliding window {m.window:,}" if m.window else "full causal attention", False, None,
                        ("QKV", "out") if m.bias else ())]


def steps(c: Ctx, m: ConvAttention) -> list[Step]:
    """ZayaCCAProjection.forward and ZayaAttention.forward without a cache (no padding mask)."""
    T, p, W = c.T, "attention", table(weights(c.dm, m))
    h, kv, hd, g, C = m.n_heads, m.n_kv_heads, m.head_dim, m.group_size, m.channels
    half, P = kv * hd // 2, m.window_inputs
    conv = "x = 0 before the first token" if P else "no earlier tokens"
    return [
        linear(c, "q_proj", p, W, "q = x · W_q"),
        linear(c, "k_proj", p, W, "k = x · W_k"),
        ew("query residual", p, (T, h * hd), f"q_r = (q + k of its KV head) / 2, each KV head serving {g} query "
           "heads", per=2),
        ew("key residual", p, (T, h * hd), f"k_r = mean of the {g} q_r of each KV head's group", out=(T, kv * hd)),
        ew("concat Q | K", p, (T, h * hd), f"[q | k] over {C} channels", per=0, out=(T, C)),
        Step("depthwise conv", p, (T, C), (T + m.grouped_taps - 1, C),
             f"u[t, c] = Σ_j w[c, j] · x[t + j, c] + b[c], j < {m.conv_taps} taps, over the input with {P} earlier "
             f"positions ({conv}); {m.grouped_taps - 1} more outputs than tokens, for the grouped conv",
             2 * T * C * m.conv_taps, params(W, "conv_qk_depthwise.weight", "conv_qk_depthwise.bias"), matmul=True),
        Step("grouped conv", p, (T + m.grouped_taps - 1, C), (T, C),
             f"y[t, c] = Σ_i Σ_j w[c, i, j] · u[t + j, i of c's head] + b[c], j < {m.grouped_taps} taps, i < {hd} "
             f"channels of the same head ({h + kv} groups)", 2 * T * C * hd * m.grouped_taps,
             params(W, "conv_qk_grouped.weight", "conv_qk_grouped.bias"), matmul=True),
        ew("add residuals", p, (T, C), "q = y_q + q_r, k = y_k + k_r"),
        linear(c, "v_proj_current", p, W, "v_c = x · W_vc"),
        linear(c, "v_proj_delayed", p, W, "v_d = x · W_vd"),
        ew("delay", p, (T, half), "v_d of the previous token (at the first token: the projection of zeros, its "
           "bias or 0)", per=0),
        ew("concat V", p, (T, half), f"v = [v_c | v_d]: the first {half} value dims this token's, the last {half} "
           "the previous token's", per=0, out=(T, 2 * half)),
        ew("split Q heads", p, (T, h * hd), "(T, heads·dim) → (heads, T, dim)", per=0, out=(h, T, hd)),
        ew("split K heads", p, (T, kv * hd), "(T, heads·dim) → (heads, T, dim)", per=0, out=(kv, T, hd)),
        ew("split V heads", p, (T, kv * hd), "(T, heads·dim) → (heads, T, dim)", per=0, out=(kv, T, hd)),
        ew("L2 norm Q", p, (h, T, hd), "q · √head_dim / max(‖q‖, eps)", per=3),
        ew("L2 norm K", p, (kv, T, hd), "k · √head_dim / max(‖k‖, eps)", per=3),
        ew("key temperature", p, (kv, T, hd), "k · temp[KV head]", params=params(W, "qk_norm.temp")),
        *([rope_step(p, t, (n, T, hd), int(hd * m.rope.partial), m.rope.theta, "half") for t, n in (("Q", h), ("K", kv))]
          if m.rope else []),
        *([ew(f"repeat {t} heads", p, (kv, T, hd), f"each of the {kv} KV heads serves {g} query heads (repeat_kv)",
              per=0, out=(h, T, hd)) for t in ("K", "V")] if g > 1 else []),
        *scores_to_output(c, p, h, hd, hd, hd ** -0.5, None, m.window, None, (), (h, T, hd)),
        linear(c, "o_proj", p, W, "y = O · W_o"),
    ]


def _grouped_conv(u: np.ndarray, w: np.ndarray, b: np.ndarray, dim: int) -> np.ndarray:
    """nn.Conv1d with groups of ``dim`` channels and no padding over u (T + k − 1, C); w (C, dim, k) → (T, C)."""
    k = w.shape[-1]
    T = len(u) - k + 1
    g = u.reshape(len(u), -1, dim)  # (T + k − 1, groups, dim)
    wg = w.reshape(-1, dim, dim, k)  # (groups, out, in, taps)
    return sum(np.einsum("tgi,goi->tgo", g[j:j + T], wg[..., j]) for j in range(k)).reshape(T, -1) + b


def forward(R: Run, m: ConvAttention, x: np.ndarray) -> np.ndarray:
    T, h, kv, hd, g = len(x), m.n_heads, m.n_kv_heads, m.head_dim, m.group_size
    q, k = R.linear("q_proj", x), R.linear("k_proj", x)
    q_r = (q.reshape(T, h, hd) + np.repeat(k.reshape(T, kv, hd), g, axis=1)) / 2
    q_r = R.rec("query residual", q_r.reshape(T, -1))
    k_r = R.rec("key residual", q_r.reshape(T, kv, g, hd).mean(2).reshape(T, -1))
    qk = R.rec("concat Q | K", np.concatenate([q, k], -1))
    padded = np.concatenate([np.zeros((m.window_inputs, qk.shape[1])), qk])
    dw, n = R.w["conv_qk_depthwise.weight"], T + m.grouped_taps - 1
    u = R.rec("depthwise conv", sum(dw[:, j] * padded[j:j + n] for j in range(m.conv_taps))
              + R.w["conv_qk_depthwise.bias"], taps=dw.T)
    y = R.rec("grouped conv", _grouped_conv(u, R.w["conv_qk_grouped.weight"], R.w["conv_qk_grouped.bias"], hd))
    qk = R.rec("add residuals", y + np.concatenate([q_r, k_r], -1))
    q, k = qk[:, :h * hd], qk[:, h * hd:]
    v_c, v_d = R.linear("v_proj_current", x), R.linear("v_proj_delayed", x)
    first = R.w.get("v_proj_delayed.bias", np.zeros(v_d.shape[1]))
    v_d = R.rec("delay", np.concatenate([first[None], v_d[:-1]]))
    v = R.rec("concat V", np.concatenate([v_c, v_d], -1))
    q, k, v = (R.rec(f"split {t} heads", heads(a, hd)) for t, a in (("Q", q), ("K", k), ("V", v)))
    eps = np.finfo(np.float64).eps
    q = R.rec("L2 norm Q", q * np.sqrt(hd) / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), eps))
    k = R.rec("L2 norm K", k * np.sqrt(hd) / np.maximum(np.linalg.norm(k, axis=-1, keepdims=True), eps))
    k = R.rec("key temperature", k * R.w["qk_norm.temp"][:, None, None])
    if m.rope:
        rot = int(hd * m.rope.partial)
        q = R.rec("RoPE on Q", rotate(q, rot, m.rope.theta, False))
        k = R.rec("RoPE on K", rotate(k, rot, m.rope.theta, False))
    if g > 1:
        k = R.rec("repeat K heads", np.repeat(k, g, axis=0))
        v = R.rec("repeat V heads", np.repeat(v, g, axis=0))
    return R.linear("o_proj", attend(R, q, k, v, hd ** -0.5, None, m.window, None, False))


def shrink(m: dict) -> dict:
    """Two KV heads at the real group size, heads of 8, the taps kept, a window cut to a few tokens."""
    group = m["n_heads"] // m["n_kv_heads"]
    kv = min(m["n_kv_heads"], 2)
    out = {**m, "n_heads": kv * group, "n_kv_heads": kv, "head_dim": HEAD_TOY, "rope": rope_toy(m["rope"], HEAD_TOY)}
    if m.get("window"):
        out["window"] = min(m["window"], LOCAL_TOY)
    return out


KIND = attention(
    schema=ConvAttention, name=lambda m: "CCA", terms=WeightTerms(weights), cache=cache, context_flops=context_flops,
    lines=lines, steps=steps, forward=forward, shrink=shrink,
    init={"qk_norm.temp": lambda rng, shape: 1 + 0.2 * rng.standard_normal(shape)},  # init 0 would zero the keys
    facts=(
        Fact("Attention", "query heads", lambda m: m.n_heads),
        Fact("Attention", "KV heads", lambda m: m.n_kv_heads),
        Fact("Attention", "head dim", lambda m: m.head_dim),
        Fact("Attention", "group size", lambda m: m.group_size),
        Fact("Attention", "sliding window", lambda m: or_none(m.window)),
        Fact("Attention", "Q/K convolution taps", lambda m: f"{m.conv_taps} depthwise, {m.grouped_taps} grouped"),
        *rope_facts(),
    ),
)
