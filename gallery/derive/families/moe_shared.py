"""Mixture-of-experts families with always-on shared experts on GQA attention that need no new kind: ERNIE 4.5 MoE,
Solar Open, EXAONE MoE and Kolibri.

Each is the difference from the family its transformers modular file builds on: ERNIE 4.5 MoE is ERNIE 4.5 with
experts on a grid of layers (``models/ernie4_5_moe``); Solar Open is GLM-4.5's MoE under Llama attention
(``models/solar_open``); EXAONE MoE is EXAONE 4 attention, pre-norm, with DeepSeek-V3's experts
(``models/exaone_moe``); Kolibri is EXAONE 4 attention in GLM-4's sandwich-normed layer with Qwen3-MoE experts, a
correction-biased sigmoid router and a shared expert (``models/kolibri1``). Defaults are the transformers config
class defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ...spec import attention_kind
from ..config import DerivationError, shown
from ..family import (
    DROP, MLP_TYPES, SLIDING_OR_FULL, const, dense_only, is_moe, is_sliding, layer_kinds, moe_only, per_layer,
    required, rope, without,
)
from .deepseek import DeepseekV3, Glm4Moe
from .llama import Llama, Qwen3
from .llama_like import Ernie45, HunyuanDense
from .moe import Qwen3Moe
from .windowed import Exaone4, _exaone4_layers, window


def deepseek_v3_experts(n_experts: str, n_shared: str) -> dict:
    """DeepSeek-V3's feed-forward rules (sigmoid router with a correction bias, grouped top-k, a dense MLP in
    dense layers) for a config that names its expert counts ``n_experts`` and ``n_shared``."""
    return {k: v for k, v in DeepseekV3.block.items() if k.startswith("ffn.")} | {
        "ffn.n_experts": moe_only(required(n_experts, "experts")),
        "ffn.n_shared_experts": moe_only(required(n_shared, "experts")),
        "ffn.d_shared": moe_only(lambda c, k: c[n_shared] * c["moe_intermediate_size"] or DROP),
        "ffn.router.normalize_topk": moe_only(lambda c, k: bool(c["norm_topk_prob"])),  # null: not renormalised
    }


def _ernie_moe_layers(c, kind=None):
    """Ernie4_5_MoeDecoderLayer: experts where (i + 1) % moe_layer_interval == 0 and moe_layer_start_index ≤ i ≤
    moe_layer_end_index (-1: the last layer, Ernie4_5_MoeConfig.__post_init__)."""
    n, start, end, every = (c["num_hidden_layers"], c["moe_layer_start_index"], c["moe_layer_end_index"],
                            c["moe_layer_interval"])
    end = n - 1 if end == -1 else end
    return layer_kinds(["full"] * n, ["moe" if (i + 1) % every == 0 and start <= i <= end else "dense"
                                      for i in range(n)])


_kv_heads = required("num_key_value_heads", "attention")  # Ernie4_5_MoeAttention multiplies by it


class Ernie45Moe(Ernie45):
    """``models/ernie4_5_moe``: ERNIE 4.5 with softmax-routed experts (a frozen correction bias, a parameter, for
    choosing), one shared MLP of ``moe_num_shared_experts × moe_intermediate_size``, dense layers off the grid;
    ``use_bias`` also biases the output head."""

    model_type = "ernie4_5_moe"
    transformers_class = "Ernie4_5_MoeForCausalLM"
    defaults = without(Ernie45.defaults, "head_dim") | {
        "hidden_size": 2560, "intermediate_size": 12288, "num_hidden_layers": 28, "num_attention_heads": 20,
        "num_key_value_heads": 4, "moe_intermediate_size": 1536, "moe_k": 6, "moe_num_experts": 64,
        "moe_num_shared_experts": 2, "moe_layer_start_index": 1, "moe_layer_end_index": -1, "moe_layer_interval": 1,
    }
    aliases = {"num_experts": "moe_num_experts", "num_experts_per_tok": "moe_k"}
    arch = Ernie45.arch | {"embedding.head_bias": "use_bias"}
    layers = staticmethod(_ernie_moe_layers)
    block = Ernie45.block | {
        "mixer.kind": lambda c, k: attention_kind(c["num_attention_heads"], _kv_heads(c)),
        "mixer.n_kv_heads": _kv_heads,
        "ffn.kind": lambda c, k: "moe" if is_moe(k) else "mlp",
        "ffn.d_ff": dense_only("intermediate_size"),
        "ffn.bias": dense_only("use_bias"),
        "ffn.n_experts": moe_only("moe_num_experts"),
        "ffn.top_k": moe_only("moe_k"),
        "ffn.d_expert": moe_only("moe_intermediate_size"),
        "ffn.n_shared_experts": moe_only(lambda c, k: 1 if c["moe_num_shared_experts"] else 0),
        "ffn.d_shared": moe_only(lambda c, k: c["moe_num_shared_experts"] * c["moe_intermediate_size"] or DROP),
        "ffn.shared_bias": moe_only(lambda c, k: c["use_bias"] if c["moe_num_shared_experts"] else DROP),
        "ffn.router.correction_bias": moe_only(const(True)),
        "ffn.router.correction_bias_param": moe_only(const(True)),
        "ffn.router.normalize_topk": moe_only(const(True)),
    }


class SolarOpen(Glm4Moe):
    """``models/solar_open``: GLM-4.5's experts (sigmoid router, correction bias, one shared expert) on every layer,
    under Llama attention (full RoPE, no QK-norm, no bias on the output projection)."""

    model_type = "solar_open"
    transformers_class = "SolarOpenForCausalLM"
    defaults = without(Glm4Moe.defaults, "intermediate_size", "first_k_dense_replace", "use_qk_norm",
                       "num_mtp_layers") | {
        "vocab_size": 196608, "hidden_size": 4096, "num_hidden_layers": 48, "num_attention_heads": 64,
        "head_dim": 128, "rms_norm_eps": 1e-5, "rope_theta": 1_000_000.0, "moe_intermediate_size": 1280,
        "num_experts_per_tok": 8, "n_routed_experts": 128, "max_position_embeddings": 131072,
    }
    aliases = {"num_local_experts": "n_routed_experts"}
    arch = Llama.arch
    layers = staticmethod(lambda c: ["moe"] * c["num_hidden_layers"])
    block = Glm4Moe.block | {"mixer.qk_norm": const("none"), "mixer.rope": rope}


def _exaone_moe_layers(c, kind=None):
    """ExaoneMoeConfig.__post_init__: EXAONE 4's sliding/full pattern, and mlp_layer_types (else dense for the
    first first_k_dense_replace layers)."""
    n = c["num_hidden_layers"]
    ffn = per_layer(c, "mlp_layer_types", MLP_TYPES, n) or [
        "dense" if i < c["first_k_dense_replace"] else "moe" for i in range(n)]
    return layer_kinds(_exaone4_layers(c), ffn)


def _nope_when_windowed(c, kind):
    """Exaone4Attention: RoPE only when there is no window or the layer slides (global layers are NoPE)."""
    return rope(c) if c["sliding_window"] is None or is_sliding(kind) else None


class ExaoneMoe(Exaone4):
    """``models/exaone_moe``: EXAONE 4 attention (QK-norm per head, sliding and NoPE global layers) in pre-norm
    layers, with DeepSeek-V3's experts and a shared expert after ``first_k_dense_replace`` dense layers."""

    model_type = "exaone_moe"
    transformers_class = "ExaoneMoeForCausalLM"
    defaults = Exaone4.defaults | {
        "mlp_layer_types": None, "first_k_dense_replace": 1, "moe_intermediate_size": 1024, "num_experts": 64,
        "num_experts_per_tok": 8, "num_shared_experts": 1, "norm_topk_prob": True, "routed_scaling_factor": 2.5,
        "n_group": 1, "topk_group": 1,
    }
    layers = staticmethod(_exaone_moe_layers)
    block = without(Exaone4.block, "ffn.d_ff", "ffn.bias") | deepseek_v3_experts("num_experts", "num_shared_experts") | {
        "mixer.rope": _nope_when_windowed,
        "norm_placement": const("pre"),
    }


