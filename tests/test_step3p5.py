"""Step 3.5 Flash (``step3p5``): every spelling ``Step3p7TextConfig`` reads, against the model transformers builds.

Variants of a small config exercise each key the family reads: MoE layers from ``moe_layers_enum`` (a string or a
list), from ``mlp_layer_types`` (which wins), or by default; lists padded with the MTP layers' entries; the sliding
layers' query heads from ``attention_other_setting``, ``num_sliding_attention_heads`` or a saved
``per_layer_config``; per-layer RoPE lists; the aliases of ``attribute_map``; biases and tying. Each is compared
with ``Step3p7TextModel`` + head on the meta device: the count, and layer by layer the heads, the gate, the MLP
kind and the RoPE each layer type gets. Bad lists are one-line errors naming the key and the layer.
"""

from __future__ import annotations

import json

import pytest

from gallery.counts import total_params
from gallery.derive import DerivationError, derive, derive_arch

from .reference import reference_model, reference_param_count

N = 5
TYPES = ["full_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention"]
SMALL = {
    "model_type": "step3p5", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": N,
    "num_attention_heads": 4, "num_attention_groups": 2, "head_dim": 16, "moe_intermediate_size": 24,
    "share_expert_dim": 20, "moe_num_experts": 6, "moe_top_k": 2, "sliding_window": 8, "layer_types": TYPES,
    "attention_other_setting": {"attention_type": "sliding_attention", "num_attention_heads": 8,
                                "num_attention_groups": 2, "head_dim": 16, "true_head_dim": 16},
    "moe_layers_enum": "2,3,4", "rope_theta": [5e6, 1e4, 1e4, 5e6, 1e4], "partial_rotary_factors": [0.5, 1, 1, 0.5, 1],
    "rope_scaling": {"rope_type": "llama3", "factor": 2.0, "original_max_position_embeddings": 64,
                     "low_freq_factor": 1.0, "high_freq_factor": 32.0},
    "max_position_embeddings": 256, "moe_router_scaling_factor": 3.0, "pad_token_id": 0,
}
MTP = 2  # padded lists: the MTP layers' entries trail the decoder layers'
VARIANTS = {
    "small": {},
    "moe_layers_enum list": {"moe_layers_enum": [1, 4]},
    "moe_layers_enum absent: layers 3 on": {"moe_layers_enum": None},
    "mlp_layer_types wins": {"mlp_layer_types": ["sparse", "dense", "sparse", "dense", "dense"]},
    "padded with MTP entries": {"num_nextn_predict_layers": MTP, "layer_types": TYPES + ["full_attention"] * MTP,
                                "rope_theta": [5e6, 1e4, 1e4, 5e6, 1e4, 5e6, 5e6],
                                "partial_rotary_factors": [0.5, 1, 1, 0.5, 1, 0.5, 0.5],
                                "swiglu_limits": [0, 0, 0, 7, 7, 0, 0], "swiglu_limits_shared": [0, 5, 0, 0, 16, 0, 0],
                                "moe_layers_enum": "3,4,5,6"},
    "num_sliding_attention_heads": {"num_sliding_attention_heads": 2, "attention_other_setting": None},
    "no attention_other_setting": {"attention_other_setting": None},
    "one rope_theta": {"rope_theta": 20000.0, "partial_rotary_factors": None, "rope_scaling": None},
    "layer_types absent: all full": {"layer_types": None},
    "names of the config class": {"num_key_value_heads": 1, "n_routed_experts": 5, "num_experts_per_tok": 3,
                                  "share_expert_dim": 12, "num_attention_groups": None, "moe_num_experts": None,
                                  "moe_top_k": None, "attention_other_setting": None, "num_sliding_attention_heads": 6},
    "biases and tied": {"attention_bias": True, "mlp_bias": True, "tie_word_embeddings": True},
    "query_pre_attn_scalar": {"query_pre_attn_scalar": 32},
}


def _config(change: dict) -> dict:
    return {k: v for k, v in (SMALL | change).items() if v is not None}


def _block(arch, i):
    return arch.blocks[arch.layers[i]]


