"""Mamba-1 selective state space (MambaMixer, FalconMambaMixer): no attention, a fixed state per sequence.

Schema :class:`Mamba`; parameters (in_proj, the conv, x_proj, dt_proj, A_log, D, out_proj; Falcon-Mamba's B, C, Δ
norms have no weights, Jamba's have); the fixed state (``d_inner × (d_state + conv_kernel)``, transformers'
``LinearAttentionLayer``);
state FLOPs (``9 × d_inner × d_state``: discretise, update and read per state element, state-spaces/mamba issue #110);
the label; the trace and toy of the torch path (``causal_conv1d_fn``, then ``mamba_selective_scan``'s loop, one token at
a time; the CUDA kernels compute the same scan in parallel); the shrink rule (d_inner 32 = expand 2, d_state 4, Δ rank
2, the model's taps); Δ, the state and the conv taps on the Trace page.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from ..layercache import LayerCache, f32_state, state_only
from ..specbase import Strict, rule_error
from ..steps import Ctx, Step, conv_step, ew, linear, weightless_rms
from ..terms import Weight, WeightTerms, params, table, weight
from ..toyops import ACT, D_TOY, Run, causal_conv
from . import mamba_heads
from .contract import Caption, Choose, Fact, Heatmap, fixed_state, Side
from .pictures import cells, taps_picture

INNER_TOY, STATE_TOY, RANK_TOY = 2 * D_TOY, 4, 2  # the toy's d_inner (expand 2), d_state, dt_rank


class Mamba(Strict):
    """Mamba-1 selective state-space mixer (Mamba, Falcon-Mamba): no attention, a fixed state per sequence.

    ``in_proj`` widens d_model to 2 × d_inner (x and the gate z); x runs through a depthwise causal
    conv of ``conv_kernel`` and the activation (hidden_act, SiLU); ``x_proj`` gives Δ (rank ``dt_rank``, widened by ``dt_proj``), B and
    C (``d_state`` each); the selective scan keeps a d_inner × d_state state; y ⊙ SiLU(z) → ``out_proj``.
    """

    kind: Literal["mamba"]
    d_inner: PositiveInt = Field(description="Inner width (intermediate_size; expand × hidden_size when absent)")
    d_state: PositiveInt = Field(description="SSM state per inner channel (state_size)")
    dt_rank: PositiveInt = Field(
        description="Rank of the Δ projection (time_step_rank; 'auto' = ceil(hidden_size / 16))")
    conv_kernel: PositiveInt = Field(description="Length of the depthwise causal convolution (conv_kernel)")
    conv_bias: bool = Field(True, description="Bias on the convolution (use_conv_bias)")
    bias: bool = Field(False, description="Bias on in_proj and out_proj (use_bias)")
    bc_dt_norm_eps: float | None = Field(
        None, gt=0, description="RMS norms of B, C and Δ before the scan, with this eps (Falcon-Mamba "
        "mixer_rms_eps, Jamba rms_norm_eps); null = none (Mamba)")
    bc_dt_norm_weights: bool = Field(
        False, description="Those norms have learned weights (Jamba's dt_layernorm, b_layernorm, c_layernorm); "
        "false = no weights (Falcon-Mamba)")
    n_heads: PositiveInt | None = Field(
        None, description="ZambaMambaMixer (n_mamba_heads): x and the gate z interleaved in in_proj's output, the inner "
        "channels split into heads, each with its own x_proj (Δ, B, C), dt_proj, A_log and D, scanned apart; null = "
        "MambaMixer")

    @model_validator(mode="after")
    def _norms(self) -> "Mamba":
        if self.bc_dt_norm_weights and self.bc_dt_norm_eps is None:
            raise rule_error("bc_dt_norm_weights", "block_wiring", "weights on the B, C, Δ norms need bc_dt_norm_eps")
        if self.n_heads and self.d_inner % self.n_heads:
            raise rule_error("n_heads", "heads_not_divisible", f"n_heads ({self.n_heads}) must divide d_inner "
                             f"({self.d_inner})")
        return self

    @property
    def head_dim(self) -> int:
        """Inner channels per head (all of them without heads)."""
        return self.d_inner // (self.n_heads or 1)

    def bc_dt_norms(self) -> list[tuple[str, str, tuple[str, int]]]:
        """(what, weight name, width) of each B, C, Δ norm, in the order the mixer applies them; none without."""
        if self.bc_dt_norm_eps is None:
            return []
        rank, state = ("dt_rank", self.dt_rank), ("d_state", self.d_state)
        return [("Δ", "dt_layernorm", rank), ("B", "b_layernorm", state), ("C", "c_layernorm", state)]


def weights(d: tuple[str, int], m: Mamba) -> list[Weight]:
    """``FalconMambaMixer`` / ``MambaMixer``: the B, C, Δ norms of Falcon-Mamba have no weights (buffers)."""
    di, n, r, k = ("d_inner", m.d_inner), ("d_state", m.d_state), ("dt_rank", m.dt_rank), ("conv_kernel", m.conv_kernel)
    c = "linear_mixers"
    out = [weight(c, "in_proj", d, ("2", 2), di, shape=(d[1], 2 * di[1]))]  # x and the gate z
    if m.bias:
        out.append(weight(c, "in_proj.bias", ("2", 2), di, shape=(2 * di[1],)))
    out.append(weight(c, "conv1d", di, k))  # depthwise: one filter per channel
    if m.conv_bias:
        out.append(weight(c, "conv1d.bias", di))
    out += mamba_heads.weights(m) if m.n_heads else [
        weight(c, "x_proj", di, ("dt_rank + 2 × d_state", m.dt_rank + 2 * m.d_state)),  # Δ, B, C
        weight(c, "dt_proj", r, di),
        weight(c, "dt_proj.bias", di),
        weight(c, "A_log", di, n, tensor="A_log"),
        weight(c, "D", di, tensor="D"),
    ]
    out.append(weight(c, "out_proj", di, d))
    if m.bc_dt_norm_weights:
        out += [weight(c, name, width) for _, name, width in m.bc_dt_norms()]
    if m.bias:
        out.append(weight(c, "out_proj.bias", d))
    return out


def cache(kind: str, n: int, m: Mamba, d_model: int) -> LayerCache:
    """Mamba-1: per sequence an SSM state (d_inner, d_state) and a conv window (d_inner, conv_kernel), the shapes
    transformers' ``LinearAttentionLayer`` allocates (recurrent_states, conv_states)."""
    state = m.d_inner * (m.d_state + m.conv_kernel)  # (d_inner, d_state) + (d_inner, conv_kernel)
    formula = (f"d_inner × d_state + d_inner × conv_kernel = {m.d_inner:,} × {m.d_state} + {m.d_inner:,} × "
               f"{m.conv_kernel} = {state:,}")
    return state_only(kind, n, state, formula, f32_state("SSM state (d_inner × d_state)", m.conv_kernel))


