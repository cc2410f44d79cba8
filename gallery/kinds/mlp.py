"""A dense feed-forward (LlamaMLP gated: gate, up, down; GPT-2 / GPT-J: up, down), and the gate/up/down chain the
experts of :mod:`.moe` reuse.

Schema :class:`Mlp`; parameters; the label and node; the trace and toy of the chain (gpt-oss's clamped SwiGLU with its
limit 7 and α 1.702, DeepSeek-V4's gate capped at swiglu_limit 10, Step 3.5's ``clamp`` after the activation: Step3p7MLP,
Step3p7Experts; Apertus's xIELU with its two learned scalars, :mod:`.xielu`); the shrink rule (d_ff 12).
"""

from __future__ import annotations

from typing import Literal, Union

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from ..specbase import Activation, Strict, rule_error
from ..steps import ACTIVATIONS, SILU_CLAMP, Ctx, Step, ew
from ..terms import Weight, WeightTerms, Weights, params, table, weight
from ..toyops import ACT, Run
from . import gaussian_topk, swiglu_softcap, xielu
from .contract import Fact, FfnKind, or_none

FF_TOY = 12  # the toy's d_ff (and a dense MLP's beside experts)
SWIGLU_LIMIT, SWIGLU_ALPHA = 7.0, 1.702  # GptOssExperts defaults (swiglu_limit, alpha)


class Mlp(Strict):
    """A dense feed-forward: gated (SwiGLU, GeGLU: gate, up, down) or plain (up, down)."""

    kind: Literal["mlp"]
    d_ff: PositiveInt = Field(description="Hidden width")
    activation: Union[Activation, Literal["xielu"]] = Field(
        description="As for every feed-forward, or 'xielu': xIELU with two learned scalars per MLP, act_fn.alpha_p "
        "and act_fn.alpha_n (Apertus hidden_act xielu; plain MLPs only)")
    gated: bool = Field(description="gate ⊙ act(up) with three matrices, or act(up) with two")
    bias: bool = False
    sub_norm: bool = Field(False, description="ffn_sub_norm: the model's norm over the d_ff hidden, with a weight, "
                           "before down_proj (BitNet BitNetMLP)")
    clamp: float | None = Field(None, gt=0, description="act(gate) capped at clamp and up clamped to ±clamp before "
                                "their product (Step 3.5 swiglu_limits_shared, Step3p7MLP); no parameters")
    activation_sparsity: float | None = Field(
        None, gt=0, lt=1, description="The gate cut by a Gaussian top-k before its activation, keeping about 1 − s of "
        "its entries (Gemma 3n activation_sparsity_pattern, Gemma3nTextMLP._gaussian_topk); gated MLPs only; null = "
        "dense")
    global_scale: bool = Field(False, description="A learned scalar multiplies the output (Inkling InklingMLP."
                               "global_scale)")

    @model_validator(mode="after")
    def _xielu_plain(self) -> "Mlp":
        if self.activation == "xielu" and self.gated:
            raise rule_error("activation", "xielu_gated", "xielu is read for plain MLPs (up, act, down) only, as "
                             "Apertus builds it; set gated: false")
        if self.activation_sparsity and not self.gated:
            raise rule_error("activation_sparsity", "block_wiring", "activation_sparsity cuts the gate: it needs "
                             "gated: true")
        return self


def chain_weights(component: str, prefix: str, d: tuple[str, int], width: tuple[str, int], gated: bool,
                  bias: bool, n: tuple[str, int] | None = None) -> list[Weight]:
    """gate/up/down (or up/down) projections, optionally for ``n`` experts at once (stored ``(n, in, out)``)."""
    many = (n,) if n else ()
    stacked = (n[1],) if n and n[1] > 1 else ()  # the trace's shapes: one expert's without the experts axis
    mats = ("gate_proj", "up_proj", "down_proj") if gated else ("up_proj", "down_proj")
    out = [weight(component, f"{prefix}{name}", *many, d, width,
                  shape=(*stacked, *((width[1], d[1]) if name == "down_proj" else (d[1], width[1])))) for name in mats]
    if bias:
        up_biases = ("gate_proj", "up_proj") if gated else ("up_proj",)
        out += [weight(component, f"{prefix}{name}.bias", *many, width, shape=(*stacked, width[1]))
                for name in up_biases]
        out.append(weight(component, f"{prefix}down_proj.bias", *many, d, shape=(*stacked, d[1])))
    return out


def weights(d: tuple[str, int], f: Mlp) -> list[Weight]:
    chain = chain_weights("mlp", "", d, ("d_ff", f.d_ff), f.gated, f.bias)
    chain += [weight("mlp", "ffn_sub_norm", ("d_ff", f.d_ff))] if f.sub_norm else []  # BitNetMLP, after down_proj
    chain += [weight("mlp", "global_scale", ("1", 1), tensor="global_scale")] if f.global_scale else []  # InklingMLP
    return chain[:1] + xielu.weights("mlp") + chain[1:] if f.activation == "xielu" else chain


