"""The ModernBERT decoder (``models/modernbert_decoder``, Ettin's decoders): ModernBERT's blocks, causal.

A LayerNorm on the embeddings; pre-LN blocks, except that layer 0 has no norm before attention (``attn_norm`` is
``nn.Identity``: the embedding norm's output goes straight in); multi-head attention with q, k, v and ``Wo``
(biases with attention_bias), RoPE with its own θ on global (full) and local (sliding) layers; a GeGLU MLP whose
``Wi`` holds both halves (d_model → 2 × d_ff: act(first half) ⊙ second half, the same count as gate and up);
LayerNorms without bias unless norm_bias. Every ``global_attn_every_n_layers``-th layer from layer 0 is global
unless ``layer_types`` says otherwise; the local window is ``local_attention // 2`` (the config class's
sliding_window). The head is a prediction head (dense, activation, norm) before a decoder tied to the embeddings,
with a bias (decoder_bias). Defaults are the transformers config class defaults.
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import DROP, Family, activation, const, is_sliding, rope_from, whole_heads
from .gpt import GptNeox

THETA = {"full_attention": 160_000.0, "sliding_attention": 10_000.0}  # ModernBertDecoderConfig.default_theta
LEGACY_THETA = {"full_attention": "global_rope_theta", "sliding_attention": "local_rope_theta"}


def _layers(c) -> list[str]:
    """``layer_types``, else ``ModernBertDecoderConfig.__post_init__``'s pattern (global where layer %
    global_attn_every_n_layers == 0); layer 0 is a kind of its own (no attention norm)."""
    if c["layer_types"]:
        types = c["layer_types"]
        if len(types) != c["num_hidden_layers"]:
            raise DerivationError(f"layer_types: {len(types)} entries for {c['num_hidden_layers']} layers "
                                  "(num_hidden_layers); give exactly one entry per layer")
        kinds = ["sliding" if t == "sliding_attention" else "full" for t in types]
    else:
        every = c.get("global_attn_every_n_layers", 3)  # a kwarg, not a class attribute
        kinds = ["full" if i % every == 0 else "sliding" for i in range(c["num_hidden_layers"])]
    return [f"{kinds[0]}-first"] + kinds[1:]


def _rope(c, kind) -> dict:
    """``convert_rope_params_to_dict``: rope_parameters per layer type (rope_scaling, a legacy key, updates both),
    θ from the entry, else global_rope_theta / local_rope_theta, else 160,000 (global) and 10,000 (local)."""
    layer_type = "sliding_attention" if is_sliding(kind) else "full_attention"
    params = c.get("rope_parameters") or {}
    if not isinstance(params, dict) or set(params) - set(THETA):
        raise DerivationError("rope_parameters: expected a mapping keyed by 'full_attention' and "
                              f"'sliding_attention' (ModernBertDecoderConfig), got {str(params)[:60]}")
    entry = dict(params.get(layer_type) or {}) | dict(c.get("rope_scaling") or {})
    entry.setdefault("rope_theta", c.get(LEGACY_THETA[layer_type], THETA[layer_type]))
    return rope_from(entry, c)


def _window(c, kind):
    """``local_attention // 2`` in the sliding layers; a window under one token is refused (transformers sets -1
    for a null local_attention, which masks nothing sensible)."""
    if not is_sliding(kind):
        return None
    local = c["local_attention"]
    if not local or local // 2 < 1:
        raise DerivationError(f"local_attention {local!r}: the sliding layers attend within local_attention // 2 "
                              "tokens; give 2 or more")
    return local // 2


class ModernBertDecoder(Family):
    """``models/modernbert_decoder``: ModernBERT's blocks with a causal mask and a prediction head."""

    model_type = "modernbert-decoder"
    transformers_class = "ModernBertDecoderForCausalLM"
    defaults = {
        "vocab_size": 50368, "hidden_size": 768, "intermediate_size": 1152, "num_hidden_layers": 22,
        "num_attention_heads": 12, "hidden_activation": "gelu", "max_position_embeddings": 8192, "norm_eps": 1e-5,
        "norm_bias": False, "attention_bias": False, "mlp_bias": False, "decoder_bias": True,
        "classifier_bias": False, "classifier_activation": "gelu", "local_attention": 128, "layer_types": None,
        "tie_word_embeddings": True,
    }  # read with get: rope_parameters (null by default; its keys are layer types, checked by _rope) and the legacy
    # kwargs global_attn_every_n_layers (3), global_rope_theta, local_rope_theta, rope_scaling
    arch = GptNeox.arch | {  # GPT-NeoX's LayerNorm model, with these keys
        "norm.eps": "norm_eps",
        "norm.bias": "norm_bias",
        "embedding.norm": const(True),  # ModernBertDecoderEmbeddings.norm
        "embedding.head_bias": "decoder_bias",
        "embedding.head_mlp.activation": activation("classifier_activation"),
        "embedding.head_mlp.bias": "classifier_bias",
    }
    layers = staticmethod(_layers)
    block = {
        "mixer.kind": const("mha"),
        "mixer.n_heads": "num_attention_heads",
        "mixer.n_kv_heads": "num_attention_heads",
        "mixer.head_dim": whole_heads("ModernBertDecoderAttention refuses it"),
        "mixer.qkv_bias": "attention_bias",
        "mixer.out_bias": "attention_bias",
        "mixer.rope": _rope,
        "mixer.window": _window,
        "ffn.kind": const("mlp"),
        "ffn.d_ff": "intermediate_size",
        "ffn.activation": activation("hidden_activation"),
        "ffn.gated": const(True),  # Wi: act(input) ⊙ gate
        "ffn.bias": "mlp_bias",
        "mixer_norm": lambda c, k: False if k.endswith("-first") else DROP,
    }


__all__ = ["ModernBertDecoder"]
