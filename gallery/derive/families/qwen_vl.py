"""Qwen3-VL's language models (``models/qwen3_vl``, ``models/qwen3_vl_moe``): Qwen3 and Qwen3-MoE under
interleaved multimodal RoPE, read through the ``text_config`` of the vision-language wrapper.

``Qwen3VLTextRotaryEmbedding`` rotates each head by three positions (time, height, width), taking the
frequencies in turn (``recomposition_frequencies``: every third from height, every third from width, up to
``mrope_section``); a text token has the same index in all three, so for text it is Qwen3's RoPE and the spec's
``rope`` is Qwen3's. No sliding windows (``Qwen3VLMoeTextConfig`` sets ``sliding_window`` None). transformers
has no causal-LM class for these text configs: the counted model is the text model plus the wrapper's
``lm_head``, tied as the wrapper's ``tie_word_embeddings`` says (its default false). Defaults are the
``Qwen3VLTextConfig`` / ``Qwen3VLMoeTextConfig`` defaults.
"""

from __future__ import annotations

from ..family import const, layer_kinds, moe_only, without
from .llama import Qwen3
from .moe import Qwen3Moe, _qwen2_moe_ffn


def _tied(c, kind=None) -> bool:
    """``Qwen3VLForConditionalGeneration``: the wrapper's tie_word_embeddings (derive hands it over; default false)."""
    return c.get("tie_word_embeddings", False)


_TEXT_DEFAULTS = {
    "vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 22016, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 32, "head_dim": 128, "hidden_act": "silu",
    "max_position_embeddings": 128000, "rms_norm_eps": 1e-6, "rope_parameters": None, "rope_theta": 500000.0,
    "attention_bias": False,
}


class Qwen3VLText(Qwen3):
    """``models/qwen3_vl`` (Qwen3VLTextModel + lm_head): Qwen3's dense stack, M-RoPE, no sliding windows."""

    model_type = "qwen3_vl_text"
    transformers_class = "Qwen3VLTextModel"
    wrapper_head = True
    defaults = _TEXT_DEFAULTS
    arch = Qwen3.arch | {"embedding.tied": _tied}
    layers = staticmethod(lambda c: ["full"] * c["num_hidden_layers"])
    block = without(Qwen3.block, "mixer.window")


class Qwen3VLMoeText(Qwen3Moe):
    """``models/qwen3_vl_moe`` (Qwen3VLMoeTextModel + lm_head): Qwen3-MoE's stack, M-RoPE, top-k weights always
    renormalised (``Qwen3VLMoeTextTopKRouter``; there is no norm_topk_prob)."""

    model_type = "qwen3_vl_moe_text"
    transformers_class = "Qwen3VLMoeTextModel"
    wrapper_head = True
    defaults = without(_TEXT_DEFAULTS, "head_dim") | {
        "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 24, "num_attention_heads": 16,
        "num_key_value_heads": 16, "head_dim": None, "decoder_sparse_step": 1, "moe_intermediate_size": 1408,
        "num_experts_per_tok": 4, "num_experts": 60, "mlp_only_layers": None,
    }
    aliases = {"num_local_experts": "num_experts"}  # Qwen3VLMoeTextConfig.attribute_map (to_dict writes this name)
    arch = Qwen3Moe.arch | {"embedding.tied": _tied}
    layers = staticmethod(lambda c: layer_kinds(
        ["full"] * c["num_hidden_layers"], [_qwen2_moe_ffn(c, i) for i in range(c["num_hidden_layers"])]))
    block = without(Qwen3Moe.block, "mixer.window") | {"ffn.router.normalize_topk": moe_only(const(True))}


__all__ = ["Qwen3VLText", "Qwen3VLMoeText"]
