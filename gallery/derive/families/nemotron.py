"""NVIDIA's Nemotron lineage: Nemotron-4 (``models/nemotron``, a Llama-like stack with LayerNorm1P and squared-ReLU
MLPs) and Nemotron-H (``models/nemotron_h``): hybrid stacks of Mamba-2, attention, MLP and MoE layers.

Each Nemotron-H layer (``NemotronHBlock``) is ONE sublayer behind one pre-norm and one residual: a Mamba-2
mixer, a GQA attention without positions (NoPE), a squared-ReLU MLP, or a squared-ReLU MoE with one
shared expert (its routed experts optionally in a narrower latent, ``moe_latent_size``). ``layers_block_type``
(or the legacy ``hybrid_override_pattern`` string, M/*/-/E) says which, layer by layer. Defaults are the
``NemotronHConfig`` defaults. Multi-token-prediction modules (``num_nextn_predict_layers``), which transformers
does not build, are not recorded.
"""

from __future__ import annotations

from ..config import DerivationError
from ...spec import attention_kind
from ..family import DROP, Family, activation, const, head_layout_kind, per_layer, rope_from, without
from .llama import Llama

# NemotronHConfig._pattern_to_list, then our block-kind names for its layer types.
_PATTERN = {"M": "linear_attention", "E": "moe", "*": "full_attention", "-": "mlp"}
_KINDS = {"linear_attention": "mamba", "full_attention": "attention", "moe": "moe", "mlp": "mlp"}
_DEFAULT = ["linear_attention", "moe", "full_attention", "mlp"]


def _layer_types(c) -> list[str]:
    """``NemotronHConfig.__post_init__``: layers_block_type (its length sets the layer count; the old names
    "mamba" and "attention" read as linear_attention and full_attention), else hybrid_override_pattern,
    else M E * -."""
    if _pattern_from_config(c):
        pattern = c["hybrid_override_pattern"]
        if not isinstance(pattern, str):
            raise DerivationError(f"hybrid_override_pattern: expected a string of {''.join(_PATTERN)}, one character "
                                  f"per layer; got {type(pattern).__name__}")
        letters = {ch: _KINDS[t] for ch, t in _PATTERN.items()}
        return per_layer(c, "hybrid_override_pattern", letters, entries=list(pattern))
    return per_layer(c, "layers_block_type", _KINDS) or [_KINDS[t] for t in _DEFAULT]


def _pattern_from_config(c) -> bool:
    """The legacy pattern string is read only when layers_block_type is absent or null."""
    return c.has("hybrid_override_pattern") and not c.has("layers_block_type")


def _by_kind(**rules):
    """The rule (a key or a function) given for the block kind being built; the field is left out of the others."""
    def read(c, kind):
        rule = rules.get(kind)
        if rule is None:
            return DROP
        return c[rule] if isinstance(rule, str) else rule(c, kind)
    return read


def _grouped(key: str):
    """Grouped top-k routing only when there is more than one expert group (n_group > 1)."""
    return _by_kind(moe=lambda c, k: c[key] if c["n_group"] > 1 else DROP)


