"""Softmax attention with query and KV heads: MHA, GQA, MQA (LlamaAttention and the families' options).

Schema :class:`SoftmaxAttention`; parameters (q/k/v/o, biases, QK-norm, sinks, the output gate's wider q_proj, the
gate's g_proj); the KV cache (``2 × n_kv_heads × head_dim`` per token, or the window or chunk); attention
FLOPs; the label; the trace of ``LlamaAttention`` + ``eager_attention_forward`` (``Gemma2Attention`` soft-cap,
``GptOssAttention`` sinks, ``Qwen3NextAttention`` output gate, the gate from a projection of its own (:mod:`.gate`),
QK-norm in its four scopes, :mod:`.qk_norm`); the toy forward and shrink rule. An attention option of some size goes in a module of
its own beside this one, as QK-norm does.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt, field_validator, model_validator

from ..draft_head import TARGET_KV, reads_target
from ..layercache import LayerCache
from ..specbase import Rope, Strict, rule_error
from ..steps import Ctx, Step, ew, linear, rope_step, scores_to_output
from ..terms import Weight, WeightTerms, Weights, params, table, weight
from ..toyops import HEAD_TOY, LOCAL_TOY, Run, attend, heads, is_proportional, rope_toy, rotate
from . import alibi, differential, dynamic_mask, gate as own_gate, qk_norm, qsa, relative_bias
from .alibi import Alibi
from .dynamic_mask import DynamicMask
from .gate import OutputGate
from .qsa import QsaIndexer
from .qk_norm import RENAMED as QK_NORM_RENAMED
from .relative_bias import RelativeBias
from .attention import attention, rope_facts, rope_text, tail_lines
from .contract import Fact, or_none


class SoftmaxAttention(Strict):
    """Softmax attention with separate query and KV head counts (MHA, GQA, MQA).

    ``kind`` is ``mha`` when every query head has its own KV head, ``mqa`` when all share one,
    ``gqa`` in between; the validator checks that it agrees with the head counts.
    """

    kind: Literal["mha", "gqa", "mqa"]
    n_heads: PositiveInt = Field(description="Query heads")
    n_kv_heads: PositiveInt = Field(description="Key/value heads")
    head_dim: PositiveInt = Field(description="Dims per head (may differ from d_model / n_heads)")
    v_head_dim: PositiveInt | None = Field(
        None, description="Dims per value head when they differ from head_dim (MiMo-V2-Flash); null = head_dim")
    k_eq_v: bool = Field(False, description="Values are the keys: no v_proj (Gemma 4 global layers)")
    kv_shared: bool = Field(
        False, description="Reuses the keys and values of the last earlier layer of its type that has its own "
        "(Gemma 4 num_kv_shared_layers): no k_proj, v_proj or k_norm, and nothing cached of its own")
    qkv_bias: bool = Field(False, description="Bias on the Q, K and V projections")
    out_bias: bool = Field(False, description="Bias on the output projection")
    qk_norm: Literal["none", "per_head_shared", "per_head", "whole_projection", "per_head_weightless"] = Field(
        "none", description=qk_norm.DESCRIPTION)
    sub_norm: bool = Field(False, description="attn_sub_norm: the model's norm over the merged heads' output (n_heads "
                           "× head_dim), with a weight, before o_proj (BitNet BitNetAttention)")
    qk_norm_bias: bool = Field(False, description="q_norm and k_norm carry a bias of head_dim too, as the model's "
                               "LayerNorm with bias does (Persimmon qk_layernorm); with qk_norm 'per_head_shared' only")
    v_norm: bool = Field(False, description="Each value head's vector normed by x · rsqrt(mean(x²) + eps), no weight, "
                         "before attention (Gemma 4 v_norm: Gemma4RMSNorm(head_dim, with_scale=False))")
    renamed_values = {"qk_norm": QK_NORM_RENAMED}
    rope: Rope | None = Field(description="RoPE settings; null for NoPE (no positional signal) or ALiBi")
    alibi: Alibi | None = Field(None, description="ALiBi: a fixed linear bias per head on the scores in place "
                                      "of RoPE (BLOOM, MPT, Falcon alibi); null without")
    relative_bias: RelativeBias | None = Field(None, description="A learned relative position bias on the scores from "
                                               "one table the model shares, in place of RoPE (CPM-Ant); null without")
    window: PositiveInt | None = Field(None, description="Sliding-window size in tokens; null = full causal")
    chunk: PositiveInt | None = Field(
        None, description="Chunked local attention: a token attends only within its chunk of this many tokens "
        "(Llama 4 attention_chunk_size); the cache keeps at most one chunk")
    sinks: bool = Field(False, description="Learned per-head attention sink logits (gpt-oss)")
    output_gate: bool = Field(
        False, description="q_proj also emits a gate per query dim: the attention output × sigmoid(gate) goes to "
        "o_proj, so q_proj is twice as wide (Qwen3-Next/Qwen3.5 Qwen3NextAttention; config attn_output_gate, "
        "always built by transformers)")
    gate: OutputGate | None = Field(None, description="An output gate from a projection of its own: each head's output "
                                    "× act(g_proj(x)) before o_proj (AFMoE, Beam, Laguna, Step 3.5 Flash, LFM3); null "
                                    "without")
    differential: bool = Field(
        False, description="Differential attention (DiffLlama): the values split into two halves by KV head, heads "
        "pair up as O_i − λ·O_(i + n_heads/2) with λ from four learned head_dim vectors, then a weightless RMS norm")
    dynamic_mask: DynamicMask | None = Field(None, description="Dynamic-mask attention: a learned bias per key and KV "
                                             "head from its value on the scores, and only the keys of largest bias "
                                             "kept (Doge DogeAttention); null without")
    qsa: QsaIndexer | None = Field(None, description="Qwen4-Exp's QSA indexer: each query attends to the top blocks of "
                                   "earlier tokens by a pooled index key, and the incomplete tail; null = dense")
    softcap: float | None = Field(None, gt=0, description="tanh soft-capping of attention logits")
    scale: float | None = Field(None, gt=0, description="Query scaling if not 1/sqrt(head_dim)")
    d_in: PositiveInt | None = Field(None, description="Width q, k and v read when it is not d_model (Zamba's shared "
                                     "block: attention_hidden_size, concat(hidden, embeddings)); null = d_model")

    @field_validator("qk_norm", mode="before")
    @classmethod
    def _old_qk_norm(cls, value):
        return qk_norm.older_value(value)

    @model_validator(mode="before")
    @classmethod
    def _old_head_gate(cls, data):
        return own_gate.older_head_gate(data)

    @model_validator(mode="after")
    def _heads(self) -> "SoftmaxAttention":
        if self.qk_norm_bias and self.qk_norm != "per_head_shared":
            raise rule_error("qk_norm_bias", "qk_norm_bias_scope", "a QK-norm bias is read for qk_norm "
                             "'per_head_shared' only (Persimmon's LayerNorm of head_dim)")
        if self.n_heads % self.n_kv_heads:
            raise rule_error(
                "n_kv_heads", "heads_not_divisible",
                f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})",
            )
        if self.differential and self.n_kv_heads % 2:
            raise rule_error("n_kv_heads", "heads_not_divisible", f"differential attention splits the values into two "
                             f"halves by KV head: n_kv_heads ({self.n_kv_heads}) must be even")
        if self.gate and self.output_gate:
            raise rule_error("gate", "gates", "one output gate: gate excludes output_gate")
        if self.dynamic_mask and (self.differential or self.kv_shared or self.k_eq_v or self.v_head_dim):
            raise rule_error("dynamic_mask", "block_wiring", "the dynamic mask reads the layer's own values of head_dim: "
                             "not with differential, kv_shared, k_eq_v or v_head_dim")
        if sum(bool(scheme) for scheme in (self.rope, self.alibi, self.relative_bias)) > 1:
            raise rule_error("alibi" if self.alibi else "relative_bias", "position_schemes", "rope, alibi and "
                             "relative_bias exclude each other: keep one, set the others to null")
        expected = attention_kind(self.n_heads, self.n_kv_heads)
        if self.kind != expected:
            raise rule_error(
                "kind", "attention_kind_mismatch",
                f"kind '{self.kind}' does not match {self.n_heads} query heads and "
                f"{self.n_kv_heads} KV heads: use '{expected}'",
            )
        return self

    @property
    def group_size(self) -> int:
        """Query heads per KV head."""
        return self.n_heads // self.n_kv_heads

    @property
    def value_dim(self) -> int:
        """Dims per value head: ``v_head_dim``, or ``head_dim`` when not set."""
        return self.v_head_dim or self.head_dim


def attention_kind(n_heads: int, n_kv_heads: int) -> str:
    """The conventional name of a head layout: MHA, MQA or GQA."""
    if n_kv_heads == n_heads:
        return "mha"
    return "mqa" if n_kv_heads == 1 else "gqa"


def weights(d: tuple[str, int], mixer: SoftmaxAttention) -> list[Weight]:
    """Llama-style q/k/v/o projections, their biases, QK-norm weights and sinks."""
    h, kv, hd = ("n_heads", mixer.n_heads), ("n_kv_heads", mixer.n_kv_heads), ("head_dim", mixer.head_dim)
    vd = ("v_head_dim", mixer.v_head_dim) if mixer.v_head_dim else hd
    src = ("d_in", mixer.d_in) if mixer.d_in else d  # what q, k, v read; o_proj returns to d_model
    own_kv = [] if mixer.kv_shared else [("k_proj", kv, hd)] + ([] if mixer.k_eq_v else [("v_proj", kv, vd)])
    projections = [("q_proj", h, hd), *own_kv]
    out = [weight("attention", name, src, heads, dim, shape=(src[1], heads[1] * dim[1]))
           for name, heads, dim in projections]
    if mixer.output_gate:  # Qwen3NextAttention: q_proj emits queries and their gate, (n_heads, 2 × head_dim)
        out[0] = weight("attention", "q_proj", src, h, hd, ("2 (query, gate)", 2), shape=(src[1], h[1] * hd[1] * 2))
    if mixer.qkv_bias:
        out += [weight("attention", f"{name}.bias", heads, dim, shape=(heads[1] * dim[1],))
                for name, heads, dim in projections]
        if mixer.output_gate:  # the query's gate half has its bias too (Qwen3NextAttention with attention_bias)
            out[len(projections)] = weight("attention", "q_proj.bias", h, hd, ("2 (query, gate)", 2),
                                           shape=(h[1] * hd[1] * 2,))
    out.append(weight("attention", "o_proj", h, vd, d, shape=(h[1] * vd[1], d[1])))
    if mixer.out_bias:
        out.append(weight("attention", "o_proj.bias", d))
    if mixer.sub_norm:  # BitNetAttention.attn_sub_norm, built after o_proj
        out.append(weight("attention", "attn_sub_norm", h, vd, shape=(h[1] * vd[1],)))
    out += qk_norm.weights(mixer.qk_norm, h, kv, hd, mixer.qk_norm_bias)
    if mixer.kv_shared:  # Gemma4TextAttention: a KV-shared layer has no k_norm either
        out = [w for w in out if w.name not in ("k_norm", "k_norm.bias")]
    if mixer.sinks:
        out.append(weight("attention", "sinks", h, tensor="sinks"))
    if mixer.gate:
        out += own_gate.weights(d, h, vd, mixer.gate)
    out += dynamic_mask.weights(kv, hd, mixer.dynamic_mask) if mixer.dynamic_mask else []
    out += qsa.weights(d, mixer.qsa) if mixer.qsa else []
    return out + (differential.weights(hd) if mixer.differential else [])


def cache(kind: str, n: int, m: SoftmaxAttention, d_model: int) -> LayerCache:
    """K and V of every KV head per token, kept for the window (or chunk) when there is one; nothing for a layer
    that reuses an earlier layer's K and V (``DynamicCache`` gives it a ``DummyLayer``)."""
    if m.kv_shared:
        return LayerCache(kind, n, 0, "0: reuses the K and V of the last earlier layer of its type (num_kv_shared_"
                          "layers), caches nothing of its own", None)
    elements = m.n_kv_heads * (m.head_dim + m.value_dim)  # K and V of every KV head
    if m.v_head_dim:
        formula = (f"n_kv_heads × (head_dim + v_head_dim) = {m.n_kv_heads} × ({m.head_dim} + "
                   f"{m.v_head_dim}) = {elements:,}")
    else:
        formula = f"2 × n_kv_heads × head_dim = 2 × {m.n_kv_heads} × {m.head_dim} = {elements:,}"
    if m.qsa:  # Qwen4ExpTextQSAIndexer: update_indexer keeps each token's raw index key
        elements += m.qsa.head_dim
        formula += f" + the QSA index key {m.qsa.head_dim} = {elements:,}"
    return LayerCache(kind, n, elements, formula, m.window or m.chunk)


