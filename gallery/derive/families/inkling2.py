"""Inkling 2 (Thinking Machines, ``models/inkling2``) as its difference from Inkling (:mod:`.inkling`).

``Inkling2TextConfig.__post_init__``: ``layer_types`` ("hybrid" full, "hybrid_sliding" sliding), else full at every
layer whose index + 1 is a multiple of 6 (no ``local_layer_ids``, no dense layers: every layer is an
``Inkling2SparseMoeBlock``). ``Inkling2SlidingAttention`` / ``Inkling2FullAttention``: Inkling's relative-logit
attention with L2 clips in place of the QK-norm, ``gate_proj`` (σ per element), ``sink_proj`` (a sink logit per head
and token), K/V convolutions scaled by 1/√(K + 1), dynamic in full layers (÷ √(2K + 1)), which read Q, K and V from
three inputs through q/k/v_input_layernorm, always log-scaled. ``Inkling2TopKRouter``: ``scoring_func`` (ACT2FN:
only "sigmoid" gives scores) with a correction bias, × route_scale; no shared experts; ``Inkling2Experts``: a
soft-capped SwiGLU whatever ``hidden_act`` says. ``Inkling2*DecoderLayer``: block attention residuals
(:mod:`gallery.block_attn_residual`), the first layer without an attention input (its own block kind,
``first-…``), each sublayer's output (y + conv(y)) / √(K + 1). ``Inkling2ForCausalLM``: untied head, final logits
soft-capped by ``final_logit_softcapping`` (and cut to ``unpadded_vocab_size``, which changes no parameter).
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import DROP, Family, const, is_sliding, per_layer
from .inkling import _TYPES, Inkling, _log_scaling
from .llama import Llama

FIRST = "first"  # the prefix of layer 0's block kind: no attention input


def _layers(c, kind=None) -> list[str]:
    n = c["num_hidden_layers"]
    types = per_layer(c, "layer_types", _TYPES, n) or ["full" if (i + 1) % 6 == 0 else "sliding" for i in range(n)]
    return [f"{FIRST}-{types[0]}", *types[1:]]


def _queries(c, kind=None) -> dict:
    """Layer 0 has no attention input; a full layer's has three queries."""
    kinds = _layers(c)
    return {k: 0 if k.startswith(FIRST) else 3 for k in kinds if k.startswith(FIRST) or _full(k)}


def _full(kind: str) -> bool:
    return not is_sliding(kind)


def _scoring(c, kind=None) -> str:
    """Inkling2TopKRouter scores with ACT2FN[scoring_func]: the gallery's routers read a sigmoid."""
    f = c["scoring_func"]
    if f != "sigmoid":
        raise DerivationError(f"scoring_func: {f!r} is not read; Inkling2TopKRouter applies ACT2FN[scoring_func] to "
                              "the router logits; accepted: 'sigmoid'")
    return f


class Inkling2(Family):
    """``models/inkling2``: Inkling 2's text model (the causal LM Inkling2ForCausalLM builds from
    Inkling2TextConfig)."""

    model_type = "inkling2_text"
    transformers_class = "Inkling2ForCausalLM"
    defaults = {
        "vocab_size": 201024, "unpadded_vocab_size": 200058, "hidden_size": 4608, "num_hidden_layers": 48,
        "num_attention_heads": 48, "num_key_value_heads": 8, "head_dim": 128, "swa_num_attention_heads": 48,
        "swa_num_key_value_heads": 8, "swa_head_dim": 128, "sliding_window_size": 1024, "d_rel": 16,
        "rel_extent": 1024, "log_scaling_n_floor": 128000, "log_scaling_alpha": 0.1, "layer_types": None,
        "max_position_embeddings": 1048576, "rms_norm_eps": 1e-6, "conv_kernel_size": 4, "hidden_act": "silu",
        "moe_intermediate_size": 2304, "n_routed_experts": 384, "num_experts_per_tok": 8, "route_scale": 8.0,
        "qk_l2_clip_threshold": 22.627416997969522, "rel_l2_clip_threshold": 8.0, "n_layers_per_attn_res_block": 6,
        "mlp_gate_softcap": 4.0, "mlp_up_softcap": 25.0, "final_logit_softcapping": 30.0, "scoring_func": "sigmoid",
    }
    aliases = {"sliding_window": "sliding_window_size", "num_local_experts": "n_routed_experts",
               "sconv_kernel_size": "conv_kernel_size", "model_max_length": "max_position_embeddings",
               "intermediate_size": "moe_intermediate_size", "routed_scaling_factor": "route_scale"}
    arch = Llama.arch | {
        "embedding.tied": const(False),  # Inkling2ForCausalLM._tied_weights_keys = {}: never tied
        "embedding.norm": const(True),  # Inkling2NormedEmbedding.embed_norm
        "embedding.logit_softcap": "final_logit_softcapping",
        "block_attn_residual.block_layers": "n_layers_per_attn_res_block",
        "block_attn_residual.queries": _queries,
    }
    layers = staticmethod(_layers)
    block = {k: rule for k, rule in Inkling.block.items() if k.startswith("mixer.") or k == "sublayer_conv"} | {
        "mixer.log_scaling": lambda c, k: (c["log_scaling_alpha"] and _log_scaling(c, k)) or DROP,  # α 0: τ = 1
        "mixer.conv_form": lambda c, k: "scaled" if is_sliding(k) else "dynamic",
        "mixer.clip.qk": "qk_l2_clip_threshold",
        "mixer.clip.rel": "rel_l2_clip_threshold",
        "mixer.gate.activation": const("sigmoid"),
        "mixer.gate.per": const("element"),
        "mixer.token_sinks": const(True),
        "mixer.three_inputs": lambda c, k: _full(k),
        "mixer_norm": lambda c, k: is_sliding(k),  # full layers norm their three inputs instead
        "sublayer_conv_scaled": const(True),
        "ffn.kind": const("moe"),
        "ffn.n_experts": "n_routed_experts",
        "ffn.top_k": "num_experts_per_tok",
        "ffn.d_expert": "moe_intermediate_size",
        "ffn.activation": const("silu"),  # Inkling2SoftcappedSwiGLU, whatever hidden_act says
        "ffn.gated": const(True),
        "ffn.softcap.gate": "mlp_gate_softcap",
        "ffn.softcap.up": "mlp_up_softcap",
        "ffn.router.scoring": _scoring,
        "ffn.router.correction_bias": const(True),  # e_score_correction_bias, a buffer
        "ffn.router.weight_scale": "route_scale",
    }


__all__ = ["Inkling2"]
