"""Shared blocks: a block whose weights are stored once and run by several layers (Zamba's shared attention block).

``ZambaModel`` builds one ``ZambaAttentionDecoderLayer`` per hybrid layer and ties every copy to the first
(``_tied_weights_keys``), so ``model.parameters()`` holds its weights once; each hybrid layer
(``ZambaHybridLayer``) runs it on concat(its input, the input embeddings), 2 × d_model: a norm of that width,
attention (scale 1/√(head_dim/2)), a norm of d_model and the MLP, with no residual inside; the layer's own
d_model → d_model ``linear`` maps the result, which is added to the input of the layer's mixer (before its norm;
the residual keeps the layer's input), and the attention's K and V are cached per use (``layer_idx`` of the
hybrid layer).

Zamba2 (``Zamba2Model.get_layers``) keeps ``num_mem_blocks`` such blocks, which the hybrid layers take in turn (use
i runs block i mod num_mem_blocks; the first use of each block holds its weights, later ones are tied to it), and
gives each use LoRA adapters of its own inside the block (:mod:`gallery.adapters`).

The spec says it once: ``arch.shared_blocks`` defines each shared block (:class:`SharedBlock`), and a block kind
that runs one names it in ``shared`` (:class:`SharedUse`), or names a list its layers take in turn, with the parts
each use owns. This module gives what
follows from that: the schema check, the terms (the shared block once, the per-use linear with each layer), the
cache and FLOPs per use, the trace steps and toy of a use, its frame in the diagram and its words in the compare
table.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from pydantic import Field

from . import adapters
from .adapters import Adapters
from .kinds import FFNS, MIXERS, ffn_kind, mixer_kind, union
from .specbase import Strict, rule_error
from .steps import ew, linear
from .terms import Term, Weight, table, weight


class SharedBlock(Strict):
    """A block stored once and run by every layer that names it in ``shared`` (ZambaAttentionDecoderLayer): a
    norm, the mixer, a norm, the feed-forward, no residual inside."""

    embeddings_input: bool = Field(
        True, description="It reads concat(the layer's input, the input embeddings), 2 × d_model wide (Zamba's "
        "original_hidden_states); false = the layer's input alone")
    tied: bool = Field(True, description="Its copies share one set of weights, counted once; false = transformers "
                       "leaves them untied, one copy per use (PreTrainedModel ties _tied_weights_keys only with "
                       "tie_word_embeddings)")
    mixer: union(MIXERS) = Field(description="The token mixer, reading the (concatenated) input after its norm")
    ffn: union(FFNS) = Field(description="The feed-forward after the mixer's output is normed")
    adapters: Adapters | None = Field(None, description="Each use's own LoRA adapters inside the block (Zamba2); "
                                      "null = none")

    def d_in(self, d_model: int) -> int:
        """The width the block reads: its mixer's ``d_in`` (2 × d_model beside the embeddings), else d_model."""
        return getattr(self.mixer, "d_in", None) or d_model


class SharedUse(Strict):
    """A layer kind that runs a shared block before its own mixer (ZambaHybridLayer)."""

    block: str | list[str] = Field(description="The shared block it runs (a name in arch.shared_blocks), or a list "
                                   "the layers of this kind take in turn: use i runs block i mod its length (Zamba2 "
                                   "num_mem_blocks)")
    linear: bool = Field(True, description="Each layer has its own d_model → d_model linear (no bias) that maps the "
                         "shared block's output before it is added to the mixer's input (ZambaHybridLayer.linear)")

    @property
    def names(self) -> list[str]:
        """The blocks it takes in turn (one, or the list)."""
        return [self.block] if isinstance(self.block, str) else list(self.block)


def check(arch) -> None:
    """Every shared block is named by a block kind and every name is defined; one beside the embeddings reads
    2 × d_model."""
    odd = {n for b in arch.blocks.values() if b.shared for n in b.shared.names} ^ set(arch.shared_blocks)
    if odd:
        raise rule_error("shared_blocks", "unknown_block_kind", "blocks name shared blocks that shared_blocks does not "
                         "define, or it defines some no block names: " + ", ".join(sorted(odd)))
    for name, sb in arch.shared_blocks.items():
        if sb.embeddings_input and sb.d_in(arch.d_model) != 2 * arch.d_model:
            raise rule_error("shared_blocks", "block_wiring", f"shared block {name} reads concat(hidden, embeddings): "
                             f"its mixer's d_in must be 2 × d_model = {2 * arch.d_model}")
    for name, sb in arch.shared_blocks.items():
        if sb.adapters:
            adapters.check(name, sb.adapters, sb.mixer, sb.ffn, sb.d_in(arch.d_model))
    for b in arch.blocks.values():  # the trace, cache and FLOPs of a layer kind are one block's
        if b.shared and len({arch.shared_blocks[n].model_dump_json() for n in b.shared.names}) > 1:
            raise rule_error("shared_blocks", "block_wiring", "the shared blocks a layer kind takes in turn ("
                             + ", ".join(b.shared.names) + ") must be alike: the same mixer, feed-forward and adapters")