def _kolibri_layers(c, kind=None):
    """Kolibri1Config: layer_types, else a full layer every fifth; sliding layers need a positive window
    (validate_architecture)."""
    n = c["num_hidden_layers"]
    attention = per_layer(c, "layer_types", SLIDING_OR_FULL, n) or [
        "full" if (i + 1) % 5 == 0 else "sliding" for i in range(n)]
    if "sliding" in attention and not c["sliding_window"]:
        raise DerivationError(f"sliding_window {shown(c['sliding_window'])}: Kolibri's sliding-attention layers need "
                              "a positive window; set sliding_window or make every layer full_attention")
    return layer_kinds(attention, ["moe"] * n)


class Kolibri1(Exaone4):
    """``models/kolibri1``: EXAONE 4 attention in GLM-4's sandwich-normed layer; every layer routes among
    ``num_experts`` by sigmoid scores chosen with a correction bias, plus one shared SwiGLU expert; a full layer
    every fifth."""

    model_type = "kolibri1"
    transformers_class = "Kolibri1ForCausalLM"
    defaults = without(Exaone4.defaults, "intermediate_size", "sliding_window_pattern") | {
        "vocab_size": 128000, "hidden_size": 2560, "num_hidden_layers": 50, "num_attention_heads": 48,
        "num_key_value_heads": 4, "head_dim": 128, "max_position_embeddings": 262144, "rms_norm_eps": 1e-6,
        "sliding_window": 513, "moe_intermediate_size": 512, "shared_expert_intermediate_size": 512,
        "num_experts_per_tok": 6, "num_experts": 384, "norm_topk_prob": False,
    }
    aliases = {"num_local_experts": "num_experts"}
    layers = staticmethod(_kolibri_layers)
    block = without(Exaone4.block, "ffn.d_ff", "ffn.bias") | {
        "mixer.rope": _nope_when_windowed,
        "mixer.window": window,
        "norm_placement": const("sandwich"),
        "ffn.kind": const("moe"),
        "ffn.n_experts": "num_experts",
        "ffn.top_k": "num_experts_per_tok",
        "ffn.d_expert": "moe_intermediate_size",
        "ffn.n_shared_experts": const(1),
        "ffn.d_shared": "shared_expert_intermediate_size",
        "ffn.router.scoring": const("sigmoid"),
        "ffn.router.correction_bias": const(True),
        "ffn.router.normalize_topk": "norm_topk_prob",
    }


