"""xLSTM's mLSTM layer (``xLSTMLayer``, transformers ``models/xlstm``, the classes it defines when the ``xlstm``
package is absent): a matrix memory per head written with exponential input and forget gates, no attention.

Schema :class:`Mlstm`; parameters (q and k ``qk_dim`` wide, v and the output gate ``v_dim`` wide, one input and one
forget gate per head with their biases, or the fused ``qkv_opreact`` and ``ifgate_preact`` of weight_mode fused; the
per-head LayerNorm ``multihead_norm``; out_proj); the fixed state (per head the matrix memory C, ``qk_head × v_head``,
the normaliser n, ``qk_head``, and the stabiliser m, one number: ``xLSTMCache``); state FLOPs (one token's gates,
write and read-out, :func:`per_token`); the label; the trace and toy of the recurrence (``mlstm_recurrent_step_native``,
which the native chunkwise kernel equals); the shrink rule (two heads, q and k 8 wide, v 16); the gates and one head's
memory on the Trace page.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from ..layercache import LayerCache, state_only
from ..specbase import Strict, rule_error
from ..steps import Ctx, Step, ew, linear
from ..terms import Weight, WeightTerms, params, table, weight
from ..toyops import Run, heads
from .contract import Caption, Choose, Fact, Heatmap, Side, fixed_state
from .pictures import cells


class Mlstm(Strict):
    """The mLSTM layer of xLSTM (``xLSTMLayer``).

    From the normed input: q and k (``qk_dim`` each), v and the output-gate pre-activation o (``v_dim`` each), and
    per head an input gate i and a forget gate f, both soft-capped at ``gate_soft_cap`` (cap · tanh(x / cap)). Per
    head the memory C (qk_head × v_head) and normaliser n take the write C ← f'·C + i'·k vᵀ, n ← f'·n + i'·k, with
    the gates exponential and stabilised by a running maximum m; the read-out (q·C) / max(|q·n|, exp(−m)) goes through
    a LayerNorm per head, times σ(o), into ``out_proj``.
    """

    kind: Literal["mlstm"]
    n_heads: PositiveInt = Field(description="Heads, each with its own memory and gates (num_heads)")
    qk_dim: PositiveInt = Field(description="Width of q and k over all heads: int(qk_dim_factor × hidden_size)")
    v_dim: PositiveInt = Field(description="Width of v, of the output gate and of the read-out over all heads: "
                               "int(v_dim_factor × hidden_size)")
    fused: bool = Field(False, description="weight_mode fused: q, k, v and o from one qkv_opreact, i and f from one "
                        "ifgate_preact (the same parameter count as single)")
    bias: bool = Field(False, description="Biases on q, k, v, o, out_proj and the per-head norm (use_bias); the gates "
                       "i and f always have one")
    gate_soft_cap: PositiveFloat = Field(15.0, description="i and f pre-activations capped at cap · tanh(x / cap) "
                                         "(gate_soft_cap)")
    eps: PositiveFloat = Field(1e-6, description="Added to the read-out's denominator (eps)")

    @model_validator(mode="after")
    def _whole_heads(self) -> "Mlstm":
        for name in ("qk_dim", "v_dim"):
            if getattr(self, name) % self.n_heads:
                raise rule_error(name, "mlstm_heads", f"{name} {getattr(self, name)} must split into "
                                 f"{self.n_heads} heads (xLSTMLayer reshapes it per head)")
        return self

    @property
    def qk_head(self) -> int:
        return self.qk_dim // self.n_heads

    @property
    def v_head(self) -> int:
        return self.v_dim // self.n_heads


def weights(d: tuple[str, int], m: Mlstm) -> list[Weight]:
    """``xLSTMLayer.__init__`` in build order: q, k, v, ogate_preact, igate_preact, fgate_preact (fused:
    qkv_opreact, ifgate_preact), multihead_norm, out_proj; biases where use_bias, the gates' always."""
    c, h = "linear_mixers", ("n_heads", m.n_heads)
    qk, v = ("qk_dim", m.qk_dim), ("v_dim", m.v_dim)

    def proj(name: str, width: tuple[str, int], bias: bool) -> list[Weight]:
        return [weight(c, name, d, width)] + ([weight(c, f"{name}.bias", width)] if bias else [])

    if m.fused:
        both = ("2 × qk_dim + 2 × v_dim", 2 * m.qk_dim + 2 * m.v_dim)
        out = proj("qkv_opreact", both, m.bias) + proj("ifgate_preact", ("2 × n_heads", 2 * m.n_heads), True)
    else:
        out = [w for name, width in (("q", qk), ("k", qk), ("v", v), ("ogate_preact", v)) for w in proj(
            name, width, m.bias)] + proj("igate_preact", h, True) + proj("fgate_preact", h, True)
    out += [weight(c, "multihead_norm", v)] + ([weight(c, "multihead_norm.bias", v)] if m.bias else [])
    return out + [weight(c, "out_proj", v, d)] + ([weight(c, "out_proj.bias", d)] if m.bias else [])


