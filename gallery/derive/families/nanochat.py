"""nanochat (``models/nanochat``): Karpathy's small Llama-like model with RMS norms that have no weights.

Every norm (the block's two, the final one, and one more on the embeddings before the first layer) is
``NanoChatRMSNorm``: no parameters. Queries and keys are RMS-normed per head after RoPE (weightless too); the MLP is
an ungated squared ReLU; the logits are soft-capped (``final_logit_softcapping``). Defaults are the transformers
config class defaults.
"""

from __future__ import annotations

from ..family import activation, const, without
from .llama import Llama


class NanoChat(Llama):
    """``models/nanochat``: weightless RMS norms, QK-norm after RoPE, relu² MLP without gate or biases, soft-capped
    logits; the extra norm of the embeddings has no parameters and is not drawn."""

    model_type = "nanochat"
    transformers_class = "NanoChatForCausalLM"
    defaults = without(Llama.defaults, "mlp_bias", "head_dim") | {
        "vocab_size": 50304, "hidden_size": 768, "intermediate_size": 8192, "num_hidden_layers": 12,
        "num_attention_heads": 6, "hidden_act": "relu2", "final_logit_softcapping": 15.0,
    }
    arch = Llama.arch | {"norm.weights": const(False), "embedding.logit_softcap": "final_logit_softcapping"}
    block = Llama.block | {
        "mixer.qk_norm": const("per_head_weightless"),  # NanoChatAttention: q_norm, k_norm after RoPE
        "ffn.activation": activation("hidden_act"),
        "ffn.gated": const(False),  # NanoChatMLP: fc2(relu²(fc1(x)))
        "ffn.bias": const(False),
    }


__all__ = ["NanoChat"]
