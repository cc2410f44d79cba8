"""The layer trace: parameters add up to the counted layer, shapes chain, FLOPs follow the flops.py convention,
and the op order is the reference implementation's (written out by hand from the transformers modeling code)."""

from __future__ import annotations

from math import prod

import pytest

from gallery.counts import block_terms, total_params
from gallery.flops import matmul_flops
from gallery.kinds.cdmoe import CrossDomainMoe
from gallery.spec import MixtureOfAttention, Moe
from gallery.trace import Param, trace

from .conftest import spec_ids

SEQ = 7


def _kinds(spec):
    """(block kind, index of its first layer) for every block kind of the spec."""
    return [(kind, spec.arch.layers.index(kind)) for kind in spec.arch.blocks]


@pytest.mark.parametrize("slug", spec_ids())
def test_step_params_add_up_to_the_counted_layer(bundled, slug):
    spec, _ = bundled[slug]
    for kind, layer in _kinds(spec):
        steps = trace(spec, layer, SEQ)
        counted = sum(t.count for t in block_terms(spec.arch, kind))
        assert sum(p.count for s in steps for p in s.params) == counted, kind
        names = [p.name for s in steps for p in s.params]
        assert len(names) == len(set(names)), f"a tensor used by two steps in {kind}"


@pytest.mark.parametrize("slug", spec_ids())
def test_shapes_chain_from_the_layer_input_to_its_output(bundled, slug):
    spec, config = bundled[slug]
    # DeepseekV4DecoderLayer reads and writes hc_mult residual streams: [B, S, hc_mult, hidden]
    x = (SEQ, config["hc_mult"], config["hidden_size"]) if "hc_mult" in config else (SEQ, spec.arch.d_model)
    for kind, layer in _kinds(spec):
        steps = trace(spec, layer, SEQ)
        seen = {x}
        for step in steps:
            assert step.in_shape in seen, f"{kind}: {step.op} reads {step.in_shape}, produced by no earlier step"
            seen.add(step.out_shape)
        assert steps[0].in_shape == x and steps[-1].out_shape == x and steps[-1].op == "residual add"


@pytest.mark.parametrize("slug", spec_ids())
def test_matmul_flops_at_one_token_are_twice_the_weights_used(bundled, slug):
    spec, _ = bundled[slug]
    arch = spec.arch
    total = 0
    for kind in arch.layers:
        ffn = arch.blocks[kind].ffn
        for step in trace(arch, arch.layers.index(kind), 1):
            if not step.matmul:
                continue
            [w] = [p for p in step.params if not p.name.endswith(".bias")]  # ".weight" (or a hyper-connection's fn)
            # (n_experts, in, out), or the single-neuron experts' (n_experts, d_model) rows: a token uses top_k
            if w.name.startswith("experts.") and (len(w.shape) == 3 or isinstance(ffn, CrossDomainMoe)):
                # (a 3-D weight that is not the experts' is block-diagonal, RG-LRU's gates: every block is used);
                # the attention's experts (JetMoE's mixture of attention heads) are routed by the mixer
                owner = arch.blocks[kind].mixer if step.part == "attention" else ffn
                assert isinstance(owner, MixtureOfAttention if step.part == "attention" else (Moe, CrossDomainMoe))
                assert w.shape[0] == owner.n_experts
                expected = 2 * owner.top_k * prod(w.shape[1:])
            else:
                expected = 2 * prod(w.shape)
            assert step.flops == expected, step.op
            total += step.flops
    # Summed over the layers, plus the head, this is flops.py's figure. (Gemma 4's router scales are weights
    # flops.py counts as products but the trace as elementwise: a difference of a few parts per million.)
    head = 2 * arch.vocab_size * arch.d_model
    assert total + head == pytest.approx(matmul_flops(arch), rel=1e-4)


def test_attention_flops_at_a_sequence_by_hand(bundled):
    spec, config = bundled["llama-3.1-8b-instruct"]
    steps = {s.op: s for s in trace(spec, 0, 100)}
    h, hd = config["num_attention_heads"], config["hidden_size"] // config["num_attention_heads"]
    assert steps["scores = Q·Kᵀ"].flops == 2 * h * 100 * 100 * hd  # the eager code computes the whole T×T matrix
    assert steps["scores = Q·Kᵀ"].out_shape == (h, 100, 100)
    assert steps["q_proj"].flops == 2 * 100 * config["hidden_size"] * h * hd


