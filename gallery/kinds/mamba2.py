"""A Mamba-2 state-space mixer (SSD; Nemotron-H's NemotronHMamba2Mixer): a fixed state per head, no positions.

Schema :class:`Mamba2`; parameters (in_proj for z, xBC and Δ, the conv, dt_bias/A_log/D per head, the gated norm,
out_proj; Falcon-H1's ``FalconH1Mixer`` norms before the gate or not at all, and biases out_proj on its own flag); the fixed state (each head's ``head_dim × d_state`` plus the conv window, transformers'
``LinearAttentionLayer``); state FLOPs (``5 × n_heads × head_dim × d_state``: decay, Δ·x·B, add, C·h); the label; the
trace and toy of the torch path with its chunked scan written as the sequential recurrence it regroups; the shrink
rule (two groups of two heads of 4, a state of 4, the real kernel, chunks of 4); Δ, the decay and a head's state on
the Trace page.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt

from ..layercache import LayerCache, f32_state, state_only
from ..specbase import Strict
from ..steps import ACTIVATIONS, Ctx, Step, ew, linear
from ..terms import Weight, Weights, WeightTerms, params, table, weight
from ..toyops import ACT, Run, conv, heads
from .contract import Caption, Choose, Fact, Heatmap, fixed_state
from .pictures import cells

DELTA, DECAY = "Δ = softplus(dt + dt_bias)", "decay exp(Δ·A)"  # steps the trace, the toy and the picture share


class Mamba2(Strict):
    """A Mamba-2 state-space mixer (SSD; Nemotron-H's ``NemotronHMamba2Mixer``).

    ``in_proj`` makes, per token, the gate ``z`` (n_heads × head_dim), the convolved stream ``xBC``
    (the inner x plus B and C, one pair of ``d_state`` vectors per group) and one time step per head;
    a causal depthwise convolution runs over ``xBC``; each head's state (head_dim × d_state) decays by
    exp(Δ·A) and takes in Δ·B·x, and is read out by C plus a skip D·x; a gated RMSNorm (gate applied
    before the norm, in n_groups groups; ``gated_norm`` says otherwise) and ``out_proj`` bring it back to d_model. A, D and the Δ bias
    are one number per head. The state does not grow with the context.
    """

    kind: Literal["mamba2"]
    n_heads: PositiveInt = Field(description="SSM heads (mamba_num_heads); each has its own A, D and time step")
    head_dim: PositiveInt = Field(description="Channels per SSM head (mamba_head_dim); n_heads × head_dim is the "
                                  "inner width d_inner (intermediate_size in the code)")
    n_groups: PositiveInt = Field(description="Groups of heads sharing one B and one C (n_groups); also the groups "
                                  "of the gated RMSNorm")
    d_state: PositiveInt = Field(description="State size per channel: the width of B and C (ssm_state_size)")
    conv_kernel: PositiveInt = Field(description="Width of the causal depthwise convolution over x, B and C "
                                     "(conv_kernel)")
    conv_bias: bool = Field(True, description="Bias on the convolution (use_conv_bias)")
    bias: bool = Field(False, description="Bias on in_proj and out_proj (Nemotron-H: use_bias)")
    out_bias: bool | None = Field(None, description="Bias on out_proj when it differs from bias (Falcon-H1: "
                                  "projectors_bias, with bias = mamba_proj_bias on in_proj only); null = bias")
    gated_norm: Literal["gate_first", "norm_first", "none"] = Field(
        "gate_first", description="The gated RMSNorm before out_proj: 'gate_first' norm(y ⊙ SiLU(z)) (Mamba-2, "
        "Nemotron-H, Bamba); 'norm_first' norm(y) ⊙ SiLU(z) (Falcon-H1 mamba_norm_before_gate); 'none': "
        "y ⊙ SiLU(z), no norm and no weight (Falcon-H1 mamba_rms_norm false)")
    chunk_size: PositiveInt | None = Field(
        None, description="Tokens per chunk of the chunked scan a prompt is processed in (chunk_size); no effect on "
        "weights or state")

    @property
    def d_inner(self) -> int:
        """``d_inner = n_heads × head_dim`` (intermediate_size in the code): the width of x, z and y."""
        return self.n_heads * self.head_dim

    @property
    def has_out_bias(self) -> bool:
        """A bias on out_proj: ``out_bias`` where given, else ``bias``."""
        return self.bias if self.out_bias is None else self.out_bias

    @property
    def conv_dim(self) -> int:
        """``conv_dim = d_inner + 2 × n_groups × d_state``: channels of the convolution (x, B, C)."""
        return self.d_inner + 2 * self.n_groups * self.d_state


def weights(d: tuple[str, int], m: Mamba2) -> list[Weight]:
    """NemotronHMamba2Mixer: in_proj, depthwise conv1d, dt_bias/A_log/D per head, gated norm, out_proj."""
    c, h = "linear_mixers", ("n_heads", m.n_heads)
    inner = ("d_inner", m.d_inner)  # n_heads × head_dim
    conv = ("conv_dim", m.conv_dim)  # d_inner + 2 × n_groups × d_state
    projection = ("d_inner + conv_dim + n_heads", m.d_inner + m.conv_dim + m.n_heads)  # z, xBC, dt
    out = [weight(c, "in_proj", d, projection)]
    if m.bias:
        out.append(weight(c, "in_proj.bias", projection))
    k = ("conv_kernel", m.conv_kernel)  # stored (conv_dim, 1, k); the trace reads it (k, conv_dim)
    out.append(weight(c, "conv1d.weight", conv, k, shape=(k[1], conv[1]), tensor="conv1d.weight"))
    if m.conv_bias:
        out.append(weight(c, "conv1d.bias", conv))
    out += [weight(c, name, h, tensor=name) for name in ("dt_bias", "A_log", "D")]
    if m.gated_norm != "none":
        out.append(weight(c, "norm.weight", inner, tensor="norm.weight"))
    out.append(weight(c, "out_proj", inner, d))
    if m.has_out_bias:
        out.append(weight(c, "out_proj.bias", d))
    return out


def cache(kind: str, n: int, m: Mamba2, d_model: int) -> LayerCache:
    """A Mamba-2 layer keeps, per sequence, each head's SSM state and the last conv_kernel inputs of its
    convolution (transformers' LinearAttentionLayer: recurrent_states (B, n_heads, head_dim, d_state),
    conv_states (B, conv_dim, conv_kernel)); nothing per token."""
    ssm = m.n_heads * m.head_dim * m.d_state
    conv = m.conv_dim * m.conv_kernel
    formula = (f"n_heads × head_dim × d_state + conv_dim × conv_kernel = "
               f"{m.n_heads} × {m.head_dim} × {m.d_state} + {m.conv_dim:,} × {m.conv_kernel} = {ssm + conv:,}")
    return state_only(kind, n, ssm + conv, formula, f32_state("SSM state (whatever the model's dtype)",
                                                                m.conv_kernel))


def lines(m: Mamba2) -> list[str]:
    """The Mamba-2 label: heads × head dim, groups, state size, convolution, gated norm."""
    return [
        "Mamba-2 state-space mixer (SSD)",
        f"{m.n_heads} heads × head dim {m.head_dim} · {m.n_groups} groups share B, C · state {m.d_state}",
        f"causal depthwise conv1d · kernel {m.conv_kernel} over x, B, C ({m.conv_dim:,} channels)"
        + (" · bias" if m.conv_bias else ""),
        GATED_NORM_LINES[m.gated_norm].format(groups=m.n_groups),
        f"fixed state per sequence: {m.n_heads} × {m.head_dim} × {m.d_state} · no positions",
        f"prefill in chunks of {m.chunk_size:,} tokens" if m.chunk_size else "",
        "bias: " + ", ".join(n for n, on in (("in_proj", m.bias), ("out_proj", m.has_out_bias)) if on)
        if m.bias or m.has_out_bias else "",
    ]


GATED_NORM_LINES = {
    "gate_first": "gated RMSNorm: norm(y ⊙ SiLU(z)) in {groups} groups → out_proj",
    "norm_first": "gated RMSNorm: norm(y) ⊙ SiLU(z), norm in {groups} groups → out_proj",
    "none": "gate y ⊙ SiLU(z), no norm → out_proj",
}


def steps(c: Ctx, m: Mamba2) -> list[Step]:
    """NemotronHMamba2Mixer (torch path), its scan written as the per-token recurrence it computes.

    The reference runs the scan in chunks of ``chunk_size`` (``mamba2_chunk_scan``, the SSD form: within a chunk
    an attention-like C·Bᵀ product under a decay mask, between chunks the state carried over); that is the same
    recurrence regrouped, so the steps show the recurrence, token by token, with the state of each head.
    """
    T, p, W = c.T, "mamba2", table(weights(c.dm, m))
    H, P, G, N, k = m.n_heads, m.head_dim, m.n_groups, m.d_state, m.conv_kernel
    inner, conv = m.d_inner, m.conv_dim  # H·P; H·P + 2·G·N
    proj = (T, inner + conv + H)  # (T, z | xBC | dt)
    conv_params = params(W, "conv1d.weight", "conv1d.bias")
    per_group = f"each of the {G} groups serves {H // G} heads (repeat_interleave)"
    return [
        linear(c, "in_proj", p, W, "[z | xBC | dt] = x · W_in"),
        ew("take gate z", p, proj, f"z = the first {inner} dims (n_heads × head_dim)", per=0, out=(T, inner)),
        ew("take xBC", p, proj, f"xBC = the next {conv} dims (x, then B and C of each group)", per=0,
            out=(T, conv)),
        ew("take dt", p, proj, f"dt = the last {H} dims: one time step per head", per=0, out=(T, H)),
        Step("causal conv1d", p, (T, conv), (T, conv), f"xBC[t, c] = Σ_i w[i, c] · xBC[t − {k - 1} + i, c]"
             + (" + b[c]" if m.conv_bias else "") + f" over i < {k} (depthwise, zeros before the first token)",
             2 * T * conv * k, conv_params, matmul=True),
        ew("activation (silu)", p, (T, conv), f"xBC = xBC · σ(xBC), act(x) = {ACTIVATIONS['silu']}", per=4),
        ew("take x", p, (T, conv), f"x = xBC[:, :{inner}] as (heads, T, head_dim)", per=0, out=(H, T, P)),
        ew("take B", p, (T, conv), f"B = the next {G} × {N} dims as (groups, T, d_state)", per=0, out=(G, T, N)),
        ew("take C", p, (T, conv), f"C = the last {G} × {N} dims as (groups, T, d_state)", per=0, out=(G, T, N)),
        ew(DELTA, p, (T, H), "Δ = log(1 + exp(dt + dt_bias)) per token and head (the chunked "
            "prefill path also clamps Δ ≥ time_step_min)", per=4,
            params=params(W, "dt_bias")),
        ew("repeat B groups", p, (G, T, N), per_group, per=0, out=(H, T, N)),
        ew("repeat C groups", p, (G, T, N), per_group, per=0, out=(H, T, N)),
        ew(DECAY, p, (T, H), "a = exp(Δ · A), A = −exp(A_log) < 0 per head: 0 < a < 1", per=2,
            params=params(W, "A_log")),
        Step("state update", p, (H, T, P), (T, H, P, N),
             "h_t = a_t · h_{t−1} + Δ_t · x_t ⊗ B_t per head, h_0 = 0: a fixed state of (n_heads, head_dim, "
             "d_state) carried from token to token (shown after every token; only the last is kept)",
             3 * T * H * P * N),
        Step("read-out y = C·h + D·x", p, (T, H, P, N), (H, T, P), "y_t = h_t · C_t (sum over d_state) + D · x_t",
             2 * T * H * P * N + 2 * T * H * P, params(W, "D")),
        ew("merge heads", p, (H, T, P), "transpose and concatenate the heads", per=0, out=(T, inner)),
        *_gate_and_norm(c, m, p, W),
        linear(c, "out_proj", p, W, "y = y · W_out"),
    ]


def _gate_and_norm(c: Ctx, m: Mamba2, p: str, W: Weights) -> list[Step]:
    """The gate y ⊙ SiLU(z) and the grouped RMSNorm, in the order ``gated_norm`` says (none: the gate alone)."""
    T, inner, G = c.T, m.d_inner, m.n_groups
    gate = ew("gate y ⊙ SiLU(z)", p, (T, inner), "y · z · σ(z)", per=5)
    if m.gated_norm == "none":
        return [gate]
    norm = Step("gated norm", p, (T, inner), (T, inner), f"in {G} groups of {inner // G}: y · rsqrt(mean(y²) + eps) "
                f"· w (eps = {c.arch.norm.eps:g})", 4 * T * inner, params(W, "norm.weight"))
    return [gate, norm] if m.gated_norm == "gate_first" else [norm, gate]


def forward(R: Run, m: Mamba2, x: np.ndarray) -> np.ndarray:
    """NemotronHMamba2Mixer's torch path, with its chunked scan (``mamba2_chunk_scan``) written as the sequential
    recurrence it regroups: both give the same y up to rounding. The chunked path also clamps Δ from below at
    ``time_step_min`` (1e-3; not in the spec): the toy leaves that out (tests/test_toy.py checks it never bites)."""
    T, H, P, G, N = len(x), m.n_heads, m.head_dim, m.n_groups, m.d_state
    inner, width = m.d_inner, m.conv_dim
    zxbcdt = R.linear("in_proj", x)  # (T, inner + conv + H)
    z = R.rec("take gate z", zxbcdt[:, :inner])
    xbc = R.rec("take xBC", zxbcdt[:, inner:inner + width])
    dt = R.rec("take dt", zxbcdt[:, inner + width:])
    xbc = R.rec("causal conv1d", conv(xbc, R.w["conv1d.weight"].T, R.w.get("conv1d.bias", 0)))  # weight (k, conv)
    xbc = R.rec("activation (silu)", ACT["silu"](xbc))
    xs = R.rec("take x", heads(xbc[:, :inner], P))  # (H, T, P)
    B = R.rec("take B", heads(xbc[:, inner:inner + G * N], N))  # (G, T, N)
    C = R.rec("take C", heads(xbc[:, inner + G * N:], N))
    delta = R.rec(DELTA, np.logaddexp(0, dt + R.w["dt_bias"]))  # (T, H)
    B = R.rec("repeat B groups", np.repeat(B, H // G, axis=0))  # (H, T, N)
    C = R.rec("repeat C groups", np.repeat(C, H // G, axis=0))
    A = -np.exp(R.w["A_log"])  # (H,)
    a = R.rec(DECAY, np.exp(delta * A), A=A)  # (T, H)
    h = np.zeros((H, P, N))
    states = []
    for t in range(T):  # h_t = a_t · h_{t−1} + Δ_t · x_t ⊗ B_t, per head
        h = a[t, :, None, None] * h + (delta[t, :, None] * xs[:, t])[..., None] * B[:, t, None, :]
        states.append(h)
    hs = R.rec("state update", np.stack(states))  # (T, H, P, N)
    y = np.einsum("thpn,htn->htp", hs, C) + R.w["D"][:, None, None] * xs
    y = R.rec("read-out y = C·h + D·x", y)  # (H, T, P)
    y = R.rec("merge heads", y.transpose(1, 0, 2).reshape(T, inner))
    for op in {"gate_first": ("gate", "norm"), "norm_first": ("norm", "gate"), "none": ("gate",)}[m.gated_norm]:
        y = R.rec("gate y ⊙ SiLU(z)", y * ACT["silu"](z)) if op == "gate" else _grouped_norm(R, y, G)
    return R.linear("out_proj", y)


def _grouped_norm(R: Run, y: np.ndarray, G: int) -> np.ndarray:
    """The gated norm's RMSNorm over each of ``G`` groups of channels, times its weight."""
    T, inner = y.shape
    grouped = y.reshape(T, G, inner // G)
    ms = (grouped * grouped).mean(-1, keepdims=True)
    normed = (grouped / np.sqrt(ms + R.arch.norm.eps)).reshape(T, inner)
    return R.rec("gated norm", normed * R.w["norm.weight"], **{"mean of squares per group": ms[..., 0]})


def shrink(m: dict) -> dict:
    """Two groups of two heads of 4 channels, a state of 4; the real kernel; chunks of 4 so a few tokens span two."""
    return {**m, "n_heads": 4, "head_dim": 4, "n_groups": 2, "d_state": 4,
            "chunk_size": m["chunk_size"] and min(m["chunk_size"], 4)}


def picture(steps: list, choose: Choose) -> list:
    """Δ and the decay per token and head; one head's state after a chosen token."""
    import pandas as pd  # with the picture: the CLI starts without pandas
    by_op = {s.op: s for s in steps}
    delta, decay = by_op[DELTA].value, by_op[DECAY].value  # (T, H)
    grid = pd.DataFrame([(name, t, h, float(v[t, h])) for name, v in (("Δ (time step)", delta), (DECAY, decay))
                         for t in range(v.shape[0]) for h in range(v.shape[1])],
                        columns=["matrix", "token", "head", "value"])
    states = by_op["state update"].value  # (T, H, head_dim, d_state)
    head = choose("SSM head", list(range(states.shape[1])), "ssm_head", bound=False) or 0
    token = choose("After token", list(range(states.shape[0])), "ssm_token", bound=False, index=states.shape[0] - 1)
    return [Heatmap(grid, "head", "token", "matrix"),
            Caption("Per token and head: a large Δ writes more of the token into the state, and decays more of what "
                    "it held (the decay is exp(Δ·A) with A < 0 per head)."),
            Heatmap(cells(states[token or 0, head], "channel", "state"), "state", "channel", width=220),
            Caption(f"Head {head}'s state (head_dim × d_state) after token {token}: all the layer remembers of the "
                    "sequence so far, whatever its length.")]


KIND = fixed_state(
    schema=Mamba2, name=lambda m: "Mamba-2", terms=WeightTerms(weights), cache=cache,
    state_flops=lambda m: 5 * m.n_heads * m.head_dim * m.d_state,  # per state element: decay, Δ·x·B, add, C·h
    lines=lines, steps=steps, forward=forward, shrink=shrink,
    facts=(
        Fact("Fixed-state mixers", "SSM state size (d_state)", lambda m: m.d_state),
        Fact("Fixed-state mixers", "SSM inner width", lambda m: m.d_inner),
        Fact("Fixed-state mixers", "SSM heads × head dim", lambda m: f"{m.n_heads} × {m.head_dim}"),
        Fact("Fixed-state mixers", "SSM groups", lambda m: m.n_groups),
        Fact("Fixed-state mixers", "conv kernel", lambda m: m.conv_kernel),
    ),
    picture=picture,
    init={  # per-head decay rates, the Δ bias and the conv taps drawn by their own rule
        "A_log": lambda rng, shape: np.log(rng.uniform(0.1, 1.0, shape)),
        "dt_bias": lambda rng, shape: 0.2 * rng.standard_normal(shape),
        "conv1d.weight": lambda rng, shape: rng.standard_normal(shape) / np.sqrt(shape[-1]),  # (kernel, channels)
    },
)