def lines(m: Mamba) -> list[str]:
    """A Mamba-1 mixer: widths, state, Δ rank, convolution, Falcon-Mamba's B/C/Δ norms."""
    lines = ["Mamba selective state space (no attention)",
             f"d_inner {m.d_inner:,} · state {m.d_state} per channel · Δ rank {m.dt_rank}",
             f"causal conv {m.conv_kernel} taps{' + bias' if m.conv_bias else ''} · output gated by SiLU(z)"]
    if m.bc_dt_norm_eps:
        weights = "learned weights" if m.bc_dt_norm_weights else "no weights"
        lines.append(f"B, C, Δ RMS-normed (eps {m.bc_dt_norm_eps:g}, {weights})")
    if m.n_heads:
        lines.append(f"{m.n_heads} heads of {m.head_dim:,}: each its own Δ, B, C, A, D (x, z interleaved)")
    if m.bias:
        lines.append("bias: in, out")
    return lines + ["fixed state per sequence: no KV cache"]


def steps(c: Ctx, m: Mamba) -> list[Step]:
    """FalconMambaMixer / MambaMixer: the torch path (causal_conv1d_fn, then mamba_selective_scan's loop).

    The state per sequence is (d_inner, d_state); the scan writes it once per token, so the per-token cost is
    the same at any position (no T × T matrix).
    """
    if m.n_heads:
        return mamba_heads.steps(c, m, weights)
    T, p, W = c.T, "mamba", table(weights(c.dm, m))
    di, n, r = m.d_inner, m.d_state, m.dt_rank
    state = (T, di, n)  # one (d_inner, d_state) state per token
    steps = [
        linear(c, "in_proj", p, W, "[x | z] = x · W_in"),
        ew("split x | z", p, (T, 2 * di), f"x = the first {di} channels, gate z = the last {di}", per=0,
            out=(T, di)),
        conv_step(c, "conv1d", p, W, "conv1d"),
        ew("activation (silu)", p, (T, di), "x = x · σ(x) (SiLU)", per=4),
        linear(c, "x_proj", p, W, "[Δ | B | C] = x · W_x"),
        ew("take Δ", p, (T, r + 2 * n), f"Δ = the first {r} dims (low rank)", per=0, out=(T, r)),
        ew("take B", p, (T, r + 2 * n), f"B = the next {n} dims: what each token writes into the state", per=0,
            out=(T, n)),
        ew("take C", p, (T, r + 2 * n), f"C = the last {n} dims: how each token reads the state", per=0, out=(T, n)),
    ]
    for what, name, (_, width) in m.bc_dt_norms():  # FalconMambaMixer: buffers of ones; JambaMambaMixer: weights
        eps = m.bc_dt_norm_eps
        steps.append(ew(f"{what} norm", p, (T, width), f"x · rsqrt(mean(x²) + {eps:g}) · w", per=4,
                        params=params(W, f"{name}.weight")) if m.bc_dt_norm_weights
                     else weightless_rms(f"{what} norm", p, (T, width), eps))
    steps += [
        linear(c, "dt_proj", p, W, "Δ = Δ · W_dt (back to d_inner channels; the reference adds b in the scan, just "
               "before the softplus)"),
        ew("softplus", p, (T, di), "Δ = log(1 + exp(Δ)) > 0: each token's step size per channel", per=3),
        Step("discretise A", p, (T, di), state, "Ā[t, c, s] = exp(Δ[t, c] · A[c, s]), A = −exp(A_log) < 0, "
             "so 0 < Ā < 1", 2 * T * di * n, params(W, "A_log")),
        Step("Δ·B·x", p, (T, di), state, "u[t, c, s] = Δ[t, c] · B[t, s] · x[t, c]", 2 * T * di * n),
        ew("selective scan", p, state, f"h_t = Ā_t ⊙ h_(t−1) + u_t, h_0 = 0: token by token, the state "
            f"h ({di}, {n}) per sequence", per=2),
        Step("read out C·h", p, state, (T, di), "y[t, c] = Σ_s h_t[c, s] · C[t, s]", 2 * T * di * n),
        ew("D skip", p, (T, di), "y = y + D ⊙ x", per=2, params=params(W, "D")),
        ew("gate y ⊙ SiLU(z)", p, (T, di), "y = y ⊙ z · σ(z)", per=5),
        linear(c, "out_proj", p, W, "y = y · W_out"),
    ]
    return steps


