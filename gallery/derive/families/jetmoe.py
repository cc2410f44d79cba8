"""JetMoE: a mixture of attention heads and a mixture of MLP experts in every layer (``models/jetmoe``).

``JetMoeAttention``: a router picks ``num_experts_per_tok`` of ``num_local_experts`` attention experts, each with a
query projection to ``num_key_value_heads × kv_channels`` and an output projection back, over one shared ``kv_proj``
(``gallery/kinds/moa.py``); ``JetMoeMoE``: as many SwiGLU experts of ``intermediate_size`` (gate and up fused in
``input_linear``, the same count), softmax over the top-k logits (= softmax, then renormalised), and one output
bias of ``hidden_size`` shared by the experts. ``JetMoeConfig.__post_init__`` overwrites ``num_attention_heads`` with
num_key_value_heads × num_experts_per_tok, and ``head_dim`` is its alias of ``kv_channels``. The block norms are
``JetMoeRMSNorm(hidden_size)`` with the class's eps 1e-6 whatever ``rms_norm_eps`` says (only the final norm reads
it): no parameter depends on it. Defaults are the transformers config class defaults (``tests/test_derive.py``).
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import activation, const, rope, without
from .llama import Llama


def _rope(c, kind=None) -> dict:
    """JetMoeRotaryEmbedding: the default RoPE turns every dim of kv_channels (it reads no partial_rotary_factor)."""
    params = rope(c)
    return params if "scaling" in params else params | {"partial": 1.0}


def _top_k(c, kind=None) -> int:
    """``num_experts_per_tok``, which JetMoeConfig.validate_architecture refuses above num_local_experts."""
    k, experts = c["num_experts_per_tok"], c["num_local_experts"]
    if k > experts:
        raise DerivationError(f"num_experts_per_tok {k}: at most num_local_experts ({experts}) experts can be "
                              "picked, in attention and MLP alike")
    return k


class JetMoe(Llama):
    """``models/jetmoe``: Llama's pre-norm RMSNorm blocks and tied-or-not head around a mixture of attention heads and
    a mixture of MLP experts."""

    model_type = "jetmoe"
    transformers_class = "JetMoeForCausalLM"
    defaults = without(Llama.defaults, "num_attention_heads", "head_dim", "hidden_act", "attention_bias",
                       "mlp_bias") | {
        "vocab_size": 32000, "hidden_size": 2048, "num_hidden_layers": 12, "num_key_value_heads": 16,
        "kv_channels": 128, "intermediate_size": 5632, "max_position_embeddings": 4096,
        "activation_function": "silu", "num_local_experts": 8, "num_experts_per_tok": 2,
        "tie_word_embeddings": True, "rope_parameters": None, "rope_theta": 10000.0, "rms_norm_eps": 1e-6,
    }
    aliases = {"head_dim": "kv_channels"}  # JetMoeConfig.attribute_map
    layers = staticmethod(lambda c: ["moe"] * c["num_hidden_layers"])
    block = {
        "mixer.kind": const("moa"),
        "mixer.n_experts": "num_local_experts",
        "mixer.top_k": _top_k,
        "mixer.n_kv_heads": "num_key_value_heads",
        "mixer.head_dim": "kv_channels",
        "mixer.rope": _rope,
        "ffn.kind": const("moe"),
        "ffn.n_experts": "num_local_experts",
        "ffn.top_k": _top_k,
        "ffn.d_expert": "intermediate_size",
        "ffn.activation": activation("activation_function"),
        "ffn.gated": const(True),
        "ffn.out_bias": const(True),
        "ffn.router.normalize_topk": const(True),
    }


__all__ = ["JetMoe"]
