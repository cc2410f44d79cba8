"""The vocabulary of a layer trace: a :class:`Step` with its shapes, parameters, FLOPs and formula, and the helpers
kind modules build their steps from (a product with weights, an elementwise step, RoPE, a norm, attention from the
scores to the merged heads, a causal convolution).

Conventions (:mod:`gallery.trace` runs the steps): ``T`` tokens, token-major ``(T, width)``, per head
``(heads, T, dim)``; weights written ``(in, out)`` as ``y = x · W`` reads them; a product with weights costs
``2 × T × weights``, QKᵀ and weights × V ``2 × heads × T × T × dim``, elementwise steps about one FLOP per element
per arithmetic operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import TYPE_CHECKING

from .terms import Param, Shape, Weights, params

if TYPE_CHECKING:
    from .spec import Arch

@dataclass(frozen=True)
class Step:
    """One operation of the layer."""

    op: str  # e.g. "q_proj", "softmax"
    part: str  # the sub-block it belongs to: "attention", "mlp", "experts", "router", "norm", "residual"...
    in_shape: Shape
    out_shape: Shape
    formula: str
    flops: int = 0
    params: tuple[Param, ...] = ()
    matmul: bool = False  # a product with weights: flops = 2 × T × weights (of the active experts)

    @property
    def n_params(self) -> int:
        return sum(p.count for p in self.params)

    def row(self) -> dict:
        """A flat record for tables, CSV and JSON."""
        return {"op": self.op, "part": self.part, "in_shape": list(self.in_shape), "out_shape": list(self.out_shape),
                "params": self.n_params, "param_shapes": {p.name: list(p.shape) for p in self.params},
                "flops": self.flops, "formula": self.formula}


@dataclass(frozen=True)
class Ctx:
    """What every step function needs besides its own spec part."""

    T: int  # tokens
    d: int  # d_model
    arch: Arch
    layer: int = 0  # the layer's index (what block attention residuals attend over depends on it)

    @property
    def dm(self) -> tuple[str, int]:
        """The model width as a kind's weights name it: ``("d_model", d)``."""
        return ("d_model", self.d)

    def norm(self, op: str, part: str, name: str, shape: Shape, weights: bool = True,
             params: tuple[Param, ...] | None = None) -> Step:
        """The model's norm over the last axis of ``shape``; ``params``: its tensors as a kind declares them (a
        QK-norm), else the model's norm weight (and bias) of that width."""
        width, weights = shape[-1], weights and self.arch.norm.weights
        if params is None:
            params = (Param(f"{name}.weight", (width,)),) if weights else ()
            params += (Param(f"{name}.bias", (width,)),) if self.arch.norm.bias and weights else ()
        weights, bias = bool(params), any(p.name.endswith(".bias") for p in params)
        if self.arch.norm.kind == "layernorm":
            formula = "(x − mean(x)) / √(var(x) + eps)" + (" · w" if weights else "") + (" + b" if bias else "")
            per = 7
        else:
            formula = "x · rsqrt(mean(x²) + eps)" + (" · w" if weights else "") + (" + b" if bias else "")
            per = 4 + bias
        formula += f" (eps = {self.arch.norm.eps:g})"
        return Step(op, part, shape, shape, formula, per * prod(shape), params)


def linear(c: Ctx, op: str, part: str, W: Weights, formula: str, name: str | None = None) -> Step:
    """``(T, d_in) · W (d_in, d_out) [+ b]``: the kind's tensors ``name.weight`` and, when it has one, ``name.bias``
    (``name`` defaults to ``op``), their shapes as the kind declares them (:func:`gallery.terms.weight`)."""
    name = name or op
    ps = params(W, f"{name}.weight", f"{name}.bias")
    d_in, d_out = ps[0].shape
    return Step(op, part, (c.T, d_in), (c.T, d_out), formula + (" + b" if len(ps) > 1 else ""),
                2 * c.T * d_in * d_out, ps, matmul=True)


def ew(op: str, part: str, shape: Shape, formula: str, per: int = 1, out: Shape | None = None,
        params: tuple[Param, ...] = ()) -> Step:
    """An elementwise or reshaping step (``per`` FLOPs per element; 0 for a reshape)."""
    return Step(op, part, shape, out or shape, formula, per * prod(shape), params)


def rope_step(part: str, tensor: str, shape: Shape, rot: int, theta: float, pairs: str, tail: bool = False,
          pos: str = "pos", sign: str = "", proportional: bool = False) -> Step:
    """RoPE on the first ``rot`` dims of each vector (the last ``rot`` with ``tail``, DeepSeek-V4); ``proportional``
    (Gemma 4's global layers): over the whole vector, with only the first rot/2 of its frequencies non-zero."""
    if proportional:
        dim, half = shape[-1], rot // 2
        return Step(f"RoPE on {tensor}", part, shape, shape,
                    f"x · cos(pos·θ_i) + rotate_half(x) · sin(pos·θ_i) over all {dim} dims, θ_i = {theta:g}^(−2i/{dim}) "
                    f"for i < {half} and 0 beyond (proportional): dims j and j + {dim // 2} turn together for "
                    f"j < {half}, the other {dim - rot} dims pass unchanged", 3 * prod(shape[:-1]) * rot)
    rest = f"; the other {shape[-1] - rot} dims pass unchanged" if rot < shape[-1] else ""
    dims = f"x[..., -{rot}:]" if tail else f"x[..., :{rot}]"
    return Step(f"RoPE on {tensor}", part, shape, shape,
                f"{dims} · cos({pos}·θ_i) {sign or '+'} rotate_{pairs}({dims}) · sin({pos}·θ_i), "
                f"θ_i = {theta:g}^(−2i/{rot}){rest}", 3 * prod(shape[:-1]) * rot)


