"""Model types of issue 15 that add an attention or MLP option to the kinds, or arrange existing ones their own way:
Apertus (xIELU, two learned scalars per MLP), GPT-NeoX Japanese (a bias on the last layer's attention output only),
Persimmon (a LayerNorm with bias on queries and keys), BitNet (a norm inside the attention and inside the MLP), each compared with the model transformers builds on the meta device, exactly: the default config (or, where
transformers cannot build it, the smallest complete one), variants that change every size the config has, and
configs spelled with the config class's attribute_map aliases. Each new option's toy layer is checked against the
same layer in transformers (float64), and its parameters and FLOPs are derived by hand here. None of these config
classes has an attribute_map (no aliases to test)."""

from __future__ import annotations

import numpy as np
import pytest

from gallery.counts import total_params
from gallery.derive import DerivationError, derive
from gallery.flops import flops_per_token
from gallery.toy import toy_forward, toy_trace
from gallery.trace import trace

from .test_model_types import _arch, _reference, default_config_is_exact, drafts_a_clean_spec, exact_or_refused_alike, \
    the_try_page_counts_it
from .test_model_types_hybrid import _toy_equals_transformers
from .test_toy import SEQ, _layer_io, _renamed

TYPES = ["apertus", "gpt_neox_japanese", "persimmon", "bitnet"]
SMALLEST: dict[str, dict] = {}

_SMALL = {
    "apertus": {"vocab_size": 500, "hidden_size": 96, "intermediate_size": 160, "num_attention_heads": 6,
                "num_key_value_heads": 2, "num_hidden_layers": 3},
    "gpt_neox_japanese": {"vocab_size": 500, "hidden_size": 96, "num_attention_heads": 6, "num_hidden_layers": 3,
                          "intermediate_multiple_size": 2, "max_position_embeddings": 100},
    "persimmon": {"vocab_size": 500, "hidden_size": 96, "num_attention_heads": 6, "num_hidden_layers": 3,
                  "intermediate_size": 160, "max_position_embeddings": 100},
    "bitnet": {"vocab_size": 500, "hidden_size": 96, "intermediate_size": 160, "num_attention_heads": 6,
               "num_key_value_heads": 2, "num_hidden_layers": 3},
}
VARIANTS = {
    "apertus": {
        "small": {}, "mha": {"num_key_value_heads": 6}, "mqa": {"num_key_value_heads": 1},
        "kv default": {"num_key_value_heads": None}, "width": {"hidden_size": 48}, "d_ff": {"intermediate_size": 72},
        "5 layers": {"num_hidden_layers": 5}, "vocab": {"vocab_size": 777}, "tied": {"tie_word_embeddings": True},
        "bias": {"attention_bias": True}, "relu2": {"hidden_act": "relu2"}, "gelu": {"hidden_act": "gelu"},
        "rope": {"rope_parameters": {"rope_type": "default", "rope_theta": 1e6}},
    },
    "gpt_neox_japanese": {
        "small": {}, "width": {"hidden_size": 48}, "heads": {"num_attention_heads": 12}, "vocab": {"vocab_size": 777},
        "1 layer": {"num_hidden_layers": 1}, "5 layers": {"num_hidden_layers": 5}, "untied": {"tie_word_embeddings": False},
        "d_ff": {"intermediate_multiple_size": 3}, "activation": {"hidden_act": "relu"},
        "rope": {"rotary_emb_base": 5000, "rotary_pct": 0.25}, "positions": {"max_position_embeddings": 333},
    },
    "persimmon": {
        "small": {}, "width": {"hidden_size": 48}, "heads": {"num_attention_heads": 12}, "vocab": {"vocab_size": 777},
        "5 layers": {"num_hidden_layers": 5}, "tied": {"tie_word_embeddings": True}, "d_ff": {"intermediate_size": 72},
        "no qk layernorm": {"qk_layernorm": False}, "activation": {"hidden_act": "gelu"},
        "partial rope": {"partial_rotary_factor": 0.25}, "rope": {"rope_parameters": {"rope_type": "default",
                                                                                   "rope_theta": 5000.0}},
        "heads do not divide": {"num_attention_heads": 7},  # transformers raises, derive refuses
    },
    "bitnet": {
        "small": {}, "mha": {"num_key_value_heads": 6}, "mqa": {"num_key_value_heads": 1},
        "kv default": {"num_key_value_heads": None}, "width": {"hidden_size": 48}, "d_ff": {"intermediate_size": 72},
        "5 layers": {"num_hidden_layers": 5}, "vocab": {"vocab_size": 777}, "tied": {"tie_word_embeddings": True},
        "bias": {"attention_bias": True}, "silu": {"hidden_act": "silu"},
    },
}


