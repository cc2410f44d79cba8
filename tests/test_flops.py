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


def test_gated_deltanet_by_hand_qwen3_5_27b(bundled):
    from gallery.flops import matmul_flops, state_flops

    spec, c = bundled["qwen3.5-27b"]
    d, V, ff = c["hidden_size"], c["vocab_size"], c["intermediate_size"]
    hk, hv = c["linear_num_key_heads"], c["linear_num_value_heads"]
    dk, dv, kernel = c["linear_key_head_dim"], c["linear_value_head_dim"], c["linear_conv_kernel_dim"]
    h, kv, hd = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    linear, full = 48, 16
    assert c["layer_types"].count("linear_attention") == linear and c["num_hidden_layers"] == linear + full
    # Gated DeltaNet weights a token multiplies with: in_proj_qkv, in_proj_z, in_proj_b, in_proj_a, out_proj,
    # and the depthwise conv over q, k, v (kernel taps per channel); A_log, dt_bias and the norm are elementwise.
    conv_dim = 2 * hk * dk + hv * dv
    gdn = d * conv_dim + d * hv * dv + 2 * d * hv + hv * dv * d + conv_dim * kernel
    # Gated attention: q_proj twice as wide (queries and their gate), k, v, o; QK-norm is elementwise.
    attn = d * h * hd * 2 + 2 * d * kv * hd + h * hd * d
    matmul = linear * gdn + full * attn + (linear + full) * 3 * d * ff + d * V
    assert matmul_flops(spec.arch) == 2 * matmul
    # The state: read by k, delta write, read by q, each n_v_heads × dk × dv multiply-adds, at any context.
    assert state_flops(spec.arch) == linear * 6 * hv * dk * dv
    T = 8192  # only the 16 full layers attend: QKᵀ and A·V over T tokens with 24 heads of 256
    assert flops_per_token(spec.arch, T) == 2 * matmul + linear * 6 * hv * dk * dv + full * 2 * 2 * h * hd * T


def test_compressed_attention_deepseek_v4_flash_by_hand(bundled):
    spec, c = bundled["deepseek-v4-flash"]
    h, hd, window, topk = c["num_attention_heads"], c["head_dim"], c["sliding_window"], c["index_topk"]
    T = 2**20
    per_seen = 2 * h * (hd + hd)  # QKᵀ and A·V; the one KV vector is both key and value
    window_only = per_seen * window
    csa = per_seen * (window + topk) + 2 * c["index_n_heads"] * c["index_head_dim"] * (T // 4)  # indexer scores all
    hca = per_seen * (window + T // 128)  # every entry, no indexer
    assert attention_flops(spec.arch, T) == 2 * window_only + 21 * csa + 20 * hca
    # Inside the window: every layer sees the 100 tokens, CSA layers also the 25 entries they pooled (HCA none yet).
    assert attention_flops(spec.arch, 100) == 43 * per_seen * 100 + 21 * (per_seen * 25 + 2 * 64 * 128 * 25)


def test_mamba2_layers_add_a_constant_state_cost_nemotron_3_nano(bundled):
    from gallery.flops import matmul_flops, state_flops

    spec, c = bundled["nvidia-nemotron-3-nano-30b-a3b"]
    n_mamba = c["hybrid_override_pattern"].count("M")
    # Each state element h (n_heads × head_dim × d_state per layer) per token: h·exp(Δ·A) + Δ·x·B (2 multiplies,
    # an add) and y += C·h (a multiply-add): 5 FLOPs.
    state = n_mamba * 5 * c["mamba_num_heads"] * c["mamba_head_dim"] * c["ssm_state_size"]
    assert state_flops(spec.arch) == state == 23 * 5 * 64 * 64 * 128
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


def test_expert_biases_count_only_for_the_experts_used_gpt_oss_20b(bundled):
    from gallery.flops import matmul_flops

    spec, c = bundled["gpt-oss-20b"]
    d, h, kv, hd = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    ff, E, k, V, L = c["intermediate_size"], c["num_local_experts"], c["num_experts_per_tok"], c["vocab_size"], \
        c["num_hidden_layers"]
    # per layer: q, k, v, o; the router (d × E); k experts of gate_up (d × 2ff) and down (ff × d); biases are
    # additions, not multiplies, whether of attention, router or the experts a token uses
    per_layer = d * h * hd + 2 * d * kv * hd + h * hd * d + d * E + k * (d * 2 * ff + ff * d)
    assert matmul_flops(spec.arch) == 2 * (L * per_layer + d * V)  # untied head


def test_kda_by_hand_kimi_linear(bundled):
    from gallery.flops import matmul_flops, state_flops

    spec, c = bundled["kimi-linear-48b-a3b-instruct"]
    d, V, ff, E = c["hidden_size"], c["vocab_size"], c["intermediate_size"], c["moe_intermediate_size"]
    sub = c["linear_attn_config"]
    h, hd, kernel = sub["num_heads"], sub["head_dim"], sub["short_conv_kernel_size"]
    kda, mla = len(sub["kda_layers"]), len(sub["full_attn_layers"])
    w = h * hd  # q, k, v each 32 × 128
    # KDA weights a token multiplies with: q, k, v, o projections, the conv taps, the two rank-128 gates
    # (f_a/f_b, g_a/g_b) and b_proj; dt_bias, A_log and o_norm are elementwise.
    kda_weights = 3 * d * w + w * d + 3 * w * kernel + 2 * (d * hd + hd * w) + d * h
    # MLA without query compression: q_proj, kv_a_proj_with_mqa, kv_b_proj, o_proj.
    nope, rope, vd, r, heads = (c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"], c["kv_lora_rank"],
                                c["num_attention_heads"])
    mla_weights = d * heads * (nope + rope) + d * (r + rope) + r * heads * (nope + vd) + heads * vd * d
    # One dense layer; 26 MoE layers with 8 routed experts and one shared expert, and the router.
    top_k, experts = c["num_experts_per_token"], c["num_experts"]
    ffn = 3 * d * ff + (c["num_hidden_layers"] - 1) * ((top_k + 1) * 3 * d * E + d * experts)
    matmul = kda * kda_weights + mla * mla_weights + ffn + d * V
    assert matmul_flops(spec.arch) == 2 * matmul
    # The state: read by k, delta write, read by q, each heads × head_dim × head_dim multiply-adds, at any context.
    assert state_flops(spec.arch) == kda * 6 * h * hd * hd
    T = 65_536  # only the 7 MLA layers attend: QKᵀ over nope + rope dims, A·V over v dims
    assert flops_per_token(spec.arch, T) == 2 * matmul + kda * 6 * h * hd * hd + mla * 2 * heads * (
        nope + rope + vd) * T
