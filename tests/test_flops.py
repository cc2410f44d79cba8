"""Forward FLOPs per token, against a hand derivation (Kaplan et al. 2020: 2N + attention)."""

from __future__ import annotations

import pytest

from gallery.counts import active_params, total_params
from gallery.flops import attention_flops, flops_per_token

from .conftest import spec_ids


def test_llama_2_7b_by_hand(bundled):
    spec, c = bundled["llama-2-7b-hf"]
    d, L, V, ff = c["hidden_size"], c["num_hidden_layers"], c["vocab_size"], c["intermediate_size"]
    # Weights a token multiplies with: q, k, v, o (4 d²) and gate, up, down (3 d·ff) per layer, plus the head.
    matmul = L * (4 * d * d + 3 * d * ff) + d * V
    T = 4096
    # Per layer: QKᵀ (2·d per attended token) and A·V (2·d per attended token), d = 32 heads × 128.
    attention = L * 2 * 2 * d * T
    assert flops_per_token(spec.arch, T) == 2 * matmul + attention


def test_tied_head_still_costs_a_matmul(bundled):
    spec, c = bundled["qwen3-0.6b"]
    assert spec.arch.embedding.tied
    # The tied head is counted once in parameters but multiplies every token.
    assert flops_per_token(spec.arch, 1) > 2 * c["vocab_size"] * c["hidden_size"]


def test_window_bounds_attention_flops(bundled):
    spec, _ = bundled["mistral-7b-v0.1"]
    assert attention_flops(spec.arch, 100_000) == attention_flops(spec.arch, 4096)
    assert attention_flops(spec.arch, 2048) * 2 == attention_flops(spec.arch, 4096)


@pytest.mark.parametrize("slug", spec_ids())
def test_flops_are_about_twice_the_active_params(bundled, slug):
    spec, _ = bundled[slug]
    flops = flops_per_token(spec.arch, 1)
    # At context 1, FLOPs ≈ 2 × active params (within embeddings, biases and norms).
    assert 1.0 * active_params(spec.arch) < flops < 2.2 * total_params(spec.arch)


def test_falcon_mamba_by_hand_and_constant_per_token(bundled):
    spec, c = bundled["falcon-mamba-7b"]
    d, di, n, r, k = c["hidden_size"], c["intermediate_size"], c["state_size"], c["time_step_rank"], c["conv_kernel"]
    # Weights per layer: in_proj d → 2·di, conv taps di·k, x_proj di → r + 2n, dt_proj r → di, out_proj di → d
    # (A_log and D act elementwise, biases and norms are left out); plus the untied head d → vocab.
    weights = c["num_hidden_layers"] * (d * 2 * di + di * k + di * (r + 2 * n) + r * di + di * d) + d * c["vocab_size"]
    scan = c["num_hidden_layers"] * 9 * di * n  # the selective scan's 9·D·N per token (state-spaces/mamba#110)
    assert flops_per_token(spec.arch, 1) == 2 * weights + scan
    assert flops_per_token(spec.arch, 10**6) == flops_per_token(spec.arch, 1)  # no attention: constant per token


def test_lfm2_by_hand(bundled):
    spec, c = bundled["lfm2-1.2b"]
    d, V, heads, kv = c["hidden_size"], c["vocab_size"], c["num_attention_heads"], c["num_key_value_heads"]
    hd, ff, taps = d // heads, 8192, c["conv_L_cache"]  # d_ff: int(2/3 × 12,288) rounded up to 256 = 8,192
    n_attention = len(c["full_attn_idxs"])
    n_conv = c["num_hidden_layers"] - n_attention
    conv = 3 * d * d + d * taps + d * d  # in_proj (B, C, x), depthwise taps, out_proj
    attention = d * heads * hd + 2 * d * kv * hd + heads * hd * d  # q, k, v, out_proj
    weights = n_conv * conv + n_attention * attention + c["num_hidden_layers"] * 3 * d * ff + d * V  # tied head
    T = 4096
    assert flops_per_token(spec.arch, T) == 2 * weights + n_attention * 2 * 2 * heads * hd * T