def turns(arch) -> list[tuple[int, str]]:
    """(layer, the shared block it runs) for every layer that runs one: a kind's i-th use takes its i-th block, mod
    their number (Zamba2Model.get_layers: block_id = hybrid layers before it % num_mem_blocks)."""
    seen: dict[str, int] = {}
    out = []
    for i, kind in enumerate(arch.layers):
        use = arch.blocks[kind].shared
        if use is not None:
            out.append((i, use.names[seen.get(kind, 0) % len(use.names)]))
            seen[kind] = seen.get(kind, 0) + 1
    return out


def uses(arch) -> dict[str, int]:
    """How many layers run each shared block."""
    out = dict.fromkeys(arch.shared_blocks, 0)
    for _, name in turns(arch):
        out[name] += 1
    return out


def first(arch, kind: str) -> SharedBlock:
    """The first shared block a layer of ``kind`` runs (all it takes in turn are alike: :func:`check`)."""
    return arch.shared_blocks[arch.blocks[kind].shared.names[0]]


def adapter_weights(arch, sb: SharedBlock) -> list[Weight]:
    """One use's adapters in shared block ``sb`` (none without adapters)."""
    if sb.adapters is None:
        return []
    return adapters.use_weights(sb.adapters, sb.d_in(arch.d_model), arch.d_model, sb.ffn.d_ff)


def shared_weights(d_model: int, sb: SharedBlock) -> list[Weight]:
    """The mixer's and feed-forward's tensors as their kinds declare them, the mixer at the width it reads."""
    d = ("d_model", d_model)
    return mixer_kind(sb.mixer).terms.weights(d, sb.mixer) + ffn_kind(sb.ffn).terms.weights(d, sb.ffn)


def norm_weights(arch, sb: SharedBlock) -> list[Weight]:
    """input_layernorm (of the width it reads) and pre_ff_layernorm (d_model), with biases for a LayerNorm."""
    if not arch.norm.weights:
        return []
    widths = (("input_norm", sb.d_in(arch.d_model)), ("pre_ff_norm", arch.d_model))
    names = ("weight", "bias") if arch.norm.kind == "layernorm" and arch.norm.bias else ("weight",)
    return [weight("norms", f"{name}.{p}", ("d_in" if name == "input_norm" else "d_model", width),
                   tensor=f"{name}.{p}") for name, width in widths for p in names]


def block_terms(arch, name: str) -> list[Term]:
    """One shared block's terms (``where`` names it): once, or once per use when its copies are not tied; each copy
    holds the adapters of every use of the block (Zamba2: a slot per use)."""
    sb, n = arch.shared_blocks[name], uses(arch)[name]
    slots = [("uses", n)] if n > 1 else []
    return [replace(t, repeat=1 if sb.tied else n) for t in run_terms(arch, name, slots)]


def run_terms(arch, name: str, slots: list = ()) -> list[Term]:
    """The weights one use of shared block ``name`` runs: the block and its own adapters (``slots``: the adapter
    terms' extra factor, the uses a copy holds adapters for)."""
    sb, where = arch.shared_blocks[name], f"shared {name}"
    own = [w.term(where) for w in shared_weights(arch.d_model, sb) + norm_weights(arch, sb)]
    return own + [replace(t, symbols=t.symbols + tuple(s for s, _ in slots), values=t.values + tuple(
        v for _, v in slots)) for t in (w.term(where) for w in adapter_weights(arch, sb))]


def use_weights(arch, kind: str) -> list[Weight]:
    """What each use owns: the linear after the shared block (ZambaHybridLayer.linear, no bias)."""
    use = arch.blocks[kind].shared
    if use is None or not use.linear:
        return []
    d = ("d_model", arch.d_model)
    return [weight("attention", "shared_linear", d, d, tensor="linear.weight")]


def use_terms(arch, kind: str) -> list[Term]:
    """The per-use terms of one layer of block kind ``kind``."""
    return [w.term(kind) for w in use_weights(arch, kind)]


def model_terms(arch) -> list[Term]:
    """Every shared block's terms, once each, in the order they are defined."""
    return [t for name in arch.shared_blocks for t in block_terms(arch, name)]


def used_mixers(arch, kind: str) -> tuple:
    """The shared mixer a layer of ``kind`` runs (none when it runs no shared block): its FLOPs over the context are
    the layer's, per use."""
    return () if arch.blocks[kind].shared is None else (first(arch, kind).mixer,)


