"""Forward FLOPs for one token, at a given context length (a decode step).

Convention (Kaplan et al. 2020, §2.1): a matrix multiply with ``N`` weights costs ``2N`` FLOPs per
token, so the weights a token uses cost ``2 × active non-embedding matmul parameters`` (the output
head included, the embedding lookup excluded). Attention adds, per softmax layer, ``2 × n_heads ×
head_dim`` for QKᵀ and the same for the weighted sum of V, per attended token; a sliding-window
layer attends to at most ``window`` tokens. Compressed attention (DeepSeek-V4) attends to its window
plus the compressed entries (``context // ratio``, at most the indexer's ``topk``) with one K = V
vector of ``head_dim``; its indexer scores every compressed entry.

A fixed-state mixer instead reads and writes its state, the same cost at any context
(:func:`state_flops`, one rule per mixer kind in :data:`STATE_FLOPS`):

* Gated DeltaNet: ``6 × n_v_heads × k_head_dim × v_head_dim`` (the state read by the key, the rank-1
  delta write, the read-out by the query; the decay is elementwise);
* Mamba-2: ``5 × n_heads × head_dim × d_state`` (decay ×, input Δ·x·B ×, add +, read-out C·h × and +);
* Mamba-1: ``9 × d_inner × d_state`` (discretise Δ·A and Δ·B per state element, update and read the
  state; the count of state-spaces/mamba issue #110).

Their projections and convolution taps are weights (2 FLOPs each); ``A_log``, ``D``, ``dt_bias`` and
the gates are elementwise. Norms, activations, softmax and RoPE are elementwise and left out (well
under 1% for these models).
"""

from __future__ import annotations

from .counts import active_params, param_terms
from .spec import Arch, CompressedAttention, GatedDeltaNet, LatentAttention, Mamba, Mamba2, SoftmaxAttention


def _elementwise(name: str) -> bool:
    """Parameters a token does not multiply as a matrix: biases, norm weights, sinks, per-channel SSM vectors,
    DeepSeek-V4's position biases and hyper-connection scales."""
    return name in ("D", "norm.weight") or name.endswith((
        ".bias", "norm", "sinks", "A_log", "dt_bias", "position_bias", "hc.base", "hc.scale", "hc_head.base",
        "hc_head.scale"))


def matmul_flops(arch: Arch) -> int:
    """2 × the weights one token multiplies with (no embedding lookup, biases and norms excluded)."""
    skipped = 0
    for t in param_terms(arch):
        if t.component in ("embeddings", "norms") or _elementwise(t.name):
            ffn = arch.blocks[t.where].ffn if t.component == "experts" else None
            # active_params already left out the experts a token skips: drop only the used experts' share
            skipped += t.total * ffn.top_k // ffn.n_experts if ffn is not None else t.total
    head = arch.vocab_size * arch.d_model if arch.embedding.tied else 0  # a tied head still multiplies
    return 2 * (active_params(arch) - skipped + head)


def attention_flops(arch: Arch, context: int) -> int:
    """QKᵀ and A·V for one query token attending to ``context`` earlier tokens, summed over layers."""
    total = 0
    for kind, n in arch.layer_counts().items():
        mixer = arch.blocks[kind].mixer
        if isinstance(mixer, CompressedAttention):
            total += n * _compressed_flops(mixer, context)
            continue
        if isinstance(mixer, SoftmaxAttention):
            qk, v = mixer.head_dim, mixer.value_dim
        elif isinstance(mixer, LatentAttention):
            qk, v = mixer.qk_nope_head_dim + mixer.qk_rope_head_dim, mixer.v_head_dim
        else:
            continue
        indexer = getattr(mixer, "indexer", None)  # DSA: each query attends to the indexer's top-k tokens
        bound = mixer.window or getattr(mixer, "chunk", None) or (indexer.topk if indexer else None)
        tokens = min(context, bound) if bound else context
        total += n * 2 * mixer.n_heads * (qk + v) * tokens
        if indexer and not indexer.shared:  # the indexer itself scores every earlier token with its small heads
            total += n * 2 * indexer.n_heads * indexer.head_dim * context
    return total


def _compressed_flops(m: CompressedAttention, context: int) -> int:
    """One layer: QKᵀ and A·V over the window and the compressed entries it sees, plus the indexer's scores."""
    entries = context // m.ratio if m.ratio else 0  # only complete blocks are pooled
    seen = min(context, m.window) + (min(entries, m.indexer.topk) if m.indexer else entries)
    flops = 2 * m.n_heads * (m.head_dim + m.head_dim) * seen  # K = V: both of head_dim
    if m.indexer:  # every compressed entry scored by each indexer head
        flops += 2 * m.indexer.n_heads * m.indexer.head_dim * entries
    return flops


STATE_FLOPS = {  # mixer class → FLOPs of one token's state update and read-out in one layer
    GatedDeltaNet: lambda m: 6 * m.n_v_heads * m.k_head_dim * m.v_head_dim,  # read by k, delta write, read by q
    Mamba2: lambda m: 5 * m.n_heads * m.head_dim * m.d_state,  # per state element: decay, Δ·x·B, add, C·h
    Mamba: lambda m: 9 * m.d_inner * m.d_state,  # discretise, update, read: per state element
}


def state_flops(arch: Arch) -> int:
    """The fixed-state mixers' state update and read-out for one token, summed over layers (any context)."""
    return sum(n * STATE_FLOPS[type(m)](m) for kind, n in arch.layer_counts().items()
               if type(m := arch.blocks[kind].mixer) in STATE_FLOPS)


def flops_per_token(arch: Arch, context: int) -> int:
    """Forward FLOPs for one new token with ``context`` tokens in the cache."""
    return matmul_flops(arch) + attention_flops(arch, context) + state_flops(arch)
