"""KV cache: each attention kind against a derivation written out by hand from the config."""

from __future__ import annotations

import pytest

from gallery.memory import kv_bytes, kv_bytes_per_token, layer_caches, state_bytes

from .conftest import spec_ids

BF16 = 2


def test_mha_llama_2_7b(bundled):
    spec, c = bundled["llama-2-7b-hf"]
    # MHA: every one of the 32 heads has its own K and V of head_dim = 4096 / 32 = 128.
    assert c["num_key_value_heads"] == c["num_attention_heads"] == 32
    per_layer = 2 * 32 * (4096 // 32)  # K and V
    assert kv_bytes_per_token(spec.arch) == c["num_hidden_layers"] * per_layer * BF16 == 524_288


def test_gqa_llama_3_1_8b(bundled):
    spec, c = bundled["llama-3.1-8b-instruct"]
    # GQA: 8 KV heads serve 32 query heads, so the cache is 4× smaller than MHA would be.
    per_layer = 2 * c["num_key_value_heads"] * (c["hidden_size"] // c["num_attention_heads"])
    assert per_layer == 2 * 8 * 128
    assert kv_bytes_per_token(spec.arch) == 32 * per_layer * BF16 == 131_072  # 128 KiB/token
    assert kv_bytes(spec.arch, context=8192, batch=4) == 4 * 8192 * 131_072


def test_explicit_head_dim_is_used_not_hidden_over_heads(bundled):
    spec, c = bundled["qwen3-0.6b"]
    # Qwen3-0.6B: head_dim 128 although hidden_size / heads = 1024 / 16 = 64.
    assert c["head_dim"] == 128 and c["hidden_size"] // c["num_attention_heads"] == 64
    assert kv_bytes_per_token(spec.arch) == c["num_hidden_layers"] * 2 * c["num_key_value_heads"] * 128 * BF16


def test_mqa_santacoder(bundled):
    spec, c = bundled["gpt-bigcode-santacoder"]
    # MQA: one K and one V head of head_dim = n_embd / n_head shared by all query heads.
    assert c["multi_query"] is True
    per_layer = 2 * 1 * (c["n_embd"] // c["n_head"])
    assert kv_bytes_per_token(spec.arch) == c["n_layer"] * per_layer * BF16


def test_mla_deepseek_v2_lite(bundled):
    spec, c = bundled["deepseek-v2-lite-chat"]
    # MLA caches the compressed latent (kv_lora_rank) plus the shared RoPE key, not full K and V.
    per_layer = c["kv_lora_rank"] + c["qk_rope_head_dim"]
    assert per_layer == 512 + 64
    assert kv_bytes_per_token(spec.arch) == c["num_hidden_layers"] * per_layer * BF16 == 27 * 576 * 2
    # Full K/V of 16 heads × (128 + 64) and 16 × 128 would be 5,120 values: 8.9× larger.
    full = c["num_attention_heads"] * (c["qk_nope_head_dim"] + c["qk_rope_head_dim"] + c["v_head_dim"])
    assert full == 16 * (192 + 128) == 5120
    assert round(full / per_layer, 1) == 8.9


def test_sliding_window_caps_the_cache(bundled):
    spec, c = bundled["mistral-7b-v0.1"]
    window = c["sliding_window"]
    per_token = c["num_hidden_layers"] * 2 * c["num_key_value_heads"] * 128 * BF16
    assert kv_bytes_per_token(spec.arch) == per_token  # the fact-sheet figure ignores windows
    assert kv_bytes(spec.arch, context=1000) == 1000 * per_token  # inside the window: every token
    assert kv_bytes(spec.arch, context=32768) == window * per_token  # beyond it: the window only


def test_alternating_windows_gemma_2(bundled):
    spec, c = bundled["gemma-2-9b"]
    # Gemma 2 alternates sliding (4096) and global layers: half the layers stop growing at 4096.
    n, window = c["num_hidden_layers"], c["sliding_window"]
    per_layer_token = 2 * c["num_key_value_heads"] * c["head_dim"] * BF16
    context = 16384
    expected = (n // 2) * window * per_layer_token + (n - n // 2) * context * per_layer_token
    assert kv_bytes(spec.arch, context=context) == expected


@pytest.mark.parametrize("slug", spec_ids())
def test_window_aware_never_exceeds_every_token(bundled, slug):
    spec, _ = bundled[slug]
    for context in (1, 4096, 131072):  # fixed states (state-space, convolution layers) come on top
        assert kv_bytes(spec.arch, context) <= context * kv_bytes_per_token(spec.arch) + state_bytes(spec.arch)


def test_chunked_layers_cache_one_chunk_llama_4(bundled):
    spec, c = bundled["llama-4-scout-17b-16e-instruct"]
    # 48 layers; every 4th is a global NoPE layer (12), the other 36 attend within 8,192-token chunks.
    chunked, full = 36, 12
    assert c["num_hidden_layers"] == chunked + full and c["attention_chunk_size"] == 8192
    per_layer = 2 * c["num_key_value_heads"] * c["head_dim"] * BF16  # 2 × 8 × 128 × 2 bytes
    assert kv_bytes_per_token(spec.arch) == 48 * per_layer
    assert kv_bytes(spec.arch, context=32768) == (chunked * 8192 + full * 32768) * per_layer


def test_sparse_attention_indexer_caches_its_key_deepseek_v3_2(bundled):
    spec, c = bundled["deepseek-v3.2"]
    # MLA latent + shared RoPE key, plus the DSA indexer's key (index_head_dim) in each of 61 layers.
    per_layer = c["kv_lora_rank"] + c["qk_rope_head_dim"] + c["index_head_dim"]
    assert per_layer == 512 + 64 + 128
    assert kv_bytes_per_token(spec.arch) == c["num_hidden_layers"] * per_layer * BF16 == 61 * 704 * 2


def test_fixed_state_and_compression_by_hand():
    """A layer's total at a context: ceil(tokens / ratio) entries, capped by the window, plus its fixed state."""
    from gallery.memory import LayerCache

    state_only = LayerCache("linear", 3, 0, "", None, state_elements=1000)
    assert [state_only.elements(n) for n in (1, 10**6)] == [1000, 1000]  # does not grow
    compressed = LayerCache("c4", 1, 10, "", None, ratio=4)
    assert [compressed.elements(n) for n in (1, 4, 5, 4096)] == [10, 10, 20, 10 * 1024]
    windowed = LayerCache("swa", 1, 10, "", 128, state_elements=7, ratio=4)
    assert windowed.elements(10**6) == 10 * 128 // 4 + 7


@pytest.mark.parametrize("slug", spec_ids())
def test_curve_rows_add_up_to_the_total(bundled, slug):
    from gallery.memory import cache_curve

    spec, _ = bundled[slug]
    rows = cache_curve(spec.arch, [4096], batch=2)
    assert sum(r["bytes"] for r in rows) == kv_bytes(spec.arch, 4096, batch=2)


def test_falcon_mamba_has_no_kv_cache_only_a_fixed_state(bundled):
    spec, c = bundled["falcon-mamba-7b"]
    # FalconMambaMixer keeps per sequence an SSM state (intermediate_size × state_size) and a window of the
    # last conv_kernel inputs per channel (intermediate_size × conv_kernel); nothing grows with the context.
    per_layer = c["intermediate_size"] * c["state_size"] + c["intermediate_size"] * c["conv_kernel"]
    assert per_layer == 8192 * 16 + 8192 * 4 == 163_840
    assert kv_bytes_per_token(spec.arch) == 0
    assert state_bytes(spec.arch) == c["num_hidden_layers"] * per_layer * BF16 == 20_971_520  # 20 MiB per sequence
    assert kv_bytes(spec.arch, 1) == kv_bytes(spec.arch, 10**6) == state_bytes(spec.arch)
    assert kv_bytes(spec.arch, 4096, batch=3) == 3 * state_bytes(spec.arch)
    (cache,) = layer_caches(spec.arch)
    assert cache.elements_per_token == 0 and "float32" in cache.caveat  # transformers' scan keeps its state in fp32


def test_lfm2_caches_kv_in_attention_layers_and_a_conv_window_in_the_others(bundled):
    spec, c = bundled["lfm2-1.2b"]
    n_attention = len(c["full_attn_idxs"])  # 6 of 16 layers
    n_conv = c["num_hidden_layers"] - n_attention
    head_dim = c["hidden_size"] // c["num_attention_heads"]  # 64
    per_token = n_attention * 2 * c["num_key_value_heads"] * head_dim * BF16  # K and V of 8 KV heads
    state = n_conv * c["hidden_size"] * c["conv_L_cache"] * BF16  # Lfm2ShortConv: hidden_size × L_cache inputs
    assert per_token == 12_288 and state == 122_880
    assert kv_bytes_per_token(spec.arch) == per_token and state_bytes(spec.arch) == state
    assert kv_bytes(spec.arch, 32_768, batch=2) == 2 * (32_768 * per_token + state)


# Tiny configs of each fixed-state model type, to compare the cache figures with real tensors.
_TINY = {
    "falcon_mamba": {"model_type": "falcon_mamba", "vocab_size": 64, "hidden_size": 32, "state_size": 4,
                     "num_hidden_layers": 2, "expand": 2, "conv_kernel": 3, "time_step_rank": 5},
    "mamba": {"model_type": "mamba", "vocab_size": 64, "hidden_size": 48, "state_size": 8, "num_hidden_layers": 2,
              "intermediate_size": 80, "conv_kernel": 4},
    "lfm2": {"model_type": "lfm2", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 96,
             "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "full_attn_idxs": [1],
             "conv_L_cache": 3},
}


@pytest.mark.parametrize("model_type", sorted(_TINY))
def test_cache_figures_match_the_tensors_transformers_allocates(model_type):
    """Run a tiny model with a cache; every layer's tensors equal our per-layer state and per-token figures."""
    import torch
    from transformers import AutoModelForCausalLM

    from gallery.derive import derive
    from gallery.spec import Arch

    from .reference import reference_model

    config, batch, tokens = _TINY[model_type], 2, 7
    with torch.device("cpu"):
        model = AutoModelForCausalLM.from_config(reference_model(config).config).eval()
    with torch.no_grad():
        out = model(torch.randint(0, config["vocab_size"], (batch, tokens)), use_cache=True)
    cache = getattr(out, "cache_params", None) or out.past_key_values
    arch = Arch.model_validate(derive(config).arch, strict=False)
    ours = {c.kind: c for c in layer_caches(arch)}
    for kind, layer in zip(arch.layers, cache.layers):
        states = [t for d in (getattr(layer, "conv_states", {}), getattr(layer, "recurrent_states", {}))
                  for t in d.values() if t is not None]
        kv = [t for t in (getattr(layer, "keys", None), getattr(layer, "values", None)) if t is not None]
        assert sum(t.numel() for t in states) == batch * ours[kind].state_elements, kind
        assert sum(t.numel() for t in kv) == batch * tokens * ours[kind].elements_per_token, kind
