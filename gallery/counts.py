"""Exact parameter counts from a spec alone, each term with the formula that produces it.

The counts follow the modules transformers builds (``nn.Linear``, ``nn.Embedding``, norms, expert
tensors, sink logits) and count ``model.parameters()`` the way PyTorch does: a tied output head
shares the embedding matrix and is counted once; buffers (RoPE frequencies, DeepSeek-V3's routing
correction bias) are not parameters. ``tests/test_counts.py`` checks every bundled spec against the
transformers model built from its vendored config on the meta device.

Components: ``embeddings`` (token, with CPM-Ant's prompt rows, + learned positions + segments; HRM's z_L_init), ``attention``
(projections, QK-norm, sinks; CPM-Ant's relative position bias table, once),
``linear_mixers`` (the mixers with a fixed-size state: linear attention, state-space layers, convolutions),
``mlp`` (dense feed-forward), ``experts`` (routed), ``shared_experts``, ``router``, ``norms`` (block and final
norms; a shared block's, ``arch.shared_blocks``, once), ``norm_gates`` (the low-rank gates of gated norms, A.X-K2's,
:mod:`gallery.gated_norm`), ``hyper_connections`` (DeepSeek-V4's and HY-V4's stream weights, :mod:`gallery.hyper`),
``attn_residuals`` (Inkling 2's queries over the block states, :mod:`gallery.block_attn_residual`),
``altup`` (Gemma 3n's stream router and coefficients, :mod:`gallery.altup`), ``laurel`` (Gemma 3n's low-rank residual,
:mod:`gallery.laurel`), ``per_layer_inputs`` (Gemma 4's per-layer input projections, Qwen4-Exp's n-gram keys,
values and convolutions, :mod:`gallery.ngram_embedding`; their token tables are in ``embeddings``),
``patch_projections`` (BLT's projections between bytes and patches) and ``patcher`` (BLT's entropy model,
:mod:`gallery.byte_latent`), ``head`` (untied output projection and its bias), ``draft_head`` (a draft model's
pre- and post-projections and centroids, :mod:`gallery.draft_head`). Each mixer and feed-forward kind writes its own
terms (``gallery/kinds/``); this module wires them with the embeddings, norms, hyper-connections, per-layer inputs
and head.
"""

from __future__ import annotations

from typing import Callable

from . import (altup, axial, block_attn_residual, byte_latent, draft_head, gated_norm, hyper, laurel, ngram_embedding,
               recurrent_stacks, residual_scale, reversible, sharedblock, sublayer_conv, tanh_gate)
from .kinds import ffn_kind, mixer_kind, relative_bias
from .memo import per_object
from .spec import Arch, Block
from .terms import Term, Weight, term, weight

COMPONENTS = ("embeddings", "attention", "linear_mixers", "mlp", "experts", "shared_experts", "router", "norms",
              "norm_gates", "hyper_connections", "attn_residuals", "altup", "laurel", "per_layer_inputs",
              "patch_projections", "patcher", "head", "draft_head")