def per_token(m: Mlstm) -> dict[str, int]:
    """FLOPs of one token's recurrence per head, by trace step (``mlstm_recurrent_step_native``): the stabilised
    gates (log σ(f) 4, the new maximum 2, two exponentials of differences 4), the write (C: f'·C, k vᵀ, i'·, + per
    element; n: f'·n, i'·k, +), the read-out (q / √qk_head, q·C) and its normalisation (q·n, |·|, max, + eps, ÷)."""
    dk, dv = m.qk_head, m.v_head
    return {"stabilised gates": 10, "write state": 4 * dk * dv + 3 * dk, "read-out by q": dk + 2 * dk * dv,
            "normalise": 2 * dk + 3 + dv}


def cache(kind: str, n: int, m: Mlstm, d_model: int) -> LayerCache:
    """``xLSTMCache.rnn_state``: per layer and head C (qk_head × v_head), n (qk_head) and m (1)."""
    h, dk, dv = m.n_heads, m.qk_head, m.v_head
    state = h * (dk * dv + dk + 1)
    formula = (f"n_heads × (qk_head × v_head + qk_head + 1) = {h} × ({dk} × {dv} + {dk} + 1) = {state:,} "
               "(memory C, normaliser n, stabiliser m)")
    caveat = ("bytes assume bf16; transformers keeps the state in the model's dtype between calls and in float32 "
              "(inference_state_dtype) while it runs, and xLSTMCache sizes it from the config's qk_dim and v_dim "
              "properties, rounded up to a multiple of 64 (equal to these widths when they are multiples of 64, as "
              "in xLSTM 7B), for num_hidden_layers layers")
    return state_only(kind, n, state, formula, caveat)


def lines(m: Mlstm) -> list[str]:
    """The mLSTM label: heads and widths, gates, memory, output."""
    return ["mLSTM (matrix memory, no attention)",
            f"{m.n_heads} heads · q, k {m.qk_head} · v {m.v_head} per head" + (" · fused projections" if m.fused
                                                                               else ""),
            f"exponential gates i, f per head, soft-capped at {m.gate_soft_cap:g}",
            "C ← f'·C + i'·k vᵀ, n ← f'·n + i'·k · read-out (q·C) / max(|q·n|, e^(−m))",
            f"fixed state {m.n_heads} × ({m.qk_head} × {m.v_head} + {m.qk_head} + 1) per sequence",
            "LayerNorm per head ⊙ σ(o) → out_proj"]


def _projections(c: Ctx, m: Mlstm, p: str, W) -> tuple[list[Step], tuple[int, int] | None]:
    """q, k, v, o and the soft-capped gates: four Linear layers and two gate Linear layers, or two fused ones; and
    the shape q, k and v are split from (the fused projection's, or None: each its own)."""
    T, h, cap = c.T, m.n_heads, m.gate_soft_cap
    soft = f"{cap:g} · tanh(x / {cap:g})"
    if m.fused:
        wide = (T, 2 * m.qk_dim + 2 * m.v_dim)
        return [linear(c, "qkv_opreact", p, W, "[q | k | v | o] = x · W_qkvo"),
                linear(c, "ifgate_preact", p, W, "[i | f] = x · W_if"),
                ew("soft-cap i, f", p, (T, 2 * h), soft, per=3)], wide
    return [linear(c, "q", p, W, "q = x · W_q"), linear(c, "k", p, W, "k = x · W_k"),
            linear(c, "v", p, W, "v = x · W_v"), linear(c, "ogate_preact", p, W, "o = x · W_o"),
            linear(c, "igate_preact", p, W, "i = x · W_i"), ew("soft-cap i", p, (T, h), soft, per=3),
            linear(c, "fgate_preact", p, W, "f = x · W_f"), ew("soft-cap f", p, (T, h), soft, per=3)], None


