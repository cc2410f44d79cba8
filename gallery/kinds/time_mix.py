"""RWKV-4's time mix (``RwkvSelfAttention``): a token shift and the WKV recurrence, a decaying weighted average of
past values with one number of state per channel, no attention.

Schema :class:`TimeMix`; parameters (``time_decay`` w and ``time_first`` u per channel, the three token-shift mixes
μ_k, μ_v, μ_r per d_model channel, key, value, receptance and output, all bias-free); the fixed state (num, den and
the running max per channel, float32 in transformers, and the shifted token: ``RwkvModel.forward``'s five state
tensors, of which the channel mix keeps the fifth); state FLOPs (23 per channel: the read-out 12, the update 11, as
``rwkv_linear_attention_cpu`` computes them); the label; the trace and toy of the pure-PyTorch path
(``rwkv_linear_attention_cpu``, token by token, with its running max); the shrink rule (d_att 16); the receptance
and the WKV output on the Trace page.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt

from ..layercache import LayerCache, state_only
from ..specbase import Strict
from ..steps import Ctx, Step, ew, linear
from ..terms import Weight, WeightTerms, params, table, weight
from ..toyops import D_TOY, Run
from .contract import Caption, Choose, Fact, Heatmap, Side, fixed_state
from .pictures import cells

P = "attention."  # transformers' module name: RwkvBlock.attention
MIXES = ("key", "value", "receptance")  # time_mix_key, time_mix_value, time_mix_receptance, in build order
WKV_FLOPS = 23  # per channel and token: read-out 12 (k + u, max, 2 subtractions, 2 exps, num 3, den 2, divide 1),
# update 11 (max + w, max, 2 subtractions, 2 exps, num 3, den 2)
START_MAX = -1e38  # rwkv_linear_attention_cpu: the running max before the first token


class TimeMix(Strict):
    """RWKV-4's time mix: each of key, value and receptance reads its own mix of the token and the token before
    (x_k = μ_k ⊙ x + (1 − μ_k) ⊙ x_(t−1)); the WKV recurrence averages the values of all tokens so far, token i
    weighted by e^(k_i − (t − 1 − i) · e^w), the current token by e^(u + k_t); σ(receptance) gates the average
    before ``output``.
    """

    kind: Literal["time_mix"]
    d_att: PositiveInt = Field(description="Width of key, value, receptance and the WKV state "
                               "(attention_hidden_size; hidden_size when null)")


def weights(d: tuple[str, int], m: TimeMix) -> list[Weight]:
    """``RwkvSelfAttention`` in build order: time_decay, time_first (d_att each), time_mix_key/value/receptance
    (stored (1, 1, d_model)), key, value, receptance (d_model → d_att) and output (d_att → d_model), no biases."""
    c, att = "linear_mixers", ("d_att", m.d_att)
    out = [weight(c, f"{P}time_decay", att, tensor=f"{P}time_decay"),
           weight(c, f"{P}time_first", att, tensor=f"{P}time_first")]
    out += [weight(c, f"{P}time_mix_{name}", d, tensor=f"{P}time_mix_{name}") for name in MIXES]
    out += [weight(c, f"{P}{name}", d, att) for name in MIXES]
    return out + [weight(c, f"{P}output", att, d)]


def cache(kind: str, n: int, m: TimeMix, d_model: int) -> LayerCache:
    """Per sequence: num, den and the running max of the WKV recurrence (d_att each) and the last token's input
    (d_model), which the next token's shift reads."""
    state = 3 * m.d_att + d_model
    formula = f"3 × d_att (num, den, max) + d_model (shifted token) = 3 × {m.d_att:,} + {d_model:,} = {state:,}"
    caveat = ("bytes assume bf16; transformers keeps num, den and max in float32, twice that, and allocates all "
              f"three hidden_size ({d_model:,}) wide")
    return state_only(kind, n, state, formula, caveat)


def lines(m: TimeMix) -> list[str]:
    """The time mix: widths, the shift, the recurrence."""
    return ["RWKV time mix (no attention)",
            f"d_att {m.d_att:,} · token shift: x_k, x_v, x_r = μ ⊙ x + (1 − μ) ⊙ x_(t−1)",
            "wkv_t = (Σ_(i<t) e^(k_i − (t−1−i)·e^w) v_i + e^(u + k_t) v_t) / (same without v)",
            "output(σ(receptance) ⊙ wkv)", "fixed state per sequence: no KV cache"]