def context_flops(m: SoftmaxAttention, context: int) -> int:
    """QKᵀ and A·V for one query over the tokens it sees (the window or chunk bounds them)."""
    bound = m.window or m.chunk
    value = 2 * m.head_dim if m.differential else m.value_dim  # differential: each head reads both value halves
    seen = qsa.attended(m.qsa, context) if m.qsa else min(context, bound) if bound else context
    return 2 * m.n_heads * (m.head_dim + value) * seen + (qsa.context_flops(m.qsa, context) if m.qsa else 0)


NAMES = {"mha": "Multi-head attention", "gqa": "Grouped-query attention", "mqa": "Multi-query attention"}


def lines(m: SoftmaxAttention) -> list[str]:
    """The label: kind and head layout, positions, QK-norm, gate, what a query sees, extras."""
    out = [NAMES[m.kind],
           f"{m.kind.upper()} · {m.n_heads} query heads · {m.n_kv_heads} KV heads · head dim {m.head_dim}"
           + (f" (V {m.v_head_dim})" if m.v_head_dim else "") + (" · V = K" if m.k_eq_v else ""),
           alibi.text(m.alibi) if m.alibi else relative_bias.text(m.relative_bias) if m.relative_bias else
           rope_text(m.rope)]
    if m.kv_shared:
        out.append("K/V shared: reuses an earlier layer's keys and values (no k/v projections, nothing cached)")
    if m.qk_norm != "none":
        out.append("QK-norm " + qk_norm.LINES[m.qk_norm])
    if m.v_norm:
        out.append("V-norm per head: RMS, no weight")
    if m.output_gate:
        out.append("output gate: attention ⊙ σ(gate from q_proj) → o_proj")
    if m.gate:
        out.append(own_gate.text(m.gate))
    if m.dynamic_mask:
        out.append(dynamic_mask.text(m.dynamic_mask))
    if m.qsa:
        out.append(qsa.text(m.qsa))
    if m.differential:
        out.append("differential: heads in pairs, O_i − λ·O_(i+h/2) over split values, RMS-normed")
    if m.sub_norm:
        out.append("sub-norm on the merged heads before o_proj")
    span = (f"sliding window {m.window:,}" if m.window else f"chunked attention: within chunks of {m.chunk:,}"
            if m.chunk else relative_bias.SPAN if m.relative_bias else "full causal attention")
    biases = tuple(name for name, on in (("QKV", m.qkv_bias), ("out", m.out_bias)) if on)
    return out + tail_lines(span, m.sinks, m.softcap, biases)