def steps(c: Ctx, m: Mlstm) -> list[Step]:
    """xLSTMLayer.forward with the recurrence of ``mlstm_recurrent_sequence_native``: its steps below are one pass
    of the loop over the tokens, listed once; the state keeps its size at any T. A prompt of chunk_size tokens or
    more goes through the chunkwise kernel, which gives the same output."""
    T, p, W = c.T, "mlstm", table(weights(c.dm, m))
    h, dk, dv, eps = m.n_heads, m.qk_head, m.v_head, c.arch.norm.eps
    proj, wide = _projections(c, m, p, W)
    f = per_token(m)
    qh, vh, state = (h, T, dk), (h, T, dv), (h, dk, dv)
    split = [ew(f"{t} heads", p, wide or (T, width), f"({h}, T, {width // h}) per head", per=0, out=shape)
             for t, width, shape in (("q", m.qk_dim, qh), ("k", m.qk_dim, qh), ("v", m.v_dim, vh))]
    norm = params(W, "multihead_norm.weight", "multihead_norm.bias")
    return [
        *proj, *split,
        Step("stabilised gates", p, (T, h), (h, T), "m_t = max(log σ(f_t) + m_(t−1), i_t); f' = exp(log σ(f_t) + "
             "m_(t−1) − m_t), i' = exp(i_t − m_t); m = 0 before the first token", T * h * f["stabilised gates"]),
        Step("write state", p, qh, state, "C ← f'·C + i'·(k ⊗ v), n ← f'·n + i'·k: per head "
             f"{dk} × {dv} + {dk} numbers, zeros before the first token", T * h * f["write state"]),
        Step("read-out by q", p, state, vh, f"h̃ = (q / √{dk}) · C", T * h * f["read-out by q"]),
        Step("normalise", p, vh, vh, f"h = h̃ / (max(|(q / √{dk}) · n|, exp(−m)) + {m.eps:g})",
             T * h * f["normalise"]),
        Step("multihead norm", p, vh, vh, f"per head (x − mean) / √(var + {eps:g}) · w" + (" + b" if m.bias else ""),
             7 * T * m.v_dim, norm),
        ew("merge heads", p, vh, "transpose and concatenate the heads", per=0, out=(T, m.v_dim)),
        ew("× σ(o)", p, (T, m.v_dim), "h ⊙ 1 / (1 + exp(−o))", per=5),
        linear(c, "out_proj", p, W, "y = h · W_out"),
    ]