@pytest.mark.parametrize("model_type", TYPES)
def test_default_config_is_exact(model_type):
    default_config_is_exact(model_type, SMALLEST.get(model_type), "")


@pytest.mark.parametrize(("model_type", "variant"), [(t, v) for t in TYPES for v in VARIANTS[t]])
def test_varied_configs_are_exact(model_type, variant):
    exact_or_refused_alike({"model_type": model_type, **_SMALL[model_type], **VARIANTS[model_type][variant]})


@pytest.mark.parametrize("model_type", TYPES)
def test_new_drafts_a_clean_spec_and_the_try_page_counts_it(tmp_path, model_type, capsys):
    drafts_a_clean_spec(tmp_path, {"model_type": model_type} | SMALLEST.get(model_type, {}), capsys)
    the_try_page_counts_it({"model_type": model_type, **_SMALL[model_type]})


# --- Apertus: the xIELU MLP ---------------------------------------------------------------------------------------

def test_xielu_parameters_and_flops_by_hand():
    """Each layer's activation holds alpha_p and alpha_n (XIELUActivation), and costs about 8 FLOPs per hidden
    element in the trace; per token, FLOPs count the weights a token multiplies (2 each), and the two scalars are
    elementwise, left out like the activation itself: the same FLOPs as any other activation."""
    config = {"model_type": "apertus", **_SMALL["apertus"]}
    arch, relu2 = _arch(config), _arch(config | {"hidden_act": "relu2"})
    assert total_params(arch) - total_params(relu2) == 2 * 3  # two scalars in each of 3 layers
    steps = trace(arch, 0, 10)
    (act,) = [s for s in steps if s.op == "activation (xielu)"]
    assert act.flops == 8 * 10 * 160 and act.n_params == 2
    assert flops_per_token(arch, 1) == flops_per_token(relu2, 1)


_APERTUS_NAMES = {"attn_norm": "attention_layernorm", "ffn_norm": "feedforward_layernorm", "act_fn": "mlp.act_fn"} | {
    k: f"self_attn.{k}" for k in ("q_proj", "k_proj", "v_proj", "o_proj", "q_norm", "k_norm")} | {
    k: f"mlp.{k}" for k in ("up_proj", "down_proj")}


@pytest.mark.parametrize("seed", [3, 4])
def test_apertus_toy_layer_equals_transformers(seed):
    """The toy's xIELU MLP (its scalars drawn around 0: both branches bite) against ApertusDecoderLayer."""
    toy = toy_trace(_arch({"model_type": "apertus", **_SMALL["apertus"]}), 1, SEQ, seed=seed)
    m = toy.arch.blocks[toy.arch.layers[0]].mixer
    assert np.any(toy.steps[[s.op for s in toy.steps].index("up_proj")].value < 0)  # the negative branch is used
    cfg = {"model_type": "apertus", "vocab_size": 32, "hidden_size": toy.arch.d_model, "num_hidden_layers": 2,
           "num_attention_heads": m.n_heads, "num_key_value_heads": m.n_kv_heads, "intermediate_size": 12,
           "rope_parameters": {"rope_type": "default", "rope_theta": m.rope.theta}}
    _toy_equals_transformers(toy, cfg, 1, _renamed(_APERTUS_NAMES, dict(toy.weights), "model.layers.1."))


# --- GPT-NeoX Japanese: a bias on the last layer's attention output ------------------------------------------------

def test_gpt_neox_japanese_biases_by_hand():
    """No bias anywhere but dense_bias (hidden_size) in the last layer; LayerNorms with bias; the MLP 2 × 96 wide."""
    config = {"model_type": "gpt_neox_japanese", **_SMALL["gpt_neox_japanese"]}
    arch = _arch(config)
    assert arch.layers == ["full", "full", "last"]
    d, v, ff = 96, 500, 192
    layer = 4 * d * d + 2 * d * ff + 2 * 2 * d  # q, k, v, o; up, down; two LayerNorms
    assert total_params(arch) == v * d + 3 * layer + d + 2 * d  # embedding (tied head), dense_bias, final LayerNorm


