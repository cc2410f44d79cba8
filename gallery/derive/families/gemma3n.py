"""Gemma 3n (text): Gemma 3's attention stack with AltUp streams, LAuReL, per-layer inputs and KV-shared last layers.

Read as ``Gemma3nTextConfig`` and ``Gemma3nTextModel`` (``models/gemma3n``) build it: layer_types (default every
fifth layer full, the others sliding), ``num_kv_shared_layers`` last layers that reuse the K/V of the last earlier
layer of their type (``kv_sharing_modes``, as Gemma 4), ``intermediate_size`` one width or one per layer,
``activation_sparsity_pattern`` one sparsity per layer (default 0.95 on the first ten layers when there are more than
ten), attention with QK-norm, a weightless norm on values and scale 1 (as Gemma 4), per-layer input embeddings
(always built), ``altup_num_inputs`` AltUp streams and a LAuReL of ``laurel_rank`` in every layer. A block kind is
the layer type, "-sparse" (with its value, "0_95", when several differ), "-ff<width>" when widths differ, and "-shared".
"""

from __future__ import annotations

from ..config import DerivationError, shown
from ..family import DROP, SLIDING_OR_FULL, activation, const, per_layer
from .gemma import SHARED, Gemma3Text, _gemma3_rope, kv_shared

_SPARSE_LAYERS, _SPARSITY = 10, 0.95  # Gemma3nTextConfig.__post_init__'s default pattern


def _widths(c) -> list[int]:
    """``Gemma3nTextConfig.__post_init__``: one intermediate_size for every layer, or one per layer."""
    n, value = c["num_hidden_layers"], c["intermediate_size"]
    if not isinstance(value, list):
        return [value] * n
    if len(value) != n:
        raise DerivationError(f"intermediate_size: {len(value)} widths for {n} layers; accepted: one width, or one "
                              "per layer")
    if min(value) < 1:
        raise DerivationError(f"intermediate_size: {shown(value)} holds a width below 1; accepted: positive widths")
    return value


def _sparsity(c) -> list[float]:
    """``Gemma3nTextConfig.__post_init__``: activation_sparsity_pattern, one per layer; null: 0.95 on the first ten
    layers when there are more than ten, else none."""
    n, value = c["num_hidden_layers"], c["activation_sparsity_pattern"]
    if value is None:
        sparse = _SPARSE_LAYERS if n > _SPARSE_LAYERS else 0
        return [_SPARSITY] * sparse + [0.0] * (n - sparse)
    if not isinstance(value, list) or len(value) != n:
        got = f"{len(value)} entries" if isinstance(value, list) else f"one number ({shown(value)})"
        raise DerivationError(f"activation_sparsity_pattern: {got} for {n} layers; accepted: one sparsity per layer "
                              "(a list of floats)")
    if max(value) >= 1:
        raise DerivationError(f"activation_sparsity_pattern: {shown(value)} holds a sparsity of 1 or more, which cuts "
                              "the whole gate; accepted: below 1 (0 or less: dense)")
    return value


def _gemma3n_layers(c, kind=None) -> list[str]:
    n = c["num_hidden_layers"]
    types = per_layer(c, "layer_types", SLIDING_OR_FULL, n) or [
        "full" if (i + 1) % 5 == 0 else "sliding" for i in range(n)]
    widths, sparsity = _widths(c), _sparsity(c)
    several = {s for s in sparsity if s > 0}
    names = []
    for t, w, s in zip(kv_shared(c, types), widths, sparsity):
        name = t.removesuffix(SHARED)
        name += ("-sparse" + (f"{s:g}".replace(".", "_") if len(several) > 1 else "")) if s > 0 else ""
        name += f"-ff{w}" if len(set(widths)) > 1 else ""
        names.append(name + (SHARED if t.endswith(SHARED) else ""))
    return names


def _layer(values):
    """A per-layer list read at the first layer of the block kind."""
    return lambda c, k: values(c)[_gemma3n_layers(c).index(k)]


def _by_type(rule):
    """A rule of Gemma 3 read for the layer type (the block kind's first word)."""
    return rule if isinstance(rule, str) else lambda c, k: rule(c, k.split("-")[0])


def _per_layer_width(c, kind=None):
    """hidden_size_per_layer_input, which Gemma3nTextModel builds at any width (at 0 the per-layer inputs are empty
    but post_per_layer_input_norm still weighs d_model): refused below 1."""
    if c["hidden_size_per_layer_input"] < 1:
        raise DerivationError(f"hidden_size_per_layer_input: {c['hidden_size_per_layer_input']}: Gemma3nTextModel "
                              "builds its per-layer inputs whatever their width, and 0 leaves them empty; accepted: a "
                              "positive integer")
    return c["hidden_size_per_layer_input"]


def _active(c, kind=None):
    if c["altup_active_idx"] >= c["altup_num_inputs"]:
        raise DerivationError(f"altup_active_idx: {c['altup_active_idx']} is not one of the {c['altup_num_inputs']} "
                              f"AltUp streams; accepted: 0 to {c['altup_num_inputs'] - 1}")
    return c["altup_active_idx"]


class Gemma3nText(Gemma3Text):
    """``models/gemma3n`` (Gemma3nTextModel): see the module docstring."""

    model_type = "gemma3n_text"
    transformers_class = "Gemma3nForCausalLM"
    defaults = {
        "vocab_size": 262_400, "hidden_size": 2048, "intermediate_size": 16_384, "num_hidden_layers": 35,
        "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
        "max_position_embeddings": 32_768, "rms_norm_eps": 1e-6, "tie_word_embeddings": True, "rope_parameters": None,
        "attention_bias": False, "sliding_window": 512, "layer_types": None, "final_logit_softcapping": 30.0,
        "vocab_size_per_layer_input": 262_144, "hidden_size_per_layer_input": 256, "altup_active_idx": 0,
        "altup_correct_scale": True, "altup_num_inputs": 4, "num_kv_shared_layers": 15, "laurel_rank": 64,
        "activation_sparsity_pattern": None,
    }
    arch = Gemma3Text.arch | {
        "per_layer_embedding.d_per_layer": _per_layer_width,
        "per_layer_embedding.vocab_size": "vocab_size_per_layer_input",
        "per_layer_embedding.activation": activation("hidden_activation"),
        "altup.streams": "altup_num_inputs",
        "altup.active": _active,
        "altup.correct_scale": "altup_correct_scale",
        "laurel.rank": "laurel_rank",
    }
    layers = staticmethod(_gemma3n_layers)
    block = {path: _by_type(rule) for path, rule in Gemma3Text.block.items() if path != "mixer.softcap"} | {
        "mixer.rope": _by_type(_gemma3_rope),
        "mixer.scale": const(1.0),  # Gemma3nTextAttention.scaling: QK-norm already sets the scale
        "mixer.v_norm": const(True),  # Gemma3nTextAttention.v_norm: Gemma3nRMSNorm(head_dim, with_scale=False)
        "mixer.kv_shared": lambda c, k: k.endswith(SHARED),  # is_kv_shared_layer
        "ffn.d_ff": _layer(_widths),
        "ffn.activation_sparsity": lambda c, k: _layer(_sparsity)(c, k) if _layer(_sparsity)(c, k) > 0 else DROP,
    }


__all__ = ["Gemma3nText"]