def steps(c: Ctx, m: SoftmaxAttention) -> list[Step]:
    """LlamaAttention + eager_attention_forward, with the options of the other families."""
    T, p, W = c.T, "attention", table(weights(c.dm, m))
    h, kv, hd, vd = m.n_heads, m.n_kv_heads, m.head_dim, m.value_dim
    steps = qsa.steps(c, p, m.qsa, int(hd * m.rope.partial), m.rope.theta, W) if m.qsa else []
    steps.append(linear(c, "q_proj", p, W, "[q | gate] = x · W_q" if m.output_gate else "q = x · W_q"))
    if m.output_gate:  # Qwen3NextAttention: per head, head_dim queries then head_dim gates
        steps.append(ew("split Q | gate", p, (T, 2 * h * hd), f"view as (T, {h}, 2 × {hd}): each head's first {hd} "
                         f"dims are its queries, the last {hd} its output gate", per=0, out=(T, h * hd)))
    if m.kv_shared:
        return steps + _g_proj(c, m, p, W) + _shared_kv_steps(c, m, p, W) + _attend_steps(c, m, p, W)
    steps.append(linear(c, "k_proj", p, W, "k = x · W_k"))
    if not m.k_eq_v:
        steps.append(linear(c, "v_proj", p, W, "v = x · W_v"))
    steps += _g_proj(c, m, p, W)
    if m.qk_norm == "whole_projection":  # Olmo2Attention: one norm over all heads' dims, before the split
        steps += [qk_norm.step(c, p, W, t, (T, n * hd)) for t, n in (("q_norm", h), ("k_norm", kv))]
    split = "reshape (T, heads·dim) → (T, heads, dim), transpose to (heads, T, dim)"
    steps += [ew("split Q heads", p, (T, h * hd), split, per=0, out=(h, T, hd)),
              ew("split K heads", p, (T, kv * hd), split, per=0, out=(kv, T, hd))]
    if m.k_eq_v:
        steps.append(ew("V = K", p, (T, kv * hd), "values are the keys before k_norm and RoPE (no v_proj)",
                         per=0, out=(kv, T, vd)))
    else:
        steps.append(ew("split V heads", p, (T, kv * vd), split, per=0, out=(kv, T, vd)))
    if m.qk_norm in ("per_head_shared", "per_head"):  # Qwen3Attention: one norm of head_dim shared by all heads;
        # CohereLayerNorm((n_heads, head_dim)), StableLmLayerNormPerHead: each head its own weight row, no bias
        steps += [qk_norm.step(c, p, W, t, (n, T, hd)) for t, n in (("q_norm", h), ("k_norm", kv))]
    if m.v_norm:  # Gemma4TextAttention: v_norm without weight
        steps.append(ew("v_norm", p, (kv, T, vd), f"x · rsqrt(mean(x²) + eps), no weight (eps = {c.arch.norm.eps:g})",
                        per=3))
    if m.rope:
        rot, prop = int(hd * m.rope.partial), is_proportional(m.rope)
        steps += [rope_step(p, t, (n, T, hd), rot, m.rope.theta, "pairs" if m.rope.pairs else "half",
                            proportional=prop) for t, n in (("Q", h), ("K", kv))]
    steps += dynamic_mask.steps(c, p, kv, hd, W) if m.dynamic_mask else []  # DogeAttention: from V after RoPE
    return steps + _attend_steps(c, m, p, W)


