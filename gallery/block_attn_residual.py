"""Block attention residuals: each sublayer reads an attention over the block states, not the plain residual stream
(Inkling 2 ``Inkling2BlockAttentionResidual``, ``Inkling2SlidingDecoderLayer``, ``Inkling2FullDecoderLayer``,
``Inkling2TextModel``, models/inkling2/modeling_inkling2.py).

The layers are grouped in blocks of ``block_layers``. The block states are the embeddings and each finished block's
output; the stream ``x`` a layer reads is the block so far (the sum of its sublayers' outputs). Before each sublayer
a learned query (``attention_input``, ``mlp_input``; three in a full layer, one each for Q, K and V) attends over the
block states and ``x`` at the same position, each RMS-normed without weights (eps 1e-6), the scores scaled by
1/√d_model; the softmax-weighted sum of the normed states is the sublayer's input. A layer whose index is a multiple
of ``block_layers`` starts a block: its input joins the block states and its residual restarts from the attention's
output (no add); the first layer has no attention input (it reads the embeddings). After the last layer a final query
(``final_input``) attends over all block states and the last block before the final norm.

Cache: nothing per token (the attention runs over depth, at one position). FLOPs per token: 4 · queries · sources ·
d_model per attention residual (scores and weighted sum; the norms left out, as every norm). Owns the schema, the
weights (count terms and trace tensors), the trace steps, the toy forward (the block states a stand-in drawn with a
fixed seed), the FLOPs and the words; :mod:`gallery.counts`, :mod:`gallery.flops`, :mod:`gallery.trace`,
:mod:`gallery.toy` and :mod:`gallery.diagram` wire them in.
"""

from __future__ import annotations

from math import ceil
from typing import Callable, Literal

import numpy as np
from pydantic import Field, PositiveInt

from .specbase import Strict, rule_error
from .steps import Ctx, Step, ew, weightless_rms
from .terms import Weight, params, table, weight
from .toyops import Run

PART = "attention residual"
EPS = 1e-6  # Inkling2UnweightedRMSNorm()'s default, whatever rms_norm_eps says
COMPONENT = "attn_residuals"


class BlockAttnResidual(Strict):
    """Each sublayer's input is a learned query's attention over the block states (Inkling 2)."""

    block_layers: PositiveInt = Field(description="Layers per block; a layer whose index is a multiple of it starts "
                                      "one (n_layers_per_attn_res_block)")
    queries: dict[str, Literal[0, 1, 3]] = Field(
        {}, description="Queries of the attention that gives a block kind's mixer its input, by block kind (default "
        "1): 3 gives Q, K and V inputs of their own (Inkling 2's full layers), 0 none (the first layer reads the "
        "embeddings)")


def check(arch) -> None:
    """The wiring the residual form needs: a mixer then an ffn, pre norms, no other residual form."""
    res = arch.block_attn_residual
    if res is None:
        return
    if unknown := sorted(set(res.queries) - set(arch.blocks)):
        raise rule_error("block_attn_residual", "unknown_block_kind", f"queries names block kinds not defined in "
                         f"blocks: {', '.join(unknown)}")
    if arch.hyper_connections or arch.altup or arch.laurel or arch.shared_blocks or any(
            b.mixer is None or b.ffn is None or b.parallel or b.parallel_mixer or b.norm_placement != "pre"
            or b.sublayer_pairs > 1 or b.shortcut for b in arch.blocks.values()):
        raise rule_error("block_attn_residual", "block_wiring", "block_attn_residual needs blocks of a mixer then an "
                         "ffn with pre norms, and no other residual form (hyper_connections, altup, laurel, shared "
                         "blocks, sublayer pairs)")


def queries(arch, kind: str) -> int:
    """The mixer input's queries in a layer of block kind ``kind``."""
    return arch.block_attn_residual.queries.get(kind, 1)


def weights(d: tuple[str, int], arch, kind: str) -> list[Weight]:
    """A layer's queries: the mixer input's (none, one, or three), the ffn input's."""
    q = queries(arch, kind)
    mixer = [weight(COMPONENT, "attention_input.query", *([("3", 3)] if q == 3 else []), d,
                    tensor="attention_input.query")] if q else []
    return mixer + [weight(COMPONENT, "mlp_input.query", d, tensor="mlp_input.query")]


def model_weights(d: tuple[str, int]) -> list[Weight]:
    """The final query, before the final norm."""
    return [weight(COMPONENT, "final_input.query", d, tensor="final_input.query")]


def states(arch, layer: int) -> int:
    """Block states at the input of layer ``layer``: the embeddings and each block finished before it."""
    return ceil(layer / arch.block_attn_residual.block_layers)


def starts_block(arch, layer: int) -> bool:
    return layer % arch.block_attn_residual.block_layers == 0


def _sources(arch, layer: int, mixer: bool) -> int:
    """What the mixer's (or the ffn's) input attends over: the block states, and the block so far."""
    return states(arch, layer) + 1 + (not mixer and starts_block(arch, layer))