@per_object
def param_terms(arch: Arch) -> tuple[Term, ...]:
    """Every parameter group of the model, in build order, with layer repeats applied (once per ``Arch``)."""
    d = ("d_model", arch.d_model)
    emb = arch.embedding
    if arch.byte_latent is not None:  # BLT: this stack between byte-level stacks of widths of their own
        return tuple(byte_latent.model_terms(arch, [Term(t.component, t.name, t.where, t.symbols, t.values, n)
                                                    for kind, n in arch.layer_counts().items()
                                                    for t in block_terms(arch, kind)]))
    terms = [term("embeddings", "embed_tokens", "model", _token_rows(arch), d)]
    if emb.learned_positions:
        terms.append(term("embeddings", "embed_positions", "model", ("learned_positions", emb.learned_positions), d))
    terms += axial.terms(emb.axial_positions) if emb.axial_positions else []  # ReformerEmbeddings
    if emb.norm:  # BloomModel.word_embeddings_layernorm
        terms.extend(_norm_terms(arch, "embed_norm", "model", 1))
    terms += _ple_model_terms(arch)
    terms += ngram_embedding.model_terms(arch.ngram_embedding, sum(arch.blocks[k].ngram_embedding for k in arch.layers))
    for kind, n in arch.layer_counts().items():
        for t in block_terms(arch, kind):
            terms.append(Term(t.component, t.name, t.where, t.symbols, t.values, n))
    terms += sharedblock.model_terms(arch)  # stored once, however many layers run them
    if arch.recurrent_stacks:  # HrmTextModel: each stack's final_norm, then z_L_init (its layers run in cycles)
        terms += [t for s in "LH" for t in _norm_terms(arch, f"{s}_final_norm", "model", 1)]
        terms += [w.term("model") for w in recurrent_stacks.weights(d)]
    if arch.block_attn_residual:  # Inkling2TextModel.final_input, built after its final norm
        terms += [w.term("model") for w in block_attn_residual.model_weights(d)]
    if arch.final_norm:
        terms.extend(_norm_terms(arch, "final_norm", "model", 1, reversible.width(arch)))
    if emb.segments:  # CpmAntModel.segment_embedding
        terms.append(term("embeddings", "segment_embedding", "model", ("segments", emb.segments), d))
    terms += relative_bias.model_terms(arch)  # one table every layer reads (CpmAntModel.position_bias)
    if emb.input_scale:  # ZayaModel: built after its final norm
        terms += [w.term("model") for w in residual_scale.input_weights(d)]
    terms += _hc_head_terms(arch) + _head_mlp_terms(arch)
    terms += altup.model_terms(arch.altup, arch.d_model) if arch.altup else []
    if not emb.tied:
        terms.append(term("head", "lm_head", "model", reversible.width(arch), ("vocab_size", arch.vocab_size)))
    if emb.head_bias:
        terms.append(term("head", "lm_head.bias", "model", ("vocab_size", arch.vocab_size)))
    return tuple(terms + draft_head.model_terms(arch))


def _token_rows(arch: Arch) -> tuple[str, int]:
    """Rows of the token table: the vocabulary, and the prompt rows after it (CpmAntModel.input_embedding) or rows the
    head has not (MllamaTextModel.embed_tokens: vocab_size + 8)."""
    prompts, extra = arch.embedding.prompt_rows, arch.embedding.extra_rows
    if extra:
        return ("vocab_size + extra_rows", arch.vocab_size + extra)
    if not prompts:
        return ("vocab_size", arch.vocab_size)
    return ("(vocab_size + prompt_types × prompt_length)", arch.vocab_size + prompts.types * prompts.length)