def _shared_kv_steps(c: Ctx, m: SoftmaxAttention, p: str, W: Weights) -> list[Step]:
    """Gemma4TextAttention of a KV-shared layer: its own queries (q_norm, RoPE), the producing layer's K and V."""
    T, h, kv, hd = c.T, m.n_heads, m.n_kv_heads, m.head_dim
    steps = [qk_norm.step(c, p, W, "q_norm", (T, h * hd))] if m.qk_norm == "whole_projection" else []
    steps.append(ew("split Q heads", p, (T, h * hd), "reshape (T, heads·dim) → (T, heads, dim), transpose to "
                    "(heads, T, dim)", per=0, out=(h, T, hd)))
    if m.qk_norm in ("per_head_shared", "per_head"):
        steps.append(qk_norm.step(c, p, W, "q_norm", (h, T, hd)))
    if m.rope:
        steps.append(rope_step(p, "Q", (h, T, hd), int(hd * m.rope.partial), m.rope.theta, "half",
                               proportional=is_proportional(m.rope)))
    producer = TARGET_KV if reads_target(c.arch) else ("the last earlier layer of this type with K/V of its own "
                                                        "(shared_kv_states), after its norms and RoPE")
    return steps + [ew("shared K", p, (c.T, c.d), f"K of {producer}; no k_proj here", per=0, out=(kv, T, hd)),
                    ew("shared V", p, (c.T, c.d), f"V of {producer}; no v_proj here", per=0, out=(kv, T, m.value_dim))]