def _dots1_layers(c, kind=None):
    """Dots1Config.__post_init__: layers from max_window_layers on slide when a window is set; DeepseekV3DecoderLayer:
    the first first_k_dense_replace layers are dense."""
    n = c["num_hidden_layers"]
    attention = per_layer(c, "layer_types", SLIDING_OR_FULL, n) or [
        "sliding" if c["sliding_window"] is not None and i >= c["max_window_layers"] else "full" for i in range(n)]
    return layer_kinds(attention, ["dense" if i < c["first_k_dense_replace"] else "moe" for i in range(n)])


class Dots1(DeepseekV3):
    """``models/dots1`` (dots.llm1): DeepSeek-V3's experts (sigmoid router, correction bias, shared experts, dense
    prefix) under Qwen3 attention (QK-norm per head, sliding layers from ``max_window_layers`` on). Its config class
    leaves the expert counts null, so its default cannot be built."""

    model_type = "dots1"
    transformers_class = "Dots1ForCausalLM"
    defaults = {k: v for k, v in DeepseekV3.defaults.items() if k not in (
        "kv_lora_rank", "q_lora_rank", "qk_rope_head_dim", "v_head_dim", "qk_nope_head_dim", "num_mtp_layers")} | {
        "vocab_size": 152064, "hidden_size": 4608, "intermediate_size": 10944, "moe_intermediate_size": 1408,
        "num_hidden_layers": 62, "num_attention_heads": 32, "num_key_value_heads": 32,
        "n_shared_experts": None, "n_routed_experts": None, "n_group": 1, "topk_group": 1,
        "num_experts_per_tok": None, "first_k_dense_replace": 0, "norm_topk_prob": False,
        "max_position_embeddings": 2048, "routed_scaling_factor": 1.0, "sliding_window": 4096,
        "max_window_layers": 62, "layer_types": None,
    }
    aliases = {"num_local_experts": "n_routed_experts"}
    arch = Llama.arch
    layers = staticmethod(_dots1_layers)
    block = {k: v for k, v in Qwen3.block.items() if k.startswith("mixer.")} | deepseek_v3_experts(
        "n_routed_experts", "n_shared_experts") | {"mixer.window": window}


