"""Llama 4 (``models/llama4``, text model ``llama4_text``): chunked local attention with NoPE global
layers on a cadence, L2 QK-norm on the RoPE layers, and MoE layers (top-1 sigmoid routing plus a
shared expert) interleaved with dense ones.

``Llama4TextConfig.__post_init__``: every ``no_rope_layer_interval``-th layer has no RoPE; RoPE
layers use chunked attention (``attention_chunk_size``), NoPE layers attend to everything; layer
``i`` is MoE when ``i`` is in ``moe_layers`` (default: every ``interleave_moe_layer_step``-th).
Read through ``text_config`` of the ``llama4`` multimodal wrapper; the vision tower is left out.
"""

from __future__ import annotations

from ..family import (
    Family, activation, const, dense_only, head_layout_kind, is_moe, layer_kinds, moe_only, per_layer, rope,
)
from .llama import Llama


def _flags(c) -> tuple[list[int], list[str]]:
    """Per layer: uses RoPE (1/0) and the attention type, as the config class fills them in."""
    n = c["num_hidden_layers"]
    has_rope = c["no_rope_layers"] or [int((i + 1) % c["no_rope_layer_interval"] != 0) for i in range(n)]
    accepted = {"chunked_attention": "chunked_attention", "full_attention": "full_attention"}
    types = per_layer(c, "layer_types", accepted, n) or ["chunked_attention" if r else "full_attention" for r in has_rope]
    return has_rope, types


def _layers(c, kind=None):
    n = c["num_hidden_layers"]
    has_rope, types = _flags(c)
    step = c["interleave_moe_layer_step"]
    moe = c["moe_layers"] if c["moe_layers"] is not None else list(range(step - 1, n, step))
    attention = ["-".join(p for p in ("chunked" if t == "chunked_attention" else "", "" if r else "nope") if p)
                 or "full" for t, r in zip(types, has_rope)]
    return layer_kinds(attention, ["moe" if i in moe else "dense" for i in range(n)])


def _parts(kind: str) -> set[str]:
    return set(kind.split("-"))


class Llama4Text(Family):
    """``models/llama4``: Llama4TextDecoderLayer with Llama4TextAttention and Llama4TextMoe."""

    model_type = "llama4_text"
    transformers_class = "Llama4ForCausalLM"
    defaults = {
        "vocab_size": 202048, "hidden_size": 5120, "intermediate_size": 8192, "intermediate_size_mlp": 16384,
        "num_hidden_layers": 48, "num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128,
        "hidden_act": "silu", "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "tie_word_embeddings": False,
        "rope_parameters": None, "rope_theta": 500000.0, "attention_bias": False, "num_experts_per_tok": 1,
        "num_local_experts": 16, "use_qk_norm": True, "no_rope_layers": None, "no_rope_layer_interval": 4,
        "attention_chunk_size": 8192, "interleave_moe_layer_step": 1, "moe_layers": None, "layer_types": None,
    }
    arch = Llama.arch
    layers = staticmethod(_layers)
    block = {
        "mixer.kind": head_layout_kind,
        "mixer.n_heads": "num_attention_heads",
        "mixer.n_kv_heads": "num_key_value_heads",
        "mixer.head_dim": lambda c, k: c["head_dim"] or c["hidden_size"] // c["num_attention_heads"],
        "mixer.qkv_bias": "attention_bias",
        "mixer.out_bias": "attention_bias",
        # Llama4TextAttention: Llama4TextL2Norm (an RMS norm, no weight) on q and k after RoPE, only in RoPE layers
        "mixer.qk_norm": lambda c, k: "per_head_weightless" if c["use_qk_norm"] and "nope" not in _parts(k) else "none",
        "mixer.rope": lambda c, k: None if "nope" in _parts(k) else rope(c),
        "mixer.chunk": lambda c, k: c["attention_chunk_size"] if "chunked" in _parts(k) else None,
        "ffn.kind": lambda c, k: "moe" if is_moe(k) else "mlp",
        "ffn.d_ff": dense_only("intermediate_size_mlp"),
        "ffn.bias": dense_only(const(False)),
        "ffn.activation": activation("hidden_act"),
        "ffn.gated": const(True),
        "ffn.n_experts": moe_only("num_local_experts"),
        "ffn.top_k": moe_only("num_experts_per_tok"),
        "ffn.d_expert": moe_only("intermediate_size"),
        # Llama4TextMoe: a shared expert as wide as one routed expert
        "ffn.n_shared_experts": moe_only(const(1)),
        "ffn.d_shared": moe_only("intermediate_size"),
        # Llama4Router: top-k of the raw logits, then a sigmoid of each (no renormalisation)
        "ffn.router.scoring": moe_only(const("sigmoid")),
        "ffn.router.normalize_topk": moe_only(const(False)),
    }


__all__ = ["Llama4Text"]
