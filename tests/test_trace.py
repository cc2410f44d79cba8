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
