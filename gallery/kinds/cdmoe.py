"""The cross-domain mixture of experts (Doge, ``DogeCDMoE``): a gated MLP beside many single-neuron experts picked
by product keys.

Every token goes through the MLP (gate_proj, up_proj, down_proj of ``d_ff``, the ``mlp_bias`` biases). Beside it,
``n_experts`` experts of one neuron each, held as two embeddings: expert e reads x through the row ``down_embed[e]``
(d_model) and writes ``up_embed[e]`` (d_model) scaled by its activation. The router ``router_gate`` (d_model →
2 × K, K = ⌊√n_experts⌋, no bias) gives two halves of K key scores; expert a · K + b scores ``s_a + s_b`` (product
keys: the K² sums stand for all experts without scoring each), the ``top_k`` best are kept and their scores
softmaxed (renormalised again with ``norm_topk_prob``, a no-op after a softmax). Then
``y = mlp(x) + Σ_e w_e · act(down_embed[e] · x) · up_embed[e]``.

transformers reads the two halves with ``router_logits.view(2, T, K)`` of the (T, 2K) logits: the flat block is cut
in two, so in a full forward the first half's row t holds the scores of token ⌊t/2⌋ (its first or second half) and
the second half's row t those of token ⌊(T + t)/2⌋; a token's experts are picked from other tokens' scores (token by
token generation, T = 1, is unaffected). The toy copies this, as the modeling code keeps it for the checkpoints.

Schema :class:`CrossDomainMoe`; parameters (the MLP, the router, the two expert embeddings, named ``experts.…``: a
token uses top_k of their n_experts rows); the label and the router → experts + MLP → sum drawing; the trace and toy
(the MLP's chain is :mod:`.mlp`'s); the shrink rule (9 experts: 3 keys a half).
"""

from __future__ import annotations

from math import isqrt
from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from ..specbase import Activation, Strict, rule_error
from ..steps import Ctx, Step, ew, linear
from ..terms import Weight, WeightTerms, params, table, weight
from ..toyops import ACT, LOCAL_TOY, Run
from .contract import Caption, Fact, FfnKind, Table
from .mlp import FF_TOY, chain_forward, chain_steps, chain_weights, ffn_name

NAME = "cross-domain MoE"


class CrossDomainMoe(Strict):
    """A gated MLP beside single-neuron experts picked by product keys (Doge's DogeCDMoE, config is_moe)."""

    kind: Literal["cdmoe"]
    d_ff: PositiveInt = Field(description="Hidden width of the MLP every token uses (intermediate_size)")
    activation: Activation = Field(description="The MLP's activation, and the experts' (hidden_act)")
    bias: bool = Field(False, description="Biases in the MLP (mlp_bias); the router and experts have none")
    n_experts: PositiveInt = Field(description="Single-neuron experts (num_experts): rows of down_embed and up_embed")
    top_k: PositiveInt = Field(description="Experts a token uses (num_experts_per_tok)")
    normalize_topk: bool = Field(False, description="Renormalise the softmaxed top-k weights (norm_topk_prob)")

    @property
    def n_keys(self) -> int:
        """K = ⌊√n_experts⌋ keys in each half of the router."""
        return isqrt(self.n_experts)

    @model_validator(mode="after")
    def _picks(self) -> "CrossDomainMoe":
        if self.top_k > self.n_keys ** 2:
            raise rule_error("top_k", "too_many_active_experts", f"top_k ({self.top_k}) must be at most the "
                             f"{self.n_keys ** 2} product-key pairs (⌊√{self.n_experts}⌋²) the router scores")
        return self


def weights(d: tuple[str, int], f: CrossDomainMoe) -> list[Weight]:
    """As DogeCDMoE builds them: the MLP, router_gate (d_model → 2K), down_embed and up_embed (n_experts × d_model)."""
    e = ("n_experts", f.n_experts)
    return [*chain_weights("mlp", "", d, ("d_ff", f.d_ff), True, f.bias),
            weight("router", "router_gate", d, ("2 × ⌊√n_experts⌋", 2 * f.n_keys)),
            weight("experts", "experts.down_embed", e, d, shape=(f.n_experts, d[1])),
            weight("experts", "experts.up_embed", e, d, shape=(f.n_experts, d[1]))]


def _keys(f: CrossDomainMoe) -> str:
    return f"2 × {f.n_keys} keys, expert a·{f.n_keys} + b scores s_a + s_b"


def lines(f: CrossDomainMoe) -> list[str]:
    """The label: the experts, the router, the MLP beside them."""
    return [f"Cross-domain MoE · top-{f.top_k} of {f.n_experts:,} single-neuron experts",
            f"product-key router: {_keys(f)}",
            f"beside a {ffn_name(f.activation, True)} MLP · d_ff {f.d_ff:,}" + (" · bias" if f.bias else "")]


def draw(d, p: str, f: CrossDomainMoe) -> str:
    """Router → experts, and the MLP every token uses, summed; returns the sum."""
    with d.cluster(p + "moe", label="", style="rounded,dashed", color=d.t.edge):
        d.node(p + "ffn", d.label(), "io", shape="point", width="0.08")
        d.node(p + "router", d.label("Product-key router (softmax)", _keys(f), f"picks top-{f.top_k}"), "router",
               mark="ffn")
        d.node(p + "experts", d.label(f"{f.n_experts:,} single-neuron experts ({f.top_k} active)",
                                      "act(down_embed[e] · x) · up_embed[e]"), "moe", mark="ffn")
        d.node(p + "shared", d.label(f"{ffn_name(f.activation, True)} MLP (always on)", f"d_ff {f.d_ff:,}"), "moe",
               mark="ffn")
        d.node(p + "ffn_out", d.label("+ (experts weighted)"), "add", shape="ellipse")
        d.edge(p + "ffn", p + "router")
        d.edge(p + "router", p + "experts", label=f"top-{f.top_k}")
        d.edge(p + "ffn", p + "shared")
        d.edge(p + "experts", p + "ffn_out")
        d.edge(p + "shared", p + "ffn_out")
    return p + "ffn_out"


