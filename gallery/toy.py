"""Real numbers for a trace: the same layer at toy width, computed step by step with NumPy.

``toy_trace(spec_or_arch, layer, seq)`` shrinks the chosen layer's block to toy widths (``d_model`` 16, or
heads × head_dim where the real model has that equality; each mixer and feed-forward kind shrinks its own fields
by its rule in ``gallery/kinds/``, keeping the structure: the same query-to-KV-head ratio, norm placement,
activation, QK-norm, rotary fraction, soft-cap, sinks, router and shared experts; windows, chunks and top-k cut to
a few tokens so they bite), draws weights with a fixed seed (named and shaped as the parameters of
:func:`gallery.trace.trace` on the toy) and runs the layer on random token vectors. It records one
:class:`~gallery.toyops.ToyStep` per step of the trace, in the same order, with the step's output and, where
useful, intermediate values (a norm's mean of squares and rsqrt, the scores before and after the mask, after
subtracting the row max). Each kind's ``forward`` computes its part (conventions in :mod:`gallery.toyops` and the
kind modules); this module runs the block's norms and residuals (and sums two mixers side by side, Falcon-H1; runs LongCat-Flash's
pairs, each on its own ``i.…`` tensors, and its shortcut), the hyper-connections (:mod:`gallery.hyper`), Gemma 3n's AltUp
and LAuReL (:mod:`gallery.altup`, :mod:`gallery.laurel`), Inkling 2's block attention residuals
(:mod:`gallery.block_attn_residual`: the toy model has the traced layer's index + 1 layers, the last one run, its block
states a stand-in drawn with a fixed seed), Reformer's reversible two-stream layer (:mod:`gallery.reversible`), and Gemma 4's per-layer input, whose slice of the per-layer inputs (computed before the first layer) is a stand-in drawn with a
fixed seed, as are the K and V a KV-shared layer reuses (``gallery.kinds.softmax.shared_kv_toy``).

Norm weights are drawn near 1 and used as ``x · w``: where the model stores a zero-centred weight applied as
``1 + w`` (Gemma, Qwen3-Next, Qwen3.5) the test stores ``w − 1``. DeepSeek-V4 (``DeepseekV4DecoderLayer``, no
cache): the layer's input and output are the ``streams`` residual copies, (T, streams, d_model); ``hc_eps`` and
``swiglu_limit`` are the config's 1e-6 and 10 (no spec fields). Hash routing reads token ids, fixed at 0, 1, …,
T − 1 (their table ``tid2eid`` is drawn with the weights).
``tests/test_toy.py`` builds the same toy layer in transformers, copies these weights in and compares the outputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import (altup, block_attn_residual, gated_norm, hyper, laurel, ngram_embedding, residual_scale, reversible,
               sharedblock, sublayer_conv, tanh_gate)
from .kinds import ffn_kind, mixer_kind
from .kinds.moe import EXPERT_TOY  # noqa: F401  (the toy widths tests build with)
from .kinds.mlp import FF_TOY  # noqa: F401
from .spec import Arch, Spec
from .toyops import ACT, D_TOY, HEAD_TOY, Run, ToyStep
from .trace import SHORTCUT, SUM, mixer_label, trace, traceable

def toy_arch(arch: Arch, kind: str, layer: int = 0) -> Arch:
    """A one-layer model of block kind ``kind`` at toy widths, keeping the block's structure; with block attention
    residuals, ``layer`` + 1 layers of that kind, the last one traced (what it attends over depends on its index)."""
    block = arch.blocks[kind]
    res = arch.block_attn_residual
    n = layer + 1 if res else 1
    data = block.model_dump() | {"shared": sharedblock.toy_use(block)}
    d_model = D_TOY
    if block.mixer is not None:
        data["mixer"] = mixer_kind(block.mixer).shrink(data["mixer"])
        d_model = mixer_kind(block.mixer).toy_d_model(block.mixer, data["mixer"], arch.d_model) or D_TOY
    if block.parallel_mixer is not None:
        data["parallel_mixer"] = mixer_kind(block.parallel_mixer).shrink(data["parallel_mixer"])
    if block.gated_norm is not None:
        data["gated_norm"]["rank"] = gated_norm.RANK_TOY
    for part in ("ffn", "shortcut"):
        if getattr(block, part) is not None:
            data[part] = ffn_kind(getattr(block, part)).shrink(data[part])
    return Arch.model_validate({
        "d_model": d_model, "n_layers": n, "vocab_size": 32, "context_length": 64, "norm": arch.norm.model_dump(),
        "embedding": {"tied": True}, "final_norm": False, "layers": [kind] * n, "blocks": {kind: data},
        "block_attn_residual": res and {"block_layers": res.block_layers,
                                        "queries": {k: q for k, q in res.queries.items() if k == kind}},
        "shared_blocks": sharedblock.shrink(arch, kind, d_model),
        "hyper_connections": arch.hyper_connections and {
            **arch.hyper_connections.model_dump(), **({"lowrank": 8} if arch.hyper_connections.lowrank else {})},
        "ngram_embedding": block.ngram_embedding and ngram_embedding.shrink(arch.ngram_embedding.model_dump()) or None,
        "reversible": arch.reversible,
        "per_layer_embedding": arch.per_layer_embedding and {
            **arch.per_layer_embedding.model_dump(), "d_per_layer": HEAD_TOY, "vocab_size": 32},
        "altup": arch.altup and arch.altup.model_dump(), "laurel": arch.laurel and {"rank": laurel.RANK_TOY},
    }, strict=False)


def per_layer_toy(arch: Arch, T: int) -> np.ndarray | None:
    """The toy's stand-in for the layer's slice of the per-layer inputs, (T, d_per_layer), drawn with seed 0."""
    ple = arch.per_layer_embedding
    return None if ple is None else np.random.default_rng(0).standard_normal((T, ple.d_per_layer))


def toy_forward(arch: Arch, weights: dict[str, np.ndarray], x: np.ndarray,
                ids: np.ndarray | None = None) -> list[ToyStep]:
    """Run the one layer of the toy ``arch`` on ``x`` (T, d_model), or (T, streams, d_model) with hyper-connections;
    one ToyStep per trace step, in the trace's order and shapes (checked as it runs). ``ids``: the token ids hash
    routing reads (default 0, 1, …, T − 1: fixed, not drawn)."""
    R = Run(arch, weights, np.arange(len(x)) % arch.vocab_size if ids is None else ids,
            plan=trace(arch, arch.n_layers - 1, len(x)))
    block = arch.blocks[arch.layers[0]]
    if block.parallel:
        h = R.norm("norm (shared)", "norm", x) if block.shared_norm else R.norm("attention norm", "attn_norm", x)
        a = mixer_kind(block.mixer).forward(R, block.mixer, h)
        if not block.shared_norm:
            h = R.norm("ffn norm", "ffn_norm", x)
        f = ffn_kind(block.ffn).forward(R, block.ffn, h, x)
        R.rec("residual add", x + a + f)
        return R.done()
    if block.sublayer_pairs > 1 or block.shortcut is not None:
        _pairs(R, block, x)
        return R.done()
    if arch.reversible:  # ReformerLayer: x is the two streams
        label = mixer_label(block.mixer)
        ffn = ffn_kind(block.ffn)
        reversible.forward(R, x, lambda h: _mixers(R, block, R.norm(f"{label} norm (pre)", f"{label}_norm", h)),
                           lambda h: ffn.forward(R, block.ffn, R.norm("ffn norm (pre)", "ffn_norm", h), h))
        return R.done()
    if arch.altup:  # Gemma3nTextDecoderLayer: the layer computes the active prediction of the streams
        predictions, x = altup.predict(R, arch.altup, x)
    if block.ngram_embedding:  # Qwen4ExpTextDecoderLayer: the n-gram embedding first (the toy's first PLE layer)
        x = ngram_embedding.forward(R, arch.ngram_embedding, x, 0)
    x = _pair(R, block, x)
    if arch.altup:
        streams, x = altup.correct(R, arch.altup, predictions, x)
    if arch.per_layer_embedding is not None:  # Gemma4TextDecoderLayer: the per-layer input after the feed-forward
        act = arch.per_layer_embedding.activation
        a = R.rec(f"activation ({act})", ACT[act](R.linear("per-layer gate", x, "per_layer_input_gate")))
        y = R.linear("per-layer projection", R.rec("× per-layer input", a * per_layer_toy(arch, len(x))),
                     "per_layer_projection")
        y = R.norm("per-layer norm", "post_per_layer_input_norm", y)
        # Gemma3nTextDecoderLayer: added to streams 1… (corrected_predictions[1:] += …), not to stream 0
        R.rec("residual add", streams + (np.arange(streams.shape[1]) > 0)[:, None] * y[:, None] if arch.altup
              else x + y)
    return R.done()


def _pair(R: Run, block, x: np.ndarray, before_ffn: Callable | None = None, extra: Callable | None = None
          ) -> np.ndarray:
    """The mixer and feed-forward sublayers with their norms and residual adds. ``before_ffn(h, x)`` runs on the
    ffn's normed input before the ffn (a shortcut); ``extra()`` is added in the ffn's residual add."""
    arch, held = R.arch, {}
    lowrank = arch.hyper_connections and arch.hyper_connections.lowrank  # its own per-stream norm, no block norm
    for sub, label in ((block.mixer, mixer_label(block.mixer)), (block.ffn, "ffn")):
        if sub is None:
            continue
        side = arch.laurel if sub is block.mixer else None

        def sublayer(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
            """(the sublayer's output, what the residual adds it to: x, or its normed input, LAuReL's output)."""
            # ZambaHybridLayer: the shared block's output joins the mixer's input; the residual keeps x
            into = sharedblock.use_forward(R, arch.layers[0], x) if sub is block.mixer and block.shared else x
            h = R.norm(f"{label} norm (pre)", f"{label}_norm", into) if block.norm_placement in ("pre", "sandwich") and (
                sub is not block.mixer or block.mixer_norm) and not lowrank else into
            h = gated_norm.forward(R, block.gated_norm, label, h)  # AXK2GatedRMSNorm: a gate after the pre norm
            beside = laurel.forward(R, h) if side else None
            if sub is block.ffn and before_ffn is not None:
                before_ffn(h, x)
            y = _mixers(R, block, h) if sub is block.mixer else ffn_kind(sub).forward(R, sub, h, x)
            y = sublayer_conv.forward(R, label, y, block.sublayer_conv_scaled) if block.sublayer_conv else y  # Inkling
            y = R.norm(f"{label} norm (post)", f"post_{label}_norm", y) if block.norm_placement in (
                "post", "sandwich") else y
            return y, h if block.residual_from_norm else x, beside

        if arch.block_attn_residual:  # Inkling2*DecoderLayer
            x = block_attn_residual.forward(R, sub is block.mixer, x, held, lambda h: sublayer(h)[0])
        elif arch.hyper_connections:
            x = hyper.forward(R, f"{label}_hc", x, lambda x: sublayer(x)[0])
        elif block.learned_residual:  # ZayaResidualScaling, Doge's input_residual
            x = residual_scale.forward(R, label, block.learned_residual, x, sublayer(x)[0])
        elif block.tanh_gated:  # MllamaCrossAttentionDecoderLayer
            x = tanh_gate.forward(R, label, x, sublayer(x)[0])
        else:
            y, residual, beside = sublayer(x)
            scale = block.mixer_scale if sub is block.mixer else block.ffn_scale
            y = residual + y if scale is None else scale.residual * residual + scale.output * y
            x = R.rec("residual add", y + extra() if sub is block.ffn and extra is not None else y)
            x = laurel.merge(R, x, beside) if side else x
        if block.norm_placement == "post_residual":  # the sum is normed: the stream the next sublayer reads
            x = R.norm(f"{label} norm (after the add)", f"{label}_norm", x)
    return x


def _pairs(R: Run, block, x: np.ndarray) -> np.ndarray:
    """LongcatFlashDecoderLayer: the pair ``sublayer_pairs`` times, pair i reading its tensors ``i.…``; the shortcut
    runs on the first pair's normed ffn input, before its ffn, and joins the last residual add."""
    n, short, weights, held = block.sublayer_pairs, block.shortcut, R.w, {}

    def shortcut(h: np.ndarray, x: np.ndarray) -> None:
        if short is not None and SHORTCUT not in held:
            held[SHORTCUT] = ffn_kind(short).forward(R, short, h, x)

    for i in range(n):
        own = {k.split(".", 1)[1]: v for k, v in weights.items() if k.startswith(f"{i}.")} if n > 1 else {}
        R.w = {**weights, **own}
        x = _pair(R, block, x, shortcut if i == 0 else None,
                  (lambda: held[SHORTCUT]) if i == n - 1 and short is not None else None)
    R.w = weights
    return x


