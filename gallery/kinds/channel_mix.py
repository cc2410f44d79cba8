"""RWKV-4's channel mix (``RwkvFeedForward``): a feed-forward that reads the token and the token before it, with a
squared-ReLU key and a sigmoid receptance gate.

Schema :class:`ChannelMix`; parameters (time_mix_key and time_mix_receptance per d_model channel, key d_model →
d_ff, receptance d_model → d_model, value d_ff → d_model, bias-free); its fixed state (the last token's input,
d_model per layer: ``RwkvModel.forward``'s state[0]), which memory adds to the mixer's; the label and node; the
trace and toy (``RwkvFeedForward.forward`` without a state); the shrink rule (d_ff 12).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt

from ..layercache import LayerCache, state_only
from ..specbase import Strict
from ..steps import Ctx, Step, ew, linear
from ..terms import Weight, WeightTerms, params, table, weight
from ..toyops import Run
from .contract import Fact, FfnKind
from .mlp import FF_TOY
from .time_mix import mixed

P = "feed_forward."  # transformers' module name: RwkvBlock.feed_forward
MIXES = ("key", "receptance")  # time_mix_key, time_mix_receptance


class ChannelMix(Strict):
    """RWKV-4's channel mix: x_k and x_r mix the token with the token before (μ ⊙ x + (1 − μ) ⊙ x_(t−1));
    σ(receptance(x_r)) ⊙ value(relu(key(x_k))²)."""

    kind: Literal["channel_mix"]
    d_ff: PositiveInt = Field(description="Width of the key (intermediate_size; 4 × hidden_size when null)")


def weights(d: tuple[str, int], f: ChannelMix) -> list[Weight]:
    """``RwkvFeedForward`` in build order: time_mix_key, time_mix_receptance (stored (1, 1, d_model)), key,
    receptance, value."""
    c, ff = "mlp", ("d_ff", f.d_ff)
    out = [weight(c, f"{P}time_mix_{name}", d, tensor=f"{P}time_mix_{name}") for name in MIXES]
    return out + [weight(c, f"{P}key", d, ff), weight(c, f"{P}receptance", d, d), weight(c, f"{P}value", ff, d)]


def cache(kind: str, n: int, f: ChannelMix, d_model: int) -> LayerCache:
    """The last token's input, which the next token's shift reads (d_model per sequence)."""
    return state_only(kind, n, d_model, f"d_model (the channel mix's shifted token) = {d_model:,}", "")


def lines(f: ChannelMix) -> list[str]:
    return ["RWKV channel mix", f"d_ff {f.d_ff:,} · token shift: x_k, x_r = μ ⊙ x + (1 − μ) ⊙ x_(t−1)",
            "σ(receptance(x_r)) ⊙ value(relu(key(x_k))²)"]


def draw(d, p: str, f: ChannelMix) -> str:
    """One node; the sublayer's output leaves from it."""
    d.node(p + "ffn", d.label(*lines(f)), "ffn", mark="ffn")
    return p + "ffn"


def steps(c: Ctx, f: ChannelMix) -> list[Step]:
    """RwkvFeedForward.forward without a state."""
    T, d, p, W = c.T, c.d, "channel mix", table(weights(c.dm, f))
    x = (T, d)
    out = [ew("token shift", p, x, "s[t] = x[t − 1], s[0] = 0 (time_shift: the previous token's input)", per=0)]
    out += [ew(f"mix for {name}", p, x, f"x_{name[0]} = μ_{name[0]} ⊙ x + (1 − μ_{name[0]}) ⊙ s", per=3,
               params=params(W, f"{P}time_mix_{name}")) for name in MIXES]
    return out + [
        linear(c, "key", p, W, "k = x_k · W_k", f"{P}key"),
        ew("relu²", p, (T, f.d_ff), "k = max(k, 0)²", per=2),
        linear(c, "value", p, W, "v = k · W_v", f"{P}value"),
        linear(c, "receptance", p, W, "r = x_r · W_r", f"{P}receptance"),
        ew("σ(receptance) ⊙ value", p, x, "y = σ(r) ⊙ v", per=5),
    ]


def forward(R: Run, f: ChannelMix, x: np.ndarray, resid: np.ndarray) -> np.ndarray:
    xs = mixed(R, P, MIXES, x)
    k = R.rec("relu²", np.maximum(R.linear("key", xs["key"], f"{P}key"), 0) ** 2)
    v = R.linear("value", k, f"{P}value")
    r = R.linear("receptance", xs["receptance"], f"{P}receptance")
    return R.rec("σ(receptance) ⊙ value", v / (1 + np.exp(-r)))


NAME = "RWKV channel mix"
KIND = FfnKind(
    schema=ChannelMix, name=lambda f: NAME, terms=WeightTerms(weights), routed=lambda f: (1, 1),
    extra_norms=lambda f: 0, lines=lines, draw=draw, steps=steps, forward=forward,
    shrink=lambda f: {**f, "d_ff": FF_TOY},
    facts=(Fact("Feed-forward", "kind", lambda f: NAME), Fact("Feed-forward", "d_ff", lambda f: f.d_ff)),
    cache=cache,
)
