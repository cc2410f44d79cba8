"""Forward FLOPs for one token, at a given context length (a decode step).

Convention (Kaplan et al. 2020, §2.1): a matrix multiply with ``N`` weights costs ``2N`` FLOPs per
token, so the weights a token uses cost ``2 × active non-embedding matmul parameters`` (the output
head included, the embedding lookup excluded). Attention adds, per softmax layer, ``2 × n_heads ×
head_dim`` for QKᵀ and the same for the weighted sum of V, per attended token; a sliding-window
layer attends to at most ``window`` tokens. A Mamba-2 layer adds a constant per token for its state:
each of its ``n_heads × head_dim × d_state`` state elements is decayed and written (h·exp(Δ·A) + Δ·x·B:
two multiplies and an add) and read (y += C·h: a multiply-add), 5 FLOPs each; its depthwise convolution
counts like a matmul (2 per weight). Norms, activations, softmax and RoPE are elementwise
and left out (well under 1% for these models).
"""

from __future__ import annotations

from .counts import active_params, param_terms
from .spec import Arch, LatentAttention, Mamba2, SoftmaxAttention


def matmul_flops(arch: Arch) -> int:
    """2 × the weights one token multiplies with (no embedding lookup, biases and norms excluded)."""
    skipped = sum(t.total for t in param_terms(arch) if t.component in ("embeddings", "norms")
                  or t.name.endswith((".bias", "_norm", "layernorm", "sinks", "norm.weight", "dt_bias", "A_log"))
                  or t.name == "D")  # Mamba-2's per-head vectors and gated norm are elementwise
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


SSM_FLOPS_PER_STATE_ELEMENT = 5  # decay (×), input Δ·x·B (×), add (+), readout C·h (× and +)


def ssm_flops(arch: Arch) -> int:
    """Mamba-2 state updates and readouts for one token, summed over layers (constant in the context)."""
    return sum(n * SSM_FLOPS_PER_STATE_ELEMENT * m.n_heads * m.head_dim * m.d_state
               for kind, n in arch.layer_counts().items() if isinstance(m := arch.blocks[kind].mixer, Mamba2))


def flops_per_token(arch: Arch, context: int) -> int:
    """Forward FLOPs for one new token with ``context`` tokens in the cache."""
    return matmul_flops(arch) + attention_flops(arch, context) + ssm_flops(arch)