def forward(R: Run, m: Mamba, x: np.ndarray) -> np.ndarray:
    """FalconMambaMixer.forward's torch path, with mamba_selective_scan's sequential loop written out.

    The CUDA kernels (selective_scan_fn, mamba_inner_fn) compute the same recurrence in parallel.
    """
    if m.n_heads:
        return mamba_heads.forward(R, m, x)
    di, n, r = m.d_inner, m.d_state, m.dt_rank
    xz = R.linear("in_proj", x)  # (T, 2 · d_inner)
    xs, z = R.rec("split x | z", xz[:, :di]), xz[:, di:]  # (T, d_inner) each
    xs = R.rec("activation (silu)", ACT["silu"](causal_conv(R, "conv1d", "conv1d", xs)))
    dbc = R.linear("x_proj", xs)  # (T, dt_rank + 2 · d_state)
    dt, B, C = R.rec("take Δ", dbc[:, :r]), R.rec("take B", dbc[:, r:r + n]), R.rec("take C", dbc[:, r + n:])
    if m.bc_dt_norm_eps:
        dt, B, C = [R.rec(f"{t} norm", v / np.sqrt((v * v).mean(-1, keepdims=True) + m.bc_dt_norm_eps)
                          * R.w.get(f"{name}.weight", 1.0)) for (t, name, _), v in zip(m.bc_dt_norms(), (dt, B, C))]
    dt = R.rec("softplus", np.logaddexp(0, R.linear("dt_proj", dt)))  # (T, d_inner)
    A = -np.exp(R.w["A_log"])  # (d_inner, d_state)
    decay = R.rec("discretise A", np.exp(dt[:, :, None] * A), A=A)  # (T, d_inner, d_state)
    u = R.rec("Δ·B·x", dt[:, :, None] * B[:, None, :] * xs[:, :, None])  # (T, d_inner, d_state)
    h, states = np.zeros((di, n)), []
    for t in range(len(x)):  # one token at a time, as the reference's loop
        h = decay[t] * h + u[t]
        states.append(h)
    states = R.rec("selective scan", np.stack(states))  # (T, d_inner, d_state): the state after each token
    y = R.rec("read out C·h", np.einsum("tcs,ts->tc", states, C))
    y = R.rec("D skip", y + R.w["D"] * xs)
    y = R.rec("gate y ⊙ SiLU(z)", y * ACT["silu"](z), z=z)
    return R.linear("out_proj", y)