def _g_proj(c: Ctx, m: SoftmaxAttention, p: str, W: Weights) -> list[Step]:
    """The gate's g_proj from the layer's input, taken with the other projections (none without a gate)."""
    return own_gate.steps(c, m.gate, p, m.n_heads, m.value_dim, W)[0]


def _attend_steps(c: Ctx, m: SoftmaxAttention, p: str, W: Weights) -> list[Step]:
    """From Q, K and V split into heads to the output projection: RMS norms after RoPE, KV-head repeat, scores."""
    if m.differential:
        return differential.steps(c, m, p, W)
    T, h, kv, hd, vd = c.T, m.n_heads, m.n_kv_heads, m.head_dim, m.value_dim
    steps: list[Step] = []
    if m.qk_norm == "per_head_weightless":  # Llama4TextL2Norm (its name; it computes an RMS norm), after RoPE
        steps += [ew(f"RMS norm {t}", p, shp, "x · rsqrt(mean(x²) + eps), no weight", per=3)
                  for t, shp in (("Q", (h, T, hd)), ("K", (kv, T, hd)))]
    if m.group_size > 1:
        serves = f"each of the {kv} KV heads serves {m.group_size} query heads (repeat_kv)"
        steps += [ew(f"repeat {t} heads", p, (kv, T, dim), serves, per=0, out=(h, T, dim))
                  for t, dim in (("K", hd), ("V", vd))]
    dyn = m.dynamic_mask
    steps += scores_to_output(c, p, h, hd, vd, m.scale or hd ** -0.5, m.softcap, m.window, m.chunk,
                               params(W, "sinks") if m.sinks else (), (h, T, hd),
                               mask=relative_bias.MASK if m.relative_bias else
                               dynamic_mask.mask_text(dyn, T, m.window) if dyn else qsa.MASK if m.qsa else None)
    mask = next(i for i, s in enumerate(steps) if s.op == "mask")
    if m.relative_bias:  # CpmAntAttention: after the scale
        steps.insert(mask, relative_bias.step(p, h, T, m.relative_bias))
    if m.alibi:  # after the scale (BloomAttention's baddbmm), or the scaled bias of Falcon's (S + bias) · scale
        steps.insert(mask, alibi.step(p, h, T, m.alibi))
    if dyn:  # DogeAttention: the mask's values, added after the scale
        steps.insert(mask, dynamic_mask.bias_step(p, h, T))
    if m.output_gate:
        steps.append(ew("output gate", p, (T, h * vd), "O ⊙ σ(gate)", per=4))
    steps += own_gate.steps(c, m.gate, p, h, vd, W)[1]
    if m.sub_norm:
        steps.append(c.norm("attn_sub_norm", p, "attn_sub_norm", (T, h * vd), params=params(W, "attn_sub_norm.weight")))
    steps.append(linear(c, "o_proj", p, W, "y = O · W_o"))
    return steps


