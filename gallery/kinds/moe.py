"""A mixture-of-experts feed-forward: a router picks ``top_k`` of ``n_experts`` per token (Mixtral, Qwen2-MoE with
its gated shared expert, DeepSeek-V3's grouped top-k and correction bias, gpt-oss, Gemma 4's dense MLP beside the
experts, Nemotron-H's latent experts, DeepSeek-V4's hash routing).

Schemas :class:`Router` and :class:`Moe`; parameters (router, experts, shared expert, latent projections, the dense
MLP); the label and the router → experts → Σ cluster; the trace and toy of the router and experts; the shrink rule
(4 experts, top-k at most 2, experts of 6); the buffers the toy draws (correction bias, the token → experts table).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from ..specbase import Activation, Strict, rule_error
from ..steps import Ctx, Step, ew, linear
from ..terms import Weight, WeightTerms, Weights, params, table, weight
from ..toyops import Run
from . import router_mlp, shared_sink, swiglu_softcap, zero_experts
from .contract import Fact, FfnKind, or_none
from . import moe_out_bias
from .mlp import FF_TOY, chain_forward, chain_steps, chain_weights, clamp_line, ffn_name

EXPERT_TOY, LATENT_TOY = 6, 8  # the toy's expert width and latent width


class Router(Strict):
    """How a token picks its experts."""

    scoring: Literal["softmax", "sigmoid", "sqrtsoftplus"] = Field(
        "softmax",
        description="Score function on the router logits (scoring_func; sqrtsoftplus: √softplus, DeepSeek-V4)")
    hash: bool = Field(False, description="Experts picked by a frozen token id → experts table (tid2eid), not by the "
                       "scores, which only weight them (DeepSeek-V4 hash_moe layers)")
    bias: bool = Field(False, description="Learned bias on the router logits (gpt-oss)")
    correction_bias: bool = Field(
        False, description="Per-expert bias added for selection only (DeepSeek-V3 aux-loss-free balancing)"
    )
    correction_bias_param: bool = Field(
        False, description="The correction bias is a frozen parameter, counted in model.parameters(), not a buffer "
        "(ERNIE 4.5 moe_statics.e_score_correction_bias)")
    n_groups: PositiveInt | None = Field(None, description="Expert groups for grouped top-k")
    topk_groups: PositiveInt | None = Field(None, description="Groups a token may pick from")
    normalize_topk: bool = Field(True, description="Renormalise the top-k weights to sum to one")
    scale: bool = Field(False, description="Learned scale on the router input and per-expert scale on the weights "
                        "(Gemma 4)")
    weight_scale: float = Field(1.0, gt=0, description="Multiplier on the routing weights (routed_scaling_factor)")
    mlp_width: PositiveInt | None = Field(None, description="The router is a small network of this width with a skip "
                                          "class (router_hidden_size; ZAYA, :mod:`.router_mlp`); null = one matrix")
    carry: bool = Field(False, description="With mlp_width: adds the previous layer's router state, scaled per "
                        "channel (ZAYA from its second layer)")
    shared_scored: bool = Field(False, description=shared_sink.DESCRIPTION)
    global_scale: bool = Field(False, description="With shared_scored: a learned scalar multiplies the routing weights "
                               "(Inkling gate.global_scale)")


class Moe(Strict):
    """A mixture-of-experts feed-forward: a router picks ``top_k`` of ``n_experts`` per token."""

    renamed = {"dense_mlp": "d_dense"}

    kind: Literal["moe"]
    n_experts: PositiveInt
    top_k: PositiveInt | None = Field(
        description="Experts active per token; null when the config leaves it unset (transformers' DeepSeek-V2 "
        "default num_experts_per_tok): the model is built and counted, but cannot route a token, so the figures "
        "that depend on routing (active parameters, FLOPs per token, the trace) are undefined")
    d_expert: PositiveInt = Field(description="Hidden width of one expert")
    activation: Activation
    gated: bool = True
    expert_bias: bool = Field(False, description="Biases inside each expert (gpt-oss)")
    n_shared_experts: int = Field(0, ge=0, description="Experts every token always uses")
    d_shared: PositiveInt | None = Field(None, description="Hidden width of the shared expert MLP")
    shared_gate: bool = Field(False, description="Sigmoid gate on the shared expert output (Qwen2-MoE)")
    shared_bias: bool = Field(False, description="Biases in the shared expert MLP (DeepSeek-V2 mlp_bias)")
    d_dense: PositiveInt | None = Field(
        None, description="Width of a dense gated MLP that runs beside the experts on every token; the two outputs "
        "are normed and added (Gemma 4)")
    d_latent: PositiveInt | None = Field(
        None, description="Routed experts work in a latent of this width: projected down before them and back up "
        "after (moe_latent_size; Nemotron-H fc1_latent_proj / fc2_latent_proj); null = they read d_model")
    latent_bias: bool = Field(False, description="Biases on the two latent projections (Nemotron-H mlp_bias)")
    clamp: float | None = Field(None, gt=0, description="Routed experts: act(gate) capped at clamp, up clamped to "
                                "±clamp (Step 3.5 swiglu_limits, Step3p7Experts); no parameters")
    clamp_gate: bool = Field(False, description="clamp caps the gate before the activation, act(min(gate, clamp)) "
                             "(HY-V4 swiglu_limit, HYV4Experts._apply_gate), not act(gate) after it")
    softcap: swiglu_softcap.SwigluSoftcap | None = Field(
        None, description="Routed experts: cap_g(gate) · σ(gate) · cap_u(up), cap_c(x) = c · tanh(x / c) (Inkling 2 "
        "Inkling2SoftcappedSwiGLU); null = none")
    shared_clamp: float | None = Field(None, gt=0, description="The same for the shared expert (Step 3.5 "
                                       "swiglu_limits_shared)")
    out_bias: bool = Field(False, description=moe_out_bias.DESCRIPTION)
    out_norm: bool = Field(False, description="A norm over the whole output (routed + shared experts) before the "
                           "residual add (A.X-K1 post_mlp_layernorm)")
    zero_experts: int = Field(0, ge=0, description="Zero-compute identity experts the router scores with the real "
                              "ones (zero_expert_num; LongCat-Flash): a token sent to one gets w · x")
    router: Router = Router()

    @model_validator(mode="after")
    def _experts(self) -> "Moe":
        if self.top_k is not None and self.top_k > self.n_experts + self.zero_experts:
            raise rule_error(
                "top_k", "too_many_active_experts",
                f"top_k ({self.top_k}) must be at most n_experts + zero_experts ({self.n_experts + self.zero_experts})",
            )
        if self.zero_experts and (self.expert_bias or self.d_latent or self.d_dense or self.router.hash):
            raise rule_error("zero_experts", "block_wiring", "zero_experts go with plain experts: no expert_bias, "
                             "d_latent, d_dense or hash routing")
        shared_sink.check(self)
        if self.softcap and not self.gated:
            raise rule_error("softcap", "block_wiring", "softcap caps a gated expert's gate and up: it needs gated: true")
        if (self.n_shared_experts > 0) != (self.d_shared is not None):
            raise rule_error(
                "d_shared", "shared_expert_width",
                "d_shared is required exactly when n_shared_experts > 0",
            )
        return self


def weights(d: tuple[str, int], ffn: Moe) -> list[Weight]:
    e = zero_experts.scored(ffn)  # the router scores the zero-compute experts too
    out = router_mlp.weights(d, ffn) if ffn.router.mlp_width else shared_sink.router_weights(d, ffn) if \
        ffn.router.shared_scored else [weight("router", "router", d, e)]
    if ffn.router.bias:
        out.append(weight("router", "router.bias", e))
    if ffn.router.correction_bias and ffn.router.correction_bias_param:
        out.append(weight("router", "router.correction_bias", e, tensor="router.correction_bias"))
    if ffn.router.scale:  # Gemma4TextRouter: scale (d_model) and per_expert_scale (n_experts)
        out += [weight("router", "router.scale", d, tensor="router.scale"),
                weight("router", "router.per_expert_scale", e, tensor="router.per_expert_scale")]
    if ffn.d_dense:
        out += chain_weights("mlp", "", d, ("d_dense", ffn.d_dense), ffn.gated, False)
    if ffn.d_latent:  # NemotronHMoE: fc1_latent_proj (d_model → d_latent) before the experts, fc2 back after
        latent = ("d_latent", ffn.d_latent)
        out += [weight("experts", "fc1_latent_proj", d, latent),
                weight("experts", "fc2_latent_proj", latent, d, shape=(latent[1], d[1]))]
        if ffn.latent_bias:
            out += [weight("experts", "fc1_latent_proj.bias", latent), weight("experts", "fc2_latent_proj.bias", d)]
    width_in = ("d_latent", ffn.d_latent) if ffn.d_latent else d  # what each expert reads and writes
    out += zero_experts.weights(chain_weights, ffn, width_in)
    out += moe_out_bias.weights(d) if ffn.out_bias else []
    if ffn.n_shared_experts:
        width = ("d_shared", ffn.d_shared)
        out += chain_weights("shared_experts", "shared_expert.", d, width, ffn.gated, ffn.shared_bias)
        if ffn.shared_gate:
            out.append(weight("shared_experts", "shared_expert_gate", d, shape=(d[1], 1)))
    return out


def picks(f: Moe) -> str:
    """"top-8 of 64", or what is missing when the config leaves top_k unset."""
    pool = f"{f.n_experts}{zero_experts.picks(f)}"
    return f"top-{f.top_k} of {pool}" if f.top_k else f"top-k of {pool} unset (top_k null)"


def lines(f: Moe) -> list[str]:
    """The label: top-k of the experts, each expert's kind and width, the latent."""
    return [f"Mixture of experts · {picks(f)}",
            f"each expert {ffn_name(f.activation, f.gated)} · d_expert {f.d_expert:,}",
            f"in a {f.d_latent:,} latent: projected down before, up after" if f.d_latent else "", clamp_line(f.clamp, f.clamp_gate),
            swiglu_softcap.line(f.softcap)]


