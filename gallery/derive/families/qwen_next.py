"""Qwen's hybrid linear-attention models: Qwen3-Next (MoE) and Qwen3.5 (dense and MoE).

Three of every four layers mix tokens by Gated DeltaNet linear attention (block kind ``linear``), the
fourth by gated softmax attention (``full``): Qwen3 attention (QK-norm, explicit head_dim) whose q_proj
also emits a sigmoid gate on the attention output, with RoPE on a quarter of each head. transformers
writes Qwen3-Next as Qwen3-MoE plus these mixers (``models/qwen3_next/modular_qwen3_next.py``) and
Qwen3.5 as Qwen3-Next's mixers on a dense Qwen3 stack or on Qwen3-Next's MoE
(``models/qwen3_5/modular_qwen3_5.py``, ``models/qwen3_5_moe/modular_qwen3_5_moe.py``); so do these
tables. Qwen3.5 ships in a multimodal wrapper whose ``text_config`` is read. Defaults are the
transformers config class defaults.
"""

from __future__ import annotations

from ..family import (
    attention_only, const, head_layout_kind, is_linear, layer_kinds, linear_only, per_layer, rope_from, without,
)
from .llama import Qwen3
from .moe import Qwen2Moe, Qwen3Moe, _qwen2_moe_ffn


def _attention_kinds(c) -> list[str]:
    """``Qwen3NextConfig.__post_init__``: layer_types, else every ``full_attention_interval``-th layer is full."""
    n = c["num_hidden_layers"]
    interval = c.get("full_attention_interval", 4)  # a config.json key the config class pops (default 4)
    return per_layer(c, "layer_types", {"linear_attention": "linear", "full_attention": "full"}, n) or [
        "linear" if (i + 1) % interval else "full" for i in range(n)]


def _rope(c, kind=None) -> dict:
    """RoPE of the full-attention layers: ``partial_rotary_factor`` defaults to 0.25
    (``Qwen3NextConfig.__post_init__``); Qwen3.5's mrope sections split the rotated dims between text,
    height and width positions, which for text are all the same position."""
    params = dict(c.get("rope_parameters") or c.get("rope_scaling") or {})
    return rope_from(params, c, c.get("partial_rotary_factor", 0.25))


def _hybrid(block: dict) -> dict:
    """A parent's block table with Qwen3-Next's mixers: Gated DeltaNet in linear blocks (Qwen3NextGatedDeltaNet),
    the parent's attention with an output gate and partial RoPE in full ones (Qwen3NextAttention)."""
    attention = {k: attention_only(v) for k, v in without(block, "mixer.window").items() if k.startswith("mixer.")}
    return attention | {k: v for k, v in block.items() if not k.startswith("mixer.")} | {
        "mixer.kind": lambda c, k: "gated_deltanet" if is_linear(k) else head_layout_kind(c, k),
        "mixer.n_k_heads": linear_only("linear_num_key_heads"),
        "mixer.n_v_heads": linear_only("linear_num_value_heads"),
        "mixer.k_head_dim": linear_only("linear_key_head_dim"),
        "mixer.v_head_dim": linear_only("linear_value_head_dim"),
        "mixer.conv_kernel": linear_only("linear_conv_kernel_dim"),
        "mixer.output_gate": attention_only(const(True)),
        "mixer.rope": attention_only(_rope),
    }


_LINEAR_ATTENTION_DEFAULTS = {
    "rope_parameters": None, "rope_theta": 10000.0, "attention_bias": False, "head_dim": 256, "layer_types": None,
    "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128, "linear_value_head_dim": 128,
    "linear_num_key_heads": 16, "linear_num_value_heads": 32,
}


class Qwen3Next(Qwen3Moe):
    """``models/qwen3_next``: Qwen3-MoE with 3 Gated DeltaNet layers per gated-attention layer and a gated
    shared expert beside 512 routed ones."""

    model_type = "qwen3_next"
    transformers_class = "Qwen3NextForCausalLM"
    defaults = without(Qwen3Moe.defaults, "sliding_window", "use_sliding_window", "rope_theta") | \
        _LINEAR_ATTENTION_DEFAULTS | {
            "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 48, "num_attention_heads": 16,
            "num_key_value_heads": 2, "max_position_embeddings": 32768, "moe_intermediate_size": 512,
            "shared_expert_intermediate_size": 512, "num_experts_per_tok": 10, "num_experts": 512,
            "norm_topk_prob": True,
        }
    layers = staticmethod(lambda c: layer_kinds(
        _attention_kinds(c), [_qwen2_moe_ffn(c, i) for i in range(c["num_hidden_layers"])]))
    block = _hybrid(Qwen3Moe.block) | {k: Qwen2Moe.block[k] for k in (
        "ffn.n_shared_experts", "ffn.d_shared", "ffn.shared_gate")} | {
        "mixer.fused_projections": linear_only(const(True)),  # in_proj_qkvz, in_proj_ba
    }


class Qwen3_5Text(Qwen3):
    """``models/qwen3_5``: Qwen3-Next's mixers (with separate in_proj_qkv/z/b/a) on a dense Qwen3 stack."""

    model_type = "qwen3_5_text"
    transformers_class = "Qwen3_5ForCausalLM"
    defaults = {k: Qwen3.defaults[k] for k in ("hidden_act", "rms_norm_eps", "tie_word_embeddings")} | \
        _LINEAR_ATTENTION_DEFAULTS | {
            "vocab_size": 248320, "hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 32,
            "num_attention_heads": 16, "num_key_value_heads": 4, "max_position_embeddings": 32768,
        }
    layers = staticmethod(_attention_kinds)
    block = _hybrid(Qwen3.block)


class Qwen3_5MoeText(Qwen3Next):
    """``models/qwen3_5_moe``: Qwen3.5's mixers on Qwen3-Next's MoE, every layer sparse, top-k always renormalised."""

    model_type = "qwen3_5_moe_text"
    transformers_class = "Qwen3_5MoeForCausalLM"
    defaults = without(Qwen3Next.defaults, "intermediate_size", "decoder_sparse_step", "norm_topk_prob",
                       "mlp_only_layers") | {
        "vocab_size": 248320, "hidden_size": 2048, "num_hidden_layers": 40, "num_experts_per_tok": 8,
        "num_experts": 256,
    }
    layers = staticmethod(lambda c: layer_kinds(_attention_kinds(c), ["moe"] * c["num_hidden_layers"]))
    block = without(Qwen3Next.block, "mixer.fused_projections") | {"ffn.router.normalize_topk": const(True)}


__all__ = ["Qwen3Next", "Qwen3_5Text", "Qwen3_5MoeText"]