def forward(R: Run, m: SoftmaxAttention, x: np.ndarray) -> np.ndarray:
    hd, vd = m.head_dim, m.value_dim
    keep = qsa.forward(R, m.qsa, x, int(hd * m.rope.partial), m.rope.theta) if m.qsa else None
    q = R.linear("q_proj", x)
    if m.output_gate:  # Qwen3NextAttention: per head, head_dim queries then head_dim gates
        qg = q.reshape(len(x), -1, 2 * hd)
        gate = qg[..., hd:].reshape(len(x), -1)
        q = R.rec("split Q | gate", qg[..., :hd].reshape(len(x), -1), gate=gate)
    if m.kv_shared:
        return _shared_forward(R, m, x, q, gate if m.output_gate else None)
    k = R.linear("k_proj", x)
    v = k if m.k_eq_v else R.linear("v_proj", x)
    g = own_gate.project(R, m.gate, x)
    if m.qk_norm == "whole_projection":
        q, k = R.norm("q_norm", "q_norm", q), R.norm("k_norm", "k_norm", k)
    q, k = R.rec("split Q heads", heads(q, hd)), R.rec("split K heads", heads(k, hd))
    v = R.rec("V = K" if m.k_eq_v else "split V heads", heads(v, vd))
    if m.qk_norm in ("per_head_shared", "per_head"):  # a (heads, head_dim) weight applies row by row
        q, k = R.norm("q_norm", "q_norm", q), R.norm("k_norm", "k_norm", k)
    if m.v_norm:
        v = R.rec("v_norm", v / np.sqrt((v * v).mean(-1, keepdims=True) + R.arch.norm.eps))
    if m.rope:
        rot, prop = int(hd * m.rope.partial), is_proportional(m.rope)
        q = R.rec("RoPE on Q", rotate(q, rot, m.rope.theta, m.rope.pairs, proportional=prop))
        k = R.rec("RoPE on K", rotate(k, rot, m.rope.theta, m.rope.pairs, proportional=prop))
    b = dynamic_mask.forward(R, m.dynamic_mask, v) if m.dynamic_mask else None
    return _attend(R, m, q, k, v, gate if m.output_gate else None, g, b, keep)