def draw(d, p: str, f: Moe) -> str:
    """Router → routed experts (+ shared expert) → weighted sum, in a dashed frame (beside a dense MLP: two normed
    branches and their sum); returns the sum."""
    with d.cluster(p + "moe", label="", style="rounded,dashed", color=d.t.edge):
        _draw_frame(d, p, f)
    if f.d_dense:  # the stream's node is the block's, not the frame's: its edges come after the frame
        d.edge(d.stream, p + "router", **({"label": "RMS norm, no weight"} if f.router.scale else {}))
        d.edge(d.stream, p + "experts_pre")
    if f.out_norm:  # AXK1MoE: post_mlp_layernorm on the sum, before the residual add
        d.node(p + "moe_norm", d.label(d.norm), "norm", mark="norm")
        d.edge(p + "ffn_out", p + "moe_norm")
        return p + "moe_norm"
    return p + "ffn_out"


def _draw_frame(d, p: str, f: Moe) -> None:
    """The inside of :func:`draw`'s frame."""
    if f.router.hash:
        router = [f"Hash router ({f.router.scoring} weights)",
                  f"{picks(f)} fixed by token id (tid2eid)"]
    else:
        router = [f"Router ({f.router.scoring}{', bias' if f.router.bias else ''})",
                  f"picks {picks(f)}"]
    if f.router.n_groups:
        router.append(f"within {f.router.topk_groups} of {f.router.n_groups} groups")
    if f.router.correction_bias:
        router.append("+ correction bias (for choosing only)")
    if f.router.mlp_width:
        router.append(f"an MLP of width {f.router.mlp_width:,}, a skip class" + (" · + previous layer's state"
                                                                                 if f.router.carry else ""))
    if not f.router.normalize_topk:
        router.append("weights not renormalised")
    if f.router.scale:
        router.append("learned input scale · per-expert scale")
    if f.router.weight_scale != 1:
        router.append(f"weights × {f.router.weight_scale:g}")
    if f.router.shared_scored:
        router.append("scores the shared experts too: weighted with the chosen" + (
            " · × a learned scalar" if f.router.global_scale else ""))
    # the MoE's input (the block's norm), shared by all paths
    d.node(p + "ffn", d.label(), "io", shape="point", width="0.08")
    d.node(p + "router", d.label(*router), "router", mark="ffn")
    d.node(p + "experts", d.label(f"{f.n_experts} routed experts ({zero_experts.up_to(f)}{f.top_k or 'how many'} "
                                 "active)", *lines(f)[1:], "biases" if f.expert_bias else "",
                                 zero_experts.identity_line(f)), "moe", mark="ffn")
    d.edge(p + "router", p + "experts", label=f"top-{f.top_k or 'k unset'}")
    if f.d_dense:
        _draw_beside_dense(d, p, f)
        return
    d.node(p + "ffn_out", d.label("Σ weighted"), "add", shape="ellipse")
    d.edge(p + "ffn", p + "router")
    d.edge(p + "experts", p + "ffn_out")
    if f.n_shared_experts:
        gate = " · sigmoid gate" if f.shared_gate else ""
        d.node(p + "shared", d.label(f"{f.n_shared_experts} shared expert{'s' if f.n_shared_experts > 1 else ''}"
                                    f" (always on){gate}", f"d_shared {f.d_shared:,}", clamp_line(f.shared_clamp)),
               "moe", mark="ffn")
        d.edge(p + "ffn", p + "shared")
        d.edge(p + "shared", p + "ffn_out")


