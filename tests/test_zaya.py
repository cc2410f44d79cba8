"""ZAYA (``zaya``, issue 15): its default config and variants that change every size it has, counted exactly against
the model transformers builds on the meta device, with each layer's window; the configs ``ZayaConfig`` refuses,
refused in one line; ``new`` and the Try page; the toy layer (compressed convolutional attention, the learned
residual adds, the router network with its skip class and, from the second layer on, the previous layer's router
state) against ``ZayaDecoderLayer`` in float64; the cache (K and V, the convolution window, the delayed value) and
the FLOPs of ZAYA1-8B derived by hand, the cache's shapes also read from a tiny model's ``DynamicCache``.
"""

from __future__ import annotations

import numpy as np
import pytest

from gallery.counts import total_params
from gallery.derive import FAMILIES, DerivationError, derive
from gallery.flops import attention_flops, matmul_flops
from gallery.kinds import router_mlp
from gallery.loader import load_spec
from gallery.memory import layer_caches
from gallery.toy import EXPERT_TOY, toy_forward, toy_trace

from .conftest import SPEC_DIR
from .reference import reference_model, reference_param_count
from .test_model_types import _arch, drafts_a_clean_spec, the_try_page_counts_it
from .test_toy import _model_with_toy_layer

# every width distinct, so a width read into the wrong place shows
SMALL = {"model_type": "zaya", "vocab_size": 500, "hidden_size": 96, "num_hidden_layers": 3, "num_attention_heads": 6,
         "num_key_value_heads": 2, "head_dim": 10, "moe_intermediate_size": 40, "num_experts": 5,
         "router_hidden_size": 12, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
SLIDING = ["hybrid_sliding", "hybrid", "hybrid_sliding"]
VARIANTS = {
    "default": None,
    "small": {},
    "4 layers": {"num_hidden_layers": 4},
    "MQA": {"num_key_value_heads": 1},
    "MHA": {"num_key_value_heads": 6},
    "head_dim 14": {"head_dim": 14},
    "taps 3 and 4": {"cca_time0": 3, "cca_time1": 4},
    "one tap each": {"cca_time0": 1, "cca_time1": 1},
    "biases": {"attention_bias": True},
    "head bias, untied": {"lm_head_bias": True, "tie_word_embeddings": False},
    "experts": {"num_experts": 7, "moe_intermediate_size": 24},
    "router width": {"router_hidden_size": 20},
    "sliding layers": {"layer_types": SLIDING, "sliding_window": 7},
    "rope_parameters": {"rope_parameters": {"hybrid": {"rope_type": "default", "rope_theta": 1e4,
                                                       "partial_rotary_factor": 0.25}}},
    "vocab": {"vocab_size": 777},
    "activation": {"hidden_act": "gelu"},
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_configs_are_exact(variant):
    config = {"model_type": "zaya"} if VARIANTS[variant] is None else SMALL | VARIANTS[variant]
    assert total_params(_arch(config)) == reference_param_count(config)


def test_windows_and_ropes_per_layer_are_transformers():
    config = SMALL | {"layer_types": SLIDING, "sliding_window": 7}
    arch, model = _arch(config), reference_model(config)
    assert [arch.blocks[k].mixer.window for k in arch.layers] == [
        layer.self_attn.sliding_window for layer in model.model.layers] == [7, None, 7]
    ropes = [arch.blocks[k].mixer.rope for k in arch.layers]
    assert [(r.theta, r.partial) for r in ropes] == [(1e4, 0.5), (5e6, 0.5), (1e4, 0.5)]  # ZayaConfig's defaults
    # the first layer's router has no router_states_scale (use_eda is false at layer 0)
    assert [arch.blocks[k].ffn.router.carry for k in arch.layers] == [
        layer.mlp.gate.use_eda for layer in model.model.layers] == [False, True, True]


def test_the_config_class_has_no_aliases():
    from transformers import ZayaConfig

    assert ZayaConfig.attribute_map == {} and FAMILIES["zaya"].aliases == {}


@pytest.mark.parametrize(("change", "why"), [
    ({"num_experts_per_tok": 2}, "accepts 1 only"),
    ({"layer_types": SLIDING}, "sliding_window is null"),
    ({"layer_types": ["hybrid", "full_attention", "hybrid"]}, r"layer_types\[1\]"),
    ({"rope_parameters": {"hybrid": {"rope_type": "default"}}}, "rope_parameters.hybrid"),
    ({"head_dim": 5, "num_key_value_heads": 1}, "must be even"),
    ({"cca_time0": "2"}, "cca_time0"),
    ({"cca_time1": 0}, "cca_time1"),
    ({"router_hidden_size": None}, "router_hidden_size"),
    ({"lm_head_bias": "yes"}, "lm_head_bias"),
    ({"layer_types": "hybrid"}, "layer_types"),
    ({"rope_parameters": {"hybrid": "x"}}, "rope_parameters.hybrid"),
    ({"num_hidden_layers": 10**9}, "num_hidden_layers"),
])
def test_bad_configs_are_refused_in_one_line(change, why):
    from gallery.trial import spec_from_config

    with pytest.raises((DerivationError, ValueError), match=why) as refused:
        spec_from_config(SMALL | change)
    assert "\n" not in str(refused.value)


def test_new_drafts_a_spec_that_lints_clean_and_the_try_page_reads_it(tmp_path, capsys):
    drafts_a_clean_spec(tmp_path, {"model_type": "zaya"}, capsys)
    the_try_page_counts_it({"model_type": "zaya"})


# --- the toy layer against ZayaDecoderLayer -------------------------------------------------------------------

SEQ = 6
RESIDUAL = {"output_scale": "hidden_states_scale", "output_bias": "hidden_states_bias",
            "residual_scale": "residual_scale", "residual_bias": "residual_bias"}
ROUTER = {"router.down_proj": "mlp.gate.down_proj", "router.states_scale": "mlp.gate.router_states_scale",
          "router.balancing_biases": "mlp.gate.balancing_biases", "router.norm": "mlp.gate.router_mlp.norm",
          "router.fc1": "mlp.gate.router_mlp.fc1", "router.fc2": "mlp.gate.router_mlp.fc2",
          "router.out_proj": "mlp.gate.router_mlp.out_proj"}


def _hf_state(w: dict, layer: int) -> dict[str, np.ndarray]:
    """The toy's weights under ZayaDecoderLayer's names; Linear weights stored (out, in), the depthwise conv
    (channels, 1, taps)."""
    p, out = f"model.layers.{layer}.", {}
    for name, value in w.items():
        base, _, kind = name.rpartition(".")
        if name.startswith(("experts.",)):
            continue
        if base in ("attn_residual", "ffn_residual"):
            hf = ("post_attention_residual_scale." if base == "attn_residual" else "post_mlp_residual_scale.")
            out[p + hf + RESIDUAL[kind]] = value
        elif name in ("attn_norm.weight", "ffn_norm.weight"):
            out[p + ("input_layernorm" if name == "attn_norm.weight" else "post_attention_layernorm") + ".weight"] = value
        elif name.startswith("router."):
            stem = name if name in ROUTER else base
            out[p + ROUTER[stem] + ("" if name in ROUTER else "." + kind)] = value.T if value.ndim == 2 else value
        elif base == "o_proj":
            out[p + "self_attn.o_proj." + kind] = value.T if kind == "weight" else value
        elif name == "qk_norm.temp":
            out[p + "self_attn.qk_norm.temp"] = value
        elif base == "conv_qk_depthwise" and kind == "weight":
            out[p + "self_attn.qkv_proj.conv_qk_depthwise.weight"] = value[:, None, :]
        else:  # the projections and the grouped conv, (channels, head_dim, taps) as stored
            out[p + "self_attn.qkv_proj." + name] = value.T if value.ndim == 2 else value
    g, u, d = w["experts.gate_proj.weight"], w["experts.up_proj.weight"], w["experts.down_proj.weight"]  # (E, in, out)
    return out | {p + "mlp.experts.gate_up_proj": np.concatenate([g, u], 2).transpose(0, 2, 1),
                  p + "mlp.experts.down_proj": d.transpose(0, 2, 1)}


def _toy_config(toy, layers: list[str]) -> dict:
    """ZAYA1-8B's structure at the toy's widths, with the given layer types."""
    block = toy.blocks[toy.layers[0]]
    m, f = block.mixer, block.ffn
    rope = {t: {"rope_type": "default", "rope_theta": m.rope.theta, "partial_rotary_factor": m.rope.partial}
            for t in ("hybrid", "hybrid_sliding")}
    return {"model_type": "zaya", "vocab_size": toy.vocab_size, "hidden_size": toy.d_model,
            "num_hidden_layers": len(layers), "layer_types": layers, "num_attention_heads": m.n_heads,
            "num_key_value_heads": m.n_kv_heads, "head_dim": m.head_dim, "cca_time0": m.conv_taps,
            "cca_time1": m.grouped_taps, "sliding_window": m.window or 3, "rope_parameters": rope,
            "num_experts": f.n_experts, "moe_intermediate_size": EXPERT_TOY, "router_hidden_size": f.router.mlp_width,
            "rms_norm_eps": toy.norm.eps, "attention_bias": m.bias}


@pytest.mark.parametrize(("layer", "bias"), [(0, False), (1, False), (1, True)])
def test_toy_layer_equals_transformers(bundled, monkeypatch, layer, bias):
    """The first layer (sliding: a window of 3 bites in 6 tokens; no previous router state) and the second (full;
    the previous layer's router state captured from the model and given to the toy), with and without the
    projections' biases (the delayed value of the first token is then the bias)."""
    import torch
    import transformers
    from transformers.utils import logging

    logging.set_verbosity_error()
    spec, config = bundled["zaya1-8b"]
    layers = ["hybrid_sliding", "hybrid"]
    arch = _arch(config | {"attention_bias": bias, "layer_types": layers * 20, "sliding_window": 4096})
    toy = toy_trace(arch, layer, SEQ, seed=3)
    cfg = _toy_config(toy.arch, layers[:layer + 1])
    derived = derive(cfg).arch
    block = toy.arch.blocks[toy.arch.layers[0]]
    assert type(block).model_validate(derived["blocks"][derived["layers"][layer]], strict=False) == block

    hf_config = transformers.CONFIG_MAPPING["zaya"].from_dict(cfg)
    hf_config._attn_implementation = "eager"
    model = _model_with_toy_layer(hf_config, _hf_state(toy.weights, layer), f"model.layers.{layer}.")
    seen = {}

    def hook(module, args, kwargs, output):
        seen["in"], seen["router"], seen["out"] = args[0], args[1], output[0]

    handle = model.model.layers[layer].register_forward_hook(hook, with_kwargs=True)
    x = torch.from_numpy(np.random.default_rng(7).standard_normal((1, SEQ, toy.arch.d_model)))
    with torch.no_grad():
        model(inputs_embeds=x, use_cache=False)
    handle.remove()
    if layer:  # the toy's stand-in for the previous layer's router state: the one the model passed on
        monkeypatch.setattr(router_mlp, "previous_state", lambda T, width: seen["router"][0].double().numpy())
    else:
        assert seen["router"] is None
    steps = toy_forward(toy.arch, toy.weights, seen["in"][0].double().numpy())
    # ZayaRMSNorm (the layer's norms and the router's) computes in float32 whatever the model's dtype
    np.testing.assert_allclose(steps[-1].value, seen["out"][0].numpy(), rtol=1e-6, atol=1e-6)


# --- cache and FLOPs by hand -----------------------------------------------------------------------------------


def test_zaya1_8b_cache_by_hand():
    """Per layer, per token: K and V of 2 KV heads of 128, 2 × 2 × 128 = 512 elements. Per sequence: the window of
    (cca_time0 − 1) + (cca_time1 − 1) = 2 earlier inputs of the (8 + 2) × 128 = 1,280 convolved channels, 2,560, and
    the previous token's delayed value projection, 2 × 128 / 2 = 128: 2,688."""
    spec = load_spec(SPEC_DIR / "zaya1-8b.yaml").spec
    caches = layer_caches(spec.arch)
    assert sum(c.n_layers for c in caches) == 40
    for c in caches:
        assert (c.elements_per_token, c.window, c.state_elements) == (512, None, 2_688)
        assert c.elements(1_000) == 1_000 * 512 + 2_688


def test_the_cache_shapes_are_transformers_dynamic_cache():
    """A tiny model's cache after a prefill of 5 tokens: K and V of (kv heads, tokens, head_dim), the conv state
    (channels, taps − 1 + taps − 1) and the delayed value (kv heads × head_dim / 2) per layer."""
    import torch
    from transformers import AutoModelForCausalLM

    config = SMALL | {"cca_time0": 3, "cca_time1": 2}
    arch = _arch(config)
    model = AutoModelForCausalLM.from_config(reference_config(config)).eval()
    with torch.no_grad():
        cache = model(input_ids=torch.arange(5)[None], use_cache=True).past_key_values
    m = arch.blocks[arch.layers[0]].mixer
    [c] = [c for c in layer_caches(arch) if c.kind == arch.layers[0]]
    layer = cache.layers[0]
    k, v = layer.keys, layer.values
    conv, delayed = cache.get_conv_state(0, state_idx=0), cache.get_recurrent_state(0, state_idx=0)
    assert k.shape[1:] == v.shape[1:] == (2, 5, 10)
    assert c.elements_per_token == k[0, :, 0].numel() + v[0, :, 0].numel()
    assert conv.shape[1:] == (m.channels, 3) and delayed.shape[1:] == (10,)
    assert c.state_elements == conv[0].numel() + delayed[0].numel() == (6 + 2) * 10 * 3 + 10


def reference_config(config: dict):
    import transformers

    return transformers.CONFIG_MAPPING["zaya"].from_dict(config)


def test_zaya1_8b_flops_by_hand():
    """2 FLOPs per weight a token multiplies with: per layer q 2,048 × 1,024, k 2,048 × 256, the two value halves
    2,048 × 128 each, o 1,024 × 2,048, the depthwise conv 1,280 × 2 and the grouped one 1,280 × 128 × 2; the router's
    down_proj 2,048 × 256, fc1 and fc2 256 × 256, out_proj 256 × 17; one expert 3 × 2,048 × 2,048; and the tied head
    262,272 × 2,048. Attention over a context of C: 2 × 8 heads × (128 + 128) × C per layer."""
    spec = load_spec(SPEC_DIR / "zaya1-8b.yaml").spec
    attn = 2048 * 1024 + 2048 * 256 + 2 * 2048 * 128 + 1024 * 2048 + 1280 * 2 + 1280 * 128 * 2
    router = 2048 * 256 + 2 * 256 * 256 + 256 * 17
    layer = attn + router + 3 * 2048 * 2048
    assert matmul_flops(spec.arch) == 2 * (40 * layer + 262_272 * 2048)
    assert attention_flops(spec.arch, 4096) == 40 * 2 * 8 * 256 * 4096
