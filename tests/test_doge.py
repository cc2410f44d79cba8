"""Doge (``doge``, issue 15): its default configs (dense, and is_moe with 16,384 experts) and variants that change every
size it has, counted exactly against the model transformers builds on the meta device; the configs it refuses,
refused in one line; ``new`` and the Try page; the toy layer (dynamic-mask attention with its top-k of keys, the
learned residual weights, the cross-domain MoE with the router's token-mixing ``view(2, T, K)``) against
``DogeDecoderLayer`` in float64; the op order written out from the modeling code; the cache and the FLOPs of the
bundled Doge 40M MoE derived by hand, the cache also read from a tiny model's ``DynamicCache``.
"""

from __future__ import annotations

import numpy as np
import pytest

from gallery.counts import active_params, total_params
from gallery.derive import FAMILIES, DerivationError, derive
from gallery.flops import attention_flops, matmul_flops
from gallery.loader import load_spec
from gallery.memory import layer_caches
from gallery.toy import toy_forward, toy_trace
from gallery.trace import trace

from .conftest import SPEC_DIR
from .reference import reference_param_count
from .test_model_types import _arch, drafts_a_clean_spec, the_try_page_counts_it
from .test_toy import _model_with_toy_layer

# every width distinct, so a width read into the wrong place shows
SMALL = {"model_type": "doge", "vocab_size": 500, "hidden_size": 96, "intermediate_size": 40, "num_hidden_layers": 3,
         "num_attention_heads": 6, "num_key_value_heads": 2}