def _draw_beside_dense(d, p: str, f: Moe) -> None:
    """Gemma4TextDecoderLayer: only the dense MLP reads the block's pre-feed-forward norm; the router reads the
    residual stream through its own weightless norm, the experts through a norm of their own; each branch is normed
    again before the two are added."""
    d.node(p + "dense", d.label(f"dense {ffn_name(f.activation, f.gated)} beside the experts", f"d_ff {f.d_dense:,}"),
           "ffn", mark="ffn")
    d.edge(p + "ffn", p + "dense")
    for name in ("experts_pre", "dense_post", "experts_post"):
        d.node(p + name, d.label(d.norm), "norm", mark="norm")
    d.edge(p + "experts_pre", p + "experts")
    d.edge(p + "dense", p + "dense_post")
    d.edge(p + "experts", p + "experts_post", label="Σ weighted")
    d.node(p + "ffn_out", d.label("+"), "add", shape="circle", width="0.3", fixedsize="true")
    d.edge(p + "dense_post", p + "ffn_out")
    d.edge(p + "experts_post", p + "ffn_out")


def _router_steps(c: Ctx, f: Moe, W: Weights) -> list[Step]:
    """Router logits → scores → (correction bias, groups) → top-k → weights (DeepseekV3TopkRouter et al.)."""
    T, d, E, k, r, p = c.T, c.d, zero_experts.scored(f)[1], f.top_k, f.router, "router"
    if r.mlp_width:
        return router_mlp.steps(c, f, W)
    if r.shared_scored:  # Inkling: the shared experts scored too
        return shared_sink.router_steps(c, f, W)
    steps = []
    if r.scale:  # Gemma4TextRouter: a weightless RMS norm, then × scale × d^-0.5
        steps += [c.norm("router norm", p, "router.norm", (T, d), weights=False),
                  ew("router input scale", p, (T, d), "x · scale / √d_model", per=2,
                      params=params(W, "router.scale"))]
    steps.append(linear(c, "router logits", p, W, "z = x · W_router", name="router"))
    scoring = {"softmax": "softmax(z) over experts", "sigmoid": "σ(z) per expert",
               "sqrtsoftplus": "√softplus(z) = √log(1 + exp z) per expert"}[r.scoring]
    steps.append(ew(f"scores ({r.scoring})", p, (T, E), "s = " + scoring, per=3))
    if r.correction_bias:
        stored = params(W, "router.correction_bias") if r.correction_bias_param else ()
        steps.append(ew("add correction bias", p, (T, E), f"s' = s + b_e (a {'frozen parameter' if stored else 'buffer'}; "
                        "used to choose, not to weight)", params=stored))
    if r.n_groups and r.n_groups > 1:
        rank = "the sum of its best two scores" if r.correction_bias else "its best score"
        steps.append(ew("group top-k", p, (T, E), f"split {E} experts into {r.n_groups} groups ranked by {rank}; "
                         f"keep the {r.topk_groups} best groups, mask the rest"))
    if r.hash:  # DeepseekV4HashRouter: the token id picks the experts, the scores only weight them
        steps.append(ew("hash pick", p, (T, E), f"the {k} experts tid2eid[token id] (a frozen table, a buffer); "
                         "keep their scores s", per=0, out=(T, k)))
    else:
        steps.append(ew("top-k", p, (T, E), f"pick the {k} highest-scoring experts; keep their scores s", per=1,
                         out=(T, k)))
    if r.normalize_topk:
        steps.append(ew("normalise top-k", p, (T, k), "w = s / Σ s over the chosen experts"))
    if r.weight_scale != 1:
        steps.append(ew("scale weights", p, (T, k), f"w · {r.weight_scale:g} (routed_scaling_factor)"))
    if r.scale:
        steps.append(ew("per-expert scale", p, (T, k), "w · per_expert_scale[e]",
                         params=params(W, "router.per_expert_scale")))
    return steps