def steps(c: Ctx, m: TimeMix) -> list[Step]:
    """RwkvSelfAttention.forward without a state (extract_key_value, rwkv_linear_attention_cpu, output)."""
    T, d, p, W = c.T, c.d, "time mix", table(weights(c.dm, m))
    x, a = (T, d), (T, m.d_att)
    out = [ew("token shift", p, x, "s[t] = x[t − 1], s[0] = 0 (time_shift: the previous token's input)", per=0)]
    out += [ew(f"mix for {name}", p, x, f"x_{name[0]} = μ_{name[0]} ⊙ x + (1 − μ_{name[0]}) ⊙ s", per=3,
               params=params(W, f"{P}time_mix_{name}")) for name in MIXES]
    out += [linear(c, name, p, W, f"{name[0]} = x_{name[0]} · W_{name[0]}", f"{P}{name}") for name in MIXES]
    return out + [
        ew("σ(receptance)", p, a, "r = σ(r)", per=4),
        ew("WKV recurrence", p, a, "per channel, token by token, with a running max q against overflow: "
           "wkv_t = (e^(p − q) num + e^(u + k_t − q) v_t) / (e^(p − q) den + e^(u + k_t − q)), q = max(p, u + k_t); "
           "then num, den ← decayed by e^(−e^w) and the token added: num, den and the max p are the state",
           per=WKV_FLOPS, params=params(W, f"{P}time_decay", f"{P}time_first")),
        ew("r ⊙ wkv", p, a, "y = r ⊙ wkv"),
        linear(c, "output", p, W, "y = y · W_o", f"{P}output"),
    ]


def shift(x: np.ndarray) -> np.ndarray:
    """nn.ZeroPad2d((0, 0, 1, -1)): each token gets the previous token's vector, the first a zero vector."""
    return np.concatenate([np.zeros_like(x[:1]), x[:-1]])


def mixed(R: Run, prefix: str, names: tuple[str, ...], x: np.ndarray) -> dict[str, np.ndarray]:
    """The token shift, then one mix of x and the shifted x per name (time mix and channel mix alike)."""
    s = R.rec("token shift", shift(x))
    out = {}
    for name in names:
        mu = R.w[f"{prefix}time_mix_{name}"]
        out[name] = R.rec(f"mix for {name}", x * mu + s * (1 - mu))
    return out


def wkv(w: np.ndarray, u: np.ndarray, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rwkv_linear_attention_cpu without a state: the outputs (T, d_att) and the running max after each token."""
    decay = -np.exp(w)
    num, den, top = np.zeros_like(u), np.zeros_like(u), np.full_like(u, START_MAX)
    outs, tops = [], []
    for kt, vt in zip(k, v):
        q = np.maximum(top, kt + u)
        e1, e2 = np.exp(top - q), np.exp(kt + u - q)
        outs.append((e1 * num + e2 * vt) / (e1 * den + e2))
        q = np.maximum(top + decay, kt)
        e1, e2 = np.exp(top + decay - q), np.exp(kt - q)
        num, den, top = e1 * num + e2 * vt, e1 * den + e2, q
        tops.append(top)
    return np.stack(outs), np.stack(tops)


def forward(R: Run, m: TimeMix, x: np.ndarray) -> np.ndarray:
    """RwkvSelfAttention.forward with no state: shift, mixes, key/value/receptance, the recurrence, output."""
    xs = mixed(R, P, MIXES, x)
    k, v, r = (R.linear(name, xs[name], f"{P}{name}") for name in MIXES)
    r = R.rec("σ(receptance)", 1 / (1 + np.exp(-r)))
    out, tops = wkv(R.w[f"{P}time_decay"], R.w[f"{P}time_first"], k, v)
    out = R.rec("WKV recurrence", out, **{"running max": tops})
    return R.linear("output", R.rec("r ⊙ wkv", r * out), f"{P}output")


def picture(steps: list, choose: Choose) -> list:
    """The receptance gate and the WKV average per token and channel."""
    by_op = {s.op: s.value for s in steps}
    r, out = by_op["σ(receptance)"], by_op["WKV recurrence"]
    return [Side((Heatmap(cells(r, "token", "channel"), "channel", "token", title="receptance σ(r)"),
                  Heatmap(cells(out, "token", "channel"), "channel", "token", diverging=True,
                          title="wkv: the weighted average of the values so far"))),
            Caption("Each channel averages the values of every token so far, older tokens weighted down by its own "
                    "decay e^w per step; the current token gets its bonus u. Between tokens the layer keeps only "
                    "that average's numerator, denominator and running max.")]


KIND = fixed_state(
    schema=TimeMix, name=lambda m: "RWKV time mix", terms=WeightTerms(weights), cache=cache,
    state_flops=lambda m: WKV_FLOPS * m.d_att,
    lines=lines, steps=steps, forward=forward, shrink=lambda m: {**m, "d_att": D_TOY},
    facts=(Fact("Fixed-state mixers", "WKV width (d_att)", lambda m: m.d_att),),
    picture=picture, block_name="RWKV block", axis0="token",
    init={f"{P}time_mix_{name}": lambda rng, shape: rng.uniform(0, 1, shape) for name in MIXES},
)
