"""Trace one layer by hand: every operation of a decoder layer, in the order the reference runs it.

``trace(spec_or_arch, layer, seq)`` lists the steps of layer ``layer`` for a sequence of ``seq`` tokens:
each :class:`~gallery.steps.Step` has its input and output shapes, the parameters it multiplies with (name,
shape), its FLOPs and a one-line formula (conventions in :mod:`gallery.steps`). Each mixer and feed-forward kind
(``gallery/kinds/``) lists its own steps from ``(T, d_model)`` back to ``(T, d_model)``, in the order of its
transformers modeling code; this module wires them with the block's norms and residuals (pre, post, sandwich,
parallel, shared norm; ``LlamaDecoderLayer``, ``Olmo2DecoderLayer`` for post-norm, OpenAI GPT's ``Block`` for the
norm after the residual add, ``GPTJBlock`` for the parallel block; A.X-K2's gated norms, :mod:`gallery.gated_norm`;
``FalconH1DecoderLayer``'s two mixers side by side, each from the same normed input, then their sum; ``ZambaHybridLayer``'s shared block before its mixer,
:mod:`gallery.sharedblock`; ``LongcatFlashDecoderLayer``'s mixer → ffn pair run twice, pair i's tensors named ``i.…``,
with a shortcut MoE on the first pair's normed ffn input added at the layer's end), Inkling 2's block attention
residuals before each sublayer (:mod:`gallery.block_attn_residual`), and the hyper-connections around each sublayer (:mod:`gallery.hyper`), whose layer reads and writes its
``streams`` residual copies, (T, streams, d_model), and Gemma 4's per-layer input after the feed-forward
(``Gemma4TextDecoderLayer``); Reformer's reversible layer on two streams, (T, 2, d_model) (:mod:`gallery.reversible`); Gemma 3n's AltUp predict before and correct after the sublayers, whose layer reads and
writes ``streams`` residual copies, and its LAuReL beside attention (``Gemma3nTextDecoderLayer``, :mod:`gallery.altup`,
:mod:`gallery.laurel`). Embeddings (the per-layer table and its projection too), learned positions, the final
norm and the head are outside a layer and not traced; recurrent stacks' cycles (HRM), which run the layers, are traced
apart, a step per stack run (:func:`cycle_trace`).
"""

from __future__ import annotations

from dataclasses import replace

from . import (altup, block_attn_residual, gated_norm, hyper, laurel, ngram_embedding, recurrent_stacks, residual_scale,
               reversible, sharedblock, sublayer_conv, tanh_gate)
from .counts import ple_layer_weights, routed_ffn
from .kinds import ffn_kind, mixer_kind
from .spec import Arch, Spec
from .steps import ACTIVATIONS, Ctx, Param, Step, ew, linear  # noqa: F401  (Param, Step: importable from here)
from .terms import table


def _sublayer(c: Ctx, steps: list[Step], placement: str, label: str, norm_in: bool = True) -> list[Step]:
    """Norms around one sublayer as the block places them (pre, post, sandwich), without the residual add."""
    x = (c.T, c.d)
    before = [c.norm(f"{label} norm (pre)", "norm", f"{label}_norm", x)] if norm_in and placement in (
        "pre", "sandwich") else []
    after = [c.norm(f"{label} norm (post)", "norm", f"post_{label}_norm", x)] if placement in ("post",
                                                                                           "sandwich") else []
    return before + steps + after


def _residual(c: Ctx, what: str) -> Step:
    return ew("residual add", "residual", (c.T, c.d), f"x = x + {what}")


def mixer_label(mixer: object) -> str:
    """How a block's mixer sublayer is named in its norms' ops and weights: ``attn`` ("attn norm (pre)",
    ``attn_norm.weight``) before attention, ``mixer`` before a fixed-state mixer, which attends to nothing."""
    return mixer_kind(mixer).label if mixer is not None else "mixer"


SUM = "add the mixers"  # the op that sums two mixers side by side (trace and toy)


def mixer_steps(c: Ctx, block) -> list[Step] | None:
    """The mixer sublayer's steps: its mixer's, or with a ``parallel_mixer`` (FalconH1DecoderLayer) both mixers' in
    code order, each from the same normed input, then their sum; None without a mixer."""
    steps = [s for m in block.mixers for s in mixer_kind(m).steps(c, m)]
    if block.parallel_mixer is None:
        return steps or None
    names = " + ".join(f"{mixer_kind(m).name(m)}(x)" for m in block.mixers)
    return steps + [ew(SUM, "mixer", (c.T, c.d), f"y = {names}: both read the same normed x")]