def shared_kv_toy(m: SoftmaxAttention, T: int) -> tuple[np.ndarray, np.ndarray]:
    """The toy's stand-in for the producing layer's K and V (a KV-shared layer has none of its own): drawn with
    seed 0, (n_kv_heads, T, head_dim) each."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((m.n_kv_heads, T, m.head_dim)), rng.standard_normal((m.n_kv_heads, T, m.value_dim))


def _shared_forward(R: Run, m: SoftmaxAttention, x: np.ndarray, q: np.ndarray, gate) -> np.ndarray:
    g = own_gate.project(R, m.gate, x)
    if m.qk_norm == "whole_projection":
        q = R.norm("q_norm", "q_norm", q)
    q = R.rec("split Q heads", heads(q, m.head_dim))
    if m.qk_norm in ("per_head_shared", "per_head"):
        q = R.norm("q_norm", "q_norm", q)
    if m.rope:
        q = R.rec("RoPE on Q", rotate(q, int(m.head_dim * m.rope.partial), m.rope.theta, False,
                                      proportional=is_proportional(m.rope)))
    k, v = shared_kv_toy(m, len(x))
    return _attend(R, m, q, R.rec("shared K", k), R.rec("shared V", v), gate, g)


def _attend(R: Run, m: SoftmaxAttention, q: np.ndarray, k: np.ndarray, v: np.ndarray, gate,
            g: np.ndarray | None = None, b: np.ndarray | None = None, keep: np.ndarray | None = None) -> np.ndarray:
    """Q, K, V in heads → the output projection; ``gate`` the output gate, ``g`` the per-head gate logits, ``b`` the
    dynamic mask's bias per KV head and key, ``keep`` the tokens the QSA indexer keeps."""
    if m.differential:
        return differential.forward(R, m, q, k, v)
    hd = m.head_dim
    if m.qk_norm == "per_head_weightless":
        eps = R.arch.norm.eps
        q = R.rec("RMS norm Q", q / np.sqrt((q * q).mean(-1, keepdims=True) + eps))
        k = R.rec("RMS norm K", k / np.sqrt((k * k).mean(-1, keepdims=True) + eps))
    if m.group_size > 1:
        k = R.rec("repeat K heads", np.repeat(k, m.group_size, axis=0))
        v = R.rec("repeat V heads", np.repeat(v, m.group_size, axis=0))
    scale = m.scale or hd ** -0.5
    positions = relative_bias.toy_args(m.relative_bias, m.n_heads, q.shape[1]) if m.relative_bias else {
        "bias": alibi.bias(m.alibi, m.n_heads, q.shape[1], scale) if m.alibi else None}
    o = dynamic_mask.attend(R, m, q, k, v, b, scale) if b is not None else attend(
        R, q, k, v, scale, m.softcap, m.window, m.chunk, m.sinks, extra_mask=keep, **positions)
    if m.output_gate:
        o = R.rec("output gate", o / (1 + np.exp(-gate)), **{"σ(gate)": 1 / (1 + np.exp(-gate))})
    o = own_gate.apply(R, m.gate, o, g, m.value_dim)
    if m.sub_norm:
        o = R.norm("attn_sub_norm", "attn_sub_norm", o)
    return R.linear("o_proj", o)


