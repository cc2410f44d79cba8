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
    for context in (1, 4096, 131072):  # fixed states (linear attention) come on top of the per-token figure
        assert kv_bytes(spec.arch, context) - state_bytes(spec.arch) <= context * kv_bytes_per_token(spec.arch)


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


def test_gated_deltanet_fixed_state_qwen3_next(bundled):
    from gallery.memory import layer_caches

    spec, c = bundled["qwen3-next-80b-a3b-instruct"]
    # 48 layers, every 4th full attention (12), the other 36 Gated DeltaNet.
    linear, full = 36, 12
    assert c["num_hidden_layers"] == linear + full and c["full_attention_interval"] == 4
    # Full attention caches K and V of 2 KV heads × 256 per token; Gated DeltaNet nothing per token.
    per_token = full * 2 * c["num_key_value_heads"] * c["head_dim"] * BF16
    assert kv_bytes_per_token(spec.arch) == per_token == 12 * 2 * 2 * 256 * 2
    # Per Gated DeltaNet layer and sequence: one 128 × 128 state per value head (32 of them), and the
    # last 4 inputs of the convolution over q, k (16 heads × 128 each) and v (32 heads × 128).
    recurrent = c["linear_num_value_heads"] * c["linear_key_head_dim"] * c["linear_value_head_dim"]
    conv_dim = 2 * c["linear_num_key_heads"] * c["linear_key_head_dim"] + c["linear_num_value_heads"] * c[
        "linear_value_head_dim"]
    state = recurrent + conv_dim * c["linear_conv_kernel_dim"]
    assert state == 32 * 128 * 128 + 8192 * 4 == 557_056
    assert state_bytes(spec.arch) == linear * state * BF16
    for context in (1, 262_144):
        assert kv_bytes(spec.arch, context, batch=3) == 3 * (context * per_token + linear * state * BF16)
    assert "float32" in next(lc for lc in layer_caches(spec.arch) if lc.kind == "linear").caveat