def forward(R: Run, m: Mlstm, x: np.ndarray) -> np.ndarray:
    """xLSTMLayer.forward, the recurrence token by token (mlstm_recurrent_step_native), from a zero state."""
    T, h, dk, dv, cap = len(x), m.n_heads, m.qk_head, m.v_head, m.gate_soft_cap
    soft = lambda z: cap * np.tanh(z / cap)  # noqa: E731
    if m.fused:
        qkvo = R.linear("qkv_opreact", x)
        q, k, v, o = np.split(qkvo, np.cumsum([m.qk_dim, m.qk_dim, m.v_dim]), axis=-1)
        i, f = np.split(R.rec("soft-cap i, f", soft(R.linear("ifgate_preact", x))), [h], axis=-1)
    else:
        q, k, v, o = (R.linear(name, x) for name in ("q", "k", "v", "ogate_preact"))
        i = R.rec("soft-cap i", soft(R.linear("igate_preact", x)))
        f = R.rec("soft-cap f", soft(R.linear("fgate_preact", x)))
    q, k, v = (R.rec(f"{t} heads", heads(z, z.shape[-1] // h)) for t, z in (("q", q), ("k", k), ("v", v)))
    C, n, mx = np.zeros((h, dk, dv)), np.zeros((h, dk)), np.zeros(h)
    out, num, fa_all, ia_all, states = np.zeros((h, T, dv)), np.zeros((h, T, dv)), [], [], []
    for t in range(T):
        log_f = -np.logaddexp(0, -f[t])
        m_new = np.maximum(log_f + mx, i[t])
        fa, ia = np.exp(log_f + mx - m_new), np.exp(i[t] - m_new)
        C = fa[:, None, None] * C + ia[:, None, None] * (k[:, t, :, None] * v[:, t, None, :])
        n = fa[:, None] * n + ia[:, None] * k[:, t]
        qs = q[:, t] / np.sqrt(dk)
        num[:, t] = np.einsum("hk,hkv->hv", qs, C)
        den = np.maximum(np.abs(np.einsum("hk,hk->h", qs, n)), np.exp(-m_new)) + m.eps
        out[:, t] = num[:, t] / den[:, None]
        mx = m_new
        fa_all.append(fa), ia_all.append(ia), states.append(C)
    R.rec("stabilised gates", np.stack(fa_all, 1), **{"i'": np.stack(ia_all, 1)})
    R.rec("write state", C, **{"memory after each token": np.stack(states)})
    R.rec("read-out by q", num)
    hn = R.rec("normalise", out)
    mean, var = hn.mean(-1, keepdims=True), hn.var(-1, keepdims=True)
    y = (hn - mean) / np.sqrt(var + R.arch.norm.eps)
    w, b = (R.w.get(f"multihead_norm.{t}", np.zeros(m.v_dim)).reshape(h, 1, dv) for t in ("weight", "bias"))
    y = R.rec("multihead norm", y * w + b)
    merged = R.rec("merge heads", y.transpose(1, 0, 2).reshape(T, -1))
    return R.linear("out_proj", R.rec("× σ(o)", merged / (1 + np.exp(-o))))


def shrink(m: dict) -> dict:
    """Two heads (one if the model has one), q and k 4 wide per head, v 8."""
    h = min(m["n_heads"], 2)
    return {**m, "n_heads": h, "qk_dim": 4 * h, "v_dim": 8 * h}


def picture(steps: list, choose: Choose) -> list:
    """The gates f' and i' per token and head, and one head's memory after each token."""
    import pandas as pd  # with the picture: the CLI starts without pandas
    by_op = {s.op: s for s in steps}
    gates = by_op["stabilised gates"]
    memory = by_op["write state"].details["memory after each token"]  # (T, heads, dk, dv)
    T, n_heads = memory.shape[:2]
    head = choose("Head", list(range(n_heads)), "head") or 0
    frames = [cells(memory[t, head], "key dim", "value dim").assign(state=f"after token {t}") for t in range(T)]
    return [Side((Heatmap(cells(gates.value.T, "token", "head"), "head", "token", title="forget gate f'"),
                  Heatmap(cells(gates.details["i'"].T, "token", "head"), "head", "token", title="input gate i'"))),
            Heatmap(pd.concat(frames), "value dim", "key dim", "state", diverging=True, size=110, independent=False),
            Caption(f"The memory C of head {head} after each token: f' keeps what it holds, i' writes k vᵀ. The "
                    "gates are exponentials divided by the running maximum m, so they stay at most 1.")]


KIND = fixed_state(
    schema=Mlstm, name=lambda m: "mLSTM", terms=WeightTerms(weights), cache=cache,
    state_flops=lambda m: m.n_heads * sum(per_token(m).values()),
    lines=lines, steps=steps, forward=forward, shrink=shrink,
    facts=(Fact("Fixed-state mixers", "mLSTM heads", lambda m: m.n_heads),
           Fact("Fixed-state mixers", "mLSTM q/k and v widths", lambda m: f"{m.qk_dim} / {m.v_dim}"),
           Fact("Fixed-state mixers", "gate soft-cap", lambda m: m.gate_soft_cap)),
    picture=picture, block_name="xLSTM block",
)
