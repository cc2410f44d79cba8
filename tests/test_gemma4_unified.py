"""Gemma 4 unified (``models/gemma4_unified``): Gemma 4's text stack without per-layer embeddings or the MoE block.

The generic variants (widths, heads, layers, windows, tying) run in ``tests/test_model_types.py``; here the options
Gemma 4 adds, each compared with the model transformers builds on the meta device (count and every layer's window),
the multimodal wrapper read through its text_config, and the KV cache derived by hand from the config numbers.
"""

from __future__ import annotations

import pytest

from gallery.counts import total_params
from gallery.memory import kv_bytes, kv_bytes_per_token

from .test_model_types import _arch, _reference_windows, exact_or_refused_alike

SMALL = {"model_type": "gemma4_unified_text", "vocab_size": 500, "hidden_size": 64, "intermediate_size": 96,
         "num_hidden_layers": 8, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
         "global_head_dim": 24, "sliding_window": 10}
VARIANTS = {
    "kv shared": {"num_kv_shared_layers": 1},
    "kv shared, double-wide MLP": {"num_kv_shared_layers": 2, "use_double_wide_mlp": True},
    "values are keys": {"attention_k_eq_v": True, "num_global_key_value_heads": 1},
    "global kv heads without k_eq_v": {"num_global_key_value_heads": 1},  # ignored unless attention_k_eq_v
    "bidirectional everywhere": {"use_bidirectional_attention": "all"},  # the window halved, plus one
    "bidirectional vision": {"use_bidirectional_attention": "vision"},
    "pattern 3:1": {"layer_types": (["sliding_attention"] * 3 + ["full_attention"]) * 2},
    "last layer forced full": {"layer_types": ["full_attention"] + ["sliding_attention"] * 7},
    "per-layer overrides": {"per_layer_config": {"5": {"head_dim": 32, "num_key_value_heads": 1},  # as serialised
                                                 "7": {"head_dim": 32, "num_key_value_heads": 1}}},
    "attention bias": {"attention_bias": True},
    "all shared": {"num_kv_shared_layers": 8},
    "shared before a full layer": {"num_kv_shared_layers": 3},  # layers 5-7: no earlier full layer keeps K/V  # transformers refuses: no layer keeps K/V of its own
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_gemma4_options_are_exact(variant):
    built = exact_or_refused_alike(SMALL | VARIANTS[variant])
    if built:
        arch, model = built
        assert [arch.blocks[k].mixer.window for k in arch.layers] == _reference_windows(model)


def _wrapper_count(config: dict) -> int:
    """The parameters of ``Gemma4UnifiedForConditionalGeneration`` on meta, built without its (optional) vision and
    audio embedders: the language model and the wrapper's lm_head, tied as the wrapper's own flag says."""
    import torch
    import transformers

    cfg = transformers.Gemma4UnifiedConfig.from_dict(config | {"vision_config": None, "audio_config": None})
    with torch.device("meta"):
        model = transformers.Gemma4UnifiedForConditionalGeneration(cfg)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("tied", [True, False])
def test_the_wrapper_is_read_through_its_text_config_with_its_own_tying(tied):
    config = {"model_type": "gemma4_unified", "tie_word_embeddings": tied, "text_config": SMALL}
    arch = _arch(config)
    assert arch.embedding.tied is tied
    assert total_params(arch) == _wrapper_count(config)


def test_kv_cache_by_hand():
    """8 layers, full at 5 and 7 (pattern 6, the last forced full), the last 2 reuse earlier K/V: sliding layers
    0-4 cache K and V of 2 KV heads × 16 for at most 10 tokens; full layer 5 caches 2 × 2 × 24 per token; layers
    6 and 7 reuse layers 4 and 5's and cache nothing; bf16. The fact sheet's per-token figure counts every token in
    every caching layer; at 1,000 tokens the sliding layers hold their 10."""
    arch = _arch(SMALL | {"num_kv_shared_layers": 2})
    assert arch.layers == ["sliding"] * 5 + ["full", "sliding-shared", "full-shared"]
    sliding, full = 2 * 2 * 16, 2 * 2 * 24
    assert kv_bytes_per_token(arch) == (5 * sliding + full) * 2
    assert kv_bytes(arch, 1000) == (5 * sliding * 10 + full * 1000) * 2