@pytest.mark.parametrize("model_type", ["qwen3_next", "qwen3_5_text"])
def test_gated_deltanet_state_is_what_transformers_allocates(model_type):
    """The per-layer state equals the conv and recurrent state tensors transformers' cache holds (tiny model)."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    from gallery.derive import derive
    from gallery.memory import layer_caches
    from gallery.spec import Arch

    raw = {"model_type": model_type, "vocab_size": 64, "hidden_size": 32, "num_hidden_layers": 4,
           "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "intermediate_size": 16,
           "linear_num_key_heads": 2, "linear_num_value_heads": 4, "linear_key_head_dim": 8,
           "linear_value_head_dim": 6, "linear_conv_kernel_dim": 3}
    if model_type == "qwen3_next":
        raw |= {"moe_intermediate_size": 8, "shared_expert_intermediate_size": 8, "num_experts": 4,
                "num_experts_per_tok": 2}
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(transformers.CONFIG_MAPPING[model_type].from_dict(raw))
    cache = model(torch.randint(0, 64, (1, 5)), use_cache=True).past_key_values
    model(torch.randint(0, 64, (1, 1)), past_key_values=cache, use_cache=True)  # one decode step
    linear = [layer for layer in cache.layers if hasattr(layer, "recurrent_states")]
    allocated = {layer.conv_states[0].numel() + layer.recurrent_states[0].numel() for layer in linear}
    (ours,) = [lc for lc in layer_caches(Arch.model_validate(derive(raw).arch, strict=False)) if lc.kind == "linear"]
    assert len(linear) == ours.n_layers == 3 and allocated == {ours.state_elements}
    assert ours.elements_per_token == 0


def test_compressed_attention_deepseek_v4_flash_by_hand(bundled):
    spec, c = bundled["deepseek-v4-flash"]
    hd, ihd, window = c["head_dim"], c["index_head_dim"], c["sliding_window"]
    ratios = c["compress_ratios"][:c["num_hidden_layers"]]  # 0: window only; 4: CSA; 128: HCA
    n_window, n_csa, n_hca = ratios.count(0), ratios.count(4), ratios.count(128)
    assert (n_window, n_csa, n_hca) == (2, 21, 20)
    T = 2**20
    # Every layer keeps its window of one shared K = V vector per token.
    window_part = window * hd
    # CSA: one entry of head_dim + the indexer's key per 4 tokens; pending: kv and gate rows (2 series each)
    # of at most 3 tokens, plus the previous block's first series (4 rows), for the compressor and the indexer.
    csa_pending = 2 * (3 * 2 * hd + 4 * hd) + 2 * (3 * 2 * ihd + 4 * ihd)
    csa = T // 4 * (hd + ihd) + window_part + csa_pending
    # HCA: one entry of head_dim per 128 tokens; pending: kv and gate rows of at most 127 tokens, one series.
    hca = T // 128 * hd + window_part + 2 * 127 * hd
    expected = n_window * window_part + n_csa * csa + n_hca * hca
    assert kv_bytes(spec.arch, T) == expected * BF16
    assert expected * BF16 == 7_225_578_496  # ~7.2 GB at 1M tokens; all 43 layers uncompressed: 46 GB
    assert 43 * T * hd * BF16 == 46_170_898_432


def test_compressed_attention_cache_against_transformers():
    """A tiny DeepSeek-V4 run for 23 tokens: our per-layer figure equals the tensors transformers keeps,
    but for two conventions: the full window (transformers keeps window − 1 tokens between steps) and
    a partly filled block counted as one entry (its tokens also sit in the pending buffer)."""
    import torch
    import transformers

    from gallery.derive import derive
    from gallery.memory import layer_caches
    from gallery.spec import Arch

    config = dict(model_type="deepseek_v4", vocab_size=100, hidden_size=64, num_attention_heads=4, head_dim=32,
                  q_lora_rank=16, o_groups=2, o_lora_rank=16, index_n_heads=2, index_head_dim=16, index_topk=4,
                  n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, num_hidden_layers=3,
                  layer_types=["sliding_attention", "compressed_sparse_attention", "heavily_compressed_attention"],
                  compress_rates={"compressed_sparse_attention": 4, "heavily_compressed_attention": 8},
                  sliding_window=8, partial_rotary_factor=0.25, num_hash_layers=1, hc_mult=2)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(transformers.CONFIG_MAPPING["deepseek_v4"].from_dict(config))
    T = 23  # 3 past the last block of 4, 7 past the last block of 8: the pending buffers are at their largest
    with torch.no_grad():
        cache = model.eval()(torch.randint(0, 100, (1, T)), use_cache=True).past_key_values

    def kept(layer) -> int:
        n = layer.keys.numel()  # values hold the same vectors (K = V): counted once
        for name in ("compressed_kv", "buffer_kv", "buffer_gate", "overlap_kv", "overlap_gate"):
            n += sum(t.numel() for t in getattr(layer, name, {}).values() if t is not None)
        return n

    arch = Arch.model_validate(derive(config).arch, strict=False)
    ours = {c.kind: c for c in layer_caches(arch)}
    assert list(ours) == ["window-hash", "csa4", "hca8"]
    hd = config["head_dim"]
    for layer, kind, entry, ratio in zip(cache.layers, ours, (0, hd + 16, hd), (1, 4, 8)):
        partial = entry if T % ratio else 0
        assert ours[kind].elements(T) == kept(layer) + hd + partial, kind


def test_mamba2_state_nemotron_3_nano_by_hand(bundled):
    spec, c = bundled["nvidia-nemotron-3-nano-30b-a3b"]
    pattern = c["hybrid_override_pattern"]  # M = Mamba-2, * = attention, E = MoE (nothing cached)
    n_mamba, n_attention = pattern.count("M"), pattern.count("*")
    assert (n_mamba, n_attention) == (23, 6)
    # Only the 6 attention layers grow: K and V of 2 KV heads × 128 per token.
    per_token = n_attention * 2 * c["num_key_value_heads"] * c["head_dim"] * BF16
    assert kv_bytes_per_token(spec.arch) == per_token == 6 * 2 * 2 * 128 * 2
    # Each Mamba-2 layer keeps one state per head (head_dim × d_state) and the last conv_kernel inputs of its
    # convolution over x, B and C: conv_dim = 64·64 + 2·8·128 = 6,144 channels.
    ssm = c["mamba_num_heads"] * c["mamba_head_dim"] * c["ssm_state_size"]
    conv_dim = c["mamba_num_heads"] * c["mamba_head_dim"] + 2 * c["n_groups"] * c["ssm_state_size"]
    per_layer = ssm + conv_dim * c["conv_kernel"]
    assert per_layer == 64 * 64 * 128 + 6144 * 4 == 548_864
    assert state_bytes(spec.arch) == n_mamba * per_layer * BF16
    for context in (1, 262_144):  # the state does not grow; the attention cache does
        assert kv_bytes(spec.arch, context) == context * per_token + n_mamba * per_layer * BF16


def test_mamba2_state_matches_the_cache_transformers_allocates():
    """The per-layer state against the tensors NemotronH's DynamicCache holds after a short prompt."""
    import torch
    import transformers

    from gallery.derive import derive
    from gallery.memory import layer_caches
    from gallery.spec import Arch

    config = {"model_type": "nemotron_h", "vocab_size": 100, "hidden_size": 48, "hybrid_override_pattern": "M*-",
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 12, "intermediate_size": 20,
              "mamba_num_heads": 6, "mamba_head_dim": 10, "n_groups": 3, "ssm_state_size": 14, "conv_kernel": 5,
              "chunk_size": 8}
    torch.manual_seed(0)
    batch, tokens = 2, 7
    model = transformers.AutoModelForCausalLM.from_config(transformers.NemotronHConfig(**config))
    cache = model(torch.randint(0, 100, (batch, tokens)), use_cache=True).past_key_values
    conv, ssm = cache.layers[0].conv_states[0], cache.layers[0].recurrent_states[0]
    assert tuple(conv.shape) == (batch, 6 * 10 + 2 * 3 * 14, 5)  # (batch, conv_dim, conv_kernel)
    assert tuple(ssm.shape) == (batch, 6, 10, 14)  # (batch, n_heads, head_dim, d_state)
    ours = {c.kind: c for c in layer_caches(Arch.model_validate(derive(config).arch, strict=False))}
    assert ours["mamba"].state_elements == (conv.numel() + ssm.numel()) // batch
    assert ours["mamba"].elements(tokens) == ours["mamba"].elements(1)  # nothing per token
    keys, values = cache.layers[1].keys, cache.layers[1].values  # (batch, n_kv_heads, tokens, head_dim)
    assert ours["attention"].elements(tokens) == (keys.numel() + values.numel()) // batch
    assert ours["mlp"].elements(tokens) == 0


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