# LlamaDecoderLayer.forward → LlamaAttention.forward → eager_attention_forward → LlamaMLP.forward
LLAMA = [
    "attn norm (pre)", "q_proj", "k_proj", "v_proj", "split Q heads", "split K heads", "split V heads",
    "RoPE on Q", "RoPE on K", "repeat K heads", "repeat V heads", "scores = Q·Kᵀ", "scale", "mask",
    "subtract row max", "softmax", "weights × V", "merge heads", "o_proj", "residual add",
    "ffn norm (pre)", "gate_proj", "up_proj", "activation (silu)", "a ⊙ u", "down_proj", "residual add",
]


def _ops(bundled, slug, layer=0):
    spec, _ = bundled[slug]
    return [s.op for s in trace(spec, layer, SEQ)]


def test_llama_layer_in_reference_order(bundled):
    assert _ops(bundled, "llama-3.1-8b-instruct") == LLAMA


def test_family_differences_in_reference_order(bundled):
    # Qwen3Attention: q_norm/k_norm over head_dim after the split, before RoPE
    qwen = _ops(bundled, "qwen3-8b")
    assert qwen[qwen.index("split V heads") + 1:qwen.index("RoPE on Q")] == ["q_norm", "k_norm"]
    # OLMo 2: norms on the flat q/k projections; each sublayer's norm after it, before the residual add
    olmo = _ops(bundled, "olmo-2-1124-7b")
    assert olmo[:5] == ["q_proj", "k_proj", "v_proj", "q_norm", "k_norm"]
    assert olmo[olmo.index("o_proj") + 1:olmo.index("o_proj") + 3] == ["attn norm (post)", "residual add"]
    # Gemma 2 sliding layer: sandwich norms; scale → soft-cap → mask; MQA/GQA repeat
    spec, config = bundled["gemma-2-9b"]
    steps = trace(spec, 0, SEQ)
    gemma = [s.op for s in steps]
    assert gemma[gemma.index("scale"):gemma.index("scale") + 3] == ["scale", "soft-cap", "mask"]
    assert [o for o in gemma if "norm" in o] == ["attn norm (pre)", "attn norm (post)", "ffn norm (pre)",
                                                 "ffn norm (post)"]
    by_op = {s.op: s for s in steps}
    assert f"{config['attn_logit_softcapping']:g} · tanh" in by_op["soft-cap"].formula
    assert f"window of {config['sliding_window']}" in by_op["mask"].formula
    assert f"{config['query_pre_attn_scalar'] ** -0.5:.6g}" in by_op["scale"].formula
    # gpt-oss: the sink logit joins the scores before the softmax; the (T, T + 1) row is cut back to T
    oss = {s.op: s for s in trace(bundled["gpt-oss-20b"][0], 0, SEQ)}
    assert oss["append sink logit"].out_shape[-1] == SEQ + 1 and oss["softmax"].out_shape[-1] == SEQ
    # GPT-J: one norm feeds attention and MLP; one residual add of both
    gptj = _ops(bundled, "gpt-j-6b")
    assert gptj[0] == "norm (shared)" and gptj.count("residual add") == 1 and "up_proj" in gptj
    assert "RoPE on Q" in gptj


def test_moe_and_mla_steps(bundled):
    spec, config = bundled["deepseek-v3"]
    moe_layer = config["first_k_dense_replace"]
    steps = {s.op: s for s in trace(spec, moe_layer, SEQ)}
    for op in ("q_a_proj", "q_a_layernorm", "q_b_proj", "kv_a_proj_with_mqa", "kv_a_layernorm", "kv_b_proj",
               "scores (sigmoid)", "add correction bias", "group top-k", "top-k", "scale weights",
               "experts.gate_proj", "weighted sum of experts", "shared_expert.down_proj", "add shared expert"):
        assert op in steps, op
    k, n = config["num_experts_per_tok"], config["n_routed_experts"]
    assert steps["top-k"].out_shape == (SEQ, k)
    assert steps["experts.down_proj"].params[0].shape == (n, config["moe_intermediate_size"], config["hidden_size"])
    # the attention sees the latent decompressed to n_heads × (nope + rope) dims per head
    assert steps["concat K"].out_shape == (config["num_attention_heads"], SEQ,
                                          config["qk_nope_head_dim"] + config["qk_rope_head_dim"])
    qwen_moe = [s.op for s in trace(bundled["qwen1.5-moe-a2.7b"][0], 0, SEQ)]
    assert qwen_moe[-4:] == ["shared_expert_gate", "gate shared expert", "add shared expert", "residual add"]