def block_terms(arch: Arch, kind: str) -> list[Term]:
    """The parameter groups of one layer of block kind ``kind`` (no repeat)."""
    block = arch.blocks[kind]
    pair: list[Term] = []
    d = ("d_model", arch.d_model)
    for mixer in block.mixers:  # Falcon-H1: attention beside a state-space mixer, both counted
        pair += mixer_kind(mixer).terms(d, mixer, kind)
    if block.ffn is not None:
        pair += ffn_kind(block.ffn).terms(d, block.ffn, kind)
    lowrank = arch.hyper_connections and arch.hyper_connections.lowrank  # its hc_norm is the layer's norm
    pair += _norm_terms(arch, "norm", kind, 0 if lowrank else norms_per_block(block))
    if block.gated_norm:  # AXK2GatedRMSNorm: the gate's fc1 and fc2 beside the norm's weight
        labels = [mixer_kind(block.mixer).label] + ["ffn"] * block.gated_norm.ffn
        pair += [w.term(kind) for label in labels for w in gated_norm.weights(d, block.gated_norm, label)]
    labels = [mixer_kind(m).label for m in (block.mixer,) if m is not None] + ["ffn"] * (block.ffn is not None)
    if block.learned_residual:  # ZayaDecoderLayer: post_attention_residual_scale, post_mlp_residual_scale
        pair += [w.term(kind) for label in labels for w in residual_scale.weights(d, label, block.learned_residual)]
    if block.tanh_gated:  # MllamaCrossAttentionDecoderLayer: cross_attn_attn_gate, cross_attn_mlp_gate
        pair += [w.term(kind) for label in labels for w in tanh_gate.weights(label)]
    if block.sublayer_conv:  # InklingDecoderLayer: attn_sconv, mlp_sconv
        pair += [w.term(kind) for label in labels for w in sublayer_conv.weights(d, label, block.sublayer_conv)]
    terms = [_paired(t, block.sublayer_pairs) for t in pair]  # LongCat-Flash: each pair with weights of its own
    if block.shortcut is not None:  # once per layer, beside the first pair's ffn
        terms += ffn_kind(block.shortcut).terms(d, block.shortcut, kind)
        terms += _norm_terms(arch, "shortcut_norm", kind, ffn_kind(block.shortcut).extra_norms(block.shortcut))
    terms += _hc_terms(arch, block, kind)
    if arch.block_attn_residual:  # Inkling2*DecoderLayer: attention_input, mlp_input
        terms += [w.term(kind) for w in block_attn_residual.weights(d, arch, kind)]
    for part, module in ((arch.altup, altup), (arch.laurel, laurel)):  # Gemma3nTextDecoderLayer.altup, .laurel
        terms += [w.term(kind) for w in module.weights(d, part)] if part is not None else []
    if block.ngram_embedding:  # Qwen4ExpTextPLELayer
        terms += [w.term(kind) for w in ngram_embedding.weights(d, arch.ngram_embedding, arch.hyper_connections.streams)]
    return terms + sharedblock.use_terms(arch, kind) + _ple_layer_terms(arch, kind)


def _paired(t: Term, pairs: int) -> Term:
    """A term of a mixer → ffn pair that a layer runs ``pairs`` times, each time with weights of its own."""
    return t if pairs == 1 else Term(t.component, t.name, t.where, (*t.symbols, "sublayer_pairs"), (*t.values, pairs))


def routed_ffn(block: Block):
    """The block's feed-forward with routed experts (its ffn, or a shortcut MoE beside it), or None."""
    return next((f for f in block.ffns if ffn_kind(f).routed(f)[1] > 1 or ffn_kind(f).routed(f)[0] is None), None)


def _ple_model_terms(arch: Arch) -> list[Term]:
    """Gemma4TextModel's per-layer embeddings: the packed table (one d_per_layer slice per layer), the projection of
    the embedded token to the same n_layers × d_per_layer, and its norm of d_per_layer."""
    ple = arch.per_layer_embedding
    if ple is None:
        return []
    w, n = ("d_per_layer", ple.d_per_layer), ("n_layers", arch.n_layers)
    return [term("embeddings", "embed_tokens_per_layer", "model", ("vocab_size (per layer)", ple.vocab_size), n, w),
            term("per_layer_inputs", "per_layer_model_projection", "model", ("d_model", arch.d_model), n, w),
            term("norms", "per_layer_projection_norm.weight", "model", w)]


def ple_layer_weights(arch: Arch) -> list[Weight]:
    """Gemma4TextDecoderLayer's per-layer input: gate d_model → d_per_layer, projection back (the trace reads them)."""
    ple = arch.per_layer_embedding
    if ple is None:
        return []
    d, w = ("d_model", arch.d_model), ("d_per_layer", ple.d_per_layer)
    return [weight("per_layer_inputs", "per_layer_input_gate", d, w),
            weight("per_layer_inputs", "per_layer_projection", w, d)]


def _ple_layer_terms(arch: Arch, where: str) -> list[Term]:
    """The per-layer input's gate and projection, and its norm of d_model."""
    if arch.per_layer_embedding is None:
        return []
    return [w.term(where) for w in ple_layer_weights(arch)] + [
        term("norms", "post_per_layer_input_norm.weight", where, ("d_model", arch.d_model))]


