"""Inkling (Thinking Machines, ``models/inkling``): relative-logit attention with short convolutions, a normed
embedding and an MoE whose router scores the shared experts too.

``InklingTextConfig.__post_init__``: ``layer_types`` ("hybrid" full, "hybrid_sliding" sliding), else sliding at
``local_layer_ids``, else at every layer whose index + 1 is not a multiple of 6; ``mlp_layer_types`` ("sparse" MoE,
"dense" MLP), else dense below the ``dense_mlp_idx`` a config may give (0); a config with ``dense_intermediate_size``
reads ``intermediate_size`` as the experts' width and that as the dense MLP's. Full and sliding layers have heads of
their own (``swa_*``); a sliding layer's relative bias covers its window, a full layer's ``rel_extent``.
``InklingDecoderLayer``: pre-norm, each sublayer's output + a short conv of it (:mod:`gallery.sublayer_conv`).
``InklingTextModel``: the embeddings RMS-normed (``embed_norm``); ``InklingForCausalLM``: the final hidden state ÷
``logits_mup_width_multiplier`` before the head, which is never tied. Defaults are the config class's (checked by
tests/test_derive.py).
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import DROP, MLP_TYPES, Family, activation, const, dense_only, is_moe, is_sliding, layer_kinds, \
    moe_only, per_layer
from .llama import Llama

_TYPES = {"hybrid": "full", "hybrid_sliding": "sliding"}  # what InklingAttention and InklingTextModel tell apart


def _attention(c) -> list[str]:
    n = c["num_hidden_layers"]
    types = per_layer(c, "layer_types", _TYPES, n)
    if types is None:
        ids = c["local_layer_ids"]
        local = set(ids) if ids is not None else {i for i in range(n) if (i + 1) % 6}
        types = ["sliding" if i in local else "full" for i in range(n)]
    return types


def _layers(c, kind=None) -> list[str]:
    n = c["num_hidden_layers"]
    ffn = per_layer(c, "mlp_layer_types", MLP_TYPES, n)
    if ffn is None:
        first = c.get("dense_mlp_idx", 0)  # a keyword __post_init__ pops (no field)
        ffn = ["dense" if i < first else "moe" for i in range(n)]
    return layer_kinds(_attention(c), ffn)


def _swapped(c) -> bool:
    """A config with dense_intermediate_size: intermediate_size is the experts' width (#49416)."""
    return c.get("dense_intermediate_size") is not None


def _d_expert(c, kind=None) -> int:
    return c["intermediate_size"] if _swapped(c) else c["moe_intermediate_size"]


def _by_layer(full: str, sliding: str):
    """The full layers' key, or the sliding layers' own."""
    return lambda c, k: c[sliding if is_sliding(k) else full]


def _log_scaling(c, k):
    """Full layers: queries and bias × 1 + alpha · log(max((i + 1) / n_floor, 1)) when log_scaling_n_floor is set."""
    floor = c["log_scaling_n_floor"]
    return None if floor is None or is_sliding(k) else {"n_floor": floor, "alpha": c["log_scaling_alpha"]}


def _shared(c, kind=None) -> int:
    """n_shared_experts, which the router's ``scores[..., :-n_shared_experts]`` needs to be at least 1."""
    n = c["n_shared_experts"]
    if n == 0:
        raise DerivationError("n_shared_experts is 0: InklingTopkRouter takes the routed scores as "
                              "scores[..., :-n_shared_experts], none at all; accepted: 1 or more")
    return n


def _logit_scale(c, kind=None) -> float:
    """InklingForCausalLM divides the final hidden state by logits_mup_width_multiplier before the head."""
    return 1 / c["logits_mup_width_multiplier"]


class Inkling(Family):
    """``models/inkling``: Inkling's text model (the causal LM InklingForCausalLM builds from InklingTextConfig)."""

    model_type = "inkling_text"
    transformers_class = "InklingForCausalLM"
    defaults = {
        "vocab_size": 201024, "hidden_size": 6144, "num_hidden_layers": 66, "num_attention_heads": 64,
        "num_key_value_heads": 8, "head_dim": 128, "swa_num_attention_heads": 64, "swa_num_key_value_heads": 16,
        "swa_head_dim": 128, "sliding_window_size": 512, "d_rel": 16, "rel_extent": 1024, "log_scaling_n_floor": None,
        "log_scaling_alpha": 0.1, "local_layer_ids": None, "layer_types": None, "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-6, "conv_kernel_size": 4, "mlp_layer_types": None, "intermediate_size": 24576,
        "hidden_act": "silu", "moe_intermediate_size": 3072, "n_routed_experts": 256, "num_experts_per_tok": 6,
        "n_shared_experts": 2, "route_scale": 8.0, "logits_mup_width_multiplier": 24.0,
    }
    aliases = {"embedding_multiplier": "logits_mup_width_multiplier", "sliding_window": "sliding_window_size",
               "num_local_experts": "n_routed_experts", "sconv_kernel_size": "conv_kernel_size",
               "model_max_length": "max_position_embeddings"}
    arch = Llama.arch | {
        "embedding.tied": const(False),  # InklingForCausalLM._tied_weights_keys = {}: never tied
        "embedding.norm": const(True),  # InklingNormedEmbedding.embed_norm
        "embedding.logit_scale": _logit_scale,
    }
    layers = staticmethod(_layers)
    block = {
        "mixer.kind": const("inkling"),
        "mixer.n_heads": _by_layer("num_attention_heads", "swa_num_attention_heads"),
        "mixer.n_kv_heads": _by_layer("num_key_value_heads", "swa_num_key_value_heads"),
        "mixer.head_dim": _by_layer("head_dim", "swa_head_dim"),
        "mixer.d_rel": "d_rel",
        "mixer.rel_extent": _by_layer("rel_extent", "sliding_window_size"),
        "mixer.conv_kernel": "conv_kernel_size",
        "mixer.window": lambda c, k: c["sliding_window_size"] if is_sliding(k) else None,
        "mixer.log_scaling": lambda c, k: _log_scaling(c, k) or DROP,
        "sublayer_conv": "conv_kernel_size",
        "ffn.kind": lambda c, k: "moe" if is_moe(k) else "mlp",
        "ffn.d_ff": dense_only(lambda c, k: c["dense_intermediate_size"] if _swapped(c) else c["intermediate_size"]),
        "ffn.global_scale": dense_only(const(True)),
        "ffn.n_experts": moe_only("n_routed_experts"),
        "ffn.top_k": moe_only("num_experts_per_tok"),
        "ffn.d_expert": moe_only(_d_expert),
        "ffn.n_shared_experts": moe_only(_shared),
        "ffn.d_shared": moe_only(lambda c, k: _shared(c) * _d_expert(c)),
        "ffn.activation": activation("hidden_act"),
        "ffn.gated": const(True),
        "ffn.router.scoring": moe_only(const("sigmoid")),
        "ffn.router.correction_bias": moe_only(const(True)),  # e_score_correction_bias, a buffer
        "ffn.router.weight_scale": moe_only("route_scale"),
        "ffn.router.shared_scored": moe_only(const(True)),
        "ffn.router.global_scale": moe_only(const(True)),
    }


__all__ = ["Inkling"]