def _attend_steps(c: Ctx, name: str, sources: int, q: int, W) -> list[Step]:
    T, d = c.T, c.d
    src, scores = (T, sources, d), (T, q, sources)
    return [ew(f"{name}: stack", PART, (T, d), f"[b_0, …, b_{sources - 2}, x]: the {sources - 1} block states (the "
               "embeddings, then each finished block) and the block so far, at each position", per=0, out=src),
            weightless_rms(f"{name}: norm", PART, src, EPS),
            Step(f"{name}: scores", PART, src, scores, f"s[i, q, m] = w_q · b̂[i, m] / √{d} ({q} learned "
                 f"quer{'ies' if q > 1 else 'y'})", 2 * T * q * sources * d, params(W, f"{name}.query")),
            ew(f"{name}: softmax", PART, scores, "a = softmax over the sources", per=3),
            Step(f"{name}: mix", PART, scores, (T, q, d) if q > 1 else (T, d),
                 "h[i, q] = Σ_m a[i, q, m] · b̂[i, m]" + (": the Q, K and V inputs" if q == 3 else ""),
                 2 * T * q * sources * d)]


def steps(c: Ctx, kind: str, mixer: bool, inner: list[Step], what: str) -> list[Step]:
    """One sublayer (its norm and steps ``inner``) with its attention input before it and its residual after."""
    arch, T, d, j = c.arch, c.T, c.d, c.layer
    W = table(weights(c.dm, arch, kind))
    q = queries(arch, kind) if mixer else 1
    name = "attention_input" if mixer else "mlp_input"
    before = _attend_steps(c, name, _sources(arch, j, mixer), q, W) if q else []
    add = ew("start a new block", "residual", (T, d), f"the layer's input joins the block states; the residual "
             f"restarts from {what} (no add)", per=0) if mixer and starts_block(arch, j) else ew(
        "residual add", "residual", (T, d), f"x = x + {what}")
    return before + inner + [add]


def stand_in(T: int, n: int, d: int) -> np.ndarray:
    """The toy's block states (T, n, d_model): drawn with seed 0 (the embeddings and the finished blocks)."""
    return np.random.default_rng(0).standard_normal((T, n, d))


def _attend(R: Run, name: str, src: np.ndarray, q: int) -> np.ndarray:
    d = src.shape[-1]
    src = R.rec(f"{name}: stack", src)
    ms = (src * src).mean(-1, keepdims=True)
    k = R.rec(f"{name}: norm", src / np.sqrt(ms + EPS), **{"mean of squares": ms})
    s = R.rec(f"{name}: scores", np.einsum("imd,qd->iqm", k, R.w[f"{name}.query"].reshape(q, d)) / np.sqrt(d))
    e = np.exp(s - s.max(-1, keepdims=True))
    a = R.rec(f"{name}: softmax", e / e.sum(-1, keepdims=True))
    h = np.einsum("iqm,imd->iqd", a, k)
    return R.rec(f"{name}: mix", h[:, 0] if q == 1 else h)


def forward(R: Run, mixer: bool, x: np.ndarray, held: dict, sublayer: Callable) -> np.ndarray:
    """The toy's sublayer ``sublayer`` (from its input to its output) with its attention input and residual, in the
    toy model's last layer; ``held`` keeps the block states from the mixer to the ffn."""
    arch = R.arch
    j, kind = arch.n_layers - 1, arch.layers[-1]
    T, d = x.shape
    if mixer:
        held["states"] = base = stand_in(T, states(arch, j), d)
        q = queries(arch, kind)
        y = sublayer(_attend(R, "attention_input", np.concatenate([base, x[:, None]], 1), q) if q else x)
        if starts_block(arch, j):
            held["states"] = np.concatenate([base, x[:, None]], 1)
            return R.rec("start a new block", y)
        return R.rec("residual add", x + y)
    y = sublayer(_attend(R, "mlp_input", np.concatenate([held["states"], x[:, None]], 1), 1))
    return R.rec("residual add", x + y)


def flops(arch) -> int:
    """Per token: each attention residual's scores and weighted sum, 4 · queries · sources · d_model, over the layers
    and the final one."""
    if arch.block_attn_residual is None:
        return 0
    per = 0
    for j, kind in enumerate(arch.layers):
        per += queries(arch, kind) * _sources(arch, j, True) + _sources(arch, j, False)
    return 4 * arch.d_model * (per + states(arch, arch.n_layers) + 1)


def lines(res: BlockAttnResidual) -> list[str]:
    """The diagram's words, beside the stack."""
    return ["Block attention residuals", f"blocks of {res.block_layers} layers; before each sublayer",
            "a learned query attends over the block states", "(embeddings, finished blocks) and the block so far;",
            "a block's first layer starts the sum afresh", "full layers: three queries give Q, K and V inputs"
            if 3 in res.queries.values() else ""]


def fact(res: BlockAttnResidual | None) -> str:
    """The compare table's row."""
    return "none" if res is None else f"attention over blocks of {res.block_layers} layers"