def use_caches(arch, kind: str, n: int) -> list:
    """What the shared mixer keeps at the ``n`` layers of ``kind`` that run it: its own cache at each use
    (``ZambaAttention`` updates the cache at the hybrid layer's index)."""
    use = arch.blocks[kind].shared
    if use is None:
        return []
    m = first(arch, kind).mixer
    c = mixer_kind(m).cache(kind, n, m, arch.d_model)
    return [replace(c, formula=f"{c.formula}: the shared {' / '.join(use.names)} block's, kept at each of the {n} "
                    "layers that run it")]


# --- the diagram: the shared block drawn once, each use's linear in its layer's frame -------------------------


def layers_running(arch, name: str) -> list[int]:
    """The layers that run shared block ``name``, in order."""
    return [i for i, block in turns(arch) if block == name]


def _where(layers: list[int]) -> str:
    shown = ", ".join(str(i) for i in layers[:6]) + (", …" if len(layers) > 6 else "")
    return f"runs at {len(layers)} layers ({shown})"


def shared_use(d, p: str, spec, block, prev: str) -> str:
    """In the frame of a layer kind that runs a shared block: the block's output through this layer's own linear,
    added to the layer's input; returns the sum, which the mixer's norm reads (the residual keeps ``prev``)."""
    use, dm = block.shared, f"{spec.arch.d_model:,}"
    which = f"shared block '{use.block}'" if isinstance(use.block, str) else \
        "shared blocks " + ", ".join(f"'{n}'" for n in use.names) + " in turn"
    d.node(p + "shared_linear", d.label(f"{which} (drawn once, beside)",
                                        f"→ this layer's own linear {dm} → {dm}" if use.linear else ""),
           "attention", mark="mixer")
    d.node(p + "shared_add", d.label("+"), "add", shape="circle", width="0.3", fixedsize="true")
    d.edge(prev, p + "shared_add")
    d.edge(p + "shared_linear", p + "shared_add")
    for name in use.names:
        d.uses.setdefault(name, []).append((p + "shared_linear", prev))
    return p + "shared_add"


def draw_shared(d, spec, name: str) -> None:
    """Shared block ``name`` once, in a dashed frame that says where it runs and that its weights are one copy: concat
    with the input embeddings, norm, mixer, norm, feed-forward; dashed edges from the embedding and from each using
    layer's input, and to each using layer's linear."""
    arch, sb = spec.arch, spec.arch.shared_blocks[name]
    q, norm = f"{d.prefix}shared_{name}.", arch.norm.label()
    copies = "weights stored once (tied)" if sb.tied else "one untied copy per use"
    title = f"Shared block '{name}' · {copies} · {_where(layers_running(arch, name))}"
    with d.cluster(q[:-1], label=d.label(title), labeljust="l", style="rounded,dashed", color=d.t.annotation,
                   fontcolor=d.t.annotation):
        width = f"{sb.d_in(arch.d_model):,}"
        d.node(q + "in", d.label(f"concat(layer input, input embeddings): {width}" if sb.embeddings_input
                                 else "layer input"), "io", shape="plaintext")
        d.node(q + "norm_in", d.label(f"{norm} ({width})"), "norm", mark="norm")
        reads = [f"q, k, v read {width}; o_proj back to {arch.d_model:,}"] if width != f"{arch.d_model:,}" else []
        scale = [f"scores × {sb.mixer.scale:.4g}"] if getattr(sb.mixer, "scale", None) else []
        d.node(q + "mixer", d.label(*mixer_kind(sb.mixer).lines(sb.mixer), *reads, *scale,
                                    *adapters.lines(sb.adapters, uses(arch)[name])), mixer_kind(sb.mixer).fill,
               mark="mixer")
        d.node(q + "norm_ffn", d.label(norm), "norm", mark="norm")
        out = ffn_kind(sb.ffn).draw(d, q, sb.ffn)
        for a, b in ((q + "in", q + "norm_in"), (q + "norm_in", q + "mixer"), (q + "mixer", q + "norm_ffn"),
                     (q + "norm_ffn", q + "ffn")):
            d.edge(a, b)
    if sb.embeddings_input:
        d.edge(d.prefix + "embed", q + "in", style="dashed", constraint="false", label="input embeddings")
    for linear, layer_input in d.uses.get(name, []):
        d.edge(layer_input, q + "in", style="dashed", constraint="false")
        d.edge(out, linear, style="dashed", constraint="false", label="each use")


# --- the trace and the toy of one use ---------------------------------------------------------------------------

PART = "shared block"


