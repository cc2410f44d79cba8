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


def test_mamba2_layers_add_a_constant_state_cost_nemotron_3_nano(bundled):
    from gallery.flops import matmul_flops, ssm_flops

    spec, c = bundled["nvidia-nemotron-3-nano-30b-a3b"]
    n_mamba = c["hybrid_override_pattern"].count("M")
    # Each state element h (n_heads × head_dim × d_state per layer) per token: h·exp(Δ·A) + Δ·x·B (2 multiplies,
    # an add) and y += C·h (a multiply-add): 5 FLOPs.
    state = n_mamba * 5 * c["mamba_num_heads"] * c["mamba_head_dim"] * c["ssm_state_size"]
    assert ssm_flops(spec.arch) == state == 23 * 5 * 64 * 64 * 128
    # Attention: 6 layers, 32 heads × 128, QKᵀ and A·V per attended token.
    T = 10_000
    attention = c["hybrid_override_pattern"].count("*") * 2 * 2 * c["num_attention_heads"] * c["head_dim"] * T
    assert flops_per_token(spec.arch, T) == matmul_flops(spec.arch) + attention + state


def test_mamba2_matmul_weights_by_hand_nemotron_3_nano(bundled):
    from gallery.flops import matmul_flops

    spec, c = bundled["nvidia-nemotron-3-nano-30b-a3b"]
    d, p = c["hidden_size"], c["hybrid_override_pattern"]
    inner = c["mamba_num_heads"] * c["mamba_head_dim"]
    conv_dim = inner + 2 * c["n_groups"] * c["ssm_state_size"]
    # Mamba-2: in_proj (z, xBC, dt), the depthwise conv (a multiply-add per weight), out_proj.
    mamba = d * (inner + conv_dim + c["mamba_num_heads"]) + conv_dim * c["conv_kernel"] + inner * d
    attention = d * c["head_dim"] * (2 * c["num_attention_heads"] + 2 * c["num_key_value_heads"])
    # MoE: router, 6 active ungated experts (up, down) and the shared expert.
    moe = d * c["n_routed_experts"] + 2 * d * (c["num_experts_per_tok"] * c["moe_intermediate_size"]
                                               + c["moe_shared_expert_intermediate_size"])
    weights = p.count("M") * mamba + p.count("*") * attention + p.count("E") * moe + d * c["vocab_size"]
    assert matmul_flops(spec.arch) == 2 * weights
