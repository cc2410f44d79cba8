"""BitNet b1.58 (Microsoft, ``models/bitnet``): Llama with a norm inside each sublayer and a gated ReLU² MLP.

``BitNetAttention`` is ``LlamaAttention`` with ``attn_sub_norm``, an RMSNorm of hidden_size on the merged heads'
output before ``o_proj``; ``BitNetMLP`` is Gemma's gate/up/down MLP (no biases, ``hidden_act`` relu2) with
``ffn_sub_norm``, an RMSNorm of intermediate_size on act(gate) ⊙ up before ``down_proj``. The ternary weights are a
quantisation of the checkpoint, not of the architecture: transformers builds full ``nn.Linear`` layers, counted as
such. Defaults are the transformers config class defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..family import const, whole_heads, without
from .llama import Llama


class BitNet(Llama):
    """``models/bitnet``: sub-norms before o_proj and down_proj, a gated ReLU² MLP."""

    model_type = "bitnet"
    transformers_class = "BitNetForCausalLM"
    defaults = without(Llama.defaults, "head_dim", "mlp_bias") | {
        "vocab_size": 128256, "hidden_size": 2560, "intermediate_size": 6912, "num_hidden_layers": 30,
        "num_attention_heads": 20, "num_key_value_heads": 5, "hidden_act": "relu2", "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
    }
    block = Llama.block | {
        "mixer.head_dim": whole_heads("BitNet's attn_sub_norm (hidden_size wide) cannot norm the merged heads"),
        "mixer.sub_norm": const(True),
        "ffn.bias": const(False),
        "ffn.sub_norm": const(True),
    }


__all__ = ["BitNet"]