def use_steps(c, kind: str) -> list:
    """ZambaHybridLayer before its Mamba layer: the shared block on concat(x, x₀) (ZambaAttentionDecoderLayer: norm,
    attention, norm, feed-forward, no residual), this layer's linear, the sum the mixer's norm reads."""
    arch, T, d = c.arch, c.T, c.d
    use, sb = arch.blocks[kind].shared, first(arch, kind)
    width = sb.d_in(d)
    steps = [ew("concat input embeddings", PART, (T, d), "[x | x₀]: the layer's input beside the input embeddings "
                "x₀ (original_hidden_states)", per=0, out=(T, width))] if sb.embeddings_input else []
    steps += [c.norm("shared norm (input)", PART, "input_norm", (T, width)),
              *_adapted(c, sb, mixer_kind(sb.mixer).steps(c, sb.mixer), adapters.mixer_steps),
              c.norm("shared norm (pre-ffn)", PART, "pre_ff_norm", (T, d)),
              *_adapted(c, sb, ffn_kind(sb.ffn).steps(c, sb.ffn), adapters.ffn_steps)]
    if use.linear:
        steps.append(linear(c, "shared linear", PART, table(use_weights(arch, kind)), "s = s · W_linear", "linear"))
    return steps + [ew("add to the mixer input", PART, (T, d), "h = x + s: the mixer's norm reads h, the residual "
                       "keeps x")]


def _adapted(c, sb: SharedBlock, steps: list, add) -> list:
    """A sublayer's steps with this use's adapters (``add``: :mod:`gallery.adapters`' mixer or ffn steps)."""
    if sb.adapters is None:
        return steps
    return add(c, sb.adapters, table(adapter_weights(c.arch, sb)), steps)


def embeddings_toy(T: int, d_model: int):
    """The toy's stand-in for the input embeddings x₀ the shared block reads beside the layer input: seed 0."""
    return np.random.default_rng(0).standard_normal((T, d_model))


def use_forward(R, kind: str, x):
    """The toy of :func:`use_steps` on the layer input ``x``: returns x + linear(shared block(...))."""
    arch = R.arch
    use, sb = arch.blocks[kind].shared, first(R.arch, kind)
    s = R.rec("concat input embeddings", np.concatenate([x, embeddings_toy(len(x), arch.d_model)], -1)) \
        if sb.embeddings_input else x
    s = R.norm("shared norm (input)", "input_norm", s)
    R.after = adapters.mixer_hooks(R, sb.adapters, s) if sb.adapters else {}
    s = mixer_kind(sb.mixer).forward(R, sb.mixer, s)
    s = R.norm("shared norm (pre-ffn)", "pre_ff_norm", s)
    R.after = adapters.ffn_hooks(R, sb.adapters, s) if sb.adapters else {}
    s = ffn_kind(sb.ffn).forward(R, sb.ffn, s, s)
    R.after = {}
    if use.linear:
        s = R.linear("shared linear", s, "linear")
    return R.rec("add to the mixer input", x + s)


def shrink(arch, kind: str, d_model: int) -> dict:
    """The toy's shared block: the first one ``kind`` runs (:func:`toy_use`) at toy widths (q, k, v read 2 × the toy's
    d_model; heads as wide together as that input where the model's are, as Zamba's and Zamba2's are; a scale that is
    not 1/√head_dim
    keeps its ratio to it, Zamba's 1/√(head_dim/2); adapters of rank 3)."""
    use = arch.blocks[kind].shared
    if use is None:
        return {}
    sb = first(arch, kind)
    data = sb.model_dump()
    mixer = mixer_kind(sb.mixer).shrink(data["mixer"])
    if sb.embeddings_input:
        mixer["d_in"] = 2 * d_model
    if getattr(sb.mixer, "head_dim", 0) * getattr(sb.mixer, "n_heads", 0) == sb.d_in(arch.d_model):
        mixer["head_dim"] = mixer.get("d_in", d_model) // mixer["n_heads"]  # heads as wide as the input, kept so
    if data["mixer"].get("scale"):
        mixer["scale"] = data["mixer"]["scale"] * (data["mixer"]["head_dim"] / mixer["head_dim"]) ** 0.5
    if sb.adapters:
        data["adapters"]["rank"] = min(sb.adapters.rank, 3)
    return {use.names[0]: {**data, "mixer": mixer, "ffn": ffn_kind(sb.ffn).shrink(data["ffn"])}}


def toy_use(block) -> dict | None:
    """The toy layer's use: the first block of a list it takes in turn."""
    return block.shared and {**block.shared.model_dump(), "block": block.shared.names[0]}


def summary(arch) -> str | None:
    """The shared blocks in words, for the compare table: "MHA + dense block, stored once, run at 13 layers"; None
    without one."""
    if not arch.shared_blocks:
        return None
    n = uses(arch)
    return "; ".join(f"{mixer_kind(sb.mixer).name(sb.mixer)} + {ffn_kind(sb.ffn).name(sb.ffn)} block, "
                     f"{'stored once' if sb.tied else 'untied copies'}, run at {n[name]} layers"
                     + (f", rank-{sb.adapters.rank} adapters per use" if sb.adapters else "")
                     for name, sb in arch.shared_blocks.items())
