"""RecurrentGemma's recurrent block (Griffin's RG-LRU, ``RecurrentGemmaRecurrentBlock``): a gated linear recurrence
with one number of state per channel, no attention.

Schema :class:`RgLru`; parameters (linear_y, linear_x, the depthwise conv, ``recurrent_param`` Λ, the block-diagonal
input and recurrence gates with their biases, linear_out, all Linear layers with a bias); the fixed state (``d_lru``
recurrent numbers + a ``d_lru × (conv_kernel − 1)`` conv window, ``RecurrentGemmaRecurrentBlock._setup_cache``);
state FLOPs (``10 × d_lru``: the decay, the normalised input and the update, per channel); the label; the trace and
toy of the forward without a cache (``RecurrentGemmaRglru.forward`` and ``_rnn_scan``'s loop, token by token); the
shrink rule (d_lru 16, 2 gate blocks); the gates, decay and state on the Trace page.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt

from ..layercache import LayerCache, state_only
from ..specbase import Activation, Strict
from ..steps import ACTIVATIONS, Ctx, Step, conv_step, ew, linear
from ..terms import Weight, WeightTerms, table, weight
from ..toyops import ACT, D_TOY, Run, causal_conv
from .contract import Caption, Choose, Fact, Heatmap, Side, fixed_state
from .pictures import cells, taps_picture

LRU_TOY, BLOCKS_TOY = D_TOY, 2  # the toy's RG-LRU width and gate blocks (block width 8)
DECAY_SCALE = 8.0  # RecurrentGemmaRglru: log a = −8 · r · softplus(Λ) (the paper's constant c)


class RgLru(Strict):
    """Griffin's recurrent block (RecurrentGemma): two branches from the normed input, ``linear_y`` → activation
    (the gate) and ``linear_x`` → a depthwise causal conv of ``conv_kernel`` taps → the RG-LRU; their product →
    ``linear_out``.

    The RG-LRU keeps one number per channel: h_t = a_t ⊙ h_(t−1) + √(1 − a_t²) ⊙ (i_t ⊙ x_t), with the input gate i
    and the recurrence gate r from block-diagonal weights (``n_heads`` blocks of d_lru / n_heads), and
    a_t = exp(−8 · r_t · softplus(Λ)) from a learned Λ per channel (``recurrent_param``).
    """

    kind: Literal["rg_lru"]
    d_lru: PositiveInt = Field(description="Width of the recurrence (lru_width; hidden_size when null)")
    n_heads: PositiveInt = Field(
        description="Blocks of the block-diagonal input and recurrence gates, each d_lru / n_heads wide "
        "(num_attention_heads)")
    conv_kernel: PositiveInt = Field(description="Length of the depthwise causal convolution (conv1d_width)")
    activation: Activation = Field(description="Applied to the gate branch linear_y (hidden_activation)")

    @property
    def block(self) -> int:
        """Width of one gate block: ``lru_width // num_attention_heads`` (RecurrentGemmaRglru.block_width)."""
        return self.d_lru // self.n_heads


def _gates(m: RgLru) -> list[tuple[str, str]]:
    """(what, tensor prefix) of the two gates, in build order."""
    return [("input gate i", "rg_lru.input_gate"), ("recurrence gate r", "rg_lru.recurrent_gate")]


def weights(d: tuple[str, int], m: RgLru) -> list[Weight]:
    """``RecurrentGemmaRecurrentBlock`` in build order: linear_y, linear_x, linear_out (each with a bias), conv_1d
    (depthwise, with a bias), then ``RecurrentGemmaRglru``'s Λ and its two block-diagonal gates (heads, block,
    block) with their biases (heads, block)."""
    c, lru, k = "linear_mixers", ("d_lru", m.d_lru), ("conv_kernel", m.conv_kernel)
    h, b = ("n_heads", m.n_heads), ("d_lru / n_heads", m.block)
    out = [weight(c, "linear_y", d, lru), weight(c, "linear_y.bias", lru),
           weight(c, "linear_x", d, lru), weight(c, "linear_x.bias", lru),
           weight(c, "linear_out", lru, d), weight(c, "linear_out.bias", d),
           weight(c, "conv_1d", lru, k), weight(c, "conv_1d.bias", lru),
           weight(c, "rg_lru.recurrent_param", lru, tensor="rg_lru.recurrent_param")]
    for _, name in _gates(m):
        out += [weight(c, f"{name}_weight", h, b, b, tensor=f"{name}_weight"),
                weight(c, f"{name}_bias", h, b, tensor=f"{name}_bias")]
    return out


def cache(kind: str, n: int, m: RgLru, d_model: int) -> LayerCache:
    """RG-LRU: per sequence the recurrent state (d_lru numbers, ``rg_lru.recurrent_states``) and the conv window of the
    last conv_kernel − 1 inputs (``conv1d_state``)."""
    state = m.d_lru * m.conv_kernel  # d_lru + d_lru × (conv_kernel − 1)
    formula = (f"d_lru + d_lru × (conv_kernel − 1) = {m.d_lru:,} + {m.d_lru:,} × {m.conv_kernel - 1} = {state:,}")
    caveat = ("bytes assume bf16; transformers keeps the recurrent state in float32, twice that, and allocates the "
              f"conv window {d_model:,} (hidden_size) wide before the first prompt replaces it")
    return state_only(kind, n, state, formula, caveat)


