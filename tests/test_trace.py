"""The layer trace: parameters add up to the counted layer, shapes chain, FLOPs follow the flops.py convention,
and the op order is the reference implementation's (written out by hand from the transformers modeling code)."""

from __future__ import annotations

from math import prod

import pytest

from gallery.counts import block_terms, param_terms
from gallery.flops import matmul_flops
from gallery.spec import Moe
from gallery.trace import trace

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
    spec, _ = bundled[slug]
    x = (SEQ, spec.arch.d_model)
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
            [w] = [p for p in step.params if p.name.endswith(".weight")]
            if len(w.shape) == 3:  # (n_experts, in, out): a token multiplies with top_k of them
                assert isinstance(ffn, Moe) and w.shape[0] == ffn.n_experts
                expected = 2 * ffn.top_k * prod(w.shape[1:])
            else:
                expected = 2 * prod(w.shape)
            assert step.flops == expected, step.op
            total += step.flops
    # Summed over the layers, plus the head, this is flops.py's figure. (Gemma 4's router scales are weights
    # flops.py counts as products but the trace as elementwise: a difference of a few parts per million.)
    # flops.py subtracts the biases of all experts from the active parameters, which already lack the inactive
    # experts: it undercounts gpt-oss by 2 × the inactive experts' biases. The trace does not inherit that.
    head = 2 * arch.vocab_size * arch.d_model
    inactive_biases = sum(
        t.total // ffn.n_experts * (ffn.n_experts - ffn.top_k) for t in param_terms(arch)
        if t.component == "experts" and t.name.endswith(".bias") for ffn in [arch.blocks[t.where].ffn])
    assert total + head - 2 * inactive_biases == pytest.approx(matmul_flops(arch), rel=1e-4)


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


# NemotronHBlock.forward (norm → mixer → residual) → NemotronHMamba2Mixer.torch_forward: in_proj, split, conv1d + SiLU,
# split x/B/C, then mamba2_chunk_scan (softplus(dt + dt_bias), B and C repeated to the heads, the decay), norm(y, z),
# out_proj
NEMOTRON_MAMBA = [
    "attn norm (pre)", "in_proj", "take gate z", "take xBC", "take dt", "causal conv1d", "activation (silu)",
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