def scores_to_output(c: Ctx, part: str, h: int, qk: int, vd: int, scale: float, softcap: float | None,
                      window: int | None, chunk: int | None, sinks: tuple[Param, ...], q: Shape,
                      keys: int | None = None, mask: str | None = None, token_sinks: bool = False) -> list[Step]:
    """QKᵀ → scale → soft-cap → mask → (sinks) → softmax → × V → merge heads (eager_attention_forward).

    ``sinks``: the kind's ``sinks`` tensor (one learned logit per head), or ``()`` without sinks; ``token_sinks``: a
    sink logit per head and query that the kind computed (Inkling 2's sink_proj).

    ``keys`` (default T) and ``mask`` (default: causal, windowed or chunked) for attention over more than the
    sequence's own tokens (DeepSeek-V4's compressed entries)."""
    T, S = c.T, keys or c.T
    s = (h, T, S)  # (n_heads, T query, S key)
    steps = [
        Step("scores = Q·Kᵀ", part, q, s, f"S[h, i, j] = Σ_d Q[h, i, d] · K[h, j, d] over {qk} dims",
             2 * h * T * S * qk),
        ew("scale", part, s, f"S · {scale:.6g}" + (" (= 1/√d_k)" if abs(scale - qk ** -0.5) < 1e-12 else "")),
    ]
    if softcap:
        steps.append(ew("soft-cap", part, s, f"{softcap:g} · tanh(S / {softcap:g})", per=3))
    if mask is None and chunk:
        mask = f"−∞ where j > i or ⌊j/{chunk}⌋ ≠ ⌊i/{chunk}⌋ (chunked local attention)"
    elif mask is None:
        mask = f"−∞ where j > i or i − j ≥ {window} (causal sliding window of {window})" if window else \
            "−∞ where j > i (causal)"
    steps.append(ew("mask", part, s, "S + M, M = " + mask))
    if sinks or token_sinks:
        what = "z[h, i]: the query's own sink logit" if token_sinks else "s_h: one learned logit per head"
        steps.append(ew("append sink logit", part, s, f"[S | {what}] as an extra column", per=0, out=(h, T, S + 1),
                        params=sinks))
    wide = steps[-1].out_shape
    dropped = ", then the sink column is dropped" if sinks or token_sinks else ""
    steps += [
        ew("subtract row max", part, wide, "S − max_j S[h, i, j] (softmax is unchanged; exp cannot overflow)"),
        ew("softmax", part, wide, f"P = exp(S) / Σ_j exp(S){dropped}", per=3, out=s),
        Step("weights × V", part, s, (h, T, vd), "O[h, i] = Σ_j P[h, i, j] · V[h, j]", 2 * h * T * S * vd),
        ew("merge heads", part, (h, T, vd), "transpose and concatenate the heads", per=0, out=(T, h * vd)),
    ]
    return steps


def weightless_rms(op: str, part: str, shape: Shape, eps: float) -> Step:
    """An RMS norm without weights over the last axis (FalconMambaWeightlessRMSNorm)."""
    return ew(op, part, shape, f"x · rsqrt(mean(x²) + {eps:g}), no weights", per=3)


def conv_step(c: Ctx, op: str, part: str, W: Weights, name: str) -> Step:
    """A depthwise causal convolution over the tokens (nn.Conv1d, groups = width, left padding): the kind's tensors
    ``name.weight`` of shape (width, taps) and, when it has one, ``name.bias``."""
    ps = params(W, f"{name}.weight", f"{name}.bias")
    (width, k), bias = ps[0].shape, len(ps) > 1
    formula = (f"y[t, c] = Σ_j w[c, j] · x[t − {k - 1} + j, c]" + (" + b[c]" if bias else "")
               + f", j < {k} taps; x = 0 before the first token")
    return Step(op, part, (c.T, width), (c.T, width), formula, 2 * c.T * width * k, ps, matmul=True)


ACTIVATIONS = {
    "silu": "x · σ(x)", "gelu": "x · Φ(x)", "gelu_tanh": "0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))",
    "relu": "max(x, 0)", "relu2": "max(x, 0)²",
    "swish_clamped": "g = min(g, 7); u = clamp(u, −7, 7); g · σ(1.702 g) · (u + 1)",
    "silu_clamped": "min(x, 10) · σ(min(x, 10)) (gate capped at swiglu_limit 10)",
}


SILU_CLAMP = 10.0  # DeepseekV4Config.swiglu_limit: its default and DeepSeek-V4-Flash's value (not a spec field)
