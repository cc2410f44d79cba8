"""LongCat-Flash (Meituan): two attention → MLP pairs per layer and a shortcut MoE with zero-compute experts.

``models/longcat_flash``: each ``LongcatFlashDecoderLayer`` runs MLA → dense MLP → MLA → dense MLP (``self_attn`` and
``mlps`` are ModuleLists of two, each with its own ``input_layernorm`` and ``post_attention_layernorm``), and a
shortcut MoE (``mlp``) that reads the first pair's post-attention norm and is added to the residual at the layer's
end. The config's ``num_layers`` counts decoder layers; its ``num_hidden_layers`` is ``2 × num_layers`` (a property
whose setter halves what a config.json gives, rounding down). The MoE's router (``LongcatFlashTopkRouter``) scores
``n_routed_experts + zero_expert_num`` experts with a softmax, picks ``moe_topk`` with a selection-only correction
bias (a buffer), and weights them by their scores × ``routed_scaling_factor`` (no renormalisation); a zero expert is
the identity. The MLA (``LongcatFlashMLA``) is DeepSeek-V3's with a query latent always, interleaved RoPE on
``qk_rope_head_dim`` (its rotary embedding turns ``head_dim`` dims, so the two must match), and the query and the
normed KV latent scaled by √(hidden_size / rank). Defaults are the config class's (checked by tests/test_derive.py).
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import Family, activation, const
from .deepseek import DeepseekV2, _mla_rope
from .llama import Llama


def _n_layers(c, kind=None) -> int:
    """``num_layers``, or half a config's ``num_hidden_layers`` (the property's setter wins over num_layers)."""
    if c.has("num_hidden_layers"):
        n = c["num_hidden_layers"] // 2
        if n == 0:
            raise DerivationError(f"num_hidden_layers is {c['num_hidden_layers']}: LongcatFlashConfig keeps "
                                  "num_layers = num_hidden_layers // 2 = 0 decoder layers; accepted: 2 or more")
        return n
    return c["num_layers"]


def _rope(c, kind=None):
    """RoPE on the qk_rope_head_dim part, which the rotary embedding's ``head_dim`` must equal (and ``qk_head_dim``,
    when the config sets it, the query head: nope + rope), or the attention could never run."""
    rope_dim, nope = c["qk_rope_head_dim"], c["qk_nope_head_dim"]
    if c["head_dim"] != rope_dim:
        raise DerivationError(f"head_dim is {c['head_dim']}: LongcatFlashRotaryEmbedding turns head_dim dims, the "
                              f"attention qk_rope_head_dim = {rope_dim}; accepted: head_dim equal to qk_rope_head_dim")
    if c.get("qk_head_dim") not in (None, nope + rope_dim):
        raise DerivationError(f"qk_head_dim is {c['qk_head_dim']}: the query splits into qk_nope_head_dim + "
                              f"qk_rope_head_dim = {nope + rope_dim}; accepted: that, or null")
    return _mla_rope(c, kind)


class LongcatFlash(Family):
    """``models/longcat_flash``: one block kind, two MLA → MLP pairs and a shortcut MoE with zero experts."""

    model_type = "longcat_flash"
    transformers_class = "LongcatFlashForCausalLM"
    defaults = {
        "vocab_size": 131072, "hidden_size": 6144, "num_layers": 28, "num_attention_heads": 64,
        "num_key_value_heads": None, "hidden_act": "silu", "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "rope_parameters": None, "rope_theta": 10000000.0, "attention_bias": False,
        "ffn_hidden_size": 12288, "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128,
        "qk_rope_head_dim": 64, "head_dim": 64, "v_head_dim": 128, "qk_head_dim": None, "moe_topk": 12,
        "n_routed_experts": 512, "zero_expert_num": 256, "expert_ffn_hidden_size": 2048,
        "routed_scaling_factor": 6.0,
    }
    aliases = {"num_local_experts": "n_routed_experts", "num_experts_per_tok": "moe_topk",
               "intermediate_size": "ffn_hidden_size", "moe_intermediate_size": "expert_ffn_hidden_size"}
    arch = Llama.arch | {"n_layers": _n_layers}
    layers = staticmethod(lambda c: ["scmoe"] * _n_layers(c))
    block = {k: v for k, v in DeepseekV2.block.items() if k.startswith("mixer.")} | {  # DeepSeek's MLA, and:
        "mixer.rope": _rope,
        "mixer.latent_scales": const("query"),
        "ffn.kind": const("mlp"),
        "ffn.d_ff": "ffn_hidden_size",
        "ffn.activation": activation("hidden_act"),
        "ffn.gated": const(True),
        "sublayer_pairs": const(2),
        "shortcut.kind": const("moe"),
        "shortcut.n_experts": "n_routed_experts",
        "shortcut.zero_experts": "zero_expert_num",
        "shortcut.top_k": "moe_topk",
        "shortcut.d_expert": "expert_ffn_hidden_size",
        "shortcut.activation": activation("hidden_act"),
        "shortcut.gated": const(True),
        "shortcut.router.scoring": const("softmax"),
        # LongcatFlashTopkRouter: getattr(config, "router_bias", False), not a field of the config class
        "shortcut.router.bias": lambda c, k: c.get("router_bias", False),
        "shortcut.router.correction_bias": const(True),
        "shortcut.router.normalize_topk": const(False),
        "shortcut.router.weight_scale": "routed_scaling_factor",
    }


__all__ = ["LongcatFlash"]
