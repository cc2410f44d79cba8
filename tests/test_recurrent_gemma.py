"""RecurrentGemma (issue 15, the RG-LRU kind): the config read as ``RecurrentGemmaConfig`` reads it and counted
exactly against the model transformers builds on the meta device (the default config, variants changing every size,
the ``sliding_window`` alias), the cache and state FLOPs derived by hand from the config numbers, and the toy
recurrent and local-attention layers against transformers' layers (float64, within 1e-6)."""

from __future__ import annotations

import numpy as np
import pytest

from gallery.counts import total_params
from gallery.derive import DerivationError, derive
from gallery.flops import state_flops
from gallery.memory import kv_bytes, kv_bytes_per_token, state_bytes
from gallery.toy import toy_forward, toy_trace

from .test_model_types import default_config_is_exact, drafts_a_clean_spec, exact_or_refused_alike, the_try_page_counts_it
from .test_toy import SEQ, _layer_io, _model_with_toy_layer

MT = "recurrent_gemma"
# every width distinct, so a width read into the wrong place shows; lru_width a multiple of the heads
SMALL = {"model_type": MT, "vocab_size": 500, "hidden_size": 96, "intermediate_size": 80, "num_attention_heads": 6,
         "num_key_value_heads": 2, "num_hidden_layers": 5, "lru_width": 48, "conv1d_width": 3,
         "attention_window_size": 7}
VARIANTS = {
    "small": {}, "width": {"hidden_size": 48}, "mha": {"num_key_value_heads": 6}, "mqa": {"num_key_value_heads": 1},
    "kv default": {"num_key_value_heads": None}, "lru default": {"lru_width": None}, "lru": {"lru_width": 120},
    "heads": {"num_attention_heads": 12, "num_key_value_heads": 3}, "head_dim key": {"head_dim": 24},
    "conv": {"conv1d_width": 5}, "window": {"attention_window_size": 3}, "bias": {"attention_bias": True},
    "untied": {"tie_word_embeddings": False}, "vocab": {"vocab_size": 777}, "d_ff": {"intermediate_size": 51},
    "7 layers": {"num_hidden_layers": 7}, "all recurrent": {"block_types": ["recurrent"]},
    "attention first": {"block_types": ["attention", "recurrent"]}, "partial rope": {"partial_rotary_factor": 0.25},
    "whole rope": {"partial_rotary_factor": None},
    "both ropes": {"rope_parameters": {"rope_type": "default", "rope_theta": 500.0, "partial_rotary_factor": 0.75},
                   "partial_rotary_factor": 0.25},
    "rope parameters": {"rope_parameters": {"rope_type": "default", "rope_theta": 500.0}},
    "gelu": {"hidden_activation": "gelu"},
}


def test_default_config_is_exact():
    default_config_is_exact(MT, None, "")


@pytest.mark.parametrize("variant", VARIANTS)
def test_varied_configs_are_exact(variant):
    """Each size changed: the count equals transformers', and every layer is the temporal block transformers built
    there (the RG-LRU where it has a recurrent block, attention with the window where it has attention)."""
    built = exact_or_refused_alike({**SMALL, **VARIANTS[variant]})
    if not built:
        return
    arch, model = built
    ours = [(arch.blocks[k].mixer.kind == "rg_lru", getattr(arch.blocks[k].mixer, "window", None)) for k in arch.layers]
    theirs = [(type(layer.temporal_block).__name__ == "RecurrentGemmaRecurrentBlock",
               getattr(layer.temporal_block, "sliding_window", None)) for layer in model.model.layers]
    assert ours == theirs
    rotary = [layer.temporal_block.rotary_emb for layer in model.model.layers if hasattr(layer.temporal_block, "rotary_emb")]
    ropes = [arch.blocks[k].mixer.rope for k in arch.layers if arch.blocks[k].mixer.kind != "rg_lru"]
    for ours, theirs in zip(ropes, rotary):  # RoPE on int(head_dim × partial) dims, θ from the config
        head = arch.blocks["sliding"].mixer.head_dim
        assert (int(head * ours.partial), ours.theta) == (2 * len(theirs.inv_freq), theirs.config.rope_parameters["rope_theta"])


def test_the_sliding_window_alias_reads_as_attention_window_size():
    """attribute_map: sliding_window → attention_window_size."""
    config = {k: v for k, v in SMALL.items() if k != "attention_window_size"} | {"sliding_window": 5}
    arch, _ = exact_or_refused_alike(config)
    assert {b.mixer.window for b in arch.blocks.values() if b.mixer.kind != "rg_lru"} == {5}


def test_layer_types_is_refused_as_transformers_refuses_it():
    """attribute_map sends layer_types to the read-only property layers_block_type: transformers cannot build it."""
    assert exact_or_refused_alike({**SMALL, "layer_types": ["sliding_attention"] * 5}) is None


@pytest.mark.parametrize(("block_types", "why"), [
    (["recurrent", "mamba"], r"block_types\[1\]: 'mamba' at layer 1 is not a layer type"),
    ([], "non-empty list"), (None, "non-empty list"), ("recurrent", "expected a list of strings")])
def test_block_types_other_than_the_two_names_are_refused_in_one_line(block_types, why):
    """The modeling code builds attention for any entry but "recurrent"; the gallery names the entry instead."""
    with pytest.raises(DerivationError, match=why) as err:
        derive({**SMALL, "block_types": block_types})
    assert "\n" not in str(err.value)


