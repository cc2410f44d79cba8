"""Hyper-connections: the residual kept as ``streams`` copies, with learned weights around every sublayer.

Two forms, one schema. DeepSeek-V4's manifold-constrained hyper-connections (mHC, ``DeepseekV4HyperConnection``):
from the flattened, RMS-normalised streams ``fn`` gives ``streams`` pre, ``streams`` post and ``streams × streams``
comb logits (each kind with one learned ``scale``, all with a ``base``); pre weights collapse the streams into the
sublayer's input, post weights spread its output back, and comb, softmax then Sinkhorn-Knopp normalised to a doubly
stochastic matrix, mixes the streams before the add. HY-V4's identity hyper-connections (iHC,
``HYV4HyperConnection``, ``sinkhorn_iters`` null): no comb, so ``fn`` gives only the pre and post logits, ``scale``
has two entries, ``post = post_scale · σ(…) + eps`` and each stream adds its own post-weighted output to itself.
Both end in the same hyper-head (``DeepseekV4HyperHead``, ``HYV4HyperHead``) that collapses the streams before the
final norm. Qwen4-Exp's low-rank form (``lowrank`` set) is :mod:`gallery.hyper_lowrank`, whose facets the functions
here hand on to. Owns the schema, the weights (count terms and trace tensors, declared once), the trace steps, the toy
forward and the words; :mod:`gallery.counts`, :mod:`gallery.trace`, :mod:`gallery.toy`, :mod:`gallery.diagram` and
:mod:`gallery.compare` wire them in.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from . import hyper_lowrank as low
from .specbase import Strict, rule_error
from .steps import Ctx, Step, ew
from .terms import Weight, params, table, weight
from .toyops import Run

PART = "hyper-connection"
EPS = 1e-6  # hc_eps: DeepseekV4Config's and HYV4Config's default (and their checkpoints' value; not a spec field)


class HyperConnections(Strict):
    """Hyper-connections (DeepSeek-V4's mHC, HY-V4's iHC): the residual is kept as ``streams`` copies.

    Around every sublayer, weights computed from the streams collapse them into the sublayer's input and spread
    its output back over the streams; DeepSeek-V4 also mixes the streams by a doubly-stochastic matrix. A final
    hyper-head collapses them before the last norm.
    """

    streams: PositiveInt = Field(description="Parallel residual streams (hc_mult)")
    sinkhorn_iters: PositiveInt | None = Field(
        None, description="Sinkhorn-Knopp iterations that make the stream-mixing matrix doubly stochastic "
        "(DeepSeek-V4 hc_sinkhorn_iters); null: no mixing matrix, each stream keeps its own residual (HY-V4's "
        "identity hyper-connections, iHC)")
    post_scale: float = Field(2.0, gt=0, description="The post weights' scale, post = post_scale · σ(…) (HY-V4 "
                              "hc_magnitude; DeepSeek-V4's is 2)")
    lowrank: PositiveInt | None = Field(
        None, description="Qwen4-Exp's low-rank form: a per-stream norm, then a mixer of this rank weighs every "
        "stream's dims into the sublayer's input and one injection weight per stream spreads its output back; it "
        "replaces the block's norms and the final norm (hc_lowrank); null = the DeepSeek-V4 / HY-V4 forms")

    @model_validator(mode="after")
    def _one_form(self) -> "HyperConnections":
        if self.lowrank and self.sinkhorn_iters:
            raise rule_error("lowrank", "block_wiring", "the low-rank form has no Sinkhorn mixing: give lowrank or "
                             "sinkhorn_iters")
        return self


def _mixes(hc: HyperConnections) -> tuple[str, int]:
    """The logits ``fn`` gives: pre and post per stream, and with Sinkhorn a comb matrix."""
    n = hc.streams
    return ("(2 + streams) × streams", (2 + n) * n) if hc.sinkhorn_iters else ("2 × streams", 2 * n)


def weights(d: tuple[str, int], hc: HyperConnections, name: str) -> list[Weight]:
    """One sublayer's hyper-connection ``name`` (attn_hc, ffn_hc): ``fn`` maps the flattened streams to the mix
    logits, ``base`` is their bias, ``scale`` one per kind of weight (pre, post[, comb])."""
    if hc.lowrank:
        return low.weights(d, hc.streams, hc.lowrank, name)
    n, mix = hc.streams, _mixes(hc)
    flat = ("streams × d_model", n * d[1])
    kinds = ("3 (pre, post, comb)", 3) if hc.sinkhorn_iters else ("2 (pre, post)", 2)
    return [weight("hyper_connections", f"{name}.fn", mix, flat, shape=(flat[1], mix[1]), tensor=f"{name}.fn"),
            weight("hyper_connections", f"{name}.base", mix, tensor=f"{name}.base"),
            weight("hyper_connections", f"{name}.scale", kinds, tensor=f"{name}.scale")]


def head_weights(d: tuple[str, int], hc: HyperConnections) -> list[Weight]:
    """The hyper-head before the final norm: one weight per stream from the flattened streams, a bias each, one
    scale."""
    if hc.lowrank:  # Qwen4ExpTextModel.hyper_connection_mixer: no injection
        return low.weights(d, hc.streams, hc.lowrank, "hc_head", inject=False)
    n = ("streams", hc.streams)
    return [weight("hyper_connections", "hc_head.fn", n, ("streams × d_model", n[1] * d[1]), tensor="hc_head.fn"),
            weight("hyper_connections", "hc_head.base", n, tensor="hc_head.base"),
            weight("hyper_connections", "hc_head.scale", ("1", 1), tensor="hc_head.scale")]


def steps(c: Ctx, name: str, inner: list[Step]) -> list[Step]:
    """The hyper-connection ``name`` around one sublayer's steps ``inner``: the layer reads and writes the streams,
    (T, n, d)."""
    hc, T, d, p = c.arch.hyper_connections, c.T, c.d, PART
    if hc.lowrank:
        return low.steps(c, name, hc.streams, hc.lowrank, inner)
    n, mixes = hc.streams, _mixes(hc)[1]
    W, x = table(weights(c.dm, hc, name)), (T, n, d)
    comb = f", {n}×{n} comb" if hc.sinkhorn_iters else ""
    out = [
        ew(f"{name}: flatten streams", p, x, "(T, n, d) → (T, n·d)", per=0, out=(T, n * d)),
        c.norm(f"{name}: input norm", p, f"{name}.input_norm", (T, n * d), weights=False),
        Step(f"{name}: mix logits", p, (T, n * d), (T, mixes), f"m = x̂ · fn: {n} pre, {n} post{comb}",
             2 * T * n * d * mixes, params(W, f"{name}.fn"), matmul=True),
        ew(f"{name}: scale + base", p, (T, mixes), f"m · scale[pre | post{' | comb' if comb else ''}] + base", per=2,
           params=params(W, f"{name}.base", f"{name}.scale")),
        ew(f"{name}: pre weights", p, (T, mixes), f"pre = σ(m_pre) + {EPS:g} (hc_eps)", per=5, out=(T, n)),
    ]
    if not hc.sinkhorn_iters:  # HYV4HyperConnection: no comb; the residual is each stream itself
        return out + [
            ew(f"{name}: post weights", p, (T, mixes), f"post = {hc.post_scale:g} σ(m_post) + {EPS:g}", per=6,
               out=(T, n)),
            Step(f"{name}: collapse streams", p, x, (T, d), "h = Σ_i pre_i · x_i (the sublayer's input)", 2 * T * n * d),
            *inner,
            Step(f"{name}: expand (post)", p, (T, d), x, "y_i = post_i · f(h) for each stream i", T * n * d),
            ew("residual add", "residual", x, "x_i = y_i + x_i (every stream keeps its own residual)")]
    return out + [
        ew(f"{name}: post weights", p, (T, mixes), f"post = {hc.post_scale:g} σ(m_post)", per=5, out=(T, n)),
        ew(f"{name}: comb weights", p, (T, mixes), "comb = softmax(m_comb) over each row + 1e-6", per=4,
           out=(T, n, n)),
        ew(f"{name}: Sinkhorn", p, (T, n, n), f"{hc.sinkhorn_iters} rounds: comb / (column sums + eps), the first "
           "round columns only, then rows / (row sums + eps) and columns again", per=4 * hc.sinkhorn_iters),
        Step(f"{name}: collapse streams", p, x, (T, d), "h = Σ_i pre_i · x_i (the sublayer's input)", 2 * T * n * d),
        *inner,
        Step(f"{name}: expand (post)", p, (T, d), x, "y_i = post_i · f(h) for each stream i", T * n * d),
        Step(f"{name}: mix streams (comb)", p, x, x, "x'_k = Σ_j comb[j, k] · x_j", 2 * T * n * n * d),
        ew("residual add", "residual", x, "x = y + x' (every stream)"),
    ]


def forward(R: Run, name: str, x: np.ndarray, sublayer: Callable) -> np.ndarray:
    """The toy's hyper-connection and the decoder layer's mixing around one sublayer; x (T, n, d)."""
    T, n, d = x.shape
    hc = R.arch.hyper_connections
    if hc.lowrank:
        return low.forward(R, name, n, x, sublayer)
    flat = R.norm(f"{name}: input norm", "", R.rec(f"{name}: flatten streams", x.reshape(T, n * d)), weights=False)
    m = R.rec(f"{name}: mix logits", flat @ R.w[f"{name}.fn"])
    sizes = [n, n, n * n] if hc.sinkhorn_iters else [n, n]
    m = R.rec(f"{name}: scale + base", m * np.repeat(R.w[f"{name}.scale"], sizes) + R.w[f"{name}.base"])
    pre = R.rec(f"{name}: pre weights", 1 / (1 + np.exp(-m[:, :n])) + EPS)
    post = hc.post_scale / (1 + np.exp(-m[:, n:2 * n]))
    if not hc.sinkhorn_iters:  # HYV4DecoderLayer: post ⊗ f(h) + the streams
        post = R.rec(f"{name}: post weights", post + EPS)
        y = sublayer(R.rec(f"{name}: collapse streams", (pre[..., None] * x).sum(1)))
        return R.rec("residual add", R.rec(f"{name}: expand (post)", post[..., None] * y[:, None, :]) + x)
    post = R.rec(f"{name}: post weights", post)
    z = m[:, 2 * n:].reshape(T, n, n)
    e = np.exp(z - z.max(-1, keepdims=True))
    comb = R.rec(f"{name}: comb weights", e / e.sum(-1, keepdims=True) + EPS)
    comb = comb / (comb.sum(-2, keepdims=True) + EPS)  # Sinkhorn-Knopp: columns, then rows and columns
    for _ in range(hc.sinkhorn_iters - 1):
        comb = comb / (comb.sum(-1, keepdims=True) + EPS)
        comb = comb / (comb.sum(-2, keepdims=True) + EPS)
    comb = R.rec(f"{name}: Sinkhorn", comb, **{"row sums": comb.sum(-1), "column sums": comb.sum(-2)})
    y = sublayer(R.rec(f"{name}: collapse streams", (pre[..., None] * x).sum(1)))
    expanded = R.rec(f"{name}: expand (post)", post[..., None] * y[:, None, :])
    mixed = R.rec(f"{name}: mix streams (comb)", np.einsum("tjk,tjd->tkd", comb, x))
    return R.rec("residual add", expanded + mixed)


def short(hc: HyperConnections) -> str:
    """The form's short name: mHC (with Sinkhorn mixing), iHC (identity: each stream keeps its own residual) or
    low-rank."""
    return "low-rank" if hc.lowrank else "mHC" if hc.sinkhorn_iters else "iHC"


def lines(hc: HyperConnections) -> list[str]:
    """What a hyper-connection does around each sublayer, in words for the diagram."""
    if hc.lowrank:
        return low.lines(hc.streams, hc.lowrank)
    head = [f"Hyper-connections ({short(hc)})", f"{hc.streams} residual streams; around each sublayer:",
            "learned weights collapse them into its input,"]
    if hc.sinkhorn_iters:
        return head + ["spread its output back, mix the streams",
                       f"(doubly stochastic, Sinkhorn {hc.sinkhorn_iters} iters)"]
    return head + [f"spread its output back ({hc.post_scale:g} σ), each stream", "adds it to itself (no mixing)"]


def fact(hc: HyperConnections | None) -> str:
    """The compare table's row."""
    if hc is None:
        return "none"
    return f"{hc.streams} streams" + (f", rank-{hc.lowrank} mixer" if hc.lowrank else "" if hc.sinkhorn_iters
                                      else ", no mixing")