def layer_steps(arch: Arch, kind: str, seq: int, layer: int = 0) -> list[Step]:
    """The steps of one layer of block kind ``kind`` for ``seq`` tokens (layer ``layer``, where it matters: block
    attention residuals)."""
    c = Ctx(seq, arch.d_model, arch, layer)
    block = arch.blocks[kind]
    mixer = mixer_steps(c, block)
    ffn = ffn_kind(block.ffn).steps(c, block.ffn) if block.ffn is not None else None
    x = (c.T, c.d)
    if block.parallel:  # GPTJBlock: attention and MLP read the same (normed) input, both added to x
        if block.shared_norm:
            return [c.norm("norm (shared)", "norm", "norm", x), *mixer, *ffn,
                    ew("residual add", "residual", x, "x = x + attention + mlp", per=2)]
        return [c.norm("attention norm", "norm", "attn_norm", x), *mixer, c.norm("ffn norm", "norm", "ffn_norm", x),
                *ffn, ew("residual add", "residual", x, "x = x + attention + mlp", per=2)]
    if arch.reversible:  # ReformerLayer: each sublayer's output added to the other stream
        return reversible.steps(c, _sublayer(c, mixer, "pre", mixer_label(block.mixer)),
                                _sublayer(c, ffn, "pre", "ffn"))
    if block.sublayer_pairs == 1 and block.shortcut is None:
        steps = altup.predict_steps(c, arch.altup) if arch.altup else []  # Gemma3nTextDecoderLayer
        if block.ngram_embedding:  # Qwen4ExpTextDecoderLayer: the n-gram embedding first
            steps += ngram_embedding.steps(c, arch.ngram_embedding, arch.hyper_connections.streams)
        steps += _pair(c, kind, block, mixer, ffn)
        steps += altup.correct_steps(c, arch.altup) if arch.altup else []
        return steps + _per_layer_input(c)
    return _pairs(c, kind, block, mixer, ffn)


def _pair(c: Ctx, kind: str, block, mixer: list[Step] | None, ffn: list[Step] | None,
          last: Step | None = None) -> list[Step]:
    """The mixer and feed-forward sublayers, each with its norms and residual add (``last``: the ffn's add instead)."""
    arch = c.arch
    steps: list[Step] = []
    for sub, label, what in ((mixer, mixer_label(block.mixer), f"{mixer[-1].part}(x)" if mixer else ""),
                             (ffn, "ffn", "ffn(x)")):
        if sub is None:
            continue
        # ModernBERT's layer 0 has no attention norm; low-rank hyper-connections norm the streams themselves
        norm_in = (sub is not mixer or block.mixer_norm) and not (arch.hyper_connections and
                                                                   arch.hyper_connections.lowrank)
        conv = sublayer_conv.steps(c, label, block.sublayer_conv, block.sublayer_conv_scaled) if block.sublayer_conv \
            else []  # Inkling
        inner = _sublayer(c, sub + conv, block.norm_placement, label, norm_in=norm_in)
        if gated_norm.gated(block.gated_norm, label):  # AXK2GatedRMSNorm: the gate right after the pre norm
            inner = inner[:1] + gated_norm.steps(c, block.gated_norm, label) + inner[1:]
        side = arch.laurel if sub is mixer else None  # Gemma3nTextLaurelBlock: beside attention, from its normed input
        if side:
            normed = (block.norm_placement in ("pre", "sandwich") and norm_in) * (
                1 + 4 * gated_norm.gated(block.gated_norm, label))
            inner = inner[:normed] + laurel.steps(c, side) + inner[normed:]
        if sub is mixer and block.shared:  # ZambaHybridLayer: the shared block's output joins the mixer's input
            inner = sharedblock.use_steps(c, kind) + inner
        add = residual_scale.step(c, label, what, block.learned_residual) if block.learned_residual else tanh_gate.step(
            c, label, what) if block.tanh_gated else _scaled_residual(
            c, block, what, block.mixer_scale if sub is mixer else block.ffn_scale)
        if arch.block_attn_residual:  # Inkling2*DecoderLayer: the input attended from the block states
            steps += block_attn_residual.steps(c, kind, sub is mixer, inner, what)
            continue
        steps += hyper.steps(c, f"{label}_hc", inner) if arch.hyper_connections else inner + [
            last if last and sub is ffn else add]
        steps += [laurel.merge_step(c)] if side else []
        if block.norm_placement == "post_residual":  # OpenAI GPT's Block: ln_1(x + attn(x)), ln_2(n + mlp(n))
            steps.append(c.norm(f"{label} norm (after the add)", "norm", f"{label}_norm", (c.T, c.d)))
    return steps


SHORTCUT = "shortcut"  # the name of a shortcut feed-forward's output, held to the layer's end (trace and toy)


