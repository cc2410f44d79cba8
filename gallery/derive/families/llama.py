"""The Llama lineage: Llama, Mistral, Qwen2, Qwen3, OLMo 2, Phi-3, Cohere.

Each class is the difference from its parent, as in transformers' modular files
(``models/qwen3/modular_qwen3.py`` writes Qwen3 as Qwen2 plus QK-norm). Defaults are the
transformers config class defaults for each key read (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..family import Family, activation, const, head_dim, head_layout_kind, rope, without


def _full_or_sliding(c, kind=None):
    """One block kind for all layers: sliding when the config sets a window (Mistral)."""
    return ["sliding" if c["sliding_window"] else "full"] * c["num_hidden_layers"]


class Llama(Family):
    """``models/llama``: pre-norm RMSNorm, GQA with RoPE, SwiGLU MLP."""

    model_type = "llama"
    transformers_class = "LlamaForCausalLM"
    defaults = {
        "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": None, "head_dim": None, "hidden_act": "silu",
        "max_position_embeddings": 2048, "rms_norm_eps": 1e-6, "tie_word_embeddings": False,
        "rope_parameters": None, "rope_theta": 10000.0, "attention_bias": False, "mlp_bias": False,
    }
    arch = {
        "d_model": "hidden_size",
        "n_layers": "num_hidden_layers",
        "vocab_size": "vocab_size",
        "context_length": "max_position_embeddings",
        "norm.kind": const("rmsnorm"),
        "norm.eps": "rms_norm_eps",
        "embedding.tied": "tie_word_embeddings",
    }
    layers = staticmethod(lambda c: ["full"] * c["num_hidden_layers"])
    block = {
        "mixer.kind": head_layout_kind,
        "mixer.n_heads": "num_attention_heads",
        "mixer.n_kv_heads": lambda c, k: c["num_key_value_heads"] or c["num_attention_heads"],
        "mixer.head_dim": head_dim,
        "mixer.qkv_bias": "attention_bias",
        "mixer.out_bias": "attention_bias",
        "mixer.rope": rope,
        "ffn.kind": const("mlp"),
        "ffn.d_ff": "intermediate_size",
        "ffn.activation": activation("hidden_act"),
        "ffn.gated": const(True),
        "ffn.bias": "mlp_bias",
    }


class Mistral(Llama):
    """``models/mistral``: Llama with a sliding window on every layer when ``sliding_window`` is set."""

    model_type = "mistral"
    transformers_class = "MistralForCausalLM"
    defaults = without(Llama.defaults, "attention_bias", "mlp_bias") | {
        "intermediate_size": 14336, "num_key_value_heads": 8, "max_position_embeddings": 131072,
        "sliding_window": 4096,
    }
    layers = staticmethod(_full_or_sliding)
    block = Llama.block | {
        "mixer.qkv_bias": const(False),
        "mixer.out_bias": const(False),
        "mixer.window": lambda c, k: c["sliding_window"],
        "ffn.bias": const(False),
    }


def _qwen2_layers(c, kind=None):
    """``Qwen2Config.__post_init__``: layers from ``max_window_layers`` on slide, if windows are used."""
    if c.has("layer_types"):
        return ["sliding" if t == "sliding_attention" else "full" for t in c["layer_types"]]
    window = c["sliding_window"] if c["use_sliding_window"] else None
    first = c["max_window_layers"] if window else c["num_hidden_layers"]
    return ["full" if i < first else "sliding" for i in range(c["num_hidden_layers"])]


class Qwen2(Mistral):
    """``models/qwen2``: Llama with a bias on Q, K and V (not on the output projection)."""

    model_type = "qwen2"
    transformers_class = "Qwen2ForCausalLM"
    defaults = without(Mistral.defaults, "head_dim") | {
        "vocab_size": 151936, "intermediate_size": 22016, "num_key_value_heads": 32,
        "max_position_embeddings": 32768, "use_sliding_window": False, "max_window_layers": 28,
        "layer_types": None,
    }
    layers = staticmethod(_qwen2_layers)
    block = Mistral.block | {
        "mixer.qkv_bias": const(True),
        "mixer.window": lambda c, k: c["sliding_window"] if k == "sliding" else None,
    }


class Qwen3(Qwen2):
    """``models/qwen3``: Qwen2 plus QK-norm (RMSNorm over each head), explicit head_dim, no QKV bias."""

    model_type = "qwen3"
    transformers_class = "Qwen3ForCausalLM"
    defaults = Qwen2.defaults | {"head_dim": 128, "attention_bias": False}
    block = Qwen2.block | {
        "mixer.qkv_bias": "attention_bias",
        "mixer.out_bias": "attention_bias",
        "mixer.qk_norm": const("head"),
    }


class Olmo2(Llama):
    """``models/olmo2``: norms after each sublayer (not before), QK-norm over all heads."""

    model_type = "olmo2"
    transformers_class = "Olmo2ForCausalLM"
    defaults = without(Llama.defaults, "mlp_bias", "head_dim") | {"vocab_size": 50304, "rms_norm_eps": 1e-5}
    block = Llama.block | {
        "mixer.qk_norm": const("full"),
        "ffn.bias": const(False),
        "norm_placement": const("post"),
    }


class Phi3(Mistral):
    """``models/phi3``: fused qkv_proj and gate_up_proj (same counts), partial rotary, optional window."""

    model_type = "phi3"
    transformers_class = "Phi3ForCausalLM"
    defaults = without(Mistral.defaults, "head_dim") | {
        "vocab_size": 32064, "hidden_size": 3072, "intermediate_size": 8192, "num_attention_heads": 32,
        "num_key_value_heads": None, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
        "sliding_window": None, "original_max_position_embeddings": 4096,
    }


class Cohere(Llama):
    """``models/cohere``: one LayerNorm (no bias) feeding attention and MLP in parallel; logit scale."""

    model_type = "cohere"
    transformers_class = "CohereForCausalLM"
    defaults = without(Llama.defaults, "rms_norm_eps", "mlp_bias", "head_dim") | {
        "vocab_size": 256000, "hidden_size": 8192, "intermediate_size": 22528, "num_hidden_layers": 40,
        "num_attention_heads": 64, "max_position_embeddings": 8192, "layer_norm_eps": 1e-5,
        "logit_scale": 0.0625, "tie_word_embeddings": True, "use_qk_norm": False, "rope_theta": 500000.0,
    }
    arch = Llama.arch | {
        "norm.kind": const("layernorm"),
        "norm.eps": "layer_norm_eps",
        "embedding.logit_scale": "logit_scale",
    }
    block = Llama.block | {
        "mixer.qk_norm": lambda c, k: "full" if c["use_qk_norm"] else "none",
        "ffn.bias": const(False),
        "parallel": const(True),
        "shared_norm": const(True),
    }




def _smollm3_layers(c, kind=None):
    """``SmolLM3Config.__post_init__``: every ``no_rope_layer_interval``-th layer has no RoPE (NoPE)."""
    n = c["num_hidden_layers"]
    has_rope = c["no_rope_layers"] or [int((i + 1) % c["no_rope_layer_interval"] != 0) for i in range(n)]
    types = c["layer_types"] or [
        "sliding_attention" if c["use_sliding_window"] and c["sliding_window"] is not None and not r
        else "full_attention" for r in has_rope]
    return [("sliding-" if t == "sliding_attention" else "") + ("rope" if r else "nope")
            for t, r in zip(types, has_rope)]


class SmolLm3(Llama):
    """``models/smollm3``: Llama with NoPE layers on a cadence (``no_rope_layers``), tied embeddings."""

    model_type = "smollm3"
    transformers_class = "SmolLM3ForCausalLM"
    defaults = without(Llama.defaults, "head_dim") | {
        "vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 36,
        "num_attention_heads": 16, "num_key_value_heads": 4, "max_position_embeddings": 32768,
        "tie_word_embeddings": True, "rope_theta": 2_000_000.0, "use_sliding_window": False,
        "sliding_window": None, "no_rope_layers": None, "no_rope_layer_interval": 4, "layer_types": None,
    }
    layers = staticmethod(_smollm3_layers)
    block = Llama.block | {
        "mixer.rope": lambda c, k: None if k.endswith("nope") else rope(c),
        "mixer.window": lambda c, k: c["sliding_window"] if k.startswith("sliding") else None,
    }


__all__ = ["Llama", "Mistral", "Qwen2", "Qwen3", "Olmo2", "Phi3", "Cohere", "SmolLm3"]
