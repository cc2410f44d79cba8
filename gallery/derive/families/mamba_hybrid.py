"""Mamba hybrids: Bamba and Granite 4 (GraniteMoeHybrid), Mamba-2 layers among attention layers; Jamba (Mamba-1).

Each layer is one pre-norm mixer with a residual, then one pre-norm feed-forward with a residual (Llama's
wiring); the mixer is a Mamba-2 mixer (block kind ``linear``: ``BambaMixer`` and ``GraniteMoeHybridMambaLayer``
are ``Mamba2Mixer`` with the ``mamba_*`` config keys) or GQA attention (``full``). Bamba's attention layers are
listed in ``attn_layer_indices`` and rotate half of each head (``BambaConfig.__post_init__`` passes
``partial_rotary_factor`` 0.5 where rope_parameters gives none); Granite 4's are the ``full_attention`` entries
of ``layer_types`` and use RoPE only when ``position_embedding_type`` is "rope". Granite 4's feed-forward is
Granite-MoE-Shared's (experts plus an always-on SwiGLU MLP), or that MLP alone when ``num_local_experts`` is 0;
its multipliers are no parameters. Jamba (``models/jamba``) is the same wiring with Mamba-1 mixers (their Δ, B, C
RMS norms have weights), NoPE attention and experts on a period of layers.
Defaults are the transformers config class defaults.
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import (
    by_mixer, const, dense_only, is_moe, layer_kinds, moe_only, per_layer, rope, rope_from, without,
)
from .llama import Llama
from .moe import _MOE_FFN
from .moe_like import GraniteMoeShared
from .ssm import dt_rank


def _needed(key: str):
    """``config[key]``; the config classes take null, but transformers builds no Mamba layer without it."""
    def rule(c, kind=None):
        value = c[key]
        if value is None:
            raise DerivationError(f"{key} is null: {c.model_type} builds no Mamba layer without it")
        return value

    return rule


def d_head_over(inner, width: str):
    """The rule for ``mamba_d_head`` ("auto": the inner width ``inner(c)`` // mamba_n_heads); the config classes
    refuse heads that do not fill the inner width, written ``width`` in the error (``validate_architecture``)."""
    def rule(c, kind=None) -> int:
        size, heads = inner(c), _needed("mamba_n_heads")(c)
        d_head = _needed("mamba_d_head")(c)
        if d_head == "auto":
            d_head = size // heads
        if not isinstance(d_head, int) or d_head * heads != size:
            raise DerivationError(f"mamba_n_heads {heads} × mamba_d_head {d_head!r} must equal {width} = {size} (the "
                                  "Mamba inner width); mamba_d_head may also be \"auto\"")
        return d_head

    return rule


#: Bamba's and Granite 4's: the inner width is mamba_expand × hidden_size
mamba_d_head = d_head_over(lambda c: _needed("mamba_expand")(c) * c["hidden_size"], "mamba_expand × hidden_size")


#: The Mamba-2 mixer read from the ``mamba_*`` keys (BambaMixer, GraniteMoeHybridMambaLayer, FalconH1Mixer); a
#: null bias flag builds no bias (``nn.Linear(bias=None)``).
MAMBA2_MIXER = {
    "mixer.kind": const("mamba2"),
    "mixer.n_heads": _needed("mamba_n_heads"),
    "mixer.head_dim": mamba_d_head,
    "mixer.n_groups": _needed("mamba_n_groups"),
    "mixer.d_state": _needed("mamba_d_state"),
    "mixer.conv_kernel": _needed("mamba_d_conv"),
    "mixer.conv_bias": lambda c, k: bool(c["mamba_conv_bias"]),
    "mixer.bias": lambda c, k: bool(c["mamba_proj_bias"]),
    "mixer.chunk_size": "mamba_chunk_size",
}

MAMBA2_DEFAULTS = {
    "mamba_n_heads": 128, "mamba_d_head": "auto", "mamba_n_groups": 1, "mamba_d_state": 256, "mamba_d_conv": 4,
    "mamba_expand": 2, "mamba_chunk_size": 256, "mamba_conv_bias": True, "mamba_proj_bias": False,
}


def hybrid(block: dict, linear: dict = MAMBA2_MIXER) -> dict:
    """A parent's block table whose mixer is read by ``linear`` in linear blocks and as the parent's attention
    elsewhere."""
    attention = {k: v for k, v in block.items() if k.startswith("mixer.")}
    return {k: v for k, v in block.items() if not k.startswith("mixer.")} | {
        key: by_mixer(linear.get(key), attention.get(key)) for key in {**attention, **linear}}


def _bamba_layers(c) -> list[str]:
    """``BambaConfig.layers_block_type``: full attention at the indices of ``attn_layer_indices``, Mamba elsewhere."""
    indices = c["attn_layer_indices"] or []
    return ["full" if i in indices else "linear" for i in range(c["num_hidden_layers"])]


class Bamba(Llama):
    """``models/bamba``: Mamba-2 layers with a few GQA layers (half-rotated RoPE), a SwiGLU MLP in every layer."""

    model_type = "bamba"
    transformers_class = "BambaForCausalLM"
    defaults = without(Llama.defaults, "head_dim") | MAMBA2_DEFAULTS | {
        "vocab_size": 128000, "intermediate_size": 14336, "num_key_value_heads": 8,
        "max_position_embeddings": 262144, "rms_norm_eps": 1e-5, "attn_layer_indices": None,
    }
    layers = staticmethod(_bamba_layers)
    block = hybrid(Llama.block | {
        # BambaConfig.__post_init__ sets partial_rotary_factor 0.5 unless rope_parameters gives one
        "mixer.rope": lambda c, k: rope_from(dict(c.get("rope_parameters") or {}), c, 0.5),
    })


def _granite_layers(c) -> list[str]:
    """``layer_types`` (the legacy "mamba"/"attention" renamed), else all Mamba; with experts or not."""
    n = c["num_hidden_layers"]
    mixers = per_layer(c, "layer_types", {"linear_attention": "linear", "full_attention": "full"}, n)
    experts = c["num_local_experts"]
    if experts is None:  # GraniteMoeHybridDecoderLayer compares it with 0
        raise DerivationError("num_local_experts is null: give the number of experts (0 for none)")
    return layer_kinds(mixers or ["linear"] * n, ["moe" if experts else "dense"] * n)


_EXPERT_KEYS = ("ffn.n_experts", "ffn.top_k", "ffn.d_expert", "ffn.router.normalize_topk", "ffn.n_shared_experts",
                "ffn.d_shared")


class GraniteMoeHybrid(GraniteMoeShared):
    """``models/granitemoehybrid`` (Granite 4): Granite-MoE-Shared's feed-forward after a Mamba-2 or GQA mixer."""

    model_type = "granitemoehybrid"
    transformers_class = "GraniteMoeHybridForCausalLM"
    defaults = GraniteMoeShared.defaults | MAMBA2_DEFAULTS | {
        "shared_intermediate_size": 1024, "position_embedding_type": None, "layer_types": None,
    }
    aliases = {"layers_block_type": "layer_types"}
    layers = staticmethod(_granite_layers)
    block = hybrid(GraniteMoeShared.block | {
        "mixer.rope": lambda c, k: rope(c, k) if c["position_embedding_type"] == "rope" else None,
    }) | {key: moe_only(rule) for key, rule in GraniteMoeShared.block.items() if key in _EXPERT_KEYS} | {
        "ffn.kind": lambda c, k: "moe" if is_moe(k) else "mlp",
        "ffn.d_ff": dense_only("shared_intermediate_size"),  # no experts: the shared MLP is the feed-forward
        "ffn.bias": dense_only(const(False)),
    }


def _every(period: str, offset: str):
    """Layer i when ``i % config[period] == config[offset]`` (JambaConfig.layers_block_type, layers_num_experts);
    ``validate_architecture`` refuses an offset that is not below its period."""
    def layers(c) -> list[bool]:
        p, o = c[period], c[offset]
        if o >= p:
            raise DerivationError(f"{offset} {o} must be smaller than {period} {p}")
        return [i % p == o for i in range(c["num_hidden_layers"])]

    return layers


_JAMBA_ATTENTION, _JAMBA_EXPERTS = _every("attn_layer_period", "attn_layer_offset"), \
    _every("expert_layer_period", "expert_layer_offset")


def _jamba_layers(c) -> list[str]:
    """Attention every attn_layer_period-th layer from attn_layer_offset, Mamba elsewhere; a sparse MoE every
    expert_layer_period-th layer from expert_layer_offset when there is more than one expert, an MLP elsewhere."""
    experts = c["num_experts"] > 1
    return layer_kinds(["full" if a else "linear" for a in _JAMBA_ATTENTION(c)],
                       ["moe" if e and experts else "dense" for e in _JAMBA_EXPERTS(c)])


#: The Mamba-1 mixer read from the ``mamba_*`` keys (JambaMambaMixer, ZambaMambaMixer): inner width
#: mamba_expand × hidden_size
MAMBA1_MIXER = {
    "mixer.kind": const("mamba"),
    "mixer.d_inner": lambda c, k: c["mamba_expand"] * c["hidden_size"],
    "mixer.d_state": "mamba_d_state",
    "mixer.dt_rank": dt_rank("mamba_dt_rank"),
    "mixer.conv_kernel": "mamba_d_conv",
    "mixer.conv_bias": "mamba_conv_bias",
    "mixer.bias": "mamba_proj_bias",
}


class Jamba(Llama):
    """``models/jamba``: Mamba-1 layers (with learned RMS norms of Δ, B and C) and one NoPE GQA layer in eight; a
    SwiGLU MLP or, every other layer, 16 SwiGLU experts with unnormalised top-2 softmax routing."""

    model_type = "jamba"
    transformers_class = "JambaForCausalLM"
    defaults = without(Llama.defaults, "head_dim", "rope_parameters", "rope_theta", "attention_bias", "mlp_bias") | {
        "vocab_size": 65536, "intermediate_size": 14336, "num_key_value_heads": 8, "max_position_embeddings": 262144,
        "num_experts_per_tok": 2, "num_experts": 16, "expert_layer_period": 2, "expert_layer_offset": 1,
        "attn_layer_period": 8, "attn_layer_offset": 4, "mamba_d_state": 16, "mamba_d_conv": 4, "mamba_expand": 2,
        "mamba_dt_rank": "auto", "mamba_conv_bias": True, "mamba_proj_bias": False,
    }
    aliases = {"num_local_experts": "num_experts"}
    layers = staticmethod(_jamba_layers)
    block = hybrid(Llama.block | {
        "mixer.qkv_bias": const(False), "mixer.out_bias": const(False),
        "mixer.rope": const(None),  # JambaAttention applies no positional encoding
    }, MAMBA1_MIXER | {
        "mixer.bc_dt_norm_eps": "rms_norm_eps",  # dt_layernorm, b_layernorm, c_layernorm: JambaRMSNorm
        "mixer.bc_dt_norm_weights": const(True),
    }) | _MOE_FFN | {  # Mixtral's: an MLP in dense layers, SwiGLU experts in MoE ones
        "ffn.n_experts": moe_only("num_experts"),
        "ffn.top_k": moe_only("num_experts_per_tok"),
        "ffn.d_expert": moe_only("intermediate_size"),
        "ffn.router.normalize_topk": moe_only(const(False)),  # JambaTopKRouter: top-k of the softmax, as they are
    }


__all__ = ["Bamba", "GraniteMoeHybrid", "Jamba", "MAMBA1_MIXER"]