def _hc_terms(arch: Arch, block: Block, where: str) -> list[Term]:
    """The hyper-connection before each sublayer (attn_hc, ffn_hc; :mod:`gallery.hyper`)."""
    hc, d = arch.hyper_connections, ("d_model", arch.d_model)
    subs = [name for name, part in (("attn_hc", block.mixer), ("ffn_hc", block.ffn)) if part is not None]
    return [w.term(where) for sub in subs for w in hyper.weights(d, hc, sub)] if hc else []


def _hc_head_terms(arch: Arch) -> list[Term]:
    """The hyper-head: collapses the streams into one before the final norm."""
    hc = arch.hyper_connections
    return [w.term("model") for w in hyper.head_weights(("d_model", arch.d_model), hc)] if hc else []


def _head_mlp_terms(arch: Arch) -> list[Term]:
    """ModernBertDecoderPredictionHead before the output projection: dense d_model → d_model (and its bias), a norm."""
    mlp = arch.embedding.head_mlp
    if mlp is None:
        return []
    d = ("d_model", arch.d_model)
    dense = [term("head", "head_mlp.dense", "model", d, d)] + ([term("head", "head_mlp.dense.bias", "model", d)]
                                                               if mlp.bias else [])
    return dense + _norm_terms(arch, "head_mlp.norm", "model", 1)


def norms_per_block(block: Block) -> int:
    """Norm modules in one layer: one per sublayer (two with sandwich), one if shared by both, one fewer without a
    norm before the mixer (``mixer_norm: false``).

    A feed-forward kind may add norms of its own (Gemma 4's MoE with a dense MLP beside it: three).
    """
    if block.shared_norm:
        return 1
    sublayers = (block.mixer is not None) + (block.ffn is not None)
    extra = ffn_kind(block.ffn).extra_norms(block.ffn) if block.ffn is not None else 0
    return sublayers * (2 if block.norm_placement == "sandwich" else 1) + extra - (not block.mixer_norm)


def _norm_terms(arch: Arch, name: str, where: str, n: int, width: tuple[str, int] | None = None) -> list[Term]:
    """``n`` norms of ``width`` (default d_model): their weights, and their biases where the model has them."""
    if n == 0 or not arch.norm.weights:
        return []
    factors = [width or ("d_model", arch.d_model)] + ([("n_norms", n)] if n > 1 else [])
    terms = [term("norms", f"{name}.weight", where, *factors)]
    if arch.norm.bias and (arch.norm.final_bias or name != "final_norm"):
        terms.append(term("norms", f"{name}.bias", where, *factors))
    return terms


# --- totals ----------------------------------------------------------------------------------


def total_params(arch: Arch) -> int:
    """All parameters, tied weights once: what ``sum(p.numel() for p in model.parameters())`` gives."""
    return sum(t.total for t in param_terms(arch))


def breakdown(arch: Arch) -> dict[str, int]:
    """Total parameters per component (every component present, zero when absent)."""
    out = dict.fromkeys(COMPONENTS, 0)
    for t in param_terms(arch):
        out[t.component] += t.total
    return out


def unrouted(arch: Arch) -> str | None:
    """Why the figures that depend on routing (active parameters, FLOPs per token) are undefined, in one line;
    None when they are defined.

    A config may leave ``top_k`` unset (transformers' own DeepSeek-V2 default has ``num_experts_per_tok: null``):
    the model is built, so every parameter is counted, but it cannot route a token, so how many experts a token
    uses is not said.
    """
    kinds = [kind for kind, block in arch.blocks.items()
             if (f := routed_ffn(block)) is not None and ffn_kind(f).routed(f)[0] is None]
    if not kinds:
        return None
    return (f"active parameters undefined: top_k (num_experts_per_tok) is null in the {', '.join(kinds)} layers, so "
            "the model cannot route a token and how many experts a token uses is not said; the total is exact")


