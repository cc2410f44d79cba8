"""DeepSeek-V2: multi-head latent attention (MLA) and fine-grained MoE with shared experts.

``models/deepseek_v2``: queries (optionally through a low-rank ``q_lora_rank`` bottleneck) and keys
and values decompressed from one ``kv_lora_rank`` latent; a RoPE part of each head
(``qk_rope_head_dim``) is computed separately and its key is shared by all heads. The first
``first_k_dense_replace`` layers keep a dense MLP; the rest route among ``n_routed_experts`` and
always add ``n_shared_experts`` (one MLP of ``n_shared_experts × moe_intermediate_size``).
"""

from __future__ import annotations

import math

from ..family import (
    DROP, MLP_TYPES, Family, activation, const, dense_only, head_dim, head_layout_kind, is_moe, layer_kinds, moe_only,
    per_layer, rope_from,
)
from .llama import Llama


def _dense_first(c, kind=None):
    """DeepseekV2DecoderLayer: ``DeepseekV2Moe if layer_idx >= first_k_dense_replace else DeepseekV2MLP``."""
    n, k = c["num_hidden_layers"], c["first_k_dense_replace"]
    return layer_kinds(["full"] * n, ["dense" if i < k else "moe" for i in range(n)])


def _mla_rope(c, kind=None):
    """RoPE on the qk_rope_head_dim part only, with the config's (YaRN) scaling."""
    return rope_from(dict(c.get("rope_parameters") or c.get("rope_scaling") or {}), c)


def _mla_scale(c, kind=None):
    """``yarn_apply_mscale``: 1/√(qk_nope + qk_rope) × mscale², mscale = 0.1·mscale_all_dim·ln(factor) + 1."""
    params = c.get("rope_parameters") or c.get("rope_scaling") or {}
    mscale_all_dim = params.get("mscale_all_dim", 0)
    factor = params.get("factor", 1.0)
    if params.get("rope_type", params.get("type", "default")) == "default" or not mscale_all_dim or factor <= 1:
        return None
    mscale = 0.1 * mscale_all_dim * math.log(factor) + 1.0
    return (c["qk_nope_head_dim"] + c["qk_rope_head_dim"]) ** -0.5 * mscale * mscale


def _grouped(key):
    """Expert groups, only with ``topk_method: group_limited_greedy``."""
    return lambda c, k: c[key] if c["topk_method"] == "group_limited_greedy" else DROP


class DeepseekV2(Family):
    """``models/deepseek_v2``: MLA attention, dense-first then MoE with shared experts, softmax routing."""

    model_type = "deepseek_v2"
    transformers_class = "DeepseekV2ForCausalLM"
    defaults = {
        "vocab_size": 102400, "hidden_size": 4096, "intermediate_size": 11008, "moe_intermediate_size": 1407,
        "num_hidden_layers": 32, "num_attention_heads": 32, "n_shared_experts": 2, "n_routed_experts": 64,
        "routed_scaling_factor": 1.0, "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_rope_head_dim": 64,
        "v_head_dim": 128, "qk_nope_head_dim": 128, "topk_method": "greedy", "n_group": None, "topk_group": None,
        "num_experts_per_tok": None, "first_k_dense_replace": 0, "hidden_act": "silu",
        "max_position_embeddings": 2048, "rms_norm_eps": 1e-6, "tie_word_embeddings": False,
        "rope_parameters": None, "rope_theta": 10000.0, "attention_bias": False, "mlp_bias": False,
    }
    aliases = {"num_experts": "n_routed_experts"}
    arch = Llama.arch
    layers = staticmethod(_dense_first)
    block = {
        "mixer.kind": const("mla"),
        "mixer.n_heads": "num_attention_heads",
        "mixer.q_lora_rank": "q_lora_rank",
        "mixer.kv_lora_rank": "kv_lora_rank",
        "mixer.qk_nope_head_dim": "qk_nope_head_dim",
        "mixer.qk_rope_head_dim": "qk_rope_head_dim",
        "mixer.v_head_dim": "v_head_dim",
        "mixer.bias": "attention_bias",
        "mixer.rope": _mla_rope,
        "mixer.scale": _mla_scale,
        "ffn.kind": lambda c, k: "moe" if is_moe(k) else "mlp",
        "ffn.d_ff": dense_only("intermediate_size"),
        "ffn.bias": dense_only("mlp_bias"),
        "ffn.activation": activation("hidden_act"),
        "ffn.gated": const(True),
        "ffn.n_experts": moe_only("n_routed_experts"),
        "ffn.top_k": moe_only("num_experts_per_tok"),  # default null: built, counted, but active is undefined
        "ffn.d_expert": moe_only("moe_intermediate_size"),
        "ffn.n_shared_experts": moe_only("n_shared_experts"),
        "ffn.d_shared": moe_only(lambda c, k: c["n_shared_experts"] * c["moe_intermediate_size"] or DROP),
        "ffn.shared_bias": moe_only(lambda c, k: c["mlp_bias"] if c["n_shared_experts"] else DROP),
        "ffn.router.n_groups": moe_only(_grouped("n_group")),
        "ffn.router.topk_groups": moe_only(_grouped("topk_group")),
        "ffn.router.normalize_topk": moe_only(const(False)),
        "ffn.router.weight_scale": moe_only("routed_scaling_factor"),
    }




