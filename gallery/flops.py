"""Forward FLOPs for one token, at a given context length (a decode step).

Convention (Kaplan et al. 2020, §2.1): a matrix multiply with ``N`` weights costs ``2N`` FLOPs per
token, so the weights a token uses cost ``2 × active non-embedding matmul parameters`` (the output
head included, the embedding lookup excluded). Attention adds, per softmax layer, ``2 × n_heads ×
head_dim`` for QKᵀ and the same for the weighted sum of V, per attended token; a sliding-window
layer attends to at most ``window`` tokens; a layer that attends to an image (Mllama) to one image's vision tokens,
whose K and V projections run once per image (not per text token) and are left out. A draft model's centroid head
(Gemma 4 assistants) multiplies its centroid layer and the rows of the clusters it picks, not the whole vocabulary.

A fixed-state mixer instead reads and writes its state, the same cost at any context (:func:`state_flops`).
Each mixer kind's module (``gallery/kinds/``) gives both rules for one layer: ``context_flops`` (attention over
the context it sees) and ``state_flops`` (its state update and read-out).

Block attention residuals (Inkling 2) add their scores and weighted sums over the block states
(:func:`gallery.block_attn_residual.flops`); their queries, the L2 clips' scales and the K/V convolutions' static
taps (multiplied per token, counted as weights) aside.

A shared block (Zamba's) is counted once but multiplies its weights and attends at every layer that runs it: its
weights count once per use here, and its attention is the layer's. So does a layer of recurrent stacks (HRM) at each
of its runs: H_cycles × L_cycles in the L stack, H_cycles in the H stack.

Their projections and convolution taps are weights (2 FLOPs each); ``A_log``, ``D``, ``dt_bias`` and
the gates are elementwise. Norms, activations, softmax and RoPE are elementwise and left out (well
under 1% for these models).
"""

from __future__ import annotations

from . import block_attn_residual, byte_latent_cost
from .counts import active_params, block_terms as layer_terms, param_terms, routed_ffn
from .draft_head import head_rows
from .kinds import ffn_kind, mixer_kind
from .recurrent_stacks import runs
from .sharedblock import block_terms, run_terms, used_mixers, uses
from .spec import Arch


def _elementwise(name: str) -> bool:
    """Parameters a token does not multiply as a matrix: biases, norm weights, sinks, per-channel SSM vectors
    (RG-LRU's recurrent_param too, RWKV's decays, bonuses and token-shift mixes), DeepSeek-V4's position biases and
    hyper-connection scales, xIELU's two scalars, AltUp's correct_output_scale, Inkling's global scales and its
    relative-logit table (every head multiplies it: the kind's context FLOPs count that), Inkling 2's L2 clips' scales
    and its attention-residual queries (:func:`gallery.block_attn_residual.flops` counts those), the dynamic mask's
    ``A``."""
    return name in ("D", "A", "norm.weight") or name.endswith((
        ".bias", "_bias", "norm", "sinks", "A_log", "recurrent_param", "hc.base", "hc.scale", "hc_head.base",
        "hc_head.scale", "act_fn.alpha_p", "act_fn.alpha_n", "time_decay", "time_first", "time_mix_key",
        "time_mix_value", "time_mix_receptance", "correct_output_scale", "qk_norm.temp", "states_scale",
        "global_scale", "rel_logits_proj.proj", ".query", "_l2_clip.scale"))


def _per_image(name: str) -> bool:
    """Weights that multiply an image's vision tokens, not the text token: the K and V projections of a layer that
    attends to an image (``… (image)``) run once per image and are cached, so a text token does not multiply them."""
    return name.endswith("(image)")


def matmul_flops(arch: Arch) -> int | None:
    """2 × the weights one token multiplies with (no embedding lookup, biases and norms excluded); None when the
    experts a token uses are not said (:func:`~gallery.counts.unrouted`). BLT: per byte
    (:mod:`gallery.byte_latent_cost`)."""
    if arch.byte_latent:
        return byte_latent_cost.matmul_flops(arch)
    active = active_params(arch)
    if active is None:
        return None
    skipped = 0
    for t in param_terms(arch):
        if t.component in ("embeddings", "norms") or _elementwise(t.name) or _per_image(t.name):
            ffn = routed_ffn(arch.blocks[t.where]) if t.name.startswith("experts.") else None
            # active_params already left out the experts a token skips: drop only the used experts' share
            k, experts = ffn_kind(ffn).routed(ffn) if ffn is not None else (1, 1)
            skipped += t.total * k // experts
    # a tied head still multiplies; a draft's centroid head multiplies only its top clusters' rows (draft_head)
    rows = head_rows(arch)
    head = (rows if arch.embedding.tied else rows - arch.vocab_size) * arch.d_model
    return 2 * (active - skipped + head + _shared_reruns(arch) + _stack_reruns(arch))


def _matmul(terms) -> int:
    """The weights among ``terms`` a token multiplies as matrices."""
    return sum(t.total for t in terms if t.component != "norms" and not _elementwise(t.name))


def _shared_reruns(arch: Arch) -> int:
    """What each use of a shared block multiplies (the block and its own adapters) beyond what is counted of it: a
    tied block's weights are counted once and run at every use; an untied copy holds every use's adapters but runs
    one set."""
    return sum(n * _matmul(run_terms(arch, name)) - _matmul(block_terms(arch, name)) for name, n in uses(arch).items())


def _stack_reruns(arch: Arch) -> int:
    """What the layers of recurrent stacks multiply at their runs beyond the first (HrmTextModel's cycles)."""
    return sum((runs(arch, kind) - 1) * n * _matmul(layer_terms(arch, kind)) for kind, n in arch.layer_counts().items())


def _mixers(arch: Arch, kind: str) -> tuple:
    """The mixers one layer of ``kind`` runs: its own and the shared block's it runs."""
    return arch.blocks[kind].mixers + used_mixers(arch, kind)


def attention_flops(arch: Arch, context: int) -> int:
    """QKᵀ and A·V for one query token attending to ``context`` earlier tokens, summed over layers (and over the
    mixer → ffn pairs of a layer that runs several, LongCat-Flash). BLT: per byte (:mod:`gallery.byte_latent_cost`)."""
    if arch.byte_latent:
        return byte_latent_cost.attention_flops(arch, context)
    return sum(n * runs(arch, kind) * arch.blocks[kind].sublayer_pairs * mixer_kind(m).context_flops(m, context)
               for kind, n in arch.layer_counts().items() for m in _mixers(arch, kind))


def state_flops(arch: Arch) -> int:
    """The fixed-state mixers' state update and read-out for one token, summed over layers (any context)."""
    return sum(n * runs(arch, kind) * arch.blocks[kind].sublayer_pairs * mixer_kind(m).state_flops(m)
               for kind, n in arch.layer_counts().items() for m in _mixers(arch, kind))


def flops_per_token(arch: Arch, context: int) -> int | None:
    """Forward FLOPs for one new token with ``context`` tokens in the cache; None when the experts a token uses
    are not said (:func:`~gallery.counts.unrouted` gives the reason)."""
    matmul = matmul_flops(arch)
    return None if matmul is None else matmul + attention_flops(arch, context) + state_flops(arch) + \
        block_attn_residual.flops(arch)