def test_gpt_neox_japanese_refuses_heads_that_do_not_fill_the_width():
    """transformers builds it (query_key_value is 3 × hidden_size wide), but its attention cannot split 96 into 7."""
    config = {"model_type": "gpt_neox_japanese", **_SMALL["gpt_neox_japanese"], "num_attention_heads": 7}
    assert _reference(config) is not None
    with pytest.raises(DerivationError, match="7 heads do not divide hidden_size 96"):
        derive(config)


_NEOX_JA_NAMES = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "o_proj": "attention.dense",
                  "up_proj": "mlp.dense_h_to_4h", "down_proj": "mlp.dense_4h_to_h"}


@pytest.mark.parametrize("layer", [0, 2])  # without and with dense_bias
def test_gpt_neox_japanese_toy_layer_equals_transformers(layer):
    """The toy layer against GPTNeoXJapaneseLayer (float64): its fused query_key_value holds each head's q, k, v in
    turn. The config reads exactly as the toy's attention; its MLP width is an integer multiple of hidden_size
    (intermediate_multiple_size is an int), so the toy's 12-wide MLP is put into the built layer by hand."""
    import torch
    from transformers import AutoModelForCausalLM, GPTNeoXJapaneseConfig

    config = {"model_type": "gpt_neox_japanese", **_SMALL["gpt_neox_japanese"], "rotary_pct": 0.5}
    toy = toy_trace(_arch(config), layer, SEQ, seed=3)
    block, d = toy.arch.blocks[toy.arch.layers[0]], toy.arch.d_model
    m, d_ff = block.mixer, block.ffn.d_ff
    cfg = {"model_type": "gpt_neox_japanese", "vocab_size": 32, "hidden_size": d, "num_hidden_layers": 3,
           "num_attention_heads": m.n_heads, "intermediate_multiple_size": 1, "rotary_pct": m.rope.partial,
           "rotary_emb_base": m.rope.theta, "attention_dropout": 0.0}
    derived = derive(cfg).arch
    assert type(block.mixer).model_validate(derived["blocks"][derived["layers"][layer]]["mixer"]) == m
    w, p = dict(toy.weights), f"gpt_neox_japanese.layers.{layer}."
    q, k, v = (w.pop(f"{n}_proj.weight").reshape(d, m.n_heads, 1, m.head_dim) for n in "qkv")
    qkv = np.concatenate([q, k, v], 2).reshape(d, -1).T  # (heads × [q, k, v] × head_dim, d_model)
    bias = w.pop("o_proj.bias", None)
    state = _renamed(_NEOX_JA_NAMES, w, p) | {p + "attention.query_key_value.weight": qkv}
    if bias is not None:
        state[p + "attention.dense_bias"] = bias
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(GPTNeoXJapaneseConfig.from_dict(cfg)).double().eval()
    mlp = model.gpt_neox_japanese.layers[layer].mlp
    mlp.dense_h_to_4h = torch.nn.Linear(d, d_ff, bias=False).double()
    mlp.dense_4h_to_h = torch.nn.Linear(d_ff, d, bias=False).double()
    params = dict(model.named_parameters())
    assert {n for n in params if n.startswith(p)} == set(state)
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(torch.from_numpy(np.ascontiguousarray(value)))
    x = torch.from_numpy(np.random.default_rng(7).standard_normal((1, SEQ, d)))
    hidden_in, hidden_out = _layer_io(model, "gpt_neox_japanese", layer, x)
    np.testing.assert_allclose(toy_forward(toy.arch, toy.weights, hidden_in)[-1].value, hidden_out,
                               rtol=1e-6, atol=1e-6)


# --- Persimmon: a LayerNorm with bias on every query and key head ------------------------------------------------

def test_persimmon_parameters_by_hand():
    """Per layer: query_key_value and dense with biases, q_layernorm and k_layernorm (weight and bias of head_dim 16),
    two LayerNorms, the MLP with biases; without qk_layernorm 4 × 16 fewer per layer."""
    config = {"model_type": "persimmon", **_SMALL["persimmon"]}
    d, hd, ff, v = 96, 16, 160, 500
    layer = 4 * d * d + 4 * d + 4 * hd + 2 * 2 * d + 2 * d * ff + ff + d
    assert total_params(_arch(config)) == 2 * v * d + 3 * layer + 2 * d  # embedding, head; final LayerNorm
    assert total_params(_arch(config)) - total_params(_arch(config | {"qk_layernorm": False})) == 3 * 4 * hd