def test_layer_out_of_range_is_a_clear_error(bundled):
    spec, _ = bundled["gpt2"]
    with pytest.raises(ValueError, match="layers 0–11"):
        trace(spec, 12, 4)


# FalconMambaBlock.forward → FalconMambaMixer.forward (the torch path: causal_conv1d_fn, mamba_selective_scan)
FALCON_MAMBA = [
    "mixer norm (pre)", "in_proj", "split x | z", "conv1d", "activation (silu)", "x_proj", "take Δ", "take B",
    "take C", "Δ norm", "B norm", "C norm", "dt_proj", "softplus", "discretise A", "Δ·B·x", "selective scan",
    "read out C·h", "D skip", "gate y ⊙ SiLU(z)", "out_proj", "residual add",
]


def test_mamba_layer_shows_its_state_update_instead_of_scores(bundled):
    spec, config = bundled["falcon-mamba-7b"]
    steps = trace(spec, 0, SEQ)
    assert [s.op for s in steps] == FALCON_MAMBA
    by_op = {s.op: s for s in steps}
    di, n, r = config["intermediate_size"], config["state_size"], config["time_step_rank"]
    assert by_op["selective scan"].out_shape == (SEQ, di, n)  # one (d_inner, d_state) state, written per token
    assert by_op["x_proj"].out_shape == (SEQ, r + 2 * n)
    assert by_op["conv1d"].params[0].shape == (di, config["conv_kernel"])
    assert by_op["discretise A"].params == (Param("A_log", (di, n)),)
    assert f"{config.get('mixer_rms_eps', 1e-6):g}" in by_op["B norm"].formula and not by_op["B norm"].params
    # a fixed state: the scan costs the same per token at any length (no T × T matrix)
    assert trace(spec, 0, 2 * SEQ)[FALCON_MAMBA.index("selective scan")].flops == 2 * by_op["selective scan"].flops


def test_lfm2_conv_and_attention_layers_in_reference_order(bundled):
    spec, config = bundled["lfm2-1.2b"]
    d, k = config["hidden_size"], config["conv_L_cache"]
    conv = trace(spec, 0, SEQ)  # Lfm2DecoderLayer → Lfm2ShortConv.forward, then Lfm2MLP
    assert [s.op for s in conv][:10] == ["mixer norm (pre)", "in_proj", "take B", "take C", "take x", "B ⊙ x", "conv",
                                         "C ⊙ conv", "out_proj", "residual add"]
    by_op = {s.op: s for s in conv}
    assert by_op["in_proj"].out_shape == (SEQ, 3 * d) and by_op["conv"].params == (Param("conv.weight", (d, k)),)
    attention = [s.op for s in trace(spec, config["full_attn_idxs"][0], SEQ)]  # Lfm2Attention: QK-norm per head
    assert attention[attention.index("split V heads") + 1:attention.index("RoPE on Q")] == ["q_norm", "k_norm"]


# Qwen3NextDecoderLayer.forward → Qwen3NextGatedDeltaNet.forward (fix_query_key_value_ordering, causal_conv1d_fn,
# β and g, then torch_recurrent_gated_delta_rule: repeat_interleave, l2norm, query scale, the per-token loop),
# Qwen3NextRMSNormGated, out_proj → Qwen3NextSparseMoeBlock.forward (shared expert, router, experts, gate)
QWEN3_NEXT_LINEAR = [
    "mixer norm (pre)", "in_proj_qkvz", "in_proj_ba", "split q, k, v, z", "split b, a", "causal conv1d", "SiLU",
    "split Q heads", "split K heads", "split V heads", "β = σ(b)", "g = −exp(A_log) · softplus(a + dt_bias)",
    "repeat Q heads", "repeat K heads", "L2 norm Q", "L2 norm K", "scale Q", "decay state", "read by k", "delta",
    "write state", "read-out by q", "norm (gated)", "× silu(z)", "merge heads", "out_proj", "residual add",
    "ffn norm (pre)", "shared_expert.gate_proj", "shared_expert.up_proj", "activation (silu)", "a ⊙ u",
    "shared_expert.down_proj", "router logits", "scores (softmax)", "top-k", "normalise top-k", "experts.gate_proj",
    "experts.up_proj", "activation (silu)", "a ⊙ u", "experts.down_proj", "weighted sum of experts",
    "shared_expert_gate", "gate shared expert", "add shared expert", "residual add",
]


