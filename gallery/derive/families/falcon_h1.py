"""Falcon-H1 (``models/falcon_h1``): a Mamba-2 mixer and GQA attention side by side in every layer.

``FalconH1DecoderLayer``: one pre-norm RMSNorm feeds both ``FalconH1Mixer`` (a Mamba-2 mixer whose inner width is
``mamba_d_ssm``, or ``mamba_expand × hidden_size`` when that is null; its gated RMSNorm only with ``mamba_rms_norm``,
gate after the norm with ``mamba_norm_before_gate``; a bias on in_proj from ``mamba_proj_bias`` and on out_proj from
``projectors_bias``) and ``FalconH1Attention`` (Llama's, RoPE on whole heads); their outputs are added, then the
residual; then a pre-norm SwiGLU MLP (Llama's) with its residual. Every layer is this one kind (``layers_block_type``
is a read-only property saying "hybrid": a config that sets it or its alias ``layer_types`` is refused by
transformers, and here). The multipliers (``embedding_multiplier``, ``lm_head_multiplier``, ``key_multiplier``,
``attention_in_multiplier``, ``attention_out_multiplier``, ``ssm_in_multiplier``, ``ssm_out_multiplier``,
``ssm_multipliers``, ``mlp_multipliers``) scale activations and are no parameters: not in the spec (as Granite's).
Defaults are ``FalconH1Config``'s.
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import const, head_dim, head_layout_kind, rope, without
from .llama import Llama
from .mamba_hybrid import MAMBA2_DEFAULTS, MAMBA2_MIXER, _needed, d_head_over


def _inner(c) -> int:
    """``FalconH1Mixer.intermediate_size``: mamba_d_ssm, or int(mamba_expand × hidden_size) when it is null."""
    d_ssm = c["mamba_d_ssm"]
    return int(_needed("mamba_expand")(c) * c["hidden_size"]) if d_ssm is None else d_ssm


def _gated_norm(c, kind=None) -> str:
    """``FalconH1RMSNormGated`` only with mamba_rms_norm; norm then gate with mamba_norm_before_gate."""
    if not c["mamba_rms_norm"]:
        return "none"
    return "norm_first" if c["mamba_norm_before_gate"] else "gate_first"


def _layers(c) -> list[str]:
    """Every layer "hybrid"; ``layers_block_type`` (and ``layer_types``, its attribute_map alias) cannot be set."""
    for key in ("layers_block_type", "layer_types"):
        if key in c.raw:
            raise DerivationError(f"{key} cannot be set for falcon_h1: FalconH1Config.layers_block_type is a "
                                  "read-only property (every layer is hybrid); remove the key")
    return ["hybrid"] * c["num_hidden_layers"]


_ATTENTION = {  # Llama's attention rules, read into the block's parallel_mixer
    "parallel_mixer.kind": head_layout_kind,
    "parallel_mixer.n_heads": "num_attention_heads",
    "parallel_mixer.n_kv_heads": lambda c, k: c["num_key_value_heads"] or c["num_attention_heads"],
    "parallel_mixer.head_dim": head_dim,  # LlamaAttention: getattr(config, "head_dim", hidden // heads)
    "parallel_mixer.qkv_bias": "attention_bias",
    "parallel_mixer.out_bias": "attention_bias",
    "parallel_mixer.rope": rope,
}


class FalconH1(Llama):
    """``models/falcon_h1``: Mamba-2 beside GQA attention in every layer, then a SwiGLU MLP."""

    model_type = "falcon_h1"
    transformers_class = "FalconH1ForCausalLM"
    defaults = without(Llama.defaults, "head_dim") | MAMBA2_DEFAULTS | {
        "vocab_size": 128000, "intermediate_size": 14336, "num_key_value_heads": 8, "rms_norm_eps": 1e-5,
        "max_position_embeddings": 8192, "mamba_d_ssm": 1024, "mamba_norm_before_gate": True,
        "mamba_rms_norm": False, "projectors_bias": False,
    }
    layers = staticmethod(_layers)
    block = {k: v for k, v in Llama.block.items() if not k.startswith("mixer.")} | MAMBA2_MIXER | {
        # FalconH1Config.__post_init__ and validate_architecture, over the inner width mamba_d_ssm
        "mixer.head_dim": d_head_over(_inner, "mamba_d_ssm (or mamba_expand × hidden_size when null)"),
        "mixer.out_bias": lambda c, k: bool(c["projectors_bias"]),
        "mixer.gated_norm": _gated_norm,
    } | _ATTENTION


__all__ = ["FalconH1"]
