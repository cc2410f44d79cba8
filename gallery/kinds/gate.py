"""An attention output gate from a projection of its own, an option of softmax attention (:mod:`.softmax`) and latent
attention (:mod:`.mla`): ``g = x · W_g`` from the layer's input, then each head's output × act(g) before o_proj.

It covers AFMoE (``AfmoeAttention.gate_proj``: d_model → n_heads × head_dim, σ on every element), Beam
(``BeamAttention.gate_proj`` the same, plus ``gate_bias``, one learned bias per head added before σ), Laguna
(``LagunaAttention.g_proj``: softplus, one gate per head with ``gating`` true or "per-head", one per element with
"per-element"), Step 3.5 Flash (``Step3p7Attention.g_proj``: d_model → n_heads, σ), LFM3 (its attention gate, the
same), HRM (``HrmTextAttention.gate_proj``: σ per element, with a bias of its width when ``attention_bias``) and
latent attention's (Ling 3.0 ``BailingHybridAttention.g_proj``, dots3 ``Dots3NoteTextAttention.g_proj``: d_model →
n_heads, σ). The trace
names the projection ``g_proj`` whatever the model calls it. Qwen3-Next's gate, which q_proj emits beside the
queries, is ``output_gate`` of softmax attention, not this.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..specbase import Strict
from ..steps import Ctx, Step, linear
from ..terms import Weight, Weights, weight
from ..toyops import Run
from .contract import Fact


class OutputGate(Strict):
    """Each head's attention output × act(x · W_g [+ b]) before o_proj, the gate projected from the layer's input."""

    activation: Literal["sigmoid", "softplus"] = Field(
        description="σ (AFMoE, Beam, Ling 3.0) or softplus, log(1 + eˣ) (Laguna)")
    per: Literal["head", "element"] = Field(
        description="'head': g_proj gives one gate per head, scaling all its dims (Laguna gating true or 'per-head', "
        "Ling 3.0); 'element': one gate per head dim, n_heads × head_dim (AFMoE, Beam, Laguna 'per-element')")
    bias: bool = Field(False, description="gate_bias: one learned bias per head added to the gate logits of all its "
                       "dims before the activation (Beam)")
    proj_bias: bool = Field(False, description="g_proj has a bias of its own width (HRM HrmTextAttention.gate_proj "
                            "with attention_bias)")


def older_head_gate(data):
    """A spec written before Step 3.5's per-head gate moved here said ``head_gate: true``: σ per head."""
    if isinstance(data, dict) and "head_gate" in data:
        data = dict(data)
        if data.pop("head_gate"):
            data.setdefault("gate", {"activation": "sigmoid", "per": "head"})
    return data


ACT = {"sigmoid": ("σ", lambda g: 1 / (1 + np.exp(-g))), "softplus": ("softplus", lambda g: np.logaddexp(0, g))}
ACT_FLOPS = 3  # σ: exp, add, divide; softplus: exp, add, log


def weights(d: tuple[str, int], h: tuple[str, int], vd: tuple[str, int], gate: OutputGate) -> list[Weight]:
    """g_proj (d_model → n_heads, or n_heads × head_dim per element; its bias with HRM's attention_bias) and Beam's
    gate_bias (n_heads)."""
    factors = (h, vd) if gate.per == "element" else (h,)
    width = h[1] * (vd[1] if gate.per == "element" else 1)
    out = [weight("attention", "g_proj", d, *factors, shape=(d[1], width))]
    out += [weight("attention", "g_proj.bias", *factors, shape=(width,))] if gate.proj_bias else []
    return out + ([weight("attention", "gate_bias", h, tensor="gate_bias")] if gate.bias else [])


def proj_step(c: Ctx, gate: OutputGate, p: str, W: Weights) -> Step:
    """g = x · W_g from the layer's input (the normed residual stream)."""
    per = "one logit per head" if gate.per == "head" else "one logit per head dim"
    return linear(c, "g_proj", p, W, f"g = x · W_g ({per})")


def apply_step(c: Ctx, gate: OutputGate, p: str, h: int, vd: int, W: Weights) -> Step:
    """O × act(g [+ b]): the activation (and the bias) per gate, then a product per output element."""
    name, _ = ACT[gate.activation]
    gates = c.T * h * (vd if gate.per == "element" else 1)
    arg = "g + b[head]" if gate.bias else "g"
    scope = f"O[head, dim] · {name}({arg}[head, dim])" if gate.per == "element" else \
        f"O[head] · {name}({arg}[head]): one gate per head scales its {vd} dims"
    return Step("gate", p, (c.T, h * vd), (c.T, h * vd), scope,
                gates * (ACT_FLOPS + gate.bias) + c.T * h * vd, (W["gate_bias"],) if gate.bias else ())


def steps(c: Ctx, gate: OutputGate, p: str, h: int, vd: int, W: Weights) -> tuple[list[Step], list[Step]]:
    """(the projection's steps, taken with the other projections; the gate's, before o_proj); none without a gate."""
    return ([proj_step(c, gate, p, W)], [apply_step(c, gate, p, h, vd, W)]) if gate else ([], [])


def project(R: Run, gate: OutputGate | None, x: np.ndarray) -> np.ndarray | None:
    """The toy's g_proj (None without a gate)."""
    return R.linear("g_proj", x) if gate else None


def apply(R: Run, gate: OutputGate | None, o: np.ndarray, g: np.ndarray | None, vd: int) -> np.ndarray:
    """The toy's gate on the merged heads ``o`` (T, heads × dim); ``o`` itself without a gate."""
    if gate is None:
        return o
    T = len(o)
    logits = g.reshape(T, -1, vd if gate.per == "element" else 1)
    if gate.bias:
        logits = logits + R.w["gate_bias"][None, :, None]
    s = ACT[gate.activation][1](logits)
    return R.rec("gate", (o.reshape(T, -1, vd) * s).reshape(T, -1), gate=s.reshape(T, -1))


def text(gate: OutputGate) -> str:
    """The gate in words for a diagram label."""
    per = "per head" if gate.per == "head" else "per element"
    return f"output gate: heads ⊙ {ACT[gate.activation][0]}(g_proj(x){' + b' if gate.bias else ''}), {per} → o_proj"


FACT = Fact("Attention", "gate from its own projection", lambda m: "none" if getattr(m, "gate", None) is None else
            f"{m.gate.activation}, per {m.gate.per}" + (", bias" if m.gate.bias else ""))
