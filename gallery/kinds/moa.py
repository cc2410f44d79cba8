"""Mixture of attention heads (JetMoE's ``JetMoeAttention`` with ``JetMoeMoA``; ModuleFormer, Shen et al. 2023).

A router (``nn.Linear(d_model, n_experts)``, no bias) picks ``top_k`` of ``n_experts`` per token by its logits; the
gates are the softmax over the chosen logits (``JetMoeTopKGating``). Each expert owns a query projection to
``n_kv_heads × head_dim`` and an output projection back (``JetMoeParallelExperts``, stored ``(experts, out, in)``);
one ``kv_proj`` shared by all experts gives K and V for ``n_kv_heads`` heads, so the cache is Llama's for those
heads. A token's ``top_k × n_kv_heads`` query heads (slot j's heads j·n_kv_heads … , in the router's order, best
first) attend to K and V repeated ``top_k`` times (``repeat``, not ``repeat_kv``'s interleave: query head
j·n_kv_heads + i reads KV head i); each slot's merged output goes through its expert's output projection, × its
gate, and the slots are summed, plus one bias of d_model. Schema :class:`MixtureOfAttention`; parameters; the KV
cache; attention FLOPs; the label; the trace and toy; the routed share of its experts (``routed``: active vs total).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from ..layercache import LayerCache
from ..specbase import Rope, Strict, rule_error
from ..steps import Ctx, Step, ew, linear, rope_step, scores_to_output
from ..terms import Weight, WeightTerms, params, table, weight
from ..toyops import HEAD_TOY, Run, attend, heads, rope_toy, rotate
from .attention import attention, rope_facts, rope_text, tail_lines
from .contract import Fact

TOY_EXPERTS = 4  # the toy's experts (top_k at most 2, its heads per expert 2)


class MixtureOfAttention(Strict):
    """Mixture of attention heads: routed experts own the query and output projections, K and V are shared."""

    kind: Literal["moa"]
    n_experts: PositiveInt = Field(description="Attention experts, each with its own query and output projection "
                                   "(num_local_experts)")
    top_k: PositiveInt = Field(description="Experts a token uses (num_experts_per_tok)")
    n_kv_heads: PositiveInt = Field(description="Key/value heads, and the query heads of each expert "
                                    "(num_key_value_heads)")
    head_dim: PositiveInt = Field(description="Dims per head (kv_channels)")
    rope: Rope | None = Field(description="RoPE settings; null for NoPE")

    @model_validator(mode="after")
    def _experts(self) -> "MixtureOfAttention":
        if self.top_k > self.n_experts:
            raise rule_error("top_k", "too_many_active_experts",
                             f"top_k ({self.top_k}) must be at most n_experts ({self.n_experts})")
        return self

    @property
    def n_heads(self) -> int:
        """Query heads of one token: n_kv_heads for each of its top_k experts."""
        return self.top_k * self.n_kv_heads


def weights(d: tuple[str, int], m: MixtureOfAttention) -> list[Weight]:
    """JetMoeAttention in build order: the experts' shared output bias, their query and output projections, the
    router, then kv_proj."""
    e, kv, hd = ("n_experts", m.n_experts), ("n_kv_heads", m.n_kv_heads), ("head_dim", m.head_dim)
    width = m.n_kv_heads * m.head_dim
    return [weight("attention", "out_bias", d, tensor="out_bias"),
            weight("attention", "experts.q_proj", e, d, kv, hd, shape=(m.n_experts, d[1], width)),
            weight("attention", "experts.o_proj", e, kv, hd, d, shape=(m.n_experts, width, d[1])),
            weight("router", "attn_router", d, e),
            weight("attention", "kv_proj", d, ("2 (K, V)", 2), kv, hd, shape=(d[1], 2 * width))]


def cache(kind: str, n: int, m: MixtureOfAttention, d_model: int) -> LayerCache:
    """K and V of the shared KV heads per token (the experts own queries only)."""
    elements = 2 * m.n_kv_heads * m.head_dim
    return LayerCache(kind, n, elements, f"2 × n_kv_heads × head_dim = 2 × {m.n_kv_heads} × {m.head_dim} = "
                      f"{elements:,} (shared by every expert)", None)


def context_flops(m: MixtureOfAttention, context: int) -> int:
    """QKᵀ and A·V for a token's top_k × n_kv_heads query heads over the context."""
    return 2 * m.n_heads * 2 * m.head_dim * context


def lines(m: MixtureOfAttention) -> list[str]:
    return ["Mixture of attention heads",
            f"top-{m.top_k} of {m.n_experts} experts · each {m.n_kv_heads} query heads of {m.head_dim} + its own "
            f"output projection", f"{m.n_heads} query heads per token · {m.n_kv_heads} shared KV heads (kv_proj)",
            rope_text(m.rope), *tail_lines("full causal attention", biases=("out (shared by the experts)",))]