_PERSIMMON_NAMES = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "o_proj": "self_attn.dense",
                    "q_norm": "self_attn.q_layernorm", "k_norm": "self_attn.k_layernorm",
                    "up_proj": "mlp.dense_h_to_4h", "down_proj": "mlp.dense_4h_to_h"}


def _fused_qkv(w: dict, d: int, heads: int, head_dim: int) -> dict:
    """The toy's q/k/v projections (and biases) as one query_key_value holding each head's q, k, v in turn."""
    out = {"weight": np.concatenate([w.pop(f"{n}_proj.weight").reshape(d, heads, 1, head_dim) for n in "qkv"], 2)
           .reshape(d, -1).T}
    if "q_proj.bias" in w:
        out["bias"] = np.concatenate([w.pop(f"{n}_proj.bias").reshape(heads, 1, head_dim) for n in "qkv"], 1).ravel()
    return out


def test_persimmon_toy_layer_equals_transformers():
    """The toy layer (QK LayerNorm with bias, half of each head rotated, ReLU² MLP with biases) against
    PersimmonDecoderLayer in float64."""
    toy = toy_trace(_arch({"model_type": "persimmon", **_SMALL["persimmon"]}), 1, SEQ, seed=3)
    m, d = toy.arch.blocks[toy.arch.layers[0]].mixer, toy.arch.d_model
    w, p = dict(toy.weights), "model.layers.1."
    qkv = _fused_qkv(w, d, m.n_heads, m.head_dim)
    state = _renamed(_PERSIMMON_NAMES, w, p) | {f"{p}self_attn.query_key_value.{k}": v for k, v in qkv.items()}
    cfg = {"model_type": "persimmon", "vocab_size": 32, "hidden_size": d, "num_hidden_layers": 2,
           "num_attention_heads": m.n_heads, "intermediate_size": 12,
           "rope_parameters": {"rope_type": "default", "rope_theta": m.rope.theta,
                               "partial_rotary_factor": m.rope.partial}}
    _toy_equals_transformers(toy, cfg, 1, state)


# --- BitNet: a norm inside each sublayer ----------------------------------------------------------------------------

def test_bitnet_sub_norms_by_hand():
    """attn_sub_norm (hidden_size, 96) and ffn_sub_norm (intermediate_size, 160) in each of 3 layers; elementwise,
    so FLOPs per token are those of the same model without them."""
    config = {"model_type": "bitnet", **_SMALL["bitnet"]}
    arch = _arch(config)
    block = arch.blocks["full"]
    plain = arch.model_copy(update={"blocks": {"full": block.model_copy(update={
        "mixer": block.mixer.model_copy(update={"sub_norm": False}),
        "ffn": block.ffn.model_copy(update={"sub_norm": False})})}})
    assert total_params(arch) - total_params(plain) == 3 * (96 + 160)
    assert flops_per_token(arch, 100) == flops_per_token(plain, 100)
    ops = [s.op for s in trace(arch, 0, 4)]
    assert ops.index("attn_sub_norm") == ops.index("o_proj") - 1 and ops.index("ffn_sub_norm") == ops.index(
        "down_proj") - 1


_BITNET_NAMES = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"} | {
    k: f"self_attn.{k}" for k in ("q_proj", "k_proj", "v_proj", "o_proj", "attn_sub_norm")} | {
    k: f"mlp.{k}" for k in ("gate_proj", "up_proj", "down_proj", "ffn_sub_norm")}


def test_bitnet_toy_layer_equals_transformers():
    """The toy layer (both sub-norms, gated ReLU²) against BitNetDecoderLayer in float64."""
    toy = toy_trace(_arch({"model_type": "bitnet", **_SMALL["bitnet"]}), 1, SEQ, seed=3)
    m = toy.arch.blocks[toy.arch.layers[0]].mixer
    cfg = {"model_type": "bitnet", "vocab_size": 32, "hidden_size": toy.arch.d_model, "num_hidden_layers": 2,
           "num_attention_heads": m.n_heads, "num_key_value_heads": m.n_kv_heads, "intermediate_size": 12,
           "rope_parameters": {"rope_type": "default", "rope_theta": m.rope.theta}}
    _toy_equals_transformers(toy, cfg, 1, _renamed(_BITNET_NAMES, dict(toy.weights), "model.layers.1."))
