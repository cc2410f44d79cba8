"""NVIDIA's Nemotron-H lineage (``models/nemotron_h``): hybrid stacks of Mamba-2, attention, MLP and MoE layers.

Each Nemotron-H layer (``NemotronHBlock``) is ONE sublayer behind one pre-norm and one residual: a Mamba-2
mixer, a GQA attention without positions (NoPE), a squared-ReLU MLP, or a squared-ReLU MoE with one
shared expert. ``layers_block_type`` (or the legacy ``hybrid_override_pattern`` string, M/*/-/E) says which,
layer by layer. Defaults are the ``NemotronHConfig`` defaults.
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import DROP, Family, activation, const, head_layout_kind

# NemotronHConfig._pattern_to_list, then our block-kind names for its layer types.
_PATTERN = {"M": "linear_attention", "E": "moe", "*": "full_attention", "-": "mlp"}
_KINDS = {"linear_attention": "mamba", "full_attention": "attention", "moe": "moe", "mlp": "mlp"}


def _layer_types(c) -> list[str]:
    """``NemotronHConfig.__post_init__``: layers_block_type, else hybrid_override_pattern, else M E * -."""
    if _pattern_from_config(c):
        return [_KINDS[_PATTERN[ch]] for ch in c["hybrid_override_pattern"]]
    types = c["layers_block_type"] or ["linear_attention", "moe", "full_attention", "mlp"]
    unknown = sorted(set(types) - set(_KINDS))
    if unknown:
        raise DerivationError(f"layers_block_type: unknown layer types {', '.join(unknown)}; known: {', '.join(_KINDS)}")
    return [_KINDS[t] for t in types]


def _pattern_from_config(c) -> bool:
    """The legacy pattern string is read only when layers_block_type is absent or null."""
    return c.has("hybrid_override_pattern") and not c.has("layers_block_type")


def _no_latent(c) -> None:
    """``moe_latent_size`` (experts in a narrower latent, fc1/fc2_latent_proj) is not modelled: say so."""
    if c["moe_latent_size"] is not None:
        raise DerivationError("moe_latent_size (MoE experts in a latent space) is not modelled yet: this config "
                              "cannot be counted exactly")


def _in(kinds: tuple[str, ...], rule):
    """``rule`` (a key or function) in blocks of ``kinds``; the field is left out of the others."""
    def read(c, kind):
        if kind not in kinds:
            return DROP
        return c[rule] if isinstance(rule, str) else rule(c, kind)
    return read


def _mamba(rule):
    return _in(("mamba",), rule)


def _attention(rule):
    return _in(("attention",), rule)


def _moe(rule):
    return _in(("moe",), rule)


def _grouped(key: str):
    """Grouped top-k routing only when there is more than one expert group (n_group > 1)."""
    return _moe(lambda c, k: c[key] if c["n_group"] > 1 else DROP)


class NemotronH(Family):
    """``models/nemotron_h``: one mixer per layer (Mamba-2, NoPE GQA, relu² MLP or MoE), pre-norm RMSNorm."""

    model_type = "nemotron_h"
    transformers_class = "NemotronHForCausalLM"
    defaults = {
        "vocab_size": 131072, "hidden_size": 4096, "layers_block_type": None,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 4096,
        "intermediate_size": 21504, "mlp_hidden_act": "relu2", "mlp_bias": False, "ssm_state_size": 128,
        "mamba_num_heads": 128, "mamba_head_dim": 64, "n_groups": 8, "conv_kernel": 4, "use_conv_bias": True,
        "chunk_size": 128, "n_routed_experts": 8, "moe_intermediate_size": 7688,
        "moe_shared_expert_intermediate_size": 7688, "moe_latent_size": None, "num_experts_per_tok": 2,
        "routed_scaling_factor": 1.0, "n_group": 1, "topk_group": 1, "norm_topk_prob": True, "use_bias": False,
        "layer_norm_epsilon": 1e-5,
    }
    # NemotronHConfig.attribute_map, and the legacy names its __post_init__ accepts
    aliases = {"layer_types": "layers_block_type", "num_local_experts": "n_routed_experts",
               "mamba_n_groups": "n_groups", "mamba_d_conv": "conv_kernel", "mamba_conv_bias": "use_conv_bias",
               "mamba_chunk_size": "chunk_size"}
    arch = {
        "d_model": "hidden_size",
        "n_layers": lambda c: len(_layer_types(c)),
        "vocab_size": "vocab_size",
        "context_length": "max_position_embeddings",
        "norm.kind": const("rmsnorm"),
        "norm.eps": "layer_norm_epsilon",
        "embedding.tied": const(False),  # NemotronHForCausalLM._tied_weights_keys = {}: tie_word_embeddings ties nothing
    }
    layers = staticmethod(_layer_types)
    block = {
        "mixer.kind": _in(("mamba", "attention"), lambda c, k: "mamba2" if k == "mamba" else head_layout_kind(c)),
        "mixer.n_heads": _in(("mamba", "attention"),
                             lambda c, k: c["mamba_num_heads" if k == "mamba" else "num_attention_heads"]),
        "mixer.head_dim": _in(("mamba", "attention"), lambda c, k: c["mamba_head_dim" if k == "mamba" else "head_dim"]),
        "mixer.n_groups": _mamba("n_groups"),
        "mixer.d_state": _mamba("ssm_state_size"),
        "mixer.conv_kernel": _mamba("conv_kernel"),
        "mixer.conv_bias": _mamba("use_conv_bias"),
        "mixer.bias": _mamba("use_bias"),  # NemotronHMamba2Mixer reads use_bias, not mamba_proj_bias
        "mixer.chunk_size": _mamba("chunk_size"),
        "mixer.n_kv_heads": _attention(lambda c, k: c["num_key_value_heads"] or c["num_attention_heads"]),
        "mixer.rope": _attention(const(None)),  # NemotronHAttention applies no positional encoding
        "ffn.kind": _in(("moe", "mlp"), lambda c, k: k),
        "ffn.d_ff": _in(("mlp",), "intermediate_size"),
        "ffn.bias": _in(("mlp",), "mlp_bias"),
        "ffn.activation": _in(("moe", "mlp"), activation("mlp_hidden_act")),
        "ffn.gated": _in(("moe", "mlp"), const(False)),
        "ffn.n_experts": _moe(lambda c, k: _no_latent(c) or c["n_routed_experts"]),
        "ffn.top_k": _moe("num_experts_per_tok"),
        "ffn.d_expert": _moe("moe_intermediate_size"),
        "ffn.n_shared_experts": _moe(const(1)),  # NemotronHMoE always builds one shared MLP
        "ffn.d_shared": _moe("moe_shared_expert_intermediate_size"),
        "ffn.shared_bias": _moe("mlp_bias"),
        "ffn.router.scoring": _moe(const("sigmoid")),
        "ffn.router.correction_bias": _moe(const(True)),
        "ffn.router.n_groups": _grouped("n_group"),
        "ffn.router.topk_groups": _grouped("topk_group"),
        "ffn.router.normalize_topk": _moe("norm_topk_prob"),
        "ffn.router.weight_scale": _moe("routed_scaling_factor"),
    }


__all__ = ["NemotronH"]