def _moe_topk(c, kind=None):
    """HunYuanMoEV1Gate: ``moe_topk`` (a per-layer list is accepted by the config class but not read here)."""
    value = c["moe_topk"]
    if isinstance(value, list):
        raise DerivationError(f"moe_topk {shown(value)}: a different top-k per layer is not read yet; give one number")
    return value


class HunyuanMoe(HunyuanDense):
    """``models/hunyuan_v1_moe``: Hunyuan attention (QK-norm per head after RoPE) with every MLP replaced by
    ``num_experts`` Mixtral experts of ``intermediate_size`` (softmax, renormalised top-k) plus an always-on SwiGLU
    MLP of the same width added without a gate."""

    model_type = "hunyuan_v1_moe"
    transformers_class = "HunYuanMoEV1ForCausalLM"
    defaults = HunyuanDense.defaults | {"num_experts": 1, "moe_topk": 1}
    aliases = {"num_experts_per_tok": "moe_topk", "num_local_experts": "num_experts"}
    layers = staticmethod(lambda c: ["moe"] * c["num_hidden_layers"])
    block = without(HunyuanDense.block, "ffn.d_ff", "ffn.bias") | {
        "ffn.kind": const("moe"),
        "ffn.n_experts": "num_experts",
        "ffn.top_k": _moe_topk,
        "ffn.d_expert": "intermediate_size",
        "ffn.n_shared_experts": const(1),
        "ffn.d_shared": "intermediate_size",
        "ffn.router.normalize_topk": const(True),
    }


def _flint_layers(c, kind=None):
    """FlintConfig.__post_init__: full attention on layers 0, 1, every i % 4 == 1 and the last; experts where
    Qwen3MoeDecoderLayer puts them, off ``mlp_only_layers`` (null: [0, 1])."""
    n = c["num_hidden_layers"]
    attention = per_layer(c, "layer_types", SLIDING_OR_FULL, n) or [
        "full" if i < 2 or i % 4 == 1 or i == n - 1 else "sliding" for i in range(n)]
    dense = c["mlp_only_layers"]
    dense = [0, 1] if dense is None else dense
    sparse = [c["num_experts"] > 0 and (i + 1) % c["decoder_sparse_step"] == 0 and i not in dense for i in range(n)]
    return layer_kinds(attention, ["moe" if s else "dense" for s in sparse])