def test_gated_deltanet_layer_in_reference_order(bundled):
    assert _ops(bundled, "qwen3-next-80b-a3b-instruct") == QWEN3_NEXT_LINEAR
    # Qwen3_5GatedDeltaNet: four separate projections, then the same path
    qwen35 = _ops(bundled, "qwen3.5-27b")
    assert qwen35[1:6] == ["in_proj_qkv", "in_proj_z", "in_proj_b", "in_proj_a", "causal conv1d"]
    assert qwen35[5:] == QWEN3_NEXT_LINEAR[5:27] + ["ffn norm (pre)", "gate_proj", "up_proj", "activation (silu)",
                                                     "a ⊙ u", "down_proj", "residual add"]


def test_gated_deltanet_shapes_and_state_by_hand(bundled):
    spec, config = bundled["qwen3-next-80b-a3b-instruct"]
    T, d = 100, config["hidden_size"]
    nk, nv = config["linear_num_key_heads"], config["linear_num_value_heads"]
    dk, dv, K = config["linear_key_head_dim"], config["linear_value_head_dim"], config["linear_conv_kernel_dim"]
    steps = {s.op: s for s in trace(spec, 0, T)}
    assert steps["in_proj_qkvz"].out_shape == (T, 2 * nk * dk + 2 * nv * dv)
    assert steps["in_proj_ba"].out_shape == (T, 2 * nv)
    conv_dim = 2 * nk * dk + nv * dv  # q, k, v: the channels of the depthwise convolution
    assert steps["causal conv1d"].params[0].shape == (conv_dim, K)
    assert steps["causal conv1d"].flops == 2 * T * conv_dim * K
    assert steps["repeat K heads"].out_shape == (nv, T, dk)
    # the state: one dk × dv matrix per value head, whatever T is
    for op in ("decay state", "write state"):
        assert steps[op].out_shape == (nv, dk, dv)
    assert steps["read-out by q"].out_shape == (nv, T, dv)
    # read by k, rank-1 write, read-out by q: 2 FLOPs per state element each, per token
    state_flops = sum(steps[op].flops for op in ("read by k", "write state", "read-out by q"))
    assert state_flops == T * 6 * nv * dk * dv
    assert steps["norm (gated)"].params[0].shape == (dv,)
    assert steps["out_proj"].params[0].shape == (nv * dv, d)


def test_gated_attention_output_gate(bundled):
    spec, text = bundled["qwen3.5-27b"]  # the wrapper's text_config
    h, hd = text["num_attention_heads"], text["head_dim"]
    layer = text["layer_types"].index("full_attention")
    steps = trace(spec, layer, SEQ)
    ops = [s.op for s in steps]
    by_op = {s.op: s for s in steps}
    assert by_op["q_proj"].out_shape == (SEQ, 2 * h * hd)  # queries and their gate
    assert ops[ops.index("q_proj") + 1] == "split Q | gate" and by_op["split Q | gate"].out_shape == (SEQ, h * hd)
    assert ops[ops.index("merge heads") + 1:ops.index("merge heads") + 3] == ["output gate", "o_proj"]
    rot = int(hd * text["rope_parameters"]["partial_rotary_factor"])
    assert f"x[..., :{rot}]" in by_op["RoPE on Q"].formula


# DeepseekV4DecoderLayer.forward → DeepseekV4HyperConnection → DeepseekV4Attention.forward (q path, then K = V)
V4_ATTENTION = ["q_a_proj", "q_a_norm", "q_b_proj", "split Q heads", "q_b_norm", "RoPE on Q", "kv_proj", "kv_norm",
                "split KV head", "RoPE on KV"]
