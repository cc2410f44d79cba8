"""Mamba-1 split into heads (Zamba's ``ZambaMambaMixer``), an option of the Mamba kind (``n_heads`` not null).

``in_proj`` gives x and the gate z interleaved (``view(batch, -1, 2, seq_len).chunk(2, dim=2)``: even channels x,
odd channels z); the causal conv runs over all of x; then x splits into ``n_heads`` heads of d_inner / n_heads
channels, and each head has its own x_proj (Δ, B, C), dt_proj with its bias, A_log and D, and runs
``mamba_selective_scan`` on its own; the heads' outputs, concatenated, go through ``out_proj``. The parameters
equal Mamba-1's; the state too (d_inner × d_state), but each head reads and writes it with its own B and C.
"""

from __future__ import annotations

import numpy as np

from ..steps import Ctx, Step, conv_step, ew, linear
from ..terms import Weight, params, table, weight
from ..toyops import ACT, Run, causal_conv


def weights(m) -> list[Weight]:
    """x_proj, dt_proj, its bias, A_log and D of every head, stacked on a leading head axis (their names in
    ``ZambaMambaMixer``); the trace reads x_proj as (heads, head_dim, Δ rank + 2 d_state), dt_proj as (heads, Δ rank,
    head_dim)."""
    c, h, hd = "linear_mixers", ("n_heads", m.n_heads), ("head_dim", m.head_dim)
    r, n, dbc = ("dt_rank", m.dt_rank), ("d_state", m.d_state), ("dt_rank + 2 × d_state", m.dt_rank + 2 * m.d_state)
    return [weight(c, "x_proj_weight", h, hd, dbc, tensor="x_proj_weight"),
            weight(c, "dt_proj_weight", h, r, hd, tensor="dt_proj_weight"),
            weight(c, "dt_proj_bias", h, hd, tensor="dt_proj_bias"),
            weight(c, "A_log", h, hd, n, tensor="A_log"),
            weight(c, "D", h, hd, tensor="D")]


def steps(c: Ctx, m, weights_of) -> list[Step]:
    """ZambaMambaMixer.forward's torch path: one scan per head."""
    T, p, W = c.T, "mamba", table(weights_of(c.dm, m))
    di, n, r, H, hd = m.d_inner, m.d_state, m.dt_rank, m.n_heads, m.head_dim
    k = r + 2 * n
    state = (H, T, hd, n)
    return [
        linear(c, "in_proj", p, W, "[x | z] = x · W_in"),
        ew("split x | z", p, (T, 2 * di), "x = the even channels, gate z = the odd ones (interleaved)", per=0,
           out=(T, di)),
        conv_step(c, "conv1d", p, W, "conv1d"),
        ew("activation (silu)", p, (T, di), "x = x · σ(x) (SiLU)", per=4),
        ew("split heads", p, (T, di), f"{H} heads of {hd} channels", per=0, out=(H, T, hd)),
        Step("x_proj per head", p, (H, T, hd), (H, T, k), "[Δ | B | C] = x_h · W_x[h]: each head its own",
             2 * T * di * k, params(W, "x_proj_weight"), matmul=True),
        ew("take Δ", p, (H, T, k), f"Δ = the first {r} dims (low rank)", per=0, out=(H, T, r)),
        ew("take B", p, (H, T, k), f"B = the next {n} dims: what each token writes into its head's state", per=0,
           out=(H, T, n)),
        ew("take C", p, (H, T, k), f"C = the last {n} dims: how each token reads it", per=0, out=(H, T, n)),
        Step("dt_proj per head", p, (H, T, r), (H, T, hd), "Δ = Δ_h · W_dt[h] (back to the head's channels)",
             2 * T * di * r, params(W, "dt_proj_weight"), matmul=True),
        ew("softplus", p, (H, T, hd), "Δ = log(1 + exp(Δ + b)) > 0: each token's step size per channel", per=4,
           params=params(W, "dt_proj_bias")),
        Step("discretise A", p, (H, T, hd), state, "Ā[h, t, c, s] = exp(Δ[h, t, c] · A[h, c, s]), A = −exp(A_log)",
             2 * T * di * n, params(W, "A_log")),
        Step("Δ·B·x", p, (H, T, hd), state, "u[h, t, c, s] = Δ[h, t, c] · B[h, t, s] · x[h, t, c]",
             2 * T * di * n),
        ew("selective scan", p, state, f"h_t = Ā_t ⊙ h_(t−1) + u_t per head, h_0 = 0: a ({hd}, {n}) state "
           "per head", per=2),
        Step("read out C·h", p, state, (H, T, hd), "y[h, t, c] = Σ_s h_t[c, s] · C[h, t, s]", 2 * T * di * n),
        ew("D skip", p, (H, T, hd), "y = y + D[h] ⊙ x", per=2, params=params(W, "D")),
        ew("merge heads", p, (H, T, hd), "concatenate the heads' channels", per=0, out=(T, di)),
        ew("gate y ⊙ SiLU(z)", p, (T, di), "y = y ⊙ z · σ(z)", per=5),
        linear(c, "out_proj", p, W, "y = y · W_out"),
    ]


def forward(R: Run, m, x: np.ndarray) -> np.ndarray:
    """ZambaMambaMixer.forward with mamba_selective_scan's sequential loop written out, head by head."""
    T, di, n, r, H, hd = len(x), m.d_inner, m.d_state, m.dt_rank, m.n_heads, m.head_dim
    xz = R.linear("in_proj", x)  # (T, 2 · d_inner), x and z interleaved
    xs, z = R.rec("split x | z", xz[:, 0::2]), xz[:, 1::2]
    xs = R.rec("activation (silu)", ACT["silu"](causal_conv(R, "conv1d", "conv1d", xs)))
    xh = R.rec("split heads", xs.reshape(T, H, hd).transpose(1, 0, 2))  # (H, T, hd)
    dbc = R.rec("x_proj per head", np.einsum("htc,hck->htk", xh, R.w["x_proj_weight"]))
    dt, B, C = R.rec("take Δ", dbc[..., :r]), R.rec("take B", dbc[..., r:r + n]), R.rec("take C", dbc[..., r + n:])
    dt = R.rec("dt_proj per head", np.einsum("htr,hrc->htc", dt, R.w["dt_proj_weight"]))
    dt = R.rec("softplus", np.logaddexp(0, dt + R.w["dt_proj_bias"][:, None, :]))
    A = -np.exp(R.w["A_log"])  # (H, hd, d_state)
    decay = R.rec("discretise A", np.exp(dt[..., None] * A[:, None]), A=A)  # (H, T, hd, d_state)
    u = R.rec("Δ·B·x", dt[..., None] * B[:, :, None, :] * xh[..., None])
    h, states = np.zeros((H, hd, n)), []
    for t in range(T):  # one token at a time, every head at once
        h = decay[:, t] * h + u[:, t]
        states.append(h)
    states = R.rec("selective scan", np.stack(states, axis=1))  # (H, T, hd, d_state)
    y = R.rec("read out C·h", np.einsum("htcs,hts->htc", states, C))
    y = R.rec("D skip", y + R.w["D"][:, None, :] * xh)
    y = R.rec("merge heads", y.transpose(1, 0, 2).reshape(T, di))
    y = R.rec("gate y ⊙ SiLU(z)", y * ACT["silu"](z), z=z)
    return R.linear("out_proj", y)