MOE = {"is_moe": True, "num_experts": 50, "num_experts_per_tok": 5}  # ⌊√50⌋ = 7 keys a half: 49 product pairs
VARIANTS = {
    "default": {"model_type": "doge"},
    "default MoE (16,384 experts, top-64)": {"model_type": "doge", "is_moe": True},
    "small": SMALL,
    "small MoE": SMALL | MOE,
    "4 layers": SMALL | MOE | {"num_hidden_layers": 4},
    "MQA": SMALL | {"num_key_value_heads": 1},
    "MHA": SMALL | {"num_key_value_heads": 6},
    "KV heads null (MHA)": SMALL | {"num_key_value_heads": None},
    "head_dim 10": SMALL | MOE | {"head_dim": 10},
    "width": SMALL | MOE | {"hidden_size": 120, "intermediate_size": 56},
    "heads": SMALL | {"num_attention_heads": 12, "num_key_value_heads": 4},
    "biases": SMALL | MOE | {"attention_bias": True, "mlp_bias": True},
    "dense biases": SMALL | {"attention_bias": True, "mlp_bias": True},
    "experts, a square": SMALL | MOE | {"num_experts": 64, "num_experts_per_tok": 64},
    "top-1": SMALL | MOE | {"num_experts_per_tok": 1},
    "tied": SMALL | MOE | {"tie_word_embeddings": True},
    "vocab": SMALL | {"vocab_size": 777},
    "window": SMALL | MOE | {"sliding_window": 7, "keep_window_size": 5},
    "renormalised": SMALL | MOE | {"norm_topk_prob": True},
    "activation": SMALL | MOE | {"hidden_act": "gelu"},
    "rope_parameters": SMALL | {"rope_parameters": {"rope_type": "default", "rope_theta": 5e5}},
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_configs_are_exact(variant):
    config = VARIANTS[variant]
    assert total_params(_arch(config)) == reference_param_count(config)


def test_active_parameters_by_hand():
    """The default MoE config: of its 16,384 single-neuron experts a token uses 64, each a row of down_embed and one
    of up_embed (1,024 each), so 32 layers × (16,384 − 64) × 2 × 1,024 parameters sit idle."""
    arch = _arch(VARIANTS["default MoE (16,384 experts, top-64)"])
    total = reference_param_count(VARIANTS["default MoE (16,384 experts, top-64)"])
    assert active_params(arch) == total - 32 * (16_384 - 64) * 2 * 1024
    dense = _arch(VARIANTS["default"])
    assert active_params(dense) == total_params(dense)


def test_the_config_class_has_no_aliases():
    from transformers import DogeConfig

    assert DogeConfig.attribute_map == {} and FAMILIES["doge"].aliases == {}


@pytest.mark.parametrize(("change", "why"), [
    ({"keep_window_size": 0}, "keep_window_size"),
    ({"keep_window_size": "2048"}, "keep_window_size"),
    ({"is_moe": "yes"}, "is_moe"),
    (MOE | {"num_experts_per_tok": 50}, "top_k"),
    (MOE | {"num_experts_per_tok": None}, "num_experts_per_tok"),
    (MOE | {"num_experts": 0}, "num_experts"),
    ({"head_dim": None}, "head_dim"),
    ({"sliding_window": "64"}, "sliding_window"),
    ({"norm_topk_prob": 1} | MOE, "norm_topk_prob"),
    ({"num_hidden_layers": 10**9}, "num_hidden_layers"),
])
def test_bad_configs_are_refused_in_one_line(change, why):
    from gallery.trial import spec_from_config

    with pytest.raises((DerivationError, ValueError), match=why) as refused:
        spec_from_config(SMALL | change)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("config", [{"model_type": "doge"}, {"model_type": "doge", "is_moe": True}],
                         ids=["dense", "moe"])
def test_new_drafts_a_spec_that_lints_clean_and_the_try_page_reads_it(tmp_path, capsys, config):
    drafts_a_clean_spec(tmp_path, config, capsys)
    the_try_page_counts_it(config)


# --- the layer's operations, in the order DogeDecoderLayer runs them ---------------------------------------------

# DogeDecoderLayer.forward → DogeAttention.forward (q_norm/k_norm before RoPE; the mask from the values after it;
# prepare_dynamic_mask; repeat_kv; eager_attention_forward adds the mask after the scale) → input_residual · residual
# + attn → DogeCDMoE.forward (router_gate, view(2, T, K), product keys, top-k, softmax, the experts' embeddings, then
# the MLP and the sum) → post_attention_residual · residual + mlp
ATTENTION = ["attn norm (pre)", "q_proj", "k_proj", "v_proj", "split Q heads", "split K heads", "split V heads",
             "q_norm", "k_norm", "RoPE on Q", "RoPE on K", "merge V for dt", "dt_proj", "dynamic bias",
             "repeat K heads", "repeat V heads", "scores = Q·Kᵀ", "scale", "dynamic mask bias", "mask",
             "subtract row max", "softmax", "weights × V", "merge heads", "o_proj", "residual add"]
CDMOE = ["ffn norm (pre)", "router logits", "view(2, T, K)", "product-key scores", "top-k", "softmax",
         "expert inputs", "act × weight", "expert outputs", "gate_proj", "up_proj", "activation (silu)", "a ⊙ u",
         "down_proj", "add experts", "residual add"]


def test_the_op_order_is_doge_decoder_layers(bundled):
    spec, _ = bundled["doge-40m-moe"]
    steps = trace(spec, 0, 9)
    assert [s.op for s in steps] == ATTENTION + CDMOE
    by_op = {s.op: s for s in steps}
    assert by_op["view(2, T, K)"].out_shape == (2, 9, 32)  # ⌊√1,024⌋ = 32 keys a half
    assert by_op["product-key scores"].out_shape == (9, 1024)
    assert by_op["expert inputs"].flops == 2 * 9 * 8 * 256  # 8 rows of down_embed a token, 256 each
    assert by_op["dynamic bias"].in_shape == (9, 1) and by_op["dynamic bias"].out_shape == (1, 9)
    dense = trace(_arch(SMALL), 0, 5)
    assert [s.op for s in dense][-7:] == ["ffn norm (pre)", "gate_proj", "up_proj", "activation (silu)", "a ⊙ u",
                                          "down_proj", "residual add"]


# --- the toy layer against DogeDecoderLayer ----------------------------------------------------------------------

SEQ = 6  # more than the toy's keep_window_size of 3: the top-k of keys bites
ATTN = {"q_proj", "k_proj", "v_proj", "o_proj", "dt_proj", "q_norm", "k_norm"}
MLP = {"gate_proj", "up_proj", "down_proj", "router_gate"}
RENAMED = {"attn_norm.weight": "input_layernorm.weight", "ffn_norm.weight": "post_attention_layernorm.weight",
           "attn_residual.residual_scale": "input_residual", "ffn_residual.residual_scale": "post_attention_residual",
           "A": "self_attn.A", "experts.down_embed.weight": "mlp.down_embed.weight",
           "experts.up_embed.weight": "mlp.up_embed.weight"}


def _hf_state(w: dict) -> dict[str, np.ndarray]:
    """The toy's weights under DogeDecoderLayer's names; Linear weights stored (out, in)."""
    out = {}
    for name, value in w.items():
        base = name.split(".")[0]
        if name in RENAMED:
            hf = RENAMED[name]
        else:
            hf = ("self_attn." if base in ATTN else "mlp.") + name
            assert base in ATTN | MLP, name
        out["model.layers.0." + hf] = value.T if value.ndim == 2 and name not in RENAMED else value
    return out


def _toy_config(toy) -> dict:
    """The toy's widths as a DogeConfig."""
    block = toy.blocks[toy.layers[0]]
    m, f = block.mixer, block.ffn
    moe = {"is_moe": True, "num_experts": f.n_experts, "num_experts_per_tok": f.top_k,
           "norm_topk_prob": f.normalize_topk} if hasattr(f, "n_experts") else {}
    return {"model_type": "doge", "vocab_size": toy.vocab_size, "hidden_size": toy.d_model, "num_hidden_layers": 1,
            "intermediate_size": f.d_ff, "num_attention_heads": m.n_heads, "num_key_value_heads": m.n_kv_heads,
            "head_dim": m.head_dim, "keep_window_size": m.dynamic_mask.keep_window_size, "sliding_window": m.window,
            "attention_bias": m.qkv_bias, "mlp_bias": f.bias, "rms_norm_eps": toy.norm.eps,
            "rope_parameters": {"rope_type": "default", "rope_theta": m.rope.theta}} | moe


@pytest.mark.parametrize("change", [
    {"is_moe": True, "attention_bias": True, "mlp_bias": True, "num_key_value_heads": 2},
    {"num_key_value_heads": 8},
    {"is_moe": True, "sliding_window": 64, "norm_topk_prob": True, "num_key_value_heads": 1},
], ids=["moe-gqa-biases", "dense-mha", "moe-mqa-window"])
def test_toy_layer_equals_transformers(change):
    """The dynamic mask (its bias on the scores and the 3 kept keys of 6), the learned residual weights and the
    cross-domain MoE, whose router reads its halves from the flat (T, 2K) logits as transformers does."""
    import torch
    import transformers
    from transformers.utils import logging

    logging.set_verbosity_error()
    toy = toy_trace(_arch({"model_type": "doge"} | change), 0, SEQ, seed=3)
    cfg = _toy_config(toy.arch)
    derived = derive(cfg).arch
    block = toy.arch.blocks[toy.arch.layers[0]]
    assert type(block).model_validate(derived["blocks"][derived["layers"][0]], strict=False) == block

    model = _model_with_toy_layer(transformers.CONFIG_MAPPING["doge"].from_dict(cfg), _hf_state(toy.weights),
                                  "model.layers.0.")
    seen = {}

    def hook(module, args, kwargs, output):
        seen["in"], seen["out"] = args[0], output

    handle = model.model.layers[0].register_forward_hook(hook, with_kwargs=True)
    x = torch.from_numpy(np.random.default_rng(7).standard_normal((1, SEQ, toy.arch.d_model)))
    with torch.no_grad():
        model(inputs_embeds=x, use_cache=False)
    handle.remove()
    steps = toy_forward(toy.arch, toy.weights, seen["in"][0].double().numpy())
    # DogeRMSNorm (the layer's norms, q_norm and k_norm) computes in float32 whatever the model's dtype
    np.testing.assert_allclose(steps[-1].value, seen["out"][0].numpy(), rtol=1e-6, atol=1e-6)
    mask = next(s for s in steps if s.op == "mask").value
    kept = np.isfinite(mask).sum(-1)  # keys each query keeps: all it may see up to 3, then 3
    window = block.mixer.window or SEQ
    assert (kept == np.minimum(np.minimum(np.arange(SEQ) + 1, window), 3)[None, :]).all()


def test_the_router_reads_its_halves_across_tokens():
    """router_logits.view(2, T, K) of the (T, 2K) logits: row t of the first half is half of token ⌊t/2⌋'s scores,
    row t of the second half half of token ⌊(T + t)/2⌋'s."""
    toy = toy_trace(_arch({"model_type": "doge", "is_moe": True}), 0, SEQ, seed=1)
    steps = {s.op: s.value for s in toy.steps}
    z, halves, K = steps["router logits"], steps["view(2, T, K)"], 3
    for t in range(SEQ):
        for half in range(2):
            flat = half * SEQ + t  # the row of the flat (2T, K) block
            np.testing.assert_array_equal(halves[half][t], z[flat // 2, flat % 2 * K:(flat % 2 + 1) * K])


# --- cache and FLOPs by hand ------------------------------------------------------------------------------------


def test_doge_40m_moe_cache_by_hand():
    """Per layer, per token: K and V of one KV head of 128, 2 × 1 × 128 = 256 elements, for every token (the top-k
    of keys changes as tokens come, so every key stays); nothing else kept."""
    spec = load_spec(SPEC_DIR / "doge-40m-moe.yaml").spec
    caches = layer_caches(spec.arch)
    assert sum(c.n_layers for c in caches) == 8
    for c in caches:
        assert (c.elements_per_token, c.window, c.state_elements) == (256, None, 0)
        assert c.elements(5_000) == 5_000 * 256


def test_the_cache_is_transformers_dynamic_cache():
    """A tiny model's cache after a prefill of 5 tokens: K and V of (kv heads, tokens, head_dim) per layer."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    config = SMALL | MOE
    model = AutoModelForCausalLM.from_config(transformers.CONFIG_MAPPING["doge"].from_dict(config)).eval()
    with torch.no_grad():
        cache = model(input_ids=torch.arange(5)[None], use_cache=True).past_key_values
    [c] = layer_caches(_arch(config))
    assert len(cache.layers) == c.n_layers == 3
    k, v = cache.layers[0].keys, cache.layers[0].values
    assert k.shape[1:] == v.shape[1:] == (2, 5, 16)
    assert c.elements_per_token == k[0, :, 0].numel() + v[0, :, 0].numel() == 64


def test_doge_40m_moe_flops_by_hand():
    """2 FLOPs per weight a token multiplies with: per layer q 256 × 256, k and v 256 × 128 each, dt_proj 128 × 1,
    o 256 × 256, router_gate 256 × 64, the MLP 3 × 256 × 768, and 8 experts of a 256 row in and a 256 row out; and
    the tied head 128,256 × 256. Attention over a context of C: 2 × 2 heads × (128 + 128) × C per layer (the eager
    code scores every key, kept or not)."""
    spec = load_spec(SPEC_DIR / "doge-40m-moe.yaml").spec
    layer = 256 * 256 + 2 * 256 * 128 + 128 + 256 * 256 + 256 * 64 + 3 * 256 * 768 + 8 * 2 * 256
    assert matmul_flops(spec.arch) == 2 * (8 * layer + 128_256 * 256)
    assert attention_flops(spec.arch, 4096) == 8 * 2 * 2 * 256 * 4096