def _shared_steps(c: Ctx, f: Moe, W: Weights) -> list[Step]:
    if f.router.shared_scored:  # Inkling: each shared expert × its routing weight
        return shared_sink.shared_steps(c, f, W)
    return chain_steps(c, "shared_experts", "shared_expert.", W, f.gated, f.activation, clamp=f.shared_clamp)


def _experts_steps(c: Ctx, f: Moe, W: Weights, shared_ran: bool = False) -> list[Step]:
    """The chosen experts' MLPs and their weighted sum, then the shared expert (Mixtral, Qwen2-MoE, DeepSeek); with
    a latent (NemotronHMoE) the experts read and write ``d_latent``, projected down before and back up after.
    ``shared_ran``: the shared expert's MLP already ran (Qwen2-MoE), only its gate and the sum remain."""
    T, d, k, L = c.T, c.d, f.top_k, f.d_latent
    steps = [linear(c, "fc1_latent_proj", "experts", W, "x_L = x · W_fc1 (down to the experts' latent)")] if L else []
    steps += chain_steps(c, "experts", "experts.", W, f.gated, f.activation, k, f.clamp, clamp_gate=f.clamp_gate,
                         softcap=f.softcap)
    steps += zero_experts.steps(c, f)
    steps.append(Step("weighted sum of experts", "experts", (T, k, L or d), (T, L or d),
                      f"y = Σ over the {k} chosen experts of w_e · expert_e(x)", 2 * k * T * (L or d)))
    steps += [moe_out_bias.step(c, W)] if f.out_bias else []
    if L:
        steps.append(linear(c, "fc2_latent_proj", "experts", W, "y = y_L · W_fc2 (back up to d_model)"))
    if f.n_shared_experts:
        steps += [] if shared_ran else _shared_steps(c, f, W)
        if f.shared_gate:  # Qwen2MoeSparseMoeBlock
            steps += [linear(c, "shared_expert_gate", "shared_experts", W, "γ = x · W_g"),
                      ew("gate shared expert", "shared_experts", (T, d), "σ(γ) · shared_expert(x)", per=4)]
        steps.append(ew("add shared expert", "shared_experts", (T, d), "y = routed + shared"))
    return steps


