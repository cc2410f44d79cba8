"""MiniMax-01 (``models/minimax``): lightning attention in most layers, softmax attention in the others, on
Mixtral's MoE.

transformers writes it as Mixtral (``modular_minimax.py``) whose decoder layer builds ``MiniMaxLightningAttention``
(block kind ``linear``) where ``layer_types`` says ``linear_attention`` and Mixtral's attention (``full``, or
``sliding`` when ``sliding_window`` is set) where it says ``full_attention``; without ``layer_types``,
``MiniMaxConfig.__post_init__`` makes even layers full and odd ones linear. The remote-code checkpoints' keys
(``attn_type_list``, ``rotary_dim``, ``postnorm``, ``layernorm_*_alpha``) are not read by ``MiniMaxConfig``, so not
here either. Each residual add starts from the sublayer's normed input and weighs both terms by the
``*_alpha_factor`` and ``*_beta_factor`` keys (they change no count).
Defaults are the transformers config class defaults.
"""

from __future__ import annotations

from ..family import activation, const, attention_only, head_dim, is_linear, layer_kinds, linear_only, per_layer
from .moe import Mixtral


def _layers(c, kind=None) -> list[str]:
    """``layer_types``, else ``MiniMaxConfig.__post_init__``'s: full at even layers, linear at odd ones; the full
    layers slide when ``sliding_window`` is set (``create_sliding_window_causal_mask``). Every layer is MoE."""
    n = c["num_hidden_layers"]
    full = "sliding" if c["sliding_window"] else "full"
    kinds = per_layer(c, "layer_types", {"linear_attention": "linear", "full_attention": full}, n) or [
        full if (i + 1) % 2 else "linear" for i in range(n)]
    return layer_kinds(kinds, ["moe"] * n)


def _scale(c, sublayer: str) -> dict | None:
    """MiniMaxDecoderLayer's residual add, residual × {sublayer}_alpha_factor + output × {sublayer}_beta_factor; null
    when both are 1 (a plain add)."""
    residual, output = c[f"{sublayer}_alpha_factor"], c[f"{sublayer}_beta_factor"]
    return None if residual == output == 1 else {"residual": residual, "output": output}


class MiniMax(Mixtral):
    """``models/minimax``: Mixtral with lightning attention in the layers ``layer_types`` calls linear."""

    model_type = "minimax"
    transformers_class = "MiniMaxForCausalLM"
    defaults = Mixtral.defaults | {"layer_types": None, "block_size": 256} | {
        f"{sublayer}_{factor}_factor": 1 for sublayer in ("full_attn", "linear_attn", "mlp")
        for factor in ("alpha", "beta")}
    layers = staticmethod(_layers)
    block = {k: attention_only(v) for k, v in Mixtral.block.items() if k.startswith("mixer.")} | {
        k: v for k, v in Mixtral.block.items() if not k.startswith("mixer.")} | {
        "mixer.kind": lambda c, k: "lightning" if is_linear(k) else Mixtral.block["mixer.kind"](c, k),
        "mixer.n_heads": "num_attention_heads",
        "mixer.head_dim": head_dim,  # MiniMaxLightningAttention: head_dim or hidden_size // num_attention_heads
        "mixer.activation": linear_only(activation("hidden_act")),
        "mixer.block_size": linear_only("block_size"),
        "residual_from_norm": const(True),  # MiniMaxDecoderLayer: residual = input_layernorm(hidden_states)
        "mixer_scale": lambda c, k: _scale(c, "linear_attn" if is_linear(k) else "full_attn"),
        "ffn_scale": lambda c, k: _scale(c, "mlp"),
    }


__all__ = ["MiniMax"]