def steps(c: Ctx, m: MixtureOfAttention) -> list[Step]:
    """JetMoeAttention.forward: the router, the chosen experts' queries, kv_proj, RoPE, K and V repeated per slot,
    attention, each slot's output projection × its gate, the sum and the bias."""
    T, d, p, W = c.T, c.d, "attention", table(weights(c.dm, m))
    k, E, kv, hd, h = m.top_k, m.n_experts, m.n_kv_heads, m.head_dim, m.n_heads
    q_w, o_w = W["experts.q_proj.weight"], W["experts.o_proj.weight"]
    out = [linear(c, "attention router logits", "router", W, "z = x · W_router", name="attn_router"),
           ew("attention top-k", "router", (T, E), f"pick the {k} largest logits (best first)", per=1, out=(T, k)),
           ew("attention gates", "router", (T, k), f"g = softmax over the {k} chosen logits", per=3),
           Step("experts.q_proj", p, (T, d), (T, k, kv * hd), f"q[t, j] = x[t] · W_q[expert j of t], {k} experts a "
                "token", 2 * T * k * d * kv * hd, (q_w,), matmul=True),
           linear(c, "kv_proj", p, W, "[k | v] = x · W_kv (shared by the experts)"),
           ew("split Q heads", p, (T, k, kv * hd), f"(T, {k} × {kv} heads, {hd}) → heads: slot j's head i is head "
              f"j·{kv} + i", per=0, out=(h, T, hd)),
           ew("split K heads", p, (T, 2 * kv * hd), "the first half of kv_proj's output, into heads", per=0,
              out=(kv, T, hd)),
           ew("split V heads", p, (T, 2 * kv * hd), "the second half, into heads", per=0, out=(kv, T, hd))]
    if m.rope:
        rot = int(hd * m.rope.partial)
        out += [rope_step(p, t, (n, T, hd), rot, m.rope.theta, "half") for t, n in (("Q", h), ("K", kv))]
    tiled = f"K and V repeated {k} times (tiled, not interleaved): query head j·{kv} + i reads KV head i"
    out += [ew(f"repeat {t} heads", p, (kv, T, hd), tiled, per=0, out=(h, T, hd)) for t in "KV"]
    out += scores_to_output(c, p, h, hd, hd, hd ** -0.5, None, None, None, (), (h, T, hd))
    return out + [
        Step("experts.o_proj", p, (T, h * hd), (T, k, d), f"y[t, j] = o[t, j] · W_o[expert j of t]: each slot's "
             f"{kv} heads through its expert's output projection", 2 * T * k * kv * hd * d, (o_w,), matmul=True),
        Step("gated sum of experts", p, (T, k, d), (T, d), f"y = Σ over the {k} slots of g_j · y_j",
             2 * k * T * d),
        ew("add output bias", p, (T, d), "y + b (one bias of d_model for all experts)",
           params=params(W, "out_bias")),
    ]


def forward(R: Run, m: MixtureOfAttention, x: np.ndarray) -> np.ndarray:
    k, hd, T = m.top_k, m.head_dim, len(x)
    z = R.linear("attention router logits", x, "attn_router")
    idx = np.argsort(-z, -1, kind="stable")[:, :k]
    top = R.rec("attention top-k", np.take_along_axis(z, idx, -1), experts=idx)
    e = np.exp(top - top.max(-1, keepdims=True))
    g = R.rec("attention gates", e / e.sum(-1, keepdims=True))
    q = R.rec("experts.q_proj", np.einsum("ti,tkio->tko", x, R.w["experts.q_proj.weight"][idx]))
    kv = R.linear("kv_proj", x)
    q = R.rec("split Q heads", heads(q.reshape(T, -1), hd))
    half = kv.shape[1] // 2
    key, v = R.rec("split K heads", heads(kv[:, :half], hd)), R.rec("split V heads", heads(kv[:, half:], hd))
    if m.rope:
        rot = int(hd * m.rope.partial)
        q = R.rec("RoPE on Q", rotate(q, rot, m.rope.theta, False))
        key = R.rec("RoPE on K", rotate(key, rot, m.rope.theta, False))
    key = R.rec("repeat K heads", np.tile(key, (k, 1, 1)))
    v = R.rec("repeat V heads", np.tile(v, (k, 1, 1)))
    o = attend(R, q, key, v, hd ** -0.5, None, None, None, False).reshape(T, k, -1)
    y = R.rec("experts.o_proj", np.einsum("tki,tkio->tko", o, R.w["experts.o_proj.weight"][idx]))
    y = R.rec("gated sum of experts", (g[..., None] * y).sum(1))
    return R.rec("add output bias", y + R.w["out_bias"])


def shrink(m: dict) -> dict:
    return {**m, "n_experts": TOY_EXPERTS, "top_k": min(m["top_k"], 2), "n_kv_heads": min(m["n_kv_heads"], 2),
            "head_dim": HEAD_TOY, "rope": rope_toy(m["rope"], HEAD_TOY)}


KIND = attention(
    schema=MixtureOfAttention, name=lambda m: "MoA", terms=WeightTerms(weights), cache=cache,
    context_flops=context_flops, lines=lines, steps=steps, forward=forward, shrink=shrink,
    routed=lambda m: (m.top_k, m.n_experts),
    facts=(
        Fact("Attention", "query heads", lambda m: m.n_heads),
        Fact("Attention", "KV heads", lambda m: m.n_kv_heads),
        Fact("Attention", "head dim", lambda m: m.head_dim),
        Fact("Attention", "attention experts", lambda m: f"top-{m.top_k} of {m.n_experts}"),
        *rope_facts(),
    ),
)