def lines(m: RgLru) -> list[str]:
    """The recurrent block: widths, gates, conv, the recurrence."""
    return ["RG-LRU recurrent block (no attention)",
            f"d_lru {m.d_lru:,} · gates in {m.n_heads} blocks of {m.block} · causal conv {m.conv_kernel} taps",
            "h = a ⊙ h + √(1 − a²) ⊙ (i ⊙ x), a = exp(−8 r ⊙ softplus(Λ))",
            f"output gated by {m.activation}(linear_y)", "fixed state per sequence: no KV cache"]


def steps(c: Ctx, m: RgLru) -> list[Step]:
    """RecurrentGemmaRecurrentBlock.forward without a cache; RecurrentGemmaRglru.forward; _rnn_scan's loop."""
    T, p, W = c.T, "rg-lru", table(weights(c.dm, m))
    lru, h, b = m.d_lru, m.n_heads, m.block
    x = (T, lru)
    steps = [
        linear(c, "linear_y", p, W, "y = x · W_y"),
        ew(f"activation ({m.activation})", p, x, f"y = {ACTIVATIONS[m.activation]}", per=4),
        linear(c, "linear_x", p, W, "u = x · W_x"),
        conv_step(c, "conv_1d", p, W, "conv_1d"),
    ]
    for what, name in _gates(m):
        steps += [
            Step(f"{what}: blocks × W", p, x, x, f"per block of {b} channels: u[block] · W[block] ({h} blocks, "
                 "block-diagonal)", 2 * T * h * b * b, (W[f"{name}_weight"],), matmul=True),
            ew(f"{what}: σ(· + b)", p, x, f"{what[-1]} = σ(· + b)", per=5, params=(W[f"{name}_bias"],)),
        ]
    steps += [
        ew("decay a", p, x, f"a = exp(−{DECAY_SCALE:g} · r ⊙ softplus(Λ)): 0 < a < 1, near 1 when r is small",
           per=3, params=(W["rg_lru.recurrent_param"],)),
        ew("normalised input", p, x, "x̃ = u ⊙ i ⊙ √(1 − a²); at position 0 the reset keeps u ⊙ i", per=5),
        ew("linear recurrence", p, x, f"h_t = a_t ⊙ h_(t−1) + x̃_t, h = 0 before the first token: {lru:,} numbers "
           "per sequence", per=2),
        ew("y ⊙ h", p, x, "o = y ⊙ h"),
        linear(c, "linear_out", p, W, "o = o · W_out"),
    ]
    return steps


def forward(R: Run, m: RgLru, x: np.ndarray) -> np.ndarray:
    """RecurrentGemmaRecurrentBlock.forward with use_cache=False, positions 0 … T − 1 (the reset at position 0)."""
    y = R.rec(f"activation ({m.activation})", ACT[m.activation](R.linear("linear_y", x)))
    u = causal_conv(R, "conv_1d", "conv_1d", R.linear("linear_x", x))  # (T, d_lru)
    blocks = u.reshape(len(u), m.n_heads, m.block)
    gate = {}
    for what, name in _gates(m):
        z = R.rec(f"{what}: blocks × W", np.einsum("thi,hij->thj", blocks, R.w[f"{name}_weight"]).reshape(u.shape))
        gate[what[-1]] = R.rec(f"{what}: σ(· + b)", 1 / (1 + np.exp(-(z + R.w[f"{name}_bias"].reshape(-1)))))
    softplus = np.logaddexp(0, R.w["rg_lru.recurrent_param"])
    log_a = -DECAY_SCALE * gate["r"] * softplus
    a = R.rec("decay a", np.exp(log_a))
    scale = np.sqrt(1 - np.exp(2 * log_a))
    scale[0] = 1.0  # reset at position 0: the input is not normalised (and a multiplies a zero state)
    xt = R.rec("normalised input", u * gate["i"] * scale)
    hs, state = [], np.zeros(m.d_lru)
    for t in range(len(x)):  # _rnn_scan, one token at a time
        state = (0.0 if t == 0 else a[t]) * state + xt[t]
        hs.append(state)
    hs = R.rec("linear recurrence", np.stack(hs))
    return R.linear("linear_out", R.rec("y ⊙ h", y * hs))


def shrink(m: dict) -> dict:
    """A 16-wide recurrence in 2 gate blocks of 8; the conv taps and activation as the model's."""
    return {**m, "d_lru": LRU_TOY, "n_heads": BLOCKS_TOY}


def picture(steps: list, choose: Choose) -> list:
    """The decay a and the state h per token and channel, and the conv taps."""
    by_op = {s.op: s for s in steps}
    a, h = by_op["decay a"].value, by_op["linear recurrence"].value  # (T, d_lru) each
    return [Side((Heatmap(cells(a, "token", "channel"), "channel", "token", title="decay a per token and channel"),
                  Heatmap(cells(h, "token", "channel"), "channel", "token", diverging=True,
                          title="state h after each token"))),
            Caption("Where a is near 1 a channel keeps its state; near 0 it takes in the token. The state, one "
                    "number per channel, is all the layer carries from one token to the next."),
            *taps_picture(steps)]


KIND = fixed_state(
    schema=RgLru, name=lambda m: "RG-LRU", terms=WeightTerms(weights), cache=cache,
    state_flops=lambda m: 10 * m.d_lru,  # decay 3, normalised input 5, update 2: per channel
    lines=lines, steps=steps, forward=forward, shrink=shrink,
    facts=(Fact("Fixed-state mixers", "recurrence width (d_lru)", lambda m: m.d_lru),
           Fact("Fixed-state mixers", "conv kernel", lambda m: m.conv_kernel)),
    picture=picture, block_name="Recurrent block", axis0="token",
)
