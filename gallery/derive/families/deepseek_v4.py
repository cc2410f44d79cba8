"""DeepSeek-V4: DeepSeek-V3's MoE under compressed attention, hash-routed first layers and hyper-connections.

``models/deepseek_v4`` differs from DeepSeek-V3 in:

* attention: MLA gives way to one shared KV head (K = V) over a sliding window, plus in compressing
  layers one KV entry per ``ratio`` tokens (``layer_types``: ``sliding_attention``,
  ``compressed_sparse_attention`` with overlapping blocks and an indexer, ``heavily_compressed_attention``);
  a grouped low-rank output projection (``o_groups`` × ``o_lora_rank``) and attention sinks;
* routing: ``sqrtsoftplus`` scores, always renormalised, no expert groups; the first layers
  (``mlp_layer_types`` ``hash_moe``) pick experts by a frozen token-id table; every layer is MoE with
  one shared expert of ``moe_intermediate_size`` (whatever ``n_shared_experts`` says);
* SwiGLU with gate and up clamped to ``swiglu_limit``;
* the residual kept as ``hc_mult`` streams (hyper-connections);
* the MTP module (``num_nextn_predict_layers``) is not built, and unlike DeepSeek-V3's it carries a
  hyper-head and a window-only layer, so ``counts.mtp_terms`` would not count it: left out.

Legacy keys that ``DeepseekV4Config.__post_init__`` folds into its fields (``compress_ratios``,
``compress_rate_csa``/``_hca``, ``num_hash_layers``, ``qk_rope_head_dim``) are read the same way.
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import DROP, const, rope_from
from .deepseek import DeepseekV3

_TYPES = {"window": "sliding_attention", "csa": "compressed_sparse_attention", "hca": "heavily_compressed_attention"}
_RATIO_TYPES = {0: "sliding_attention", 4: "compressed_sparse_attention", 128: "heavily_compressed_attention"}


def _rates(c) -> dict:
    """``compress_rates`` per layer type, with the legacy scalar overrides folded in."""
    rates = dict(c["compress_rates"] or c["default_compress_rates"])
    for key, layer_type in (("compress_rate_csa", "compressed_sparse_attention"),
                            ("compress_rate_hca", "heavily_compressed_attention")):
        if c.get(key) is not None:
            rates[layer_type] = c[key]
    return rates


def _attention_types(c) -> list[str]:
    """``layer_types``, else the legacy per-layer ``compress_ratios`` (0/4/128), else 2 HCA then CSA/HCA."""
    n = c["num_hidden_layers"]
    types, legacy = c["layer_types"], c.get("compress_ratios")
    if types is None and legacy is not None:
        unknown = sorted(set(legacy) - set(_RATIO_TYPES))
        if unknown:
            raise DerivationError(f"compress_ratios: {unknown} are not 0, 4 or 128; use layer_types and compress_rates")
        types = [_RATIO_TYPES[r] for r in legacy]
    if types is None:
        types = ["heavily_compressed_attention"] * min(n, 2) + [
            "compressed_sparse_attention" if i % 2 else "heavily_compressed_attention" for i in range(max(n - 2, 0))]
    return list(types[:n])


def _hash_layers(c) -> list[bool]:
    """``mlp_layer_types`` == ``hash_moe``, else the first ``num_hash_layers`` (default 3) layers."""
    n = c["num_hidden_layers"]
    types = c["mlp_layer_types"]
    if types is None:
        legacy = c.get("num_hash_layers")
        k = legacy if legacy is not None else c["default_num_hash_layers"]
        types = ["hash_moe"] * min(n, k) + ["moe"] * max(0, n - k)
    return [t == "hash_moe" for t in types[:n]]


def _layers(c, kind=None):
    """Block kinds ``window``, ``csa4``, ``hca128`` (the ratio in the name), ``-hash`` for hash-routed layers."""
    rates = _rates(c)
    names = {t: short + (str(rates[t]) if short != "window" else "") for short, t in _TYPES.items()}
    return [names[t] + ("-hash" if h else "") for t, h in zip(_attention_types(c), _hash_layers(c))]


def _type(kind: str) -> str:
    """The transformers layer type of a block kind: ``csa4-hash`` → ``compressed_sparse_attention``."""
    return _TYPES[kind.split("-")[0].rstrip("0123456789")]


def _compressing(rule):
    """``rule`` in layers with a compressor; left out of window-only ones."""
    return lambda c, k: DROP if _type(k) == "sliding_attention" else rule(c, k)


def _sparse(rule):
    """``rule`` in compressed sparse attention (CSA) layers only."""
    return lambda c, k: rule(c, k) if _type(k) == "compressed_sparse_attention" else DROP


def _partial(c) -> float:
    """``partial_rotary_factor``, else legacy ``qk_rope_head_dim / head_dim``, else 64 / 512."""
    if c["partial_rotary_factor"] is not None:
        return c["partial_rotary_factor"]
    legacy = c.get("qk_rope_head_dim")
    return legacy / c["head_dim"] if legacy is not None else c["default_partial_rotary_factor"]


def _rope(c, kind):
    """``rope_parameters["main"]`` (rope_theta, no scaling) in window-only layers, ``["compress"]``
    (compress_rope_theta with the config's YaRN) in compressing ones."""
    params = c.get("rope_parameters") or {}
    label = "main" if _type(kind) == "sliding_attention" else "compress"
    if isinstance(params.get("main"), dict) and isinstance(params.get("compress"), dict):
        nested = params[label]
        return rope_from(dict(nested), c, nested.get("partial_rotary_factor", 1.0))
    partial = _partial(c)
    if label == "main":
        return rope_from({"rope_theta": c["rope_theta"]}, c, partial)
    scaling = {k: v for k, v in (params or c.get("rope_scaling") or {}).items() if k not in ("main", "compress")}
    return rope_from(scaling | {"rope_theta": c["compress_rope_theta"]}, c, partial)


def _activation(c, kind=None) -> str:
    """DeepseekV4Experts / DeepseekV4MLP: act(gate.clamp(max=limit)) ⊙ up.clamp(±limit); SiLU is the one named."""
    if c["hidden_act"] != "silu":
        raise DerivationError(f"hidden_act: DeepSeek-V4 with '{c['hidden_act']}' is not described; 'silu' is")
    return "silu_clamped"


def _is_hash(kind: str) -> bool:
    return kind.endswith("-hash")


class DeepseekV4(DeepseekV3):
    """``models/deepseek_v4``: compressed attention (window + CSA/HCA), hash-routed MoE, hyper-connections."""

    model_type = "deepseek_v4"
    transformers_class = "DeepseekV4ForCausalLM"
    defaults = {
        "vocab_size": 129280, "hidden_size": 4096, "moe_intermediate_size": 2048, "num_hidden_layers": 43,
        "num_attention_heads": 64, "head_dim": 512, "q_lora_rank": 1024, "num_experts_per_tok": 6,
        "n_routed_experts": 256, "n_shared_experts": 1, "scoring_func": "sqrtsoftplus", "norm_topk_prob": True,
        "routed_scaling_factor": 1.5, "max_position_embeddings": 1048576, "rope_theta": 10000.0,
        "layer_types": None, "compress_rates": None, "default_compress_rates": {
            "compressed_sparse_attention": 4, "heavily_compressed_attention": 128},
        "compress_rope_theta": 160000.0, "hc_mult": 4, "hc_sinkhorn_iters": 20, "mlp_layer_types": None,
        "default_num_hash_layers": 3, "default_partial_rotary_factor": 64 / 512, "sliding_window": 128,
        "o_groups": 8, "o_lora_rank": 1024, "index_n_heads": 64, "index_head_dim": 128, "index_topk": 512,
        "hidden_act": "silu", "rms_norm_eps": 1e-6, "tie_word_embeddings": False, "rope_parameters": None,
        "partial_rotary_factor": None, "mlp_bias": False,
    }
    aliases = {"num_local_experts": "n_routed_experts"}
    arch = {k: v for k, v in DeepseekV3.arch.items() if k != "mtp_layers"} | {
        "hyper_connections.streams": "hc_mult",
        "hyper_connections.sinkhorn_iters": "hc_sinkhorn_iters",
    }
    layers = staticmethod(_layers)
    block = {k: v for k, v in DeepseekV3.block.items() if not k.startswith("mixer.") and k not in (
        "ffn.router.n_groups", "ffn.router.topk_groups")} | {
        "mixer.kind": const("compressed"),
        "mixer.n_heads": "num_attention_heads",
        "mixer.head_dim": "head_dim",
        "mixer.q_lora_rank": "q_lora_rank",
        "mixer.o_groups": "o_groups",
        "mixer.o_lora_rank": "o_lora_rank",
        "mixer.window": "sliding_window",
        "mixer.ratio": _compressing(lambda c, k: _rates(c)[_type(k)]),
        "mixer.overlap": _sparse(const(True)),
        "mixer.indexer.n_heads": _sparse(lambda c, k: c["index_n_heads"]),
        "mixer.indexer.head_dim": _sparse(lambda c, k: c["index_head_dim"]),
        "mixer.indexer.top_k": _sparse(lambda c, k: c["index_topk"]),
        "mixer.sinks": const(True),
        "mixer.rope": _rope,
        "ffn.activation": _activation,
        "ffn.n_shared_experts": const(1),  # DeepseekV4SparseMoeBlock: one DeepseekV4MLP
        "ffn.d_shared": "moe_intermediate_size",  # via attribute_map intermediate_size → moe_intermediate_size
        "ffn.shared_bias": "mlp_bias",
        "ffn.router.scoring": "scoring_func",
        "ffn.router.hash": lambda c, k: True if _is_hash(k) else DROP,
        "ffn.router.correction_bias": lambda c, k: DROP if _is_hash(k) else True,  # buffer, not a parameter
        "ffn.router.normalize_topk": const(True),  # DeepseekV4TopKRouter / HashRouter always renormalise
    }


__all__ = ["DeepseekV4"]