def shrink(m: dict) -> dict:
    group = m["n_heads"] // m["n_kv_heads"]
    kv = min(m["n_kv_heads"], 2)  # MQA stays MQA, GQA keeps two KV groups at the real ratio, MHA two heads
    out = {**m, "n_heads": kv * group, "n_kv_heads": kv, "head_dim": HEAD_TOY, "rope": rope_toy(m["rope"], HEAD_TOY)}
    if m.get("v_head_dim"):
        out["v_head_dim"] = HEAD_TOY // 2
    for key in ("window", "chunk"):
        if m.get(key):
            out[key] = min(m[key], LOCAL_TOY)
    if m.get("dynamic_mask"):  # the top-k of keys bites in a few tokens
        out["dynamic_mask"] = dynamic_mask.shrink(m["dynamic_mask"])
    if m.get("relative_bias"):
        out["relative_bias"] = relative_bias.shrink(m["relative_bias"])
    if m.get("qsa"):
        out["qsa"] = qsa.shrink(m["qsa"])
    return out


def toy_d_model(m: SoftmaxAttention, shrunk: dict, d_model: int) -> int | None:
    """Keep d_model = heads × head_dim at toy size where the model has it."""
    return shrunk["n_heads"] * HEAD_TOY if d_model == m.n_heads * m.head_dim else None


KIND = attention(
    schema=SoftmaxAttention, name=lambda m: m.kind.upper(), terms=WeightTerms(weights), cache=cache,
    context_flops=context_flops,
    lines=lines, steps=steps, forward=forward, shrink=shrink,
    facts=(
        Fact("Attention", "query heads", lambda m: m.n_heads),
        Fact("Attention", "KV heads", lambda m: m.n_kv_heads),
        Fact("Attention", "head dim", lambda m: f"{m.head_dim} (V {m.v_head_dim})" if m.v_head_dim else m.head_dim),
        Fact("Attention", "group size", lambda m: m.group_size),
        Fact("Attention", "QKV bias", lambda m: m.qkv_bias),
        Fact("Attention", "sliding window", lambda m: or_none(m.window)),
        Fact("Attention", "attention chunk", lambda m: or_none(m.chunk)),
        Fact("Attention", "sinks", lambda m: m.sinks),
        Fact("Attention", "logit soft-cap", lambda m: or_none(m.softcap)),
        Fact("Attention", "output gate", lambda m: m.output_gate),
        own_gate.FACT,
        dynamic_mask.FACT,
        qsa.FACT,
        Fact("Attention", "differential", lambda m: m.differential),
        Fact("Attention", "K/V shared with an earlier layer", lambda m: m.kv_shared),
        Fact("Norms", "QK-norm", lambda m: qk_norm.FACTS[m.qk_norm]),
        Fact("Norms", "V-norm", lambda m: m.v_norm),
        *rope_facts(),
        alibi.FACT,
        relative_bias.FACT,
    ),
    toy_d_model=toy_d_model,
)
