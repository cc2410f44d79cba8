"""Databricks' DBRX (``models/dbrx``): pre-norm blocks with LayerNorms without bias, GQA with one fused ``Wqkv``
(the same numbers as q, k and v apart), RoPE, and on every layer ``moe_num_experts`` GLU experts picked by softmax,
top-k weights divided by their p-norm (``moe_normalize_expert_weights``).

The config nests the attention and feed-forward settings in ``attn_config`` (``DbrxAttentionConfig``) and
``ffn_config`` (``DbrxFFNConfig``) and names the sizes ``d_model``, ``n_heads``, ``n_layers``, ``max_seq_len``
(``attribute_map``: hidden_size, num_attention_heads, ...). ``clip_qkv`` clamps the fused projection's output to
±clip_qkv (no parameters; like OLMo's, not drawn). transformers' rotary embedding takes θ from the top-level
``rope_parameters`` (default 10,000), not from ``attn_config.rope_theta``, which the attention only requires to
exist (without it transformers cannot build the model, its default config included). Defaults are the config
classes' defaults.
"""

from __future__ import annotations

from ...spec import attention_kind
from ..config import DerivationError, shown
from ..family import _ACTIVATIONS, Family, const, required, rope

_ATTN = {"attn_pdrop": 0.0, "clip_qkv": None, "kv_n_heads": 1}  # DbrxAttentionConfig
_FFN = {"ffn_act_fn": None, "ffn_hidden_size": 3584, "moe_num_experts": 4, "moe_top_k": 1,
        "moe_normalize_expert_weights": 1.0}  # DbrxFFNConfig


def _attn(key: str):
    """``attn_config[key]`` (DbrxAttentionConfig's default when absent); ``rope_theta`` must be present."""
    def rule(c, kind=None):
        config = c["attn_config"] or {}
        if "rope_theta" not in config:
            raise DerivationError("attn_config has no rope_theta: DbrxAttention reads attn_config.rope_theta and "
                                  "transformers cannot build DBRX without it; add it (DBRX: 500000)")
        return config.get(key, _ATTN[key])
    return rule


def _ffn(key: str):
    """``ffn_config[key]`` (DbrxFFNConfig's default when absent)."""
    return lambda c, kind=None: (c["ffn_config"] or {}).get(key, _FFN[key])


def _activation(c, kind=None) -> str:
    """DbrxExpertGLU: ``ACT2FN[ffn_act_fn["name"]]`` (null: silu)."""
    name = (_ffn("ffn_act_fn")(c) or {}).get("name", "silu")
    if name not in _ACTIVATIONS:
        raise DerivationError(f"ffn_config.ffn_act_fn.name: activation {shown(name)} is not known; known: "
                              f"{', '.join(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]


def _normalize(c, kind=None) -> bool:
    """DbrxFFN.route_tokens_to_experts: the top-k softmax weights ÷ their p-norm; p = 1 renormalises them to sum to
    one, null leaves them; another p is not modelled."""
    p = _ffn("moe_normalize_expert_weights")(c)
    if p not in (None, 1):
        raise DerivationError(f"ffn_config.moe_normalize_expert_weights {shown(p)}: dividing the top-k weights by "
                              "their p-norm is read for p = 1 (renormalised) or null (left as they are) only")
    return p == 1


def _head_dim(c, kind=None) -> int:
    """DbrxAttention: ``d_model // n_heads``; the fused Wqkv then splits d_model queries from the keys and values."""
    d, h = required("d_model", "model")(c), required("n_heads", "attention")(c)
    if d % h:
        raise DerivationError(f"d_model {d} is not a multiple of n_heads {h}: DBRX's Wqkv splits d_model query "
                              "dims into n_heads heads")
    return d // h


def _untied(c) -> bool:
    """DbrxConfig.validate_architecture refuses tied embeddings."""
    if c["tie_word_embeddings"]:
        raise DerivationError("tie_word_embeddings true: DBRX refuses tied embeddings (DbrxConfig)")
    return False


class Dbrx(Family):
    """``models/dbrx``: LayerNorm (no bias) pre-norm blocks, GQA with a fused and clipped Wqkv, softmax-routed GLU
    experts on every layer."""

    model_type = "dbrx"
    transformers_class = "DbrxForCausalLM"
    defaults = {
        "d_model": 2048, "n_heads": 16, "n_layers": 24, "max_seq_len": 2048, "vocab_size": 32000,
        "attn_config": None, "ffn_config": None, "rope_parameters": None, "rope_theta": 10000.0,
        "tie_word_embeddings": False,
    }
    aliases = {"num_attention_heads": "n_heads", "hidden_size": "d_model", "num_hidden_layers": "n_layers",
               "max_position_embeddings": "max_seq_len"}
    arch = {
        "d_model": required("d_model", "model"),
        "n_layers": required("n_layers", "model"),
        "vocab_size": "vocab_size",
        "context_length": required("max_seq_len", "rotary embedding"),
        "norm.kind": const("layernorm"),
        "norm.eps": const(1e-5),  # nn.LayerNorm(d_model, bias=False): the default eps
        "norm.bias": const(False),
        "embedding.tied": _untied,
    }
    layers = staticmethod(lambda c: ["moe"] * required("n_layers", "model")(c))

    @classmethod
    def derive(cls, raw: dict):
        """DbrxConfig.__post_init__ copies d_model into ffn_config.hidden_size before the attribute_map alias
        hidden_size is applied: the experts would be built d_model (default 2,048) wide and the attention
        hidden_size wide, a model that cannot run. Refused unless the two agree."""
        if isinstance(raw, dict) and "hidden_size" in raw and raw["hidden_size"] != raw.get("d_model", 2048):
            raise DerivationError(f"hidden_size {shown(raw['hidden_size'])} without a matching d_model: DbrxConfig "
                                  "builds the experts d_model wide (default 2048) before reading the alias; spell it "
                                  "d_model")
        return super().derive(raw)
    block = {
        "mixer.kind": lambda c, k: attention_kind(c["n_heads"], _attn("kv_n_heads")(c)),
        "mixer.n_heads": "n_heads",
        "mixer.n_kv_heads": _attn("kv_n_heads"),
        "mixer.head_dim": _head_dim,
        "mixer.rope": rope,
        "ffn.kind": const("moe"),
        "ffn.n_experts": _ffn("moe_num_experts"),
        "ffn.top_k": _ffn("moe_top_k"),
        "ffn.d_expert": _ffn("ffn_hidden_size"),
        "ffn.activation": _activation,
        "ffn.gated": const(True),
        "ffn.router.normalize_topk": _normalize,
    }


__all__ = ["Dbrx"]