def _mixers(R: Run, block, h: np.ndarray) -> np.ndarray:
    """The block's mixer on ``h``, or both mixers side by side on the same ``h``, summed (FalconH1DecoderLayer)."""
    ys = [mixer_kind(m).forward(R, m, h) for m in block.mixers]
    return ys[0] if len(ys) == 1 else R.rec(SUM, sum(ys))


def toy_weights(arch: Arch, seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights for every parameter the trace names (norm weights near 1, small biases), plus buffers."""
    rng = np.random.default_rng(seed)
    block = arch.blocks[arch.layers[0]]
    own = {k: v for m in block.mixers for k, v in mixer_kind(m).init.items()}  # drawn by the kind's own rule
    weights = {}
    for step in trace(arch, arch.n_layers - 1, 1):
        for p in step.params:
            base = re.sub(r"^\d+\.", "", p.name)  # a tensor of pair i (LongCat-Flash) is drawn by its kind's rule too
            if base in own:
                weights[p.name] = own[base](rng, p.shape)
            elif ("norm" in p.name and p.name.endswith(".weight")) or p.name.startswith("router.") and "scale" in p.name \
                    or p.name.endswith(("hc.scale", "_scale", "clip.scale")):
                weights[p.name] = 1 + 0.2 * rng.standard_normal(p.shape)  # scales near 1
            elif p.name == "D":  # the skip, near its init of ones
                weights[p.name] = 1 + 0.2 * rng.standard_normal(p.shape)
            elif p.name.endswith("conv1d.weight") or p.name == "conv.weight":  # (channels, taps): fan-in = taps
                weights[p.name] = rng.standard_normal(p.shape) / np.sqrt(p.shape[-1])
            elif p.name.endswith((".bias", "hc.base", "position_bias")) or p.name == "sinks" or len(p.shape) == 1:
                weights[p.name] = 0.2 * rng.standard_normal(p.shape)
            else:
                weights[p.name] = rng.standard_normal(p.shape) / np.sqrt(p.shape[-2])  # fan-in scaled
    for f in block.ffns:
        weights |= ffn_kind(f).buffers(f, rng, arch.vocab_size)
    if block.ngram_embedding:  # the layer's table (counted with the embeddings, not in the layer's trace)
        weights["ngram_embedding.weight"] = ngram_embedding.toy_table(arch.ngram_embedding, rng)
    return weights


@dataclass(frozen=True)
class Toy:
    """A toy layer run: its architecture, weights, input and the values of every step."""

    arch: Arch
    weights: dict[str, np.ndarray]
    x: np.ndarray
    steps: list[ToyStep]

    @property
    def out(self) -> np.ndarray:
        return self.steps[-1].value


def toy_trace(spec_or_arch: Spec | Arch, layer: int, seq: int = 6, seed: int = 0) -> Toy:
    """The toy version of layer ``layer`` run on ``seq`` random token vectors with seed ``seed``."""
    arch = spec_or_arch.arch if isinstance(spec_or_arch, Spec) else spec_or_arch
    traceable(arch, layer)
    toy = toy_arch(arch, arch.layers[layer], layer)
    weights = toy_weights(toy, seed)
    several = toy.hyper_connections or toy.altup
    streams = (several.streams,) if several else (reversible.STREAMS,) if toy.reversible else ()  # (T, n, d)
    x = np.random.default_rng(seed + 1).standard_normal((seq, *streams, toy.d_model))
    return Toy(toy, weights, x, toy_forward(toy, weights, x))