def ffn_name(activation: str, gated: bool) -> str:
    if gated:
        return {"silu": "SwiGLU", "gelu": "GeGLU", "gelu_tanh": "GeGLU (tanh)", "swish_clamped": "clamped SwiGLU",
                "silu_clamped": "SwiGLU (clamped)", "relu": "ReGLU"}.get(activation, f"gated {activation}")
    return {"gelu": "GELU MLP", "gelu_tanh": "GELU (tanh) MLP", "relu": "ReLU MLP", "relu2": "ReLU² MLP",
            "xielu": "xIELU MLP"}.get(
        activation, f"{activation} MLP")


def lines(f: Mlp) -> list[str]:
    """The label: kind, width, wiring, clamp."""
    wiring = ("down(norm(act(gate) ⊙ up))" if f.gated else "down(norm(act(up)))") if f.sub_norm else (
        "down(act(gate) ⊙ up)" if f.gated else "down(act(up))")
    return [f"{ffn_name(f.activation, f.gated)} feed-forward", f"d_ff {f.d_ff:,} · {wiring}", "bias" if f.bias else "",
            clamp_line(f.clamp), gaussian_topk.line(f.activation_sparsity)]


def clamp_line(clamp: float | None, gate: bool = False) -> str:
    """Step 3.5's SwiGLU clamp (HY-V4's, on the gate before the activation) in a label ("" when there is none)."""
    return f"clamped: {'gate' if gate else 'act(gate)'} ≤ {clamp:g}, up within ±{clamp:g}" if clamp else ""


def draw(d, p: str, f: Mlp) -> str:
    """One node; the sublayer's output leaves from it."""
    d.node(p + "ffn", d.label(*lines(f)), "ffn", mark="ffn")
    return p + "ffn"


def chain_steps(c: Ctx, part: str, name: str, W: Weights, gated: bool, activation: str, k: int = 1,
                clamp: float | None = None, sparsity: float | None = None, clamp_gate: bool = False,
                softcap=None) -> list[Step]:
    """gate (→ Gaussian top-k) /up → activation (→ clamp) (→ product) → down, the projections ``name…`` of ``W``; with experts
    (weights stored ``(n, in, out)``) each token's row goes through ``k`` of them: the hidden shapes are
    (T, k, width). The width read and written is the projections' (d_model, or the experts' latent).
    """
    T = c.T
    up = W[f"{name}up_proj.weight"].shape
    kk = (k,) if len(up) == 3 else ()
    d, width = up[-2:]

    def proj(op: str, formula: str) -> Step:
        ps = params(W, f"{name}{op}.weight", f"{name}{op}.bias")
        d_in, d_out = ps[0].shape[-2:]
        src = (T, *kk, d_in) if op == "down_proj" else (T, d_in)
        return Step(f"{name}{op}", part, src, (T, *kk, d_out), formula + (" + b" if len(ps) > 1 else ""),
                    2 * T * k * d_in * d_out, ps, matmul=True)

    hidden = (T, *kk, width)
    sub = [c.norm(f"{name}ffn_sub_norm", part, f"{name}ffn_sub_norm", hidden, params=params(
        W, f"{name}ffn_sub_norm.weight"))] if f"{name}ffn_sub_norm.weight" in W else []  # BitNetMLP
    if not gated:
        act = xielu.step(part, hidden, W) if activation == "xielu" else ew(
            f"activation ({activation})", part, hidden, f"a = act(u), act(x) = {ACTIVATIONS[activation]}", per=4)
        return [proj("up_proj", "u = x · W_up"), act, *sub, proj("down_proj", "y = a · W_down")]
    if softcap:  # Inkling2SoftcappedSwiGLU
        act = swiglu_softcap.steps(part, hidden, softcap)
    elif activation == "swish_clamped":  # GptOssExperts: clamp, then glu · (up + 1)
        act = [ew("gate · act(up + 1)", part, hidden, ACTIVATIONS[activation], per=7)]
    elif clamp and clamp_gate:  # HYV4Experts._apply_gate: the gate capped before the activation
        act = [ew("clamp", part, hidden, f"g = min(g, {clamp:g}); u = clamp(u, −{clamp:g}, {clamp:g})", per=3),
               ew(f"activation ({activation})", part, hidden, f"a = act(g), act(x) = {ACTIVATIONS[activation]}",
                  per=4),
               ew("a ⊙ u", part, hidden, "h = a ⊙ u (elementwise product)")]
    else:
        act = [ew(f"activation ({activation})", part, hidden, f"a = act(g), act(x) = {ACTIVATIONS[activation]}",
                   per=4),
               *([ew("clamp", part, hidden, f"a = min(a, {clamp:g}); u = clamp(u, −{clamp:g}, {clamp:g})", per=3)]
                 if clamp else []),
               ew("a ⊙ u", part, hidden, "h = a ⊙ clamp(u, −10, 10) (up clamped to ±swiglu_limit)"
                   if activation == "silu_clamped" else "h = a ⊙ u (elementwise product)", per=1 + 2 * (
                       activation == "silu_clamped"))]
    topk = [gaussian_topk.step(part, hidden, sparsity)] if sparsity else []  # Gemma3nTextMLP: before up_proj
    return [proj("gate_proj", "g = x · W_gate"), *topk, proj("up_proj", "u = x · W_up"), *act, *sub,
            proj("down_proj", "y = h · W_down")]


