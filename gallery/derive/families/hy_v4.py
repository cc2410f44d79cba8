"""HY-V4 (Hunyuan V4, ``models/hy_v4``): GLM-5's latent attention with the sparse-attention indexer, gated and with
sinks, under identity hyper-connections (iHC), and DeepSeek-V3's routing over clamped experts.

``HYV4Config`` differs from GLM-4.7-Flash (``glm4_moe_lite``, its routing and ``mlp_layer_types``) in:

* attention (``HYV4Attention``): every layer has MLA with DeepSeek Sparse Attention; ``indexer_types`` say which
  layers run their own indexer (``full``: by default layer 0 and every layer i with (i − 1) % 4 == 0) and which
  reuse the previous one's top-k (``shared``); the indexer's LayerNorm k_norm and RoPE on the last
  ``qk_rope_head_dim`` dims of its heads (``HYV4Indexer``), rotate_half RoPE in the attention; an output gate
  ``gate_proj`` (d_model → heads × v_head_dim, σ per element) and learned sinks per head;
* the residual kept as ``hc_mult`` streams with hyper-connections without the comb matrix (``HYV4HyperConnection``,
  post weights scaled by ``hc_magnitude``) and a hyper-head before the final norm;
* routed experts whose SwiGLU caps the gate at ``swiglu_limit`` before SiLU and clamps up to ±``swiglu_limit``
  (``HYV4Experts._apply_gate``; the shared expert and the dense MLP are plain);
* ``num_key_value_heads`` and ``head_dim`` are overwritten (every head has its own K and V; RoPE spans
  ``qk_rope_head_dim``); the MTP layers the checkpoint may carry are not built, and as DeepSeek-V4's they would
  carry hyper-connections ``counts.mtp_terms`` does not count: left out.
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import MLP_TYPES, activation, const, is_moe, layer_kinds, moe_only, per_layer
from .mla_dense import Glm4MoeLite

_INDEXER_TYPES = {"full": "full", "shared": "shared"}  # HYV4Attention: skip_topk = indexer_types[i] == "shared"


def _layers(c, kind=None):
    """``indexer_types`` (default: full on layer 0 and where (i − 1) % 4 == 0) and ``mlp_layer_types`` (default: one
    dense layer, then sparse), as ``HYV4Config.__post_init__`` fills them."""
    n = c["num_hidden_layers"]
    types = per_layer(c, "indexer_types", _INDEXER_TYPES, n) or [
        "full" if i == 0 or (i - 1) % 4 == 0 else "shared" for i in range(n)]
    ffn = per_layer(c, "mlp_layer_types", MLP_TYPES, n) or ["dense"] * min(1, n) + ["moe"] * max(n - 1, 0)
    return layer_kinds(["reuse" if t == "shared" else "full" for t in types], ffn)


def _activation(c, kind):
    """``hidden_act`` in the dense MLP and the shared expert; the routed experts always apply SiLU
    (``HYV4Experts._apply_gate``), so an MoE layer is described only with ``silu``."""
    if is_moe(kind) and c["hidden_act"] != "silu":
        raise DerivationError(f"hidden_act: HY-V4's experts apply SiLU whatever hidden_act says; with "
                              f"'{c['hidden_act']}' in the shared expert the layer is not described; 'silu' is")
    return activation("hidden_act")(c, kind)


class HyV4(Glm4MoeLite):
    """``models/hy_v4``: gated MLA with sinks and a shared-or-full DSA indexer, iHC streams, clamped experts."""

    model_type = "hy_v4"
    transformers_class = "HYV4ForCausalLM"
    defaults = {
        "vocab_size": 120832, "hidden_size": 2816, "intermediate_size": 6912, "moe_intermediate_size": 768,
        "num_hidden_layers": 34, "num_attention_heads": 32, "hidden_act": "silu", "max_position_embeddings": 262144,
        "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "attention_bias": False, "n_routed_experts": 256,
        "n_shared_experts": 1, "num_experts_per_tok": 8, "routed_scaling_factor": 2.827, "norm_topk_prob": True,
        "n_group": 1, "topk_group": 1, "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 192,
        "qk_rope_head_dim": 64, "v_head_dim": 256, "mlp_layer_types": None, "indexer_types": None,
        "index_topk": 2048, "index_head_dim": 128, "index_n_heads": 16, "hc_mult": 4, "hc_magnitude": 2.0,
        "swiglu_limit": 10.0, "rope_parameters": None, "rope_theta": 10000.0,
    }
    aliases = {"num_local_experts": "n_routed_experts"}
    arch = {k: v for k, v in Glm4MoeLite.arch.items() if k != "mtp_layers"} | {
        "hyper_connections.streams": "hc_mult",
        "hyper_connections.post_scale": "hc_magnitude",
    }
    layers = staticmethod(_layers)
    block = Glm4MoeLite.block | {
        "mixer.rope_interleave": const(False),
        "mixer.indexer.n_heads": "index_n_heads",
        "mixer.indexer.head_dim": "index_head_dim",
        "mixer.indexer.top_k": "index_topk",
        "mixer.indexer.shared": lambda c, k: "reuse" in k.split("-"),
        "mixer.indexer.rope_last": const(True),
        "mixer.gate.activation": const("sigmoid"),
        "mixer.gate.per": const("element"),
        "mixer.sinks": const(True),
        "ffn.activation": _activation,
        "ffn.clamp": moe_only("swiglu_limit"),
        "ffn.clamp_gate": moe_only(const(True)),
    }


__all__ = ["HyV4"]