def shrink(m: dict) -> dict:
    """Mamba-1 at expand 2 with a small state and Δ rank; the conv taps, biases and B/C/Δ norms as the model."""
    return {**m, "d_inner": INNER_TOY, "d_state": STATE_TOY, "dt_rank": RANK_TOY, "n_heads": m.get("n_heads") and 2}


def picture(steps: list, choose: Choose) -> list:
    """Δ per token and channel, the state after the last token, and the conv taps."""
    by_op = {s.op: s for s in steps}
    dt, states = by_op["softplus"].value, by_op["selective scan"].value  # (T, d_inner), (T, d_inner, d_state)
    if dt.ndim == 3:  # heads (ZambaMambaMixer): (heads, T, head_dim) → (T, d_inner); every head's state, stacked
        dt, states = dt.transpose(1, 0, 2).reshape(dt.shape[1], -1), states[:, -1:].reshape(1, -1, states.shape[-1])
    return [Side((Heatmap(cells(dt, "token", "channel"), "channel", "token", title="Δ: step size per token and channel"),
                  Heatmap(cells(states[-1].T, "state dim", "channel"), "channel", "state dim",
                          title="state h after the last token"))),
            Caption("A large Δ lets a channel forget its state and take in the token; a small one keeps the state. "
                    "The state (d_inner × d_state) is all the layer carries from one token to the next."),
            *taps_picture(steps)]


KIND = fixed_state(
    schema=Mamba, name=lambda m: "Mamba", terms=WeightTerms(weights), cache=cache,
    state_flops=lambda m: 9 * m.d_inner * m.d_state,  # discretise, update, read: per state element
    lines=lines, steps=steps, forward=forward, shrink=shrink,
    facts=(
        Fact("Fixed-state mixers", "SSM state size (d_state)", lambda m: m.d_state),
        Fact("Fixed-state mixers", "SSM inner width", lambda m: m.d_inner),
        Fact("Fixed-state mixers", "dt_rank", lambda m: m.dt_rank),
        Fact("Fixed-state mixers", "conv kernel", lambda m: m.conv_kernel),
        Fact("Fixed-state mixers", "SSM heads (Zamba)", lambda m: m.n_heads),  # None: the row only where one has them
    ),
    picture=picture, block_name="Mamba block", axis0="token",  # its 3-D values are (T, d_inner, d_state)
    init={"A_log": lambda rng, shape: np.log(np.arange(1, shape[-1] + 1)) + 0.1 * rng.standard_normal(shape)},
    # near MambaMixer's S4D-real init: A = −exp(A_log) ≈ −(1 … d_state) in every channel
)
