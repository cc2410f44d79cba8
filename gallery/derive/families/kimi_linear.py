"""Kimi Linear (``models/kimi_linear``): Kimi Delta Attention in most layers, MLA without RoPE in the others, on
DeepSeek-V3's MoE.

transformers writes it as DeepSeek-V3's MLA, router, experts and shared experts (``modular_kimi_linear.py``) with
``KimiLinearDeltaAttention`` (block kind ``linear``) where ``layer_types`` says ``linear_attention``, and
``KimiLinearAttention`` (``full``), MLA with NoPE: the model builds no rotary embedding, the ``qk_rope_head_dim``
part of each head is a shared key without positions. ``KimiLinearConfig.__post_init__`` reads the checkpoint's
``linear_attn_config`` (``num_heads``, ``head_dim``, ``short_conv_kernel_size``, 1-indexed ``full_attn_layers`` and
``kda_layers``) over its own ``linear_*`` fields, and ``first_k_dense_replace`` into ``mlp_layer_types``. The head
is never tied (``_tied_weights_keys = {}``). Defaults are the transformers config class defaults.
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import (
    MLP_TYPES, activation, attention_only, const, is_linear, layer_kinds, linear_only, moe_only, per_layer, without,
)
from .deepseek import DeepseekV3

_KINDS = {"linear_attention": "linear", "full_attention": "full"}


def _linear(key: str, own: str):
    """A KDA width: ``linear_attn_config[key]`` if the checkpoint's sub-dict has it, else the ``own`` field."""
    return lambda c, kind=None: (c.get("linear_attn_config") or {}).get(key, c[own])


def _attention_kinds(c) -> list[str]:
    """``layer_types``; else the checkpoint's 1-indexed ``full_attn_layers`` and ``kda_layers`` (both needed);
    else full attention at every layer i > 0 with i % 4 == 0."""
    n = c["num_hidden_layers"]
    listed = per_layer(c, "layer_types", _KINDS, n)
    if listed:
        return listed
    sub = c.get("linear_attn_config") or {}  # config.json keys __post_init__ reads from its kwargs
    if "full_attn_layers" in sub and "kda_layers" in sub:
        kinds: list[str | None] = [None] * n
        for key, kind in (("full_attn_layers", "full"), ("kda_layers", "linear")):
            for number in sub[key]:
                if not (isinstance(number, int) and 1 <= number <= n):
                    raise DerivationError(f"linear_attn_config.{key}: {number!r} is not a layer number from 1 to {n}")
                kinds[number - 1] = kind
        missing = [i + 1 for i, kind in enumerate(kinds) if kind is None]
        if missing:
            raise DerivationError(f"linear_attn_config: layers {missing} are in neither full_attn_layers nor "
                                  "kda_layers (transformers leaves their type null)")
        return kinds
    return ["full" if i and i % 4 == 0 else "linear" for i in range(n)]


def _layers(c, kind=None) -> list[str]:
    """Attention kinds by layer; ``mlp_layer_types`` ("dense"/"sparse"), else dense for the first
    ``first_k_dense_replace`` layers (default 1)."""
    n = c["num_hidden_layers"]
    first = c.get("first_k_dense_replace", 1)
    ffn = per_layer(c, "mlp_layer_types", MLP_TYPES, n) or ["dense" if i < first else "moe" for i in range(n)]
    return layer_kinds(_attention_kinds(c), ffn)


class KimiLinear(DeepseekV3):
    """``models/kimi_linear``: KDA and NoPE MLA layers over DeepSeek-V3's MoE, experts counted as
    ``num_local_experts`` (``num_experts`` in the checkpoint)."""

    model_type = "kimi_linear"
    transformers_class = "KimiLinearForCausalLM"
    reads_as = None
    defaults = without(DeepseekV3.defaults, "n_routed_experts", "first_k_dense_replace", "num_mtp_layers",
                       "rope_parameters", "rope_theta") | {
        "vocab_size": 163840, "hidden_size": 2304, "intermediate_size": 9216, "moe_intermediate_size": 1024,
        "num_hidden_layers": 27, "num_attention_heads": 32, "num_local_experts": 256, "n_shared_experts": 1,
        "routed_scaling_factor": 2.446, "q_lora_rank": None, "n_group": 1, "topk_group": 1,
        "num_experts_per_tok": 8, "norm_topk_prob": True, "max_position_embeddings": 1048576,
        "rms_norm_eps": 1e-5, "layer_types": None, "mlp_layer_types": None, "linear_head_dim": 128,
        "linear_num_heads": 32, "linear_conv_kernel_dim": 4,
    }
    aliases = {  # KimiLinearConfig.attribute_map, its checkpoint's spellings
        "model_max_length": "max_position_embeddings", "moe_renormalize": "norm_topk_prob",
        "num_expert_group": "n_group", "num_experts": "num_local_experts",
        "num_experts_per_token": "num_experts_per_tok", "num_shared_experts": "n_shared_experts",
    }
    arch = {k: v for k, v in DeepseekV3.arch.items() if k != "mtp_layers"} | {
        "embedding.tied": const(False),  # KimiLinearForCausalLM._tied_weights_keys = {}: lm_head is its own
    }
    layers = staticmethod(_layers)
    block = {k: attention_only(v) for k, v in DeepseekV3.block.items() if k.startswith("mixer.")} | {
        k: v for k, v in DeepseekV3.block.items() if not k.startswith("mixer.")} | {
        "mixer.kind": lambda c, k: "kda" if is_linear(k) else "mla",
        "mixer.rope": attention_only(const(None)),  # KimiLinearModel deletes its rotary_emb: MLA with NoPE
        "mixer.scale": attention_only(const(None)),  # qk_head_dim ** -0.5, no YaRN mscale
        "mixer.n_heads": lambda c, k: _linear("num_heads", "linear_num_heads")(c) if is_linear(k) else c[
            "num_attention_heads"],
        "mixer.head_dim": linear_only(_linear("head_dim", "linear_head_dim")),
        "mixer.conv_kernel": linear_only(_linear("short_conv_kernel_size", "linear_conv_kernel_dim")),
        "mixer.activation": linear_only(activation("hidden_act")),
        "ffn.n_experts": moe_only("num_local_experts"),
    }


__all__ = ["KimiLinear"]