def inactive_expert_params(arch: Arch, real_picks: Callable[[int, int], int] = lambda k, zero: k) -> int | None:
    """Routed-expert parameters a token does not use: of each expert tensor's n rows, the n − top_k it is not sent to,
    per layer, in its MoE feed-forwards and in a mixer of routed experts (JetMoE's attention experts); None when
    :func:`unrouted`. ``real_picks(top_k, zero_experts)``: how many of a token's picks are real experts (all of them
    unless the router also scores zero-compute experts: :func:`active_bounds`)."""
    if unrouted(arch):
        return None
    d = ("d_model", arch.d_model)
    inactive = 0
    for kind, n in arch.layer_counts().items():
        block = arch.blocks[kind]
        parts = [(mixer_kind(m), m, block.sublayer_pairs) for m in block.mixers]
        parts += [(ffn_kind(f), f, 1 if f is block.shortcut else block.sublayer_pairs) for f in block.ffns]
        for part_kind, part, pairs in parts:
            k = real_picks(part_kind.routed(part)[0], getattr(part, "zero_experts", 0))
            for t in part_kind.terms(d, part, kind):  # not the latent projections every token uses
                if t.name.startswith("experts."):  # stored (rows, ...): one row per expert (n_experts first)
                    rows = t.values[0]
                    inactive += n * pairs * t.count // rows * (rows - k)
    return inactive


def active_bounds(arch: Arch) -> tuple[int, int] | None:
    """(fewest, most) parameters one token uses: equal, :func:`active_params`, unless a router also scores
    zero-compute identity experts (LongCat-Flash ``zero_expert_num``): a token then uses from top_k − zero_experts
    (at least none) real experts to top_k, as the data routes it; None when :func:`unrouted`."""
    most = active_params(arch)
    fewest = inactive_expert_params(arch, lambda k, zero: max(k - zero, 0))
    return None if most is None else (total_params(arch) - fewest, most)


def mtp_terms(arch: Arch) -> list[Term]:
    """The multi-token-prediction modules a DeepSeek-V3-style checkpoint stores but transformers skips.

    Each module (DeepSeek-V3's ``modeling_deepseek.py``, layer index ``n_layers``): RMSNorms on the
    hidden state and on the next token's embedding (enorm, hnorm), ``eh_proj`` (2·d_model → d_model),
    one decoder layer of the last block kind, and a shared head with its own norm; the checkpoint also
    stores a copy of the embedding and output matrices with each module.
    """
    if not arch.mtp_layers:
        return []
    d, v = ("d_model", arch.d_model), ("vocab_size", arch.vocab_size)
    layer = sum(t.count for t in block_terms(arch, arch.layers[-1]))
    n = arch.mtp_layers
    return [Term(t.component, t.name, "mtp", t.symbols, t.values, n) for t in [
        term("mtp", "decoder_layer", "mtp", (f"params of one {arch.layers[-1]} layer", layer)),
        term("mtp", "enorm + hnorm + shared_head.norm", "mtp", ("3", 3), d),
        term("mtp", "eh_proj", "mtp", ("2 × d_model", 2 * arch.d_model), d),
        term("mtp", "embed_tokens + shared_head.head (stored copies)", "mtp", ("2", 2), v, d),
    ]]


def mtp_params(arch: Arch) -> int:
    """Parameters of the MTP modules (0 for models without them); not part of :func:`total_params`."""
    return sum(t.total for t in mtp_terms(arch))


def active_note(arch: Arch) -> str:
    """What the active count leaves unsaid when a router also scores zero-compute experts (one sentence), else ""."""
    bounds = active_bounds(arch)
    if bounds is None or bounds[0] == bounds[1]:
        return ""
    return (f"The router also scores zero-compute (identity) experts, so the data decides: a token uses from "
            f"{bounds[0]:,} (its picks zero experts wherever they can be) to {bounds[1]:,} (every pick a real expert, "
            "the figure shown).")


def active_params(arch: Arch) -> int | None:
    """Parameters used for one token: the total less the routed experts it is not sent to; None when
    :func:`unrouted` says why it is undefined.

    Embeddings and head are included, as in the "A3B"-style figures model publishers give. With zero-compute
    experts this is the most a token uses (every pick a real expert); :func:`active_bounds` gives the fewest too.
    """
    inactive = inactive_expert_params(arch)
    return None if inactive is None else total_params(arch) - inactive
