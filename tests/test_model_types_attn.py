"""Model types of issue 15 that add an attention or MLP option to the kinds: Apertus (xIELU, two learned scalars per
MLP), each compared with the model transformers builds on the meta device, exactly: the default config (or, where
transformers cannot build it, the smallest complete one), variants that change every size the config has, and
configs spelled with the config class's attribute_map aliases. Each new option's toy layer is checked against the
same layer in transformers (float64), and its parameters and FLOPs are derived by hand here. None of these config
classes has an attribute_map (no aliases to test)."""

from __future__ import annotations

import numpy as np
import pytest

from gallery.counts import total_params
from gallery.flops import flops_per_token
from gallery.toy import toy_trace
from gallery.trace import trace

from .test_model_types import _arch, default_config_is_exact, drafts_a_clean_spec, exact_or_refused_alike, \
    the_try_page_counts_it
from .test_model_types_hybrid import _toy_equals_transformers
from .test_toy import SEQ, _renamed

TYPES = ["apertus"]
SMALLEST: dict[str, dict] = {}

_SMALL = {
    "apertus": {"vocab_size": 500, "hidden_size": 96, "intermediate_size": 160, "num_attention_heads": 6,
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
}


@pytest.mark.parametrize("model_type", TYPES)
def test_default_config_is_exact(model_type):
    default_config_is_exact(model_type, SMALLEST.get(model_type), "")


@pytest.mark.parametrize(("model_type", "variant"), [(t, v) for t in TYPES for v in VARIANTS[t]])
def test_varied_configs_are_exact(model_type, variant):
    exact_or_refused_alike({"model_type": model_type, **_SMALL[model_type], **VARIANTS[model_type][variant]})


@pytest.mark.parametrize("model_type", TYPES)
def test_new_drafts_a_spec_that_lints_clean(tmp_path, model_type, capsys):
    drafts_a_clean_spec(tmp_path, {"model_type": model_type} | SMALLEST.get(model_type, {}), capsys)


@pytest.mark.parametrize("model_type", TYPES)
def test_the_try_page_reads_it(model_type):
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
