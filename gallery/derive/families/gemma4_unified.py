"""Gemma 4 unified: the language model of Gemma 4's unified multimodal checkpoints (``models/gemma4_unified``).

``Gemma4UnifiedTextModel`` is Gemma 4's text stack (``Gemma4TextModel``) without its two options for the small and
the MoE models: no per-layer input embeddings (the config class has no ``hidden_size_per_layer_input``) and no MoE
block beside the MLP (no ``enable_moe_block``); every layer has the gated MLP of ``Gemma4UnifiedTextMLP``. The rest
is Gemma 4's: 5 sliding : 1 full layers (the last forced full), wider heads and per-layer overrides in the full
layers, values equal to keys when ``attention_k_eq_v``, KV-shared last layers with an optional double-wide MLP. Its
defaults differ: a window of 1,024 and 262,144 positions; vision tokens attend both ways by default
(``use_bidirectional_attention: "vision"``, which changes no weight and no window). The multimodal wrapper
(``Gemma4UnifiedConfig``) is read through its ``text_config``.
"""

from __future__ import annotations

from ..family import const, without
from .gemma import Gemma4Text, _dense_width

_NOT_IN_UNIFIED = ("hidden_size_per_layer_input", "vocab_size_per_layer_input", "enable_moe_block", "num_experts",
                   "top_k_experts", "moe_intermediate_size")


class Gemma4UnifiedText(Gemma4Text):
    """``Gemma4UnifiedTextConfig``: Gemma 4 text without per-layer embeddings or the MoE block."""

    model_type = "gemma4_unified_text"
    transformers_class = "Gemma4UnifiedForCausalLM"
    defaults = without(Gemma4Text.defaults, *_NOT_IN_UNIFIED) | {
        "sliding_window": 1024, "max_position_embeddings": 262144, "use_bidirectional_attention": "vision"}
    arch = {k: v for k, v in Gemma4Text.arch.items() if not k.startswith("per_layer_embedding.")}
    block = {k: v for k, v in Gemma4Text.block.items() if k not in (
        "ffn.n_experts", "ffn.top_k", "ffn.d_expert", "ffn.d_dense", "ffn.router.scale")} | {
        "ffn.kind": const("mlp"),
        "ffn.d_ff": _dense_width,  # Gemma4UnifiedTextMLP: twice as wide in KV-shared layers when use_double_wide_mlp
        "ffn.bias": const(False),
    }


__all__ = ["Gemma4UnifiedText"]
