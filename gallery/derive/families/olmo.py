"""OLMo (``models/olmo``: Llama with LayerNorms that have no weights) and OLMo hybrid (``models/olmo_hybrid``: OLMo 3
attention layers among Gated DeltaNet layers).

Three of every four layers (``layer_types``; by default every fourth is full attention, and the last one when
there would be none) mix tokens by Gated DeltaNet (``OlmoHybridGatedDeltaNet``: separate q, k, v, a, b and gate
projections, β = 2σ(b) when ``linear_allow_neg_eigval``, an output norm with its own eps 1e-5) behind a pre-norm;
the others are OLMo 2/3 attention (QK-norm over the whole projection, RoPE) with norms after each sublayer. The
linear widths default from the attention's (``OlmoHybridConfig.__post_init__``). Defaults are the transformers
config class defaults.
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import by_mixer, const, per_layer, rope, without
from .llama import Llama, Olmo2
from .mamba_hybrid import hybrid


class Olmo(Llama):
    """``models/olmo`` (OLMo 1): Llama whose norms (OlmoLayerNorm: F.layer_norm, eps 1e-5, no weight, no bias) have no
    parameters; ``clip_qkv`` clamps q, k and v (no parameters either; not drawn)."""

    model_type = "olmo"
    transformers_class = "OlmoForCausalLM"
    defaults = without(Llama.defaults, "rms_norm_eps", "mlp_bias", "head_dim") | {
        "vocab_size": 50304, "num_key_value_heads": None,
    }
    arch = Llama.arch | {"norm.kind": const("layernorm"), "norm.eps": const(1e-5), "norm.weights": const(False)}
    block = Llama.block | {"ffn.bias": const(False)}


def _layers(c) -> list[str]:
    """``layer_types``, else full attention at every i % 4 == 3 (the last layer if none); at least one of each kind
    (``OlmoHybridConfig.validate_architecture``)."""
    n = c["num_hidden_layers"]
    kinds = per_layer(c, "layer_types", {"linear_attention": "linear", "full_attention": "full"}, n)
    if kinds is None:
        kinds = ["full" if i % 4 == 3 else "linear" for i in range(n)]
        kinds[-1] = kinds[-1] if "full" in kinds else "full"
    if "linear" not in kinds or "full" not in kinds:
        raise DerivationError("layer_types: OLMo hybrid needs at least one linear_attention and one full_attention "
                              "layer")
    return kinds


def _heads(key: str):
    """A linear-attention head count: ``key``, else num_attention_heads."""
    return lambda c, k=None: c[key] or c["num_attention_heads"]


def _k_head_dim(c, kind=None) -> int:
    """``linear_key_head_dim``, else int(0.75 × hidden_size / linear_num_key_heads)."""
    return c["linear_key_head_dim"] or int(0.75 * c["hidden_size"] / _heads("linear_num_key_heads")(c))


_GATED_DELTANET = {
    "mixer.kind": const("gated_deltanet"),
    "mixer.n_k_heads": _heads("linear_num_key_heads"),
    "mixer.n_v_heads": _heads("linear_num_value_heads"),
    "mixer.k_head_dim": _k_head_dim,
    "mixer.v_head_dim": lambda c, k: c["linear_value_head_dim"] or 2 * _k_head_dim(c),
    "mixer.conv_kernel": "linear_conv_kernel_dim",
    "mixer.neg_eigval": "linear_allow_neg_eigval",
    "mixer.norm_eps": const(1e-5),  # OlmoHybridRMSNormGated(head_v_dim, eps=1e-5): FLA's FusedRMSNormGated default
}


def _rope(c, kind=None) -> dict | None:
    """RoPE unless rope_parameters leaves rope_theta null (``OlmoHybridModel`` then builds no rotary table: NoPE)."""
    params = c.get("rope_parameters")
    return None if isinstance(params, dict) and "rope_theta" in params and params["rope_theta"] is None else rope(c)


class OlmoHybrid(Olmo2):
    """``models/olmo_hybrid``: Gated DeltaNet layers (pre-norm) with an OLMo 3 attention layer (post-norm) in four."""

    model_type = "olmo_hybrid"
    transformers_class = "OlmoHybridForCausalLM"
    defaults = Olmo2.defaults | {
        "vocab_size": 100352, "hidden_size": 3840, "num_attention_heads": 30, "max_position_embeddings": 65536,
        "rms_norm_eps": 1e-6, "layer_types": None, "linear_num_key_heads": None, "linear_num_value_heads": None,
        "linear_key_head_dim": None, "linear_value_head_dim": None, "linear_conv_kernel_dim": 4,
        "linear_allow_neg_eigval": True,
    }
    layers = staticmethod(_layers)
    block = hybrid(Olmo2.block | {"mixer.rope": _rope}, _GATED_DELTANET) | {
        "norm_placement": by_mixer(const("pre"), const("post")),
    }


__all__ = ["Olmo", "OlmoHybrid"]