def _check(config: dict):
    arch = derive_arch(config)
    model = reference_model(config)
    assert total_params(arch) == reference_param_count(config)
    hf = model.config
    for i, layer in enumerate(model.model.layers):
        block, attn = _block(arch, i), layer.self_attn
        assert (block.mixer.n_heads, block.mixer.n_kv_heads, block.mixer.head_dim) == (
            attn.num_heads, attn.k_proj.out_features // attn.head_dim, attn.head_dim)
        assert block.mixer.gate.per == "head" and attn.g_proj.out_features == attn.num_heads
        assert block.mixer.window == attn.sliding_window
        assert (block.mixer.scale or block.mixer.head_dim ** -0.5) == pytest.approx(attn.scaling)
        assert (block.ffn.kind == "moe") == hasattr(layer.mlp, "experts")
        inf = float("inf")  # Step3p7MLP / Step3p7Experts: no clamp is a limit of infinity
        if block.ffn.kind == "moe":
            assert ((block.ffn.clamp or inf), (block.ffn.shared_clamp or inf)) == (
                layer.mlp.experts.limit, layer.mlp.shared_experts.limit)
        else:
            assert (block.ffn.clamp or inf) == layer.mlp.limit
        params = hf.rope_parameters[hf.layer_types[i]]
        rope = block.mixer.rope
        assert (rope.theta, rope.partial) == (params["rope_theta"], params.get("partial_rotary_factor", 1.0))
        assert (rope.scaling.type if rope.scaling else "default") == params["rope_type"]
        inv_freq = getattr(model.model.rotary_emb, f"{hf.layer_types[i]}_inv_freq")
        assert 2 * inv_freq.shape[0] == int(rope.partial * block.mixer.head_dim)
    return arch, model


@pytest.mark.parametrize("change", VARIANTS.values(), ids=VARIANTS)
def test_each_spelling_reads_as_transformers_builds(change):
    _check(_config(change))


def test_the_bundled_layout_is_what_transformers_builds(bundled):
    """Step 3.5 Flash: 3 dense layers, 96 query heads on sliding layers, the head untied; 196,956,118,272 parameters
    = the text model 196,428,160,256 + the head 128,896 × 4,096."""
    spec, config = bundled["step-3.5-flash"]
    model = reference_model(config)
    assert sum(p.numel() for p in model.model.parameters()) == 196_428_160_256
    assert model.lm_head.weight.numel() == 128_896 * 4_096 == 527_958_016
    assert total_params(spec.arch) == 196_956_118_272
    built = [("moe" if hasattr(layer.mlp, "experts") else "dense", layer.self_attn.num_heads)
             for layer in model.model.layers]
    assert [(b.ffn.kind.replace("mlp", "dense"), b.mixer.n_heads) for b in map(spec.arch.blocks.get,
                                                                               spec.arch.layers)] == built
    assert built[:4] == [("dense", 64), ("dense", 96), ("dense", 96), ("moe", 96)] and len(built) == 45


def test_a_config_saved_by_transformers_reads_the_same():
    """``Step3p7TextConfig.to_dict()`` writes per_layer_config, rope_parameters per type and the cut lists."""
    import transformers

    config = _config({})
    saved = json.loads(json.dumps(transformers.CONFIG_MAPPING["step3p5"].from_dict(config).to_dict()))
    assert "per_layer_config" in saved and "sliding_attention" in saved["rope_parameters"]
    assert derive(saved).arch == derive(config).arch
    _check(saved)


@pytest.mark.parametrize(("change", "message"), [
    ({"layer_types": TYPES[:-1] + ["chunked_attention"]},
     "layer_types[4]: 'chunked_attention' at layer 4 is not a layer type step3p5 builds; accepted: 'full_attention'"),
    ({"layer_types": TYPES[:4]}, "layer_types: 4 entries for 5 layers"),
    ({"mlp_layer_types": ["dense"] * 4 + ["moe"]}, "mlp_layer_types[4]: 'moe' at layer 4 is not a layer type"),
    ({"moe_layers_enum": "2,x"}, "moe_layers_enum: \"x\" is not a layer index; accepted: 0 to 4"),
    ({"moe_layers_enum": [9]}, "moe_layers_enum: 9 is not a layer index"),
    ({"rope_theta": [1e4] * 6}, "rope_theta: 6 entries for 5 layers"),
    ({"rope_theta": [1e4, "1e4", 1e4, 1e4, 1e4]}, "rope_theta[1]: \"1e4\" is not a number above 0"),
    ({"partial_rotary_factors": [0.5, 1, 1, 1.5, 1]}, "partial_rotary_factors[3]: 1.5 is not a number above 0 up to 1"),
    ({"swiglu_limits": [0, 0, "7", 0, 0]}, "swiglu_limits[2]: \"7\" at layer 2 is not a limit"),
    ({"attention_other_setting": {"num_attention_heads": 8, "num_attention_groups": 4}},
     "attention_other_setting.num_attention_groups: 4 differs from the model's 2; transformers reads only its "
     "num_attention_heads"),
    ({"sink": True}, "sink: true, but transformers (Step3p7TextModel) ignores it"),
    ({"use_head_wise_attn_gate": False}, "use_head_wise_attn_gate: false, but transformers"),
])
def test_bad_per_layer_entries_are_one_line_errors(change, message):
    with pytest.raises(DerivationError) as err:
        derive_arch(_config(change))
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("context", [1, 512, 513, 262_144])
def test_cache_is_full_layers_per_token_and_sliding_layers_capped_at_the_window(bundled, context):
    """By hand from the config: every layer caches K and V of 8 KV heads × 128 dims per token (bf16); the 33 sliding
    layers keep at most their 512-token window, the 12 full layers every token."""
    from gallery.memory import kv_bytes

    spec, config = bundled["step-3.5-flash"]
    per_token = 2 * config["num_attention_groups"] * config["head_dim"] * 2  # K and V, bf16
    full = config["layer_types"][:config["num_hidden_layers"]].count("full_attention")
    sliding = config["num_hidden_layers"] - full
    assert (full, sliding) == (12, 33)
    expected = per_token * (full * context + sliding * min(context, config["sliding_window"]))
    assert kv_bytes(spec.arch, context) == expected