def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys):
    drafts_a_clean_spec(tmp_path, SMALL, capsys)


def test_the_try_page_reads_it():
    the_try_page_counts_it(SMALL)


def test_cache_and_state_flops_by_hand(bundled):
    """RecurrentGemma-2B from its config: 8 local-attention layers (every third from layer 2 of 26) cache K and V of
    one KV head of 256 for at most 2,048 tokens; 18 recurrent layers keep lru_width numbers of state and a conv
    window of conv1d_width − 1 inputs, and spend 10 FLOPs per channel on the decay (3), the normalised input (5) and
    the update (2)."""
    spec, config = bundled["recurrentgemma-2b"]
    layers, attention = config["num_hidden_layers"], len(range(2, config["num_hidden_layers"], 3))
    recurrent, lru, width = layers - attention, config["lru_width"], config["conv1d_width"]
    per_token = 2 * config["num_key_value_heads"] * config["hidden_size"] // config["num_attention_heads"]
    assert kv_bytes_per_token(spec.arch) == attention * per_token * 2
    assert state_bytes(spec.arch) == recurrent * (lru + lru * (width - 1)) * 2
    window = config["attention_window_size"]
    assert kv_bytes(spec.arch, 100_000) == (attention * per_token * window + recurrent * lru * width) * 2
    assert state_flops(spec.arch) == recurrent * 10 * lru


def _hf_state(toy, w: dict, layer: int) -> dict[str, np.ndarray]:
    """The toy's weights under RecurrentGemmaDecoderLayer's names: Linear stores (out, in), Conv1d (channels, 1,
    taps); RecurrentGemmaRMSNorm multiplies by 1 + weight; the gates (heads, block, block) as they are."""
    p = f"model.layers.{layer}."
    norms = {"mixer_norm": "temporal_pre_norm", "attn_norm": "temporal_pre_norm", "ffn_norm": "channel_pre_norm"}
    out = {}
    for name, value in w.items():
        base, _, kind = name.rpartition(".")
        if base in norms:
            out[p + f"{norms[base]}.weight"] = value - 1
        elif base in ("gate_proj", "up_proj", "down_proj"):
            out[p + f"mlp_block.{name}"] = value.T if kind == "weight" else value
        elif base == "conv_1d" and kind == "weight":
            out[p + "temporal_block.conv_1d.weight"] = value[:, None, :]
        else:
            out[p + f"temporal_block.{name}"] = value.T if kind == "weight" else value  # a Linear's
    return out


@pytest.mark.parametrize("layer", [0, 2], ids=["recurrent", "local attention"])
def test_toy_layer_equals_transformers(bundled, layer):
    """The toy layer (recurrent block or local MQA, then the GeGLU MLP) against RecurrentGemmaDecoderLayer with the
    same weights, float64, eager attention, positions 0 … T − 1 (the RG-LRU's reset at position 0)."""
    import torch
    import transformers

    spec, config = bundled["recurrentgemma-2b"]
    toy = toy_trace(spec, layer, SEQ, seed=3)
    block = toy.arch.blocks[spec.arch.layers[layer]]
    m = block.mixer
    heads = m.n_heads
    cfg = {**config, "hidden_size": toy.arch.d_model, "num_hidden_layers": layer + 1, "vocab_size": 32,
           "num_attention_heads": heads, "intermediate_size": 2 * block.ffn.d_ff}
    if m.kind == "rg_lru":
        cfg |= {"lru_width": m.d_lru, "conv1d_width": m.conv_kernel}
    else:  # the recurrent layers before it: any width the heads divide
        cfg |= {"lru_width": 2 * heads, "num_key_value_heads": m.n_kv_heads, "head_dim": m.head_dim,
                "attention_window_size": m.window, "partial_rotary_factor": m.rope.partial}
    derived = derive(cfg).arch["blocks"][spec.arch.layers[layer]]
    assert type(block).model_validate(derived, strict=False) == block  # the tiny config reads as the toy block
    hf_config = transformers.CONFIG_MAPPING[MT].from_dict(cfg)
    hf_config._attn_implementation = "eager"
    model = _model_with_toy_layer(hf_config, _hf_state(toy.arch, toy.weights, layer), f"model.layers.{layer}.")
    x = torch.from_numpy(np.random.default_rng(7).standard_normal((1, SEQ, toy.arch.d_model)))
    hidden_in, hidden_out = _layer_io(model, MT, layer, x)
    steps = toy_forward(toy.arch, toy.weights, hidden_in)
    np.testing.assert_allclose(steps[-1].value, hidden_out, rtol=1e-6, atol=1e-6)


def test_the_recurrence_is_causal_and_decays(bundled):
    """The toy RG-LRU: 0 < a < 1, and the state after token t does not depend on later tokens."""
    spec, _ = bundled["recurrentgemma-2b"]
    toy = toy_trace(spec, 0, SEQ, seed=1)
    by_op = {s.op: s.value for s in toy.steps}
    assert ((by_op["decay a"] > 0) & (by_op["decay a"] < 1)).all()
    x = toy.x.copy()
    x[-1] += 1.0
    changed = {s.op: s.value for s in toy_forward(toy.arch, toy.weights, x)}
    np.testing.assert_array_equal(changed["linear recurrence"][:-1], by_op["linear recurrence"][:-1])
    assert total_params(spec.arch) > 0