def steps(c: Ctx, f: CrossDomainMoe) -> list[Step]:
    """DogeCDMoE.forward: the router, the experts, then the MLP and the sum."""
    T, d, K, k, W = c.T, c.d, f.n_keys, f.top_k, table(weights(c.dm, f))
    r, e = "router", "experts"
    out = [linear(c, "router logits", r, W, "z = x · W_router_gate", name="router_gate"),
           ew("view(2, T, K)", r, (T, 2 * K), f"the flat (T, {2 * K}) block cut in two (T, {K}) halves: row t of the "
              "first holds half of token ⌊t/2⌋'s scores, row t of the second half of token ⌊(T + t)/2⌋'s (tokens mix "
              "when T > 1)", per=0, out=(2, T, K)),
           ew("product-key scores", r, (2, T, K), f"s[t, a·{K} + b] = z₁[t, a] + z₂[t, b] over all {K}² pairs",
              per=K, out=(T, K * K)),
           ew("top-k", r, (T, K * K), f"pick the {k} highest-scoring experts; keep their scores", out=(T, k)),
           ew("softmax", r, (T, k), "w = softmax(s) over the chosen experts", per=3)]
    if f.normalize_topk:
        out.append(ew("normalise top-k", r, (T, k), "w = w / Σ w (norm_topk_prob; already 1 after the softmax)"))
    out += [Step("expert inputs", e, (T, d), (T, k), "h_e = down_embed[e] · x for the chosen e", 2 * T * k * d,
                 params(W, "experts.down_embed.weight"), matmul=True),
            ew("act × weight", e, (T, k), f"a_e = act(h_e) · w_e, act = {f.activation}", per=5),
            Step("expert outputs", e, (T, k), (T, d), "y_e = Σ_e a_e · up_embed[e]", 2 * T * k * d,
                 params(W, "experts.up_embed.weight"), matmul=True),
            *chain_steps(c, "mlp", "", W, True, f.activation),
            ew("add experts", e, (T, d), "y = mlp(x) + experts")]
    return out


def forward(R: Run, f: CrossDomainMoe, x: np.ndarray, resid: np.ndarray) -> np.ndarray:
    T, K, k = len(x), f.n_keys, f.top_k
    z = R.linear("router logits", x, "router_gate")
    halves = R.rec("view(2, T, K)", z.reshape(2, T, K))  # router_logits.view(2, bsz * seq_len, -1)
    s = R.rec("product-key scores", (halves[0][:, :, None] + halves[1][:, None, :]).reshape(T, K * K))
    idx = np.argsort(-s, -1, kind="stable")[:, :k]
    top = R.rec("top-k", np.take_along_axis(s, idx, -1), experts=idx)
    e = np.exp(top - top.max(-1, keepdims=True))
    w = R.rec("softmax", e / e.sum(-1, keepdims=True))
    if f.normalize_topk:
        w = R.rec("normalise top-k", w / w.sum(-1, keepdims=True))
    h = R.rec("expert inputs", np.einsum("tkd,td->tk", R.w["experts.down_embed.weight"][idx], x))
    a = R.rec("act × weight", ACT[f.activation](h) * w)
    y = R.rec("expert outputs", np.einsum("tk,tkd->td", a, R.w["experts.up_embed.weight"][idx]))
    return R.rec("add experts", chain_forward(R, "", f, True, x) + y)


def picture(steps: list, choose) -> list:
    """Each toy token's experts and their weights."""
    import pandas as pd  # with the picture: the CLI starts without pandas

    at = next((i for i, s in enumerate(steps) if s.op == "top-k" and "experts" in s.details), None)
    if at is None:
        return []
    idx, w = steps[at].details["experts"], steps[at + 1].value
    frame = pd.DataFrame({"token": range(len(idx)), "experts": [", ".join(map(str, r)) for r in idx],
                          "weights": [", ".join(f"{x:.3f}" for x in r) for r in w]})
    return [Table(frame), Caption("Each token's experts come from two halves of key scores that transformers reads "
                                  "with view(2, T, K): in a full forward a token's row holds other tokens' scores.")]


def shrink(f: dict) -> dict:
    """3 keys a half (9 experts), top-k cut so it bites, the MLP at the toy's d_ff."""
    return {**f, "d_ff": FF_TOY, "n_experts": 9, "top_k": min(f["top_k"], LOCAL_TOY)}


KIND = FfnKind(
    schema=CrossDomainMoe, name=lambda f: "CDMoE", terms=WeightTerms(weights), routed=lambda f: (f.top_k, f.n_experts),
    extra_norms=lambda f: 0, lines=lines, draw=draw, steps=steps, forward=forward, shrink=shrink, picture=picture,
    facts=(
        Fact("Feed-forward", "kind", lambda f: NAME),
        Fact("Feed-forward", "activation", lambda f: f.activation),
        Fact("Feed-forward", "d_ff", lambda f: f.d_ff),
        Fact("Feed-forward", "routed experts", lambda f: f.n_experts),
        Fact("Feed-forward", "top-k", lambda f: f.top_k),
        Fact("Feed-forward", "routing", lambda f: f"product keys, 2 × {f.n_keys} (softmax)"),
        Fact("Feed-forward", "expert width", lambda f: 1),
    ),
)