class DeepseekV3(DeepseekV2):
    """``models/deepseek_v3``: V2 plus sigmoid routing with a selection-only correction bias, always
    grouped top-k (top 2 scores per group rank the groups), renormalised weights; no MLP biases.

    Checkpoints also carry ``num_nextn_predict_layers`` multi-token-prediction modules that
    transformers does not build: recorded as ``mtp_layers`` and counted apart.
    """

    model_type = "deepseek_v3"
    transformers_class = "DeepseekV3ForCausalLM"
    defaults = {k: v for k, v in DeepseekV2.defaults.items() if k not in ("topk_method", "mlp_bias")} | {
        "vocab_size": 129280, "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048,
        "num_hidden_layers": 61, "num_attention_heads": 128, "n_shared_experts": 1, "n_routed_experts": 256,
        "routed_scaling_factor": 2.5, "n_group": 8, "topk_group": 4, "num_experts_per_tok": 8,
        "first_k_dense_replace": 3, "norm_topk_prob": True, "max_position_embeddings": 4096,
        "num_mtp_layers": 1,
    }
    aliases = {"num_local_experts": "n_routed_experts", "num_nextn_predict_layers": "num_mtp_layers"}
    arch = DeepseekV2.arch | {"mtp_layers": "num_mtp_layers"}
    block = {k: v for k, v in DeepseekV2.block.items() if k not in ("ffn.shared_bias",)} | {
        "ffn.bias": dense_only(const(False)),
        "ffn.router.scoring": moe_only(const("sigmoid")),
        "ffn.router.correction_bias": moe_only(const(True)),
        "ffn.router.n_groups": moe_only("n_group"),
        "ffn.router.topk_groups": moe_only("topk_group"),
        "ffn.router.normalize_topk": moe_only("norm_topk_prob"),
    }


class KimiK2(DeepseekV3):
    """Kimi K2 (``kimi_k2``, remote code): its config names ``DeepseekV3ForCausalLM``, read as DeepSeek-V3."""

    model_type = "kimi_k2"
    reads_as = "deepseek_v3"


def _mlp_layer_types(c, kind=None):
    """``mlp_layer_types`` ("dense"/"sparse") if the config lists them, else dense for the first
    ``first_k_dense_replace`` layers (DeepseekV32Config.__post_init__)."""
    n = c["num_hidden_layers"]
    types = per_layer(c, "mlp_layer_types", MLP_TYPES, n) or ["dense"] * min(c["first_k_dense_replace"], n) + [
        "moe"] * max(n - c["first_k_dense_replace"], 0)
    return layer_kinds(["full"] * n, types)


class DeepseekV32(DeepseekV3):
    """``models/deepseek_v32``: DeepSeek-V3 plus DeepSeek Sparse Attention, a lightning indexer in every
    layer that picks the ``index_topk`` earlier tokens each query may attend to."""

    model_type = "deepseek_v32"
    transformers_class = "DeepseekV32ForCausalLM"
    defaults = {k: v for k, v in DeepseekV3.defaults.items() if k != "num_mtp_layers"} | {
        "max_position_embeddings": 163840, "index_topk": 2048, "index_head_dim": 128, "index_n_heads": 64,
        "mlp_layer_types": None,
    }
    aliases = {"num_local_experts": "n_routed_experts", "num_experts": "n_routed_experts"}
    # transformers has no MTP field here; the checkpoint's key still says how many modules it stores
    arch = DeepseekV3.arch | {"mtp_layers": lambda c: c.get("num_nextn_predict_layers", 0)}
    layers = staticmethod(_mlp_layer_types)
    block = DeepseekV3.block | {
        "mixer.indexer.n_heads": "index_n_heads",
        "mixer.indexer.head_dim": "index_head_dim",
        "mixer.indexer.top_k": "index_topk",
    }


# GlmMoeDsaAttention: skip_topk = indexer_types[layer_idx] == "shared" ("full" runs the layer's own indexer)
_INDEXER_TYPES = {"full": "full", "shared": "shared"}