def steps(c: Ctx, f: Moe) -> list[Step]:
    """Router then experts; with a dense MLP beside them (Gemma4TextDecoderLayer) the MLP runs on the normed
    input and the router and experts on the residual, each with its own norms, and the two are added."""
    W = table(weights(c.dm, f))
    if not f.d_dense:  # Qwen2MoeSparseMoeBlock runs a gated shared expert's MLP first, its gate after the experts
        first = _shared_steps(c, f, W) if f.shared_gate else []
        last = [c.norm("moe norm (post)", "norm", "post_mlp_layernorm", (c.T, c.d))] if f.out_norm else []
        return first + _router_steps(c, f, W) + _experts_steps(c, f, W, shared_ran=f.shared_gate) + last
    x, n = (c.T, c.d), c.norm
    return [
        *chain_steps(c, "mlp", "", W, f.gated, f.activation),
        n("mlp norm (post)", "norm", "post_mlp_norm", x),
        *_router_steps(c, f, W),  # reads the residual stream x, not the normed input
        n("experts norm (pre)", "norm", "experts_norm", x),
        *_experts_steps(c, f, W),
        n("experts norm (post)", "norm", "post_experts_norm", x),
        ew("add mlp and experts", "experts", x, "y = mlp + experts"),
    ]


def _router_forward(R: Run, f: Moe, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(chosen expert ids (T, k), their weights (T, k))."""
    r, k = f.router, f.top_k
    if r.mlp_width:
        return router_mlp.forward(R, f, x)
    if r.shared_scored:  # also the shared experts' weights
        return shared_sink.router_forward(R, f, x)
    if r.scale:
        x = R.norm("router norm", "router.norm", x, weights=False)
        x = R.rec("router input scale", x * R.w["router.scale"] * x.shape[-1] ** -0.5)
    z = R.linear("router logits", x, "router")
    if r.scoring == "softmax":
        e = np.exp(z - z.max(-1, keepdims=True))
        s = R.rec("scores (softmax)", e / e.sum(-1, keepdims=True))
    elif r.scoring == "sqrtsoftplus":
        s = R.rec("scores (sqrtsoftplus)", np.sqrt(np.logaddexp(0, z)))
    else:
        s = R.rec("scores (sigmoid)", 1 / (1 + np.exp(-z)))
    choose = s
    if r.correction_bias:
        choose = R.rec("add correction bias", s + R.w["router.correction_bias"])
    if r.n_groups and r.n_groups > 1:
        grouped = choose.reshape(len(s), r.n_groups, -1)
        best = np.sort(grouped, -1)[..., ::-1]
        group_score = best[..., :2].sum(-1) if r.correction_bias else best[..., 0]
        keep = np.argsort(-group_score, -1, kind="stable")[:, :r.topk_groups]
        mask = np.zeros_like(group_score, dtype=bool)
        np.put_along_axis(mask, keep, True, -1)
        choose = R.rec("group top-k", np.where(np.repeat(mask, grouped.shape[-1], -1), choose, 0.0))
    if r.hash:  # DeepseekV4HashRouter: the token id picks the experts
        idx = R.w["router.tid2eid"][R.ids]
        w = R.rec("hash pick", np.take_along_axis(s, idx, -1), experts=idx)
    else:
        idx = np.argsort(-choose, -1, kind="stable")[:, :k]
        w = R.rec("top-k", np.take_along_axis(s, idx, -1), experts=idx)
    if r.normalize_topk:
        w = R.rec("normalise top-k", w / w.sum(-1, keepdims=True))
    if r.weight_scale != 1:
        w = R.rec("scale weights", w * r.weight_scale)
    if r.scale:
        w = R.rec("per-expert scale", w * R.w["router.per_expert_scale"][idx])
    return idx, w


def _experts_forward(R: Run, f: Moe, x: np.ndarray, idx: np.ndarray, w: np.ndarray, s: np.ndarray | None = None,
                     gamma: np.ndarray | None = None) -> np.ndarray:
    """The routed experts' weighted sum, plus the shared expert (``s`` when it already ran; ``gamma``: the shared
    experts' routing weights, shared_scored)."""
    xe = R.linear("fc1_latent_proj", x) if f.d_latent else x  # NemotronHMoE: experts in a latent
    y = zero_experts.forward(R, f, xe, idx, lambda: chain_forward(R, "experts.", f, f.gated, xe, idx, f.clamp,
                                                                               f.clamp_gate, f.softcap))
    y = R.rec("weighted sum of experts", (w[..., None] * y).sum(1))
    y = moe_out_bias.forward(R, y) if f.out_bias else y
    if f.d_latent:
        y = R.linear("fc2_latent_proj", y)
    if f.n_shared_experts:
        if gamma is not None:
            s = shared_sink.shared_forward(R, f, x, gamma)
        s = chain_forward(R, "shared_expert.", f, f.gated, x, clamp=f.shared_clamp) if s is None else s
        if f.shared_gate:
            gamma = R.linear("shared_expert_gate", x)
            s = R.rec("gate shared expert", s / (1 + np.exp(-gamma)))
        y = R.rec("add shared expert", y + s)
    return y


def forward(R: Run, f: Moe, x: np.ndarray, resid: np.ndarray) -> np.ndarray:
    if not f.d_dense:  # Qwen2MoeSparseMoeBlock runs a gated shared expert's MLP before the router
        s = chain_forward(R, "shared_expert.", f, f.gated, x) if f.shared_gate else None
        idx, w, *gamma = _router_forward(R, f, x)  # shared_scored: the shared experts' weights too
        y = _experts_forward(R, f, x, idx, w, s, *gamma)
        return R.norm("moe norm (post)", "post_mlp_layernorm", y) if f.out_norm else y
    dense = R.norm("mlp norm (post)", "post_mlp_norm", chain_forward(R, "", f, f.gated, x))
    idx, w = _router_forward(R, f, resid)
    y = _experts_forward(R, f, R.norm("experts norm (pre)", "experts_norm", resid), idx, w)
    y = R.norm("experts norm (post)", "post_experts_norm", y)
    return R.rec("add mlp and experts", dense + y)


def shrink(f: dict) -> dict:
    router = dict(f["router"]) | ({"mlp_width": LATENT_TOY} if f["router"].get("mlp_width") else {})
    grouped = (router.get("n_groups") or 1) > 1
    if grouped:
        router.update(n_groups=2, topk_groups=1)
    out = {**f, "n_experts": 4, "top_k": min(f["top_k"], 2), "d_expert": EXPERT_TOY, "router": router,
           "zero_experts": min(f.get("zero_experts", 0), 2)}
    if f["n_shared_experts"]:
        out["d_shared"] = EXPERT_TOY * f["n_shared_experts"]
    if f.get("d_dense"):
        out["d_dense"] = FF_TOY
    if f.get("d_latent"):
        out["d_latent"] = LATENT_TOY
    return out


def buffers(f: Moe, rng: np.random.Generator, vocab: int) -> dict[str, np.ndarray]:
    """The router's buffers (not parameters) the toy reads: the correction bias, the token id → experts table."""
    out = router_mlp.buffers(f) if f.router.mlp_width else {}
    if f.router.correction_bias:
        out["router.correction_bias"] = 0.1 * rng.standard_normal(zero_experts.scored(f)[1])
    if f.router.hash:  # token id → top_k distinct experts
        out["router.tid2eid"] = np.stack([rng.permutation(f.n_experts)[:f.top_k] for _ in range(vocab)])
    return out


KIND = FfnKind(
    schema=Moe, name=lambda f: "MoE", terms=WeightTerms(weights), routed=lambda f: (f.top_k, f.n_experts),
    # Gemma 4: after the MLP, before and after the experts; A.X-K1: after the whole MoE
    extra_norms=lambda f: 3 if f.d_dense else int(f.out_norm),
    lines=lines, draw=draw, steps=steps, forward=forward, shrink=shrink, buffers=buffers,
    facts=(
        Fact("Feed-forward", "kind", lambda f: "MoE"),
        Fact("Feed-forward", "activation", lambda f: f.activation),
        Fact("Feed-forward", "gated", lambda f: f.gated),
        Fact("Feed-forward", "routed experts", lambda f: f.n_experts),
        Fact("Feed-forward", "top-k", lambda f: or_none(f.top_k)),
        Fact("Feed-forward", "routing", lambda f: f"hash ({f.router.scoring} weights)" if f.router.hash
             else f.router.scoring),
        Fact("Feed-forward", "expert width", lambda f: f.d_expert),
        Fact("Feed-forward", "shared experts", lambda f: f.n_shared_experts),
        Fact("Feed-forward", "zero-compute experts", lambda f: f.zero_experts),
    ),
)