class Flint(Qwen3Moe):
    """``models/flint``: Qwen3-MoE with per-head sink logits, RoPE only in its sliding-window layers (the full ones
    are NoPE), sigmoid routing, and an ungated shared SwiGLU expert beside the experts."""

    model_type = "flint"
    transformers_class = "FlintForCausalLM"
    defaults = without(Qwen3Moe.defaults, "use_sliding_window") | {
        "vocab_size": 150144, "intermediate_size": 6144, "num_hidden_layers": 49, "num_attention_heads": 32,
        "num_key_value_heads": 4, "head_dim": 128, "max_position_embeddings": 262144, "sliding_window": 513,
        "moe_intermediate_size": 512, "shared_expert_intermediate_size": 1024, "num_experts_per_tok": 6,
        "num_experts": 256, "norm_topk_prob": True, "layer_types": None,
    }
    layers = staticmethod(_flint_layers)
    block = Qwen3Moe.block | {
        "mixer.rope": lambda c, k: rope(c) if is_sliding(k) else None,
        "mixer.sinks": const(True),
        "ffn.n_shared_experts": moe_only(const(1)),
        "ffn.d_shared": moe_only("shared_expert_intermediate_size"),
        "ffn.router.scoring": moe_only(const("sigmoid")),
    }


def _hy_v3_layers(c, kind=None):
    """HYV3Config.__post_init__: mlp_layer_types, else a dense first layer and experts after it."""
    n = c["num_hidden_layers"]
    return layer_kinds(["full"] * n, per_layer(c, "mlp_layer_types", MLP_TYPES, n) or ["dense"] + ["moe"] * (n - 1))


def _hy_v3_shared(c, kind=None):
    """HYV3MLP(intermediate_size=moe_intermediate_size × num_shared_experts) takes ``intermediate_size or
    config.intermediate_size``: with no shared experts (0) the shared MLP is as wide as the dense one."""
    return required("num_shared_experts", "experts")(c) * c["moe_intermediate_size"] or c["intermediate_size"]


class HyV3(Llama):
    """``models/hy_v3`` (Hunyuan 3): biased-or-not GQA with QK-norm per head; after a dense first layer, experts
    chosen by sigmoid scores plus a correction bias, renormalised and scaled by ``router_scaling_factor``, and one
    shared MLP of ``num_shared_experts × moe_intermediate_size`` (biased, like the dense MLP, by ``mlp_bias``; with
    ``num_shared_experts`` 0 it is ``intermediate_size`` wide, as transformers builds it)."""

    model_type = "hy_v3"
    transformers_class = "HYV3ForCausalLM"
    defaults = Llama.defaults | {
        "vocab_size": 120832, "intermediate_size": 13312, "num_hidden_layers": 80, "num_attention_heads": 64,
        "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
        "rope_theta": 11158840.0, "num_experts": 192, "num_experts_per_tok": 8, "num_shared_experts": 1,
        "moe_intermediate_size": 1536, "router_scaling_factor": 2.826, "mlp_layer_types": None,
    }
    aliases = {"num_local_experts": "num_experts"}
    layers = staticmethod(_hy_v3_layers)
    block = Llama.block | {
        "mixer.qk_norm": const("per_head_shared"),
        "ffn.kind": lambda c, k: "moe" if is_moe(k) else "mlp",
        "ffn.d_ff": dense_only("intermediate_size"),
        "ffn.bias": dense_only("mlp_bias"),
        "ffn.n_experts": moe_only(required("num_experts", "experts")),
        "ffn.top_k": moe_only("num_experts_per_tok"),
        "ffn.d_expert": moe_only("moe_intermediate_size"),
        "ffn.n_shared_experts": moe_only(const(1)),
        "ffn.d_shared": moe_only(_hy_v3_shared),
        "ffn.shared_bias": moe_only("mlp_bias"),
        "ffn.router.scoring": moe_only(const("sigmoid")),
        "ffn.router.correction_bias": moe_only(const(True)),
        "ffn.router.normalize_topk": moe_only(const(True)),
        "ffn.router.weight_scale": moe_only("router_scaling_factor"),
    }


__all__ = ["Ernie45Moe", "SolarOpen", "ExaoneMoe", "Kolibri1", "Dots1", "HunyuanMoe", "Flint", "HyV3"]