def _pairs(c: Ctx, kind: str, block, mixer: list[Step], ffn: list[Step]) -> list[Step]:
    """LongcatFlashDecoderLayer: the mixer → ffn pair ``sublayer_pairs`` times, pair i's tensors named ``i.…`` (its
    ModuleList index); the shortcut feed-forward reads the first pair's normed ffn input (it runs first there) and
    its output joins the last residual add."""
    n, short = block.sublayer_pairs, block.shortcut
    last = ew("residual add", "residual", (c.T, c.d), f"x = x + ffn(x) + {SHORTCUT}(h), h = the first pair's normed "
              "ffn input", per=2) if short is not None else None
    steps: list[Step] = []
    for i in range(n):
        pair = [_own(s, i, n) for s in _pair(c, kind, block, mixer, ffn, last if i == n - 1 else None)]
        if i == 0 and short is not None:
            at = next(j for j, s in enumerate(pair) if s.op == "ffn norm (pre)") + 1
            pair[at:at] = [replace(s, part=f"{SHORTCUT} {s.part}") for s in ffn_kind(short).steps(c, short)]
        steps += pair
    return steps


def _own(step: Step, i: int, n: int) -> Step:
    """A step of pair ``i`` of ``n``: its tensors named ``i.…`` (one pair: as they are)."""
    if n == 1:
        return step
    return replace(step, part=f"{step.part} (pair {i + 1})",
                   params=tuple(Param(f"{i}.{p.name}", p.shape) for p in step.params))


def _scaled_residual(c: Ctx, block, what: str, scale) -> Step:
    """The residual add after one sublayer: x + f(x); from the normed input h (MiniMaxDecoderLayer) and with weights
    on both terms where the block says so."""
    if not block.residual_from_norm and scale is None:
        return _residual(c, what)
    r, f = ("h", f"{what[:-3]}(h)") if block.residual_from_norm else ("x", what)
    if scale is not None:
        r, f = f"{scale.residual:g} · {r}", f"{scale.output:g} · {f}"
    normed = ", h = the normed x (the residual carries the normed input)" if block.residual_from_norm else ""
    return ew("residual add", "residual", (c.T, c.d), f"x = {r} + {f}{normed}", per=1 if scale is None else 3)


def _per_layer_input(c: Ctx) -> list[Step]:
    """Gemma4TextDecoderLayer after the feed-forward: the layer's slice of the per-layer inputs (computed once, before
    the first layer, from the per-layer table and a projection of the embedded token) gates a small side path."""
    ple, T, p = c.arch.per_layer_embedding, c.T, "per-layer input"
    if ple is None:
        return []
    w, W = ple.d_per_layer, table(ple_layer_weights(c.arch))
    return [linear(c, "per-layer gate", p, W, "g = x · W_gate", "per_layer_input_gate"),
            ew(f"activation ({ple.activation})", p, (T, w), f"a = act(g), act(x) = {ACTIVATIONS[ple.activation]}",
               per=4),
            ew("× per-layer input", p, (T, w), "a ⊙ p, p = this layer's slice of the per-layer inputs: (per-layer "
               "table row × √d_per_layer + norm(x₀ · W_proj / √d_model)) / √2"),
            linear(c, "per-layer projection", p, W, "y = (a ⊙ p) · W_proj", "per_layer_projection"),
            c.norm("per-layer norm", p, "post_per_layer_input_norm", (T, c.d)),
            altup.add_step(c, c.arch.altup, "per-layer input(s)") if c.arch.altup else _residual(c, "per-layer input(x)")]


def traceable(arch: Arch, layer: int) -> None:
    """A ValueError saying why layer ``layer`` cannot be run step by step: out of range, or an MoE whose top_k the
    config leaves unset (the model cannot route a token)."""
    if not 0 <= layer < arch.n_layers:
        raise ValueError(f"layer {layer} is out of range: the model has layers 0–{arch.n_layers - 1}")
    ffn = routed_ffn(arch.blocks[arch.layers[layer]])
    if ffn is not None and ffn_kind(ffn).routed(ffn)[0] is None:
        raise ValueError(f"layer {layer} cannot be traced: its top_k (num_experts_per_tok) is null, so the model "
                         "cannot route a token to its experts")


def trace(spec_or_arch: Spec | Arch, layer: int, seq: int) -> list[Step]:
    """Every operation of layer ``layer`` (0-based) for a sequence of ``seq`` tokens, in execution order."""
    arch = spec_or_arch.arch if isinstance(spec_or_arch, Spec) else spec_or_arch
    traceable(arch, layer)
    if seq < 1:
        raise ValueError("the sequence needs at least one token")
    return layer_steps(arch, arch.layers[layer], seq, layer)


def cycle_trace(spec_or_arch: Spec | Arch, seq: int) -> list[Step]:
    """Recurrent stacks (HRM): ``seq`` tokens through the cycles, a step per stack run (its FLOPs its layers'), its
    input sum and its final norm (:func:`gallery.recurrent_stacks.cycle_steps`)."""
    arch = spec_or_arch.arch if isinstance(spec_or_arch, Spec) else spec_or_arch
    if arch.recurrent_stacks is None:
        raise ValueError("the model has no recurrent stacks: each layer runs once")
    if seq < 1:
        raise ValueError("the sequence needs at least one token")
    return recurrent_stacks.cycle_steps(arch, seq, lambda kind: layer_steps(arch, kind, seq))