def _glm_dsa_layers(c, kind=None):
    """GlmMoeDsaConfig: indexer_types (or index_topk_pattern "FSS…", or index_topk_freq and
    index_skip_topk_offset) say which layers run their own indexer ("full") and which reuse the
    previous one's selection ("shared"); MLP types as in DeepSeek-V3.2."""
    n = c["num_hidden_layers"]
    types = per_layer(c, "indexer_types", _INDEXER_TYPES, n)
    pattern = c.get("index_topk_pattern")
    if types is None and pattern is not None:  # a string of F/S, or a list of full/shared
        letters = isinstance(pattern, str)
        types = per_layer(c, "index_topk_pattern", {"F": "full", "S": "shared"} if letters else _INDEXER_TYPES, n,
                          entries=list(pattern) if letters else None)
    if types is None:
        freq, offset = max(c.get("index_topk_freq", 1), 1), c.get("index_skip_topk_offset", 2)
        types = ["full" if (max(i - offset + 1, 0) % freq) == 0 else "shared" for i in range(n)]
    ffn = [kind.split("-")[-1] for kind in _mlp_layer_types(c)]
    return layer_kinds(["reuse" if t == "shared" else "full" for t in types], ffn)


class GlmMoeDsa(DeepseekV32):
    """``models/glm_moe_dsa`` (GLM-5): DeepSeek-V3.2's MLA + sparse attention + MoE at other sizes; some
    layers reuse the previous layer's token selection instead of running an indexer."""

    model_type = "glm_moe_dsa"
    transformers_class = "GlmMoeDsaForCausalLM"
    defaults = DeepseekV32.defaults | {
        "vocab_size": 154880, "hidden_size": 6144, "intermediate_size": 12288, "num_hidden_layers": 78,
        "num_attention_heads": 64, "q_lora_rank": 2048, "v_head_dim": 256, "qk_nope_head_dim": 192,
        "n_group": 1, "topk_group": 1, "max_position_embeddings": 202752, "rms_norm_eps": 1e-5,
        "index_n_heads": 32, "indexer_types": None,
    }
    aliases = {"num_local_experts": "n_routed_experts"}
    layers = staticmethod(_glm_dsa_layers)
    block = DeepseekV32.block | {"mixer.indexer.shared": lambda c, k: "reuse" in k.split("-"),
                                 "mixer.indexer.rope_pairs": const(True)}  # GlmMoeDsaIndexer: interleaved RoPE


def _glm_rope(c, kind=None):
    """Glm4MoeConfig: RoPE on ``partial_rotary_factor`` of each head (0.5 unless set)."""
    params = dict(c.get("rope_parameters") or c.get("rope_scaling") or {})
    return rope_from(params, c, c.get("partial_rotary_factor", 0.5))


class Glm4Moe(DeepseekV3):
    """``models/glm4_moe`` (GLM-4.5): DeepSeek-V3's MoE (sigmoid routing, correction bias, shared expert,
    dense prefix, MTP) under plain GQA attention with QKV bias, optional QK-norm and half-rotary heads."""

    model_type = "glm4_moe"
    transformers_class = "Glm4MoeForCausalLM"
    reads_as = None
    defaults = {k: v for k, v in DeepseekV3.defaults.items() if k not in (
        "kv_lora_rank", "q_lora_rank", "qk_rope_head_dim", "v_head_dim", "qk_nope_head_dim")} | {
        "vocab_size": 151552, "hidden_size": 4096, "intermediate_size": 10944, "moe_intermediate_size": 1408,
        "num_hidden_layers": 46, "num_attention_heads": 96, "num_key_value_heads": 8, "n_shared_experts": 1,
        "n_routed_experts": 128, "routed_scaling_factor": 1.0, "n_group": 1, "topk_group": 1,
        "first_k_dense_replace": 1, "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
        "use_qk_norm": False,
    }
    block = {k: v for k, v in DeepseekV3.block.items() if not k.startswith("mixer.")} | {
        "mixer.kind": head_layout_kind,
        "mixer.n_heads": "num_attention_heads",
        "mixer.n_kv_heads": lambda c, k: c["num_key_value_heads"] or c["num_attention_heads"],
        "mixer.head_dim": head_dim,
        "mixer.qkv_bias": "attention_bias",
        "mixer.qk_norm": lambda c, k: "per_head_shared" if c["use_qk_norm"] else "none",
        "mixer.rope": _glm_rope,
    }


__all__ = ["DeepseekV2", "DeepseekV3", "DeepseekV32", "GlmMoeDsa", "KimiK2", "Glm4Moe"]
