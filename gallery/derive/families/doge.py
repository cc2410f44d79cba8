"""Doge (``models/doge``): Llama with dynamic-mask attention, learned residual weights and, with ``is_moe``, the
cross-domain mixture of experts.

``DogeDecoderLayer``: input RMSNorm → ``DogeAttention`` (q_norm and k_norm of head_dim per head before RoPE; from the
values, ``dt_proj`` and ``A`` give a bias per key and KV head added to the scores, and once the keys
outnumber ``keep_window_size`` a query keeps only that many of them, those of largest bias; ``attention_bias`` biases
q, k, v, o and dt_proj) → ``input_residual * residual + attn`` → RMSNorm → ``DogeMLP`` (SwiGLU, ``mlp_bias``), or with
``is_moe`` ``DogeCDMoE`` (the same MLP beside ``num_experts`` single-neuron experts picked by product keys, top
``num_experts_per_tok``) → ``post_attention_residual * residual + ffn``. With ``sliding_window`` set, every layer's
causal mask is windowed (``create_sliding_window_causal_mask``). ``head_dim`` is ``getattr(config, "head_dim",
hidden_size // num_attention_heads)``: a config may set it, the class has no field. Defaults are ``DogeConfig``'s
(checked by ``tests/test_derive.py``); the class has no ``attribute_map``.
"""

from __future__ import annotations

from ..family import const, dense_only, is_moe, is_sliding, moe_only, without
from .llama import Llama


def _layers(c) -> list[str]:
    """One block kind for every layer: its feed-forward (``is_moe``), windowed when ``sliding_window`` is set."""
    kind = ("sliding-" if c["sliding_window"] else "") + ("moe" if c["is_moe"] else "dense")
    return [kind] * c["num_hidden_layers"]


class Doge(Llama):
    """``models/doge``: DogeForCausalLM."""

    model_type = "doge"
    transformers_class = "DogeForCausalLM"
    defaults = without(Llama.defaults, "head_dim") | {
        "vocab_size": 32768, "hidden_size": 1024, "intermediate_size": 2048, "num_hidden_layers": 32,
        "num_attention_heads": 8, "sliding_window": None, "keep_window_size": 2048, "is_moe": False,
        "num_experts": 16384, "num_experts_per_tok": 64, "norm_topk_prob": False,
    }
    layers = staticmethod(_layers)
    block = Llama.block | {
        "mixer.window": lambda c, k: c["sliding_window"] if is_sliding(k) else None,
        "mixer.qk_norm": const("per_head_shared"),  # DogeRMSNorm(head_dim) on each head
        "mixer.dynamic_mask.keep_window_size": "keep_window_size",
        "mixer.dynamic_mask.bias": "attention_bias",
        "ffn.kind": lambda c, k: "cdmoe" if is_moe(k) else "mlp",
        "ffn.gated": dense_only(const(True)),
        "ffn.n_experts": moe_only("num_experts"),
        "ffn.top_k": moe_only("num_experts_per_tok"),
        "ffn.normalize_topk": moe_only("norm_topk_prob"),
        "learned_residual": const("residual_scale"),
    }
