"""Multi-head latent attention, MLA (DeepseekV2Attention, V3; V3.2's DeepseekV32Indexer for sparse attention).

Schema :class:`LatentAttention`; parameters (low-rank query and KV projections, their norms, the indexer); the
cache (the KV latent and the shared RoPE key per token, plus the indexer's key); attention FLOPs (over the window
or the indexer's top-k, plus the indexer's scores); HY-V4's learned sinks and rotate_half RoPE (HYV4Attention); the
label; the trace and the toy forward; the shrink rule. Options in modules of their own: the output gate (:mod:`.gate`),
A.X-K2's fused query-and-gate projection (:mod:`.q_gate`), the latent scales (:mod:`.latent_scales`: LongCat-Flash,
dots3) and dots3's RoPE-key norm (:mod:`.rope_key_norm`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt, field_validator, model_validator

from ..layercache import LayerCache
from ..specbase import Indexer, Rope, Strict, rule_error
from ..steps import Ctx, Step, ew, linear, rope_step, scores_to_output
from ..terms import Param, Weight, WeightTerms, Weights, params, table, weight
from ..toyops import HEAD_TOY, LOCAL_TOY, Run, attend, heads, rope_toy, rotate
from . import gate as own_gate, latent_scales as scales, q_gate, rope_key_norm
from .attention import attention, rope_facts, rope_text, tail_lines
from .gate import OutputGate
from .contract import Fact, or_none


class LatentAttention(Strict):
    """Multi-head latent attention (DeepSeek-V2/V3): K and V are decompressed from a low-rank latent.

    Each head's query/key is a ``qk_nope_head_dim`` part without positions plus a ``qk_rope_head_dim``
    part with RoPE; the RoPE key part is shared by all heads. The cache holds the latent
    (``kv_lora_rank``) plus the shared RoPE key, not full K and V.
    """

    kind: Literal["mla"]
    n_heads: PositiveInt
    q_lora_rank: PositiveInt | None = Field(description="Rank of the query compression; null = full q_proj")
    kv_lora_rank: PositiveInt = Field(description="Width of the compressed KV latent")
    qk_nope_head_dim: PositiveInt
    qk_rope_head_dim: PositiveInt
    v_head_dim: PositiveInt
    bias: bool = Field(False, description="Bias on the down-projections and o_proj (attention_bias)")
    indexer: Indexer | None = Field(None, description="Sparse-attention indexer (DSA); null = dense attention")
    gate: OutputGate | None = Field(None, description="An output gate from a projection of its own: each head's "
                                    "output × σ(g_proj(x)) before o_proj (Ling 3.0 BailingHybridAttention); "
                                    "null without")
    sinks: bool = Field(False, description="Learned per-head attention sink logits (HY-V4 HYV4Attention.sinks)")
    rope: Rope | None
    rope_interleave: bool = Field(True, description="RoPE turns adjacent pairs (DeepSeek); false: the two halves, "
                                  "rotate_half (HY-V4 HYV4Attention)")
    window: PositiveInt | None = None
    softcap: float | None = None
    scale: float | None = None
    q_gate: bool = Field(False, description="q_gate_proj instead of q_b_proj: each head's query and a gate of "
                         "v_head_dim from [q_a_layernorm(c_q) | c_q], the output × σ(gate) before o_proj (A.X-K2 "
                         "AXK2Attention)")
    latent_scales: scales.Place | None = Field(None, description=scales.DESCRIPTION)
    rope_key_norm: bool = Field(False, description=rope_key_norm.DESCRIPTION)
    latent_norm_eps: float | None = Field(None, gt=0, description="eps of q_a_layernorm and kv_a_layernorm when "
                                          "the model gives them its rms_norm_eps (Dots3NoteTextAttention); null = "
                                          "DeepseekV2RMSNorm's default 1e-6")

    @field_validator("latent_scales", mode="before")
    @classmethod
    def _older_scales(cls, value):
        return scales.older_value(value)

    @model_validator(mode="after")
    def _scales(self) -> "LatentAttention":
        if self.latent_scales and self.q_lora_rank is None:
            raise rule_error("latent_scales", "block_wiring", "latent_scales scale the query latent: give q_lora_rank")
        if self.q_gate and (self.q_lora_rank is None or self.gate is not None):
            raise rule_error("q_gate", "block_wiring", "q_gate reads the query latent and is the output gate: give "
                             "q_lora_rank and no gate")
        return self


def weights(d: tuple[str, int], m: LatentAttention) -> list[Weight]:
    h, a = ("n_heads", m.n_heads), "attention"
    qk = ("qk_nope_head_dim + qk_rope_head_dim", m.qk_nope_head_dim + m.qk_rope_head_dim)
    rkv = ("kv_lora_rank", m.kv_lora_rank)
    out: list[Weight] = []
    if m.q_lora_rank is None:
        out.append(weight(a, "q_proj", d, h, qk, shape=(d[1], h[1] * qk[1])))
    else:
        rq = ("q_lora_rank", m.q_lora_rank)
        out.append(weight(a, "q_a_proj", d, rq))
        if m.bias:
            out.append(weight(a, "q_a_proj.bias", rq))
        out.append(weight(a, "q_a_layernorm", rq))
        out += q_gate.weights(rq, h, qk[1], m.v_head_dim) if m.q_gate else [
            weight(a, "q_b_proj", rq, h, qk, shape=(rq[1], h[1] * qk[1]))]
    kv_a = ("kv_lora_rank + qk_rope_head_dim", m.kv_lora_rank + m.qk_rope_head_dim)
    out.append(weight(a, "kv_a_proj_with_mqa", d, kv_a))
    if m.bias:
        out.append(weight(a, "kv_a_proj_with_mqa.bias", kv_a))
    kv_b, vd = ("qk_nope_head_dim + v_head_dim", m.qk_nope_head_dim + m.v_head_dim), ("v_head_dim", m.v_head_dim)
    out += [
        weight(a, "kv_a_layernorm", rkv),
        weight(a, "kv_b_proj", rkv, h, kv_b, shape=(rkv[1], h[1] * kv_b[1])),
        weight(a, "o_proj", h, vd, d, shape=(h[1] * vd[1], d[1])),
    ]
    if m.bias:
        out.append(weight(a, "o_proj.bias", d))
    out += rope_key_norm.weights(m)
    if m.gate:
        out += own_gate.weights(d, h, vd, m.gate)
    if m.sinks:
        out.append(weight(a, "sinks", h, tensor="sinks"))
    if m.indexer and not m.indexer.shared:  # DeepseekV32Indexer: wq_b, wk, k_norm (LayerNorm: w and b), weights_proj
        ih, ihd = ("indexer.n_heads", m.indexer.n_heads), ("indexer.head_dim", m.indexer.head_dim)
        rq = ("q_lora_rank", m.q_lora_rank or 0)
        out += [
            weight(a, "indexer.wq_b", rq, ih, ihd, shape=(rq[1], ih[1] * ihd[1])),
            weight(a, "indexer.wk", d, ihd),
            weight(a, "indexer.k_norm", ("2", 2), ihd, tensors=tuple(
                Param(f"indexer.k_norm.{t}", (ihd[1],)) for t in ("weight", "bias"))),
            weight(a, "indexer.weights_proj", d, ih),
        ]
    return out


def cache(kind: str, n: int, m: LatentAttention, d_model: int) -> LayerCache:
    """MLA: the KV latent and the shared RoPE key per token (plus the DSA indexer's key)."""
    elements = m.kv_lora_rank + m.qk_rope_head_dim
    formula = f"kv_lora_rank + qk_rope_head_dim = {m.kv_lora_rank} + {m.qk_rope_head_dim}"
    if m.indexer and not m.indexer.shared:  # DSA also caches one indexer key per token
        elements += m.indexer.head_dim
        formula += f" + indexer.head_dim {m.indexer.head_dim}"
    return LayerCache(kind, n, elements, formula + f" = {elements:,}", m.window)


def context_flops(m: LatentAttention, context: int) -> int:
    """QKᵀ and A·V over the tokens a query sees (the window, or the indexer's top-k), plus the indexer's scores
    of every earlier token with its small heads."""
    bound = m.window or (m.indexer.top_k if m.indexer else None)
    flops = 2 * m.n_heads * (m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim) * (
        min(context, bound) if bound else context)
    if m.indexer and not m.indexer.shared:
        flops += 2 * m.indexer.n_heads * m.indexer.head_dim * context
    return flops


def lines(m: LatentAttention) -> list[str]:
    """The label: heads, latent widths, head dims, positions, the indexer, what a query sees."""
    q = f"query latent {m.q_lora_rank}" if m.q_lora_rank else "full query projection"
    out = ["Multi-head latent attention (MLA)", f"{m.n_heads} heads · KV latent {m.kv_lora_rank} · {q}",
           scales.text(m), rope_key_norm.TEXT if m.rope_key_norm else "",
           f"head dim {m.qk_nope_head_dim} + {m.qk_rope_head_dim} {'RoPE' if m.rope else 'unrotated'} (shared key)"
           f" · V {m.v_head_dim}",
           rope_text(m.rope)]
    if m.indexer and m.indexer.shared:
        out.append(f"sparse: reuses the previous indexer's top-{m.indexer.top_k:,} tokens")
    elif m.indexer:
        out.append(f"sparse: indexer ({m.indexer.n_heads} × {m.indexer.head_dim}) keeps top-{m.indexer.top_k:,} tokens")
    if m.gate:
        out.append(own_gate.text(m.gate))
    if m.q_gate:
        out.append(q_gate.TEXT)
    span = f"sliding window {m.window:,}" if m.window else "full causal attention"
    return out + tail_lines(span, m.sinks, softcap=m.softcap, biases=("all",) if m.bias else ())


def steps(c: Ctx, m: LatentAttention) -> list[Step]:
    """DeepseekV2Attention (and V3, V3.2's indexer): K and V decompressed from a low-rank latent."""
    T, p, W = c.T, "attention", table(weights(c.dm, m))
    h, nope, rope, vd, r = m.n_heads, m.qk_nope_head_dim, m.qk_rope_head_dim, m.v_head_dim, m.kv_lora_rank
    qk = nope + rope
    if m.q_lora_rank is None:
        steps = [linear(c, "q_proj", p, W, "q = x · W_q")]
    else:
        steps = [linear(c, "q_a_proj", p, W, "c_q = x · W_qa (compress the query)"),
                 c.norm("q_a_layernorm", p, "q_a_layernorm", (T, m.q_lora_rank),
                        params=params(W, "q_a_layernorm.weight")),
                 *scales.query_latent_steps(c, m, p)]
        steps += q_gate.steps(c, p, m.q_lora_rank, h, qk, vd, W) if m.q_gate else [
            linear(c, "q_b_proj", p, W, "q = c_q · W_qb (decompress)")]
    steps += [
        ew("split Q heads", p, (T, h * qk), "reshape to (heads, T, nope + rope)", per=0, out=(h, T, qk)),
        ew("split Q nope | rope", p, (h, T, qk), f"q_nope = q[..., :{nope}], q_pe = q[..., {nope}:]", per=0,
            out=(h, T, rope)),
        linear(c, "kv_a_proj_with_mqa", p, W, "[c_kv | k_pe] = x · W_kva (compress K and V)"),
        ew("take latent c_kv", p, (T, r + rope), f"c_kv = the first {r} dims", per=0, out=(T, r)),
        ew("take k_pe", p, (T, r + rope), f"k_pe = the last {rope} dims: one RoPE key shared by all heads", per=0,
            out=(1, T, rope)),
        c.norm("kv_a_layernorm", p, "kv_a_layernorm", (T, r), params=params(W, "kv_a_layernorm.weight")),
    ]
    steps += scales.latent_steps(c, m, p) + rope_key_norm.steps(c, m, p, W)
    if m.rope:
        layout = "pairs" if m.rope_interleave else "half"
        steps += [rope_step(p, "q_pe", (h, T, rope), rope, m.rope.theta, layout),
                  rope_step(p, "k_pe", (1, T, rope), rope, m.rope.theta, layout)]
    steps += [
        linear(c, "kv_b_proj", p, W, "[k_nope | v] = c_kv · W_kvb (decompress per head)"),
        ew("split KV heads", p, (T, h * (nope + vd)), "reshape to (heads, T, nope + v)", per=0,
            out=(h, T, nope + vd)),
        ew("take k_nope", p, (h, T, nope + vd), f"k_nope = the first {nope} dims of each head", per=0,
            out=(h, T, nope)),
        ew("take V", p, (h, T, nope + vd), f"v = the last {vd} dims of each head", per=0, out=(h, T, vd)),
        ew("concat Q", p, (h, T, rope), "Q = [q_nope | q_pe]", per=0, out=(h, T, qk)),
        ew("concat K", p, (h, T, nope), "K = [k_nope | k_pe broadcast to every head]", per=0, out=(h, T, qk)),
    ]
    if m.indexer:
        steps += _indexer_steps(c, m, W)
    steps += scores_to_output(c, p, h, qk, vd, m.scale or qk ** -0.5, m.softcap, m.window, None,
                              params(W, "sinks") if m.sinks else (), (h, T, qk))
    gate = own_gate.steps(c, m.gate, p, h, vd, W)
    steps += gate[0] + gate[1] + [q_gate.gate_step(c, p, h, vd, W)] * m.q_gate
    steps.append(linear(c, "o_proj", p, W, "y = O · W_o"))
    return steps


def _indexer_steps(c: Ctx, m: LatentAttention, W: Weights) -> list[Step]:
    """DeepseekV32Indexer: small heads score every earlier token; attention keeps the top-k."""
    T, p, ix = c.T, "indexer", m.indexer
    ih, ihd, k, rope = ix.n_heads, ix.head_dim, ix.top_k, m.qk_rope_head_dim
    if ix.shared:
        qk = (m.n_heads, T, m.qk_nope_head_dim + rope)  # from outside the layer: one pick per query
        return [Step("reuse top-k", p, qk, (T, T), f"each query keeps the previous indexer layer's {k} tokens (no "
                     "weights)", 0)]
    theta = m.rope.theta if m.rope else 10000.0
    return [
        linear(c, "indexer.wq_b", p, W, "q_I = c_q · W_q (from the query latent)"),
        ew("split indexer Q heads", p, (T, ih * ihd), "reshape to (heads, T, dim)", per=0, out=(ih, T, ihd)),
        linear(c, "indexer.wk", p, W, "k_I = x · W_k (one key for all indexer heads)"),
        Step("indexer.k_norm", p, (T, ihd), (T, ihd), "(k_I − mean) / √(var + 1e-6) · w + b (LayerNorm)",
             7 * T * ihd, params(W, "indexer.k_norm.weight", "indexer.k_norm.bias")),
        rope_step(p, "indexer Q", (ih, T, ihd), rope, theta, "pairs" if ix.rope_pairs else "half", tail=ix.rope_last),
        rope_step(p, "indexer K", (T, ihd), rope, theta, "pairs" if ix.rope_pairs else "half", tail=ix.rope_last),
        linear(c, "indexer.weights_proj", p, W, "w = x · W_w (one weight per indexer head)"),
        Step("index scores", p, (ih, T, ihd), (T, T), f"I[i, j] = Σ_h w[i, h] / √{ih} · ReLU(q_I[h, i] · k_I[j] / "
             f"√{ihd}), −∞ where j > i", 2 * ih * ihd * T * T),
        ew("top-k mask", p, (T, T), f"attention sees only the {k} best-scoring earlier tokens of each query", per=0),
    ]


def forward(R: Run, m: LatentAttention, x: np.ndarray) -> np.ndarray:
    nope, rope, r, vd = m.qk_nope_head_dim, m.qk_rope_head_dim, m.kv_lora_rank, m.v_head_dim
    if m.q_lora_rank is None:
        q = R.linear("q_proj", x)
    else:
        raw = R.linear("q_a_proj", x)
        cq = R.norm("q_a_layernorm", "q_a_layernorm", raw, eps=m.latent_norm_eps)
        cq = scales.scale_query_latent(R, m, cq, x.shape[-1])
        q, g = q_gate.project(R, cq, raw, nope + rope, vd) if m.q_gate else (R.linear("q_b_proj", cq), None)
    q = R.rec("split Q heads", heads(q, nope + rope))
    q_pe = R.rec("split Q nope | rope", q[..., nope:])
    ckv = R.linear("kv_a_proj_with_mqa", x)
    latent = R.rec("take latent c_kv", ckv[:, :r])
    k_pe = R.rec("take k_pe", ckv[None, :, r:])
    latent = R.norm("kv_a_layernorm", "kv_a_layernorm", latent, eps=m.latent_norm_eps)
    q, q_pe, latent = scales.scale(R, m, q, q_pe, latent, x.shape[-1])
    k_pe = rope_key_norm.forward(R, m, k_pe)
    if m.rope:
        q_pe = R.rec("RoPE on q_pe", rotate(q_pe, rope, m.rope.theta, m.rope_interleave))
        k_pe = R.rec("RoPE on k_pe", rotate(k_pe, rope, m.rope.theta, m.rope_interleave))
    kv = R.rec("split KV heads", heads(R.linear("kv_b_proj", latent), nope + vd))
    k_nope, v = R.rec("take k_nope", kv[..., :nope]), R.rec("take V", kv[..., nope:])
    q = R.rec("concat Q", np.concatenate([q[..., :nope], q_pe], -1))
    k = R.rec("concat K", np.concatenate([k_nope, np.broadcast_to(k_pe, (*k_nope.shape[:2], rope))], -1))
    keep = _indexer_forward(R, m, x, cq) if m.indexer else None
    o = attend(R, q, k, v, m.scale or (nope + rope) ** -0.5, m.softcap, m.window, None, m.sinks, keep)
    o = own_gate.apply(R, m.gate, o, own_gate.project(R, m.gate, x), vd)
    o = q_gate.apply(R, o, g, vd) if m.q_gate else o
    return R.linear("o_proj", o)


def _indexer_forward(R: Run, m: LatentAttention, x: np.ndarray, cq: np.ndarray) -> np.ndarray:
    """Lightning indexer: per head ReLU(q_I · k_I), weighted and summed; each query keeps its top-k tokens."""
    ix, T = m.indexer, x.shape[0]
    causal = np.arange(T)[None, :] <= np.arange(T)[:, None]
    if ix.shared:
        return R.rec("reuse top-k", causal)
    theta = m.rope.theta if m.rope else 10000.0
    qi = R.rec("split indexer Q heads", heads(R.linear("indexer.wq_b", cq), ix.head_dim))  # (ih, T, ihd)
    ki = R.norm("indexer.k_norm", "indexer.k_norm", R.linear("indexer.wk", x))  # (T, ihd)
    qi = R.rec("RoPE on indexer Q", rotate(qi, m.qk_rope_head_dim, theta, ix.rope_pairs, ix.rope_last))
    ki = R.rec("RoPE on indexer K", rotate(ki[None], m.qk_rope_head_dim, theta, ix.rope_pairs, ix.rope_last)[0])
    wi = R.rec("indexer.weights_proj", x @ R.w["indexer.weights_proj.weight"] * ix.n_heads ** -0.5)  # (T, ih)
    per_head = np.maximum(np.einsum("htd,sd->hts", qi, ki) * ix.head_dim ** -0.5, 0)  # (ih, T query, T key)
    scores = R.rec("index scores", np.where(causal, (per_head * wi.T[:, :, None]).sum(0), -np.inf))
    best = np.argsort(-scores, -1, kind="stable")[:, :ix.top_k]  # ties (ReLU zeros) go to the earlier token
    keep = np.zeros((T, T), dtype=bool)
    np.put_along_axis(keep, best, True, -1)
    return R.rec("top-k mask", causal & keep)


def shrink(m: dict) -> dict:
    out = {**m, "n_heads": 2, "q_lora_rank": m["q_lora_rank"] and 6, "kv_lora_rank": 6, "qk_nope_head_dim": 4,
           "qk_rope_head_dim": 4, "v_head_dim": 4, "rope": rope_toy(m["rope"], 4)}
    if m.get("indexer"):
        out["indexer"] = {**m["indexer"], "n_heads": 2, "head_dim": HEAD_TOY, "top_k": LOCAL_TOY}
    return out


def indexer_text(i: Indexer | None) -> str:
    """The indexer in the compare table: "none", "shared" or heads × width and its top-k."""
    return "none" if i is None else ("shared" if i.shared else f"{i.n_heads} × {i.head_dim}, top-{i.top_k:,}")


KIND = attention(
    schema=LatentAttention, name=lambda m: "MLA", terms=WeightTerms(weights), cache=cache, context_flops=context_flops,
    lines=lines, steps=steps, forward=forward, shrink=shrink,
    facts=(
        Fact("Attention", "query heads", lambda m: m.n_heads),
        Fact("Attention", "head dim", lambda m: f"{m.qk_nope_head_dim}+{m.qk_rope_head_dim} (V {m.v_head_dim})"),
        Fact("Attention", "sliding window", lambda m: or_none(m.window)),
        Fact("Attention", "attention chunk", lambda m: "none"),
        Fact("Attention", "logit soft-cap", lambda m: or_none(m.softcap)),
        Fact("Attention", "sinks", lambda m: m.sinks),
        Fact("Attention", "kv_lora_rank", lambda m: m.kv_lora_rank),
        Fact("Attention", "q_lora_rank", lambda m: or_none(m.q_lora_rank)),
        Fact("Attention", "sparse indexer", lambda m: indexer_text(m.indexer)),
        own_gate.FACT,
        rope_key_norm.FACT,
        Fact("Attention", "latent scales", lambda m: m.latent_scales or "none"),
        Fact("Attention", "fused query gate", lambda m: m.q_gate),
        Fact("Attention", "qk_rope_head_dim", lambda m: m.qk_rope_head_dim),
        *rope_facts(),
    ),
)