def test_kda_state_kimi_linear_by_hand(bundled):
    spec, c = bundled["kimi-linear-48b-a3b-instruct"]
    sub = c["linear_attn_config"]
    n_kda, n_mla = len(sub["kda_layers"]), len(sub["full_attn_layers"])
    assert (n_kda, n_mla) == (20, 7) and n_kda + n_mla == c["num_hidden_layers"]
    # Only the 7 MLA layers grow: the KV latent (512) and the shared key part (64) per token.
    per_token = n_mla * (c["kv_lora_rank"] + c["qk_rope_head_dim"]) * BF16
    assert kv_bytes_per_token(spec.arch) == per_token == 7 * 576 * 2
    # Each KDA layer keeps one head_dim × head_dim state per head, and the last short_conv_kernel_size inputs of
    # its convolution over q, k and v (3 × 32 heads × 128 channels).
    h, hd, kernel = sub["num_heads"], sub["head_dim"], sub["short_conv_kernel_size"]
    per_layer = h * hd * hd + 3 * h * hd * kernel
    assert per_layer == 32 * 128 * 128 + 12_288 * 4 == 573_440
    assert state_bytes(spec.arch) == n_kda * per_layer * BF16
    for context in (1, 1_048_576):
        assert kv_bytes(spec.arch, context) == context * per_token + n_kda * per_layer * BF16


def test_kda_state_is_what_transformers_allocates():
    """The KDA layer's state against the conv and recurrent tensors transformers' cache holds after a prompt and a
    decode step; the MLA layer's entries against its cached latent and key part."""
    import torch
    import transformers

    from gallery.derive import derive
    from gallery.spec import Arch

    config = {"model_type": "kimi_linear", "vocab_size": 64, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2,
              "hidden_size": 32, "num_hidden_layers": 2,
              "num_attention_heads": 4, "intermediate_size": 16, "moe_intermediate_size": 8, "num_experts": 4,
              "num_experts_per_token": 2, "kv_lora_rank": 12, "qk_nope_head_dim": 6, "qk_rope_head_dim": 4,
              "v_head_dim": 10, "linear_attn_config": {"num_heads": 3, "head_dim": 6, "short_conv_kernel_size": 3,
                                                        "kda_layers": [1], "full_attn_layers": [2]}}
    torch.manual_seed(0)
    batch, tokens = 2, 5
    model = transformers.AutoModelForCausalLM.from_config(transformers.CONFIG_MAPPING["kimi_linear"].from_dict(config))
    cache = model(torch.randint(0, 64, (batch, tokens)), use_cache=True).past_key_values
    cache = model(torch.randint(0, 64, (batch, 1)), past_key_values=cache, use_cache=True).past_key_values
    conv, recurrent = cache.layers[0].conv_states[0], cache.layers[0].recurrent_states[0]
    assert tuple(recurrent.shape) == (batch, 3, 6, 6)  # (batch, heads, head_dim, head_dim)
    ours = {c.kind: c for c in layer_caches(Arch.model_validate(derive(config).arch, strict=False))}
    assert ours["linear-dense"].state_elements == (conv.numel() + recurrent.numel()) // batch
    assert ours["linear-dense"].elements(tokens + 1) == ours["linear-dense"].elements(1)  # nothing per token
    latent, key = cache.layers[1].keys, cache.layers[1].values  # (batch, 1, tokens, kv_lora_rank / qk_rope_head_dim)
    assert ours["full-moe"].elements(tokens + 1) == (latent.numel() + key.numel()) // batch