V4_HC_IN = ["attn_hc: flatten streams", "attn_hc: input norm", "attn_hc: mix logits", "attn_hc: scale + base",
            "attn_hc: pre weights", "attn_hc: post weights", "attn_hc: comb weights", "attn_hc: Sinkhorn",
            "attn_hc: collapse streams", "attn norm (pre)"]
V4_TAIL = ["weights × V", "RoPE on O (inverse)", "group heads", "o_a_proj", "flatten groups", "o_b_proj",
           "attn_hc: expand (post)", "attn_hc: mix streams (comb)", "residual add", "ffn_hc: flatten streams"]


def test_deepseek_v4_layers_in_reference_order(bundled):
    spec, config = bundled["deepseek-v4-flash"]
    ratios, T = config["compress_ratios"], 1000
    n, d, h, hd = config["hc_mult"], config["hidden_size"], config["num_attention_heads"], config["head_dim"]
    g, ro, ihd = config["o_groups"], config["o_lora_rank"], config["index_head_dim"]
    for layer in (0, 2, 3):  # window-only + hash routing; CSA + hash routing; HCA + learned routing
        steps = trace(spec, layer, T)
        ops = [s.op for s in steps]
        by_op = {s.op: s for s in steps}
        assert ops[:10] == V4_HC_IN and ops[10:20] == V4_ATTENTION
        start = ops.index("weights × V")
        assert ops[start:start + 10] == V4_TAIL
        assert ops[-3:] == ["ffn_hc: expand (post)", "ffn_hc: mix streams (comb)", "residual add"]
        assert by_op["attn_hc: mix logits"].params[0].shape == (n * d, (2 + n) * n)  # fn: ((2 + n)·n, n·d) in torch
        assert by_op["o_a_proj"].params[0].shape == (h * hd // g, g * ro)  # DeepseekV4GroupedLinear(in/g, g·r)
        entries = T // ratios[layer] if ratios[layer] else 0
        assert by_op["softmax"].out_shape == (h, T, T + entries)
        assert ("hash pick" in ops) == (layer < config["num_hash_layers"]) != ("top-k" in ops)
        if not ratios[layer]:
            assert "concat KV" not in ops and not any(op.startswith("compressor") for op in ops)
            continue
        assert by_op["concat KV"].out_shape == (1, T + entries, hd)
        series = 2 if ratios[layer] == 4 else 1  # CSA: two overlapping series per token
        assert by_op["compressor: gate + position bias"].params[0].shape == (ratios[layer], series * hd)
        if ratios[layer] == 4:  # the indexer runs inside the CSA compressor, after the compressor's own pooling
            assert ops.index("RoPE on compressor entries") < ops.index("indexer.kv_proj") < ops.index(
                "indexer.q_b_proj") < ops.index("top-k entries") < ops.index("concat KV")
            assert by_op["indexer: pool"].out_shape == (entries, ihd)
        else:
            assert "indexer.kv_proj" not in ops and "entry mask" in ops


# NemotronHBlock.forward (norm → mixer → residual) → NemotronHMamba2Mixer.torch_forward: in_proj, split, conv1d + SiLU,
# split x/B/C, then mamba2_chunk_scan (softplus(dt + dt_bias), B and C repeated to the heads, the decay), norm(y, z),
# out_proj
NEMOTRON_MAMBA = [
    "mixer norm (pre)", "in_proj", "take gate z", "take xBC", "take dt", "causal conv1d", "activation (silu)",
    "take x", "take B", "take C", "Δ = softplus(dt + dt_bias)", "repeat B groups", "repeat C groups",
    "decay exp(Δ·A)", "state update", "read-out y = C·h + D·x", "merge heads", "gate y ⊙ SiLU(z)", "gated norm",
    "out_proj", "residual add",
]


def test_nemotron_h_layers_in_reference_order(bundled):
    spec, c = bundled["nvidia-nemotron-3-nano-30b-a3b"]
    pattern = c["hybrid_override_pattern"]
    mamba, moe, attention = (pattern.index(ch) for ch in "ME*")
    steps = trace(spec, mamba, SEQ)
    assert [s.op for s in steps] == NEMOTRON_MAMBA
    by_op = {s.op: s for s in steps}
    H, P, G, N = c["mamba_num_heads"], c["mamba_head_dim"], c["n_groups"], c["ssm_state_size"]
    assert by_op["in_proj"].out_shape == (SEQ, 2 * H * P + 2 * G * N + H)  # z, x, B, C, dt
    assert by_op["causal conv1d"].params[0].shape == (c["conv_kernel"], H * P + 2 * G * N)
    assert by_op["state update"].out_shape == (SEQ, H, P, N)  # the state after each token: (heads, head_dim, d_state)
    assert by_op["take B"].out_shape == (G, SEQ, N) and by_op["repeat B groups"].out_shape == (H, SEQ, N)
    # per token, the state update and read-out cost 5 FLOPs per state element (+ the D skip): flops.py's rule
    one = {s.op: s for s in trace(spec, mamba, 1)}
    assert one["state update"].flops + one["read-out y = C·h + D·x"].flops == 5 * H * P * N + 2 * H * P
    # a MoE block and an attention block: one norm, the sublayer, one residual add; the attention has no RoPE
    moe_ops = [s.op for s in trace(spec, moe, SEQ)]
    assert moe_ops[0] == "ffn norm (pre)" and moe_ops.count("residual add") == 1
    assert moe_ops[1:9] == ["router logits", "scores (sigmoid)", "add correction bias", "top-k", "normalise top-k",
                            "scale weights", "experts.up_proj", "activation (relu2)"]
    assert moe_ops[-5:] == ["shared_expert.up_proj", "activation (relu2)", "shared_expert.down_proj",
                            "add shared expert", "residual add"]
    attn_ops = [s.op for s in trace(spec, attention, SEQ)]
    assert not any("RoPE" in op for op in attn_ops) and attn_ops.count("residual add") == 1
    assert sum("norm" in op for op in attn_ops) == 1


def test_nemotron_h_latent_moe_steps(bundled):
    from gallery.derive import derive
    from gallery.spec import Arch

    _, c = bundled["nvidia-nemotron-3-nano-30b-a3b"]
    arch = Arch.model_validate(derive({**c, "moe_latent_size": 1024}).arch, strict=False)
    steps = trace(arch, c["hybrid_override_pattern"].index("E"), SEQ)
    ops = [s.op for s in steps]
    # NemotronHMoE.forward: gate → fc1_latent_proj → experts → fc2_latent_proj → + shared_experts(residuals)
    assert ops.index("top-k") < ops.index("fc1_latent_proj") < ops.index("experts.up_proj")
    assert ops.index("weighted sum of experts") + 1 == ops.index("fc2_latent_proj")
    assert ops.index("fc2_latent_proj") < ops.index("shared_expert.up_proj")
    by_op = {s.op: s for s in steps}
    k, E, L = c["num_experts_per_tok"], c["n_routed_experts"], 1024
    assert by_op["experts.up_proj"].params[0].shape == (E, L, c["moe_intermediate_size"])
    assert by_op["weighted sum of experts"].out_shape == (SEQ, L) and by_op["fc2_latent_proj"].out_shape == (SEQ, c[
        "hidden_size"])
    assert by_op["experts.down_proj"].out_shape == (SEQ, k, L)


def test_a_correction_bias_stored_as_a_parameter_is_counted_and_traced():
    """ERNIE 4.5 MoE keeps its routing correction bias as a frozen nn.Parameter (moe_statics): transformers counts
    it, so the MoE layer's terms and its trace's parameters hold n_experts more than with a buffer (DeepSeek-V3)."""
    from gallery.toy import toy_trace
    from gallery.trial import spec_from_config

    from .reference import reference_param_count

    config = {"model_type": "ernie4_5_moe", "num_hidden_layers": 3}
    arch = spec_from_config(config).arch
    moe = arch.layers[1]
    assert sum(t.count for t in block_terms(arch, moe) if t.name == "router.correction_bias") == 64  # moe_num_experts
    assert sum(s.n_params for s in trace(arch, 1, 4)) == sum(t.count for t in block_terms(arch, moe))
    assert total_params(arch) == reference_param_count(config)
    toy = toy_trace(arch, 1, 4)
    assert toy.steps[-1].value.shape == toy.x.shape