def steps(c: Ctx, f: Mlp) -> list[Step]:
    """LlamaMLP (gated) or GPT-2/GPT-J's up → act → down (→ × a learned scalar, InklingMLP)."""
    W = table(weights(c.dm, f))
    scale = [ew("global scale", "mlp", (c.T, c.d), "y · g, g a learned scalar", params=params(W, "global_scale"))
             ] if f.global_scale else []
    return chain_steps(c, "mlp", "", W, f.gated, f.activation, clamp=f.clamp, sparsity=f.activation_sparsity) + scale


def chain_forward(R: Run, name: str, f, gated: bool, x: np.ndarray, idx: np.ndarray | None = None,
                  clamp: float | None = None, clamp_gate: bool = False, softcap=None) -> np.ndarray:
    """gate/up → act (→ clamp) (→ ⊙) → down; with ``idx`` (T, k) each token's row goes through its chosen experts."""
    def proj(op: str, h: np.ndarray) -> np.ndarray:
        w, b = R.w[f"{name}{op}.weight"], R.w.get(f"{name}{op}.bias")
        if idx is None:
            y = h @ w + (0 if b is None else b)
        else:  # w (E, in, out): x (T, in) for gate/up, h (T, k, in) for down
            y = np.einsum("ti,tkio->tko" if h.ndim == 2 else "tki,tkio->tko", h, w[idx])
            y = y + (0 if b is None else b[idx])
        return R.rec(f"{name}{op}", y)

    act = f.activation
    if not gated:
        u = proj("up_proj", x)
        a = xielu.xielu(u, *(R.w[name] for name in xielu.NAMES)) if act == "xielu" else ACT[act](u)
        return proj("down_proj", _sub_norm(R, name, f, R.rec(f"activation ({act})", a)))
    g = proj("gate_proj", x)
    if sparsity := getattr(f, "activation_sparsity", None):  # Gemma3nTextMLP: the gate cut before its activation
        g = R.rec(gaussian_topk.OP, gaussian_topk.apply(g, sparsity))
    u = proj("up_proj", x)
    if softcap:  # Inkling2SoftcappedSwiGLU
        h = swiglu_softcap.forward(R, g, u, softcap)
    elif act == "swish_clamped":
        gc, uc = np.minimum(g, SWIGLU_LIMIT), np.clip(u, -SWIGLU_LIMIT, SWIGLU_LIMIT)
        h = R.rec("gate · act(up + 1)", gc / (1 + np.exp(-SWIGLU_ALPHA * gc)) * (uc + 1))
    elif act == "silu_clamped":  # DeepseekV4Experts / DeepseekV4MLP
        a = R.rec("activation (silu_clamped)", ACT["silu"](np.minimum(g, SILU_CLAMP)))
        h = R.rec("a ⊙ u", a * np.clip(u, -SILU_CLAMP, SILU_CLAMP))
    elif clamp and clamp_gate:  # HYV4Experts._apply_gate
        u = np.clip(u, -clamp, clamp)
        a = R.rec(f"activation ({act})", ACT[act](R.rec("clamp", np.minimum(g, clamp), **{"u clamped": u})))
        h = R.rec("a ⊙ u", a * u)
    else:
        a = R.rec(f"activation ({act})", ACT[act](g))
        if clamp:  # Step3p7MLP / Step3p7Experts._apply_gate: after the activation
            u = np.clip(u, -clamp, clamp)
            a = R.rec("clamp", np.minimum(a, clamp), **{"u clamped": u})
        h = R.rec("a ⊙ u", a * u)
    return proj("down_proj", _sub_norm(R, name, f, h))


def _sub_norm(R: Run, name: str, f, h: np.ndarray) -> np.ndarray:
    """BitNetMLP's ffn_sub_norm on the hidden before down_proj (a dense MLP's option; experts have none)."""
    return R.norm(f"{name}ffn_sub_norm", f"{name}ffn_sub_norm", h) if getattr(f, "sub_norm", False) else h


def forward(R: Run, f: Mlp, x: np.ndarray, resid: np.ndarray) -> np.ndarray:
    y = chain_forward(R, "", f, f.gated, x, clamp=f.clamp)
    return R.rec("global scale", y * R.w["global_scale"]) if f.global_scale else y


KIND = FfnKind(
    schema=Mlp, name=lambda f: "dense", terms=WeightTerms(weights), routed=lambda f: (1, 1), extra_norms=lambda f: 0,
    lines=lines,
    draw=draw, steps=steps, forward=forward, shrink=lambda f: {**f, "d_ff": FF_TOY},
    facts=(Fact("Feed-forward", "kind", lambda f: "dense"), Fact("Feed-forward", "activation", lambda f: f.activation),
           Fact("Feed-forward", "gated", lambda f: f.gated), Fact("Feed-forward", "d_ff", lambda f: f.d_ff),
           Fact("Feed-forward", "activation sparsity", lambda f: or_none(f.activation_sparsity))),
)