_ACT = activation("mlp_hidden_act")


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
    arch = Llama.arch | {
        "n_layers": lambda c: len(_layer_types(c)),
        "norm.eps": "layer_norm_epsilon",
        # NemotronHForCausalLM._tied_weights_keys = {}: tie_word_embeddings true still builds its own lm_head
        "embedding.tied": const(False),
    }
    layers = staticmethod(_layer_types)
    block = {
        "mixer.kind": _by_kind(mamba=const("mamba2"), attention=head_layout_kind),
        "mixer.n_heads": _by_kind(mamba="mamba_num_heads", attention="num_attention_heads"),
        "mixer.head_dim": _by_kind(mamba="mamba_head_dim", attention="head_dim"),
        "mixer.n_groups": _by_kind(mamba="n_groups"),
        "mixer.d_state": _by_kind(mamba="ssm_state_size"),
        "mixer.conv_kernel": _by_kind(mamba="conv_kernel"),
        "mixer.conv_bias": _by_kind(mamba="use_conv_bias"),
        "mixer.bias": _by_kind(mamba="use_bias"),  # NemotronHMamba2Mixer reads use_bias, not mamba_proj_bias
        "mixer.chunk_size": _by_kind(mamba="chunk_size"),
        "mixer.n_kv_heads": _by_kind(attention=lambda c, k: c["num_key_value_heads"] or c["num_attention_heads"]),
        "mixer.rope": _by_kind(attention=const(None)),  # NemotronHAttention applies no positional encoding
        "ffn.kind": _by_kind(moe=const("moe"), mlp=const("mlp")),
        "ffn.d_ff": _by_kind(mlp="intermediate_size"),
        "ffn.bias": _by_kind(mlp="mlp_bias"),
        "ffn.activation": _by_kind(moe=_ACT, mlp=_ACT),
        "ffn.gated": _by_kind(moe=const(False), mlp=const(False)),  # up and down only: relu²(up(x))
        "ffn.n_experts": _by_kind(moe="n_routed_experts"),
        "ffn.top_k": _by_kind(moe="num_experts_per_tok"),
        "ffn.d_expert": _by_kind(moe="moe_intermediate_size"),
        "ffn.n_shared_experts": _by_kind(moe=const(1)),  # NemotronHMoE always builds one shared MLP
        "ffn.d_shared": _by_kind(moe="moe_shared_expert_intermediate_size"),
        "ffn.shared_bias": _by_kind(moe="mlp_bias"),
        "ffn.d_latent": _by_kind(moe=lambda c, k: c["moe_latent_size"] or DROP),
        "ffn.latent_bias": _by_kind(moe=lambda c, k: c["mlp_bias"] if c["moe_latent_size"] else DROP),
        "ffn.router.scoring": _by_kind(moe=const("sigmoid")),
        "ffn.router.correction_bias": _by_kind(moe=const(True)),  # e_score_correction_bias: a buffer
        "ffn.router.n_groups": _grouped("n_group"),
        "ffn.router.topk_groups": _grouped("topk_group"),
        "ffn.router.normalize_topk": _by_kind(moe="norm_topk_prob"),
        "ffn.router.weight_scale": _by_kind(moe="routed_scaling_factor"),
    }


def _kv_heads(c, kind=None) -> int:
    """``num_key_value_heads``: NemotronConfig takes null but NemotronAttention divides by it, so it must be set."""
    heads = c["num_key_value_heads"]
    if heads is None:
        raise DerivationError("num_key_value_heads is null: NemotronAttention divides num_attention_heads by it; "
                              "give the KV head count (the attention heads for MHA)")
    return heads


class Nemotron(Llama):
    """``models/nemotron`` (Nemotron-4, Minitron): LayerNorm1P (a LayerNorm with bias whose weight is stored less 1:
    the same parameters), GQA rotating half of each head, a squared-ReLU MLP without a gate."""

    model_type = "nemotron"
    transformers_class = "NemotronForCausalLM"
    defaults = without(Llama.defaults, "rms_norm_eps") | {
        "vocab_size": 256000, "hidden_size": 6144, "intermediate_size": 24576, "num_attention_heads": 48,
        "hidden_act": "relu2", "max_position_embeddings": 4096, "norm_eps": 1e-5,
    }
    arch = Llama.arch | {"norm.kind": const("layernorm"), "norm.eps": "norm_eps", "norm.bias": const(True)}
    block = Llama.block | {
        "mixer.kind": lambda c, k: attention_kind(c["num_attention_heads"], _kv_heads(c)),
        "mixer.n_kv_heads": _kv_heads,
        # NemotronConfig.__post_init__: partial_rotary_factor 0.5 unless the config gives one
        "mixer.rope": lambda c, k: rope_from(dict(c.get("rope_parameters") or {}), c,
                                             c.get("partial_rotary_factor") or 0.5),
        "ffn.gated": const(False),  # NemotronMLP: down(relu²(up(x)))
    }


__all__ = ["NemotronH", "Nemotron"]
