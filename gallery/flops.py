"""Forward FLOPs for one token, at a given context length (a decode step).

Convention (Kaplan et al. 2020, §2.1): a matrix multiply with ``N`` weights costs ``2N`` FLOPs per
token, so the weights a token uses cost ``2 × active non-embedding matmul parameters`` (the output
head included, the embedding lookup excluded). Attention adds, per softmax layer, ``2 × n_heads ×
head_dim`` for QKᵀ and the same for the weighted sum of V, per attended token; a sliding-window
layer attends to at most ``window`` tokens. Norms, activations, softmax and RoPE are elementwise
and left out (well under 1% for these models).

Fixed-state mixers cost the same for every token, whatever the context: their projections and
convolution taps are weights (2 FLOPs each); a Mamba layer's selective scan adds ``9 × d_inner ×
d_state`` (discretise, update and read the state; the count of state-spaces/mamba issue #110), its
``A_log`` and ``D`` being elementwise, not matrix weights. The short convolution's gates are elementwise.
"""

from __future__ import annotations

from .counts import active_params, param_terms
from .spec import Arch, LatentAttention, Mamba, SoftmaxAttention

_ELEMENTWISE = ("A_log", "D")  # Mamba's per-channel decay and skip: parameters, but not multiplied as matrices


def matmul_flops(arch: Arch) -> int:
    """2 × the weights one token multiplies with (no embedding lookup, biases and norms excluded)."""
    skipped = sum(t.total for t in param_terms(arch)
                  if t.component in ("embeddings", "norms") or t.name.endswith((".bias", "_norm", "layernorm", "sinks"))
                  or t.name in _ELEMENTWISE)
    head = arch.vocab_size * arch.d_model if arch.embedding.tied else 0  # a tied head still multiplies
    return 2 * (active_params(arch) - skipped + head)


def attention_flops(arch: Arch, context: int) -> int:
    """QKᵀ and A·V for one query token attending to ``context`` earlier tokens, summed over layers."""
    total = 0
    for kind, n in arch.layer_counts().items():
        mixer = arch.blocks[kind].mixer
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


def state_flops(arch: Arch) -> int:
    """The selective scan of every Mamba layer for one token: 9 × d_inner × d_state (constant per token)."""
    return sum(n * 9 * arch.blocks[kind].mixer.d_inner * arch.blocks[kind].mixer.d_state
               for kind, n in arch.layer_counts().items() if isinstance(arch.blocks[kind].mixer, Mamba))


def flops_per_token(arch: Arch, context: int) -> int:
    """Forward FLOPs for one new token with ``context`` tokens in the cache."""
    return matmul_flops(arch) + attention_flops(arch, context) + state_flops(arch)
