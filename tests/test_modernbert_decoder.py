"""The ModernBERT decoder (issue 15): the config read as ``ModernBertDecoderConfig`` reads it and counted exactly against
the model transformers builds on the meta device (the default config, variants changing every size, the legacy
spellings the class still accepts: global_attn_every_n_layers, global_rope_theta, local_rope_theta, rope_scaling),
layer 0 without its attention norm and the prediction head in the diagram, the KV cache and FLOPs derived by hand,
and the toy layers (layer 0 without a norm before attention, a local layer) against transformers' layers (float64,
within 1e-6)."""

from __future__ import annotations

import numpy as np
import pytest

from gallery.derive import DerivationError, derive
from gallery.diagram import to_dot
from gallery.flops import attention_flops, matmul_flops
from gallery.memory import kv_bytes, kv_bytes_per_token
from gallery.spec import Arch
from gallery.toy import toy_forward, toy_trace

from .test_model_types import default_config_is_exact, drafts_a_clean_spec, exact_or_refused_alike, the_try_page_counts_it
from .test_toy import SEQ, _layer_io, _model_with_toy_layer

MT = "modernbert-decoder"
# every width distinct, so a width read into the wrong place shows
SMALL = {"model_type": MT, "vocab_size": 500, "hidden_size": 96, "intermediate_size": 80, "num_attention_heads": 6,
         "num_hidden_layers": 5, "local_attention": 8, "max_position_embeddings": 256, "pad_token_id": 0}
VARIANTS = {
    "small": {}, "width": {"hidden_size": 48}, "heads": {"num_attention_heads": 12}, "d_ff": {"intermediate_size": 51},
    "7 layers": {"num_hidden_layers": 7}, "every 2": {"global_attn_every_n_layers": 2},
    "all global": {"global_attn_every_n_layers": 1, "local_attention": None},
    "layer_types": {"layer_types": ["sliding_attention", "full_attention", "sliding_attention", "sliding_attention",
                                    "full_attention"]},
    "biases": {"attention_bias": True, "mlp_bias": True, "norm_bias": True, "classifier_bias": True},
    "no decoder bias": {"decoder_bias": False}, "untied": {"tie_word_embeddings": False}, "vocab": {"vocab_size": 777},
    "window 5": {"local_attention": 5}, "gelu tanh": {"hidden_activation": "gelu_pytorch_tanh",
                                                      "classifier_activation": "silu"},
    "rope per type": {"rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 50_000.0},
                                          "sliding_attention": {"rope_type": "default", "rope_theta": 500.0}}},
    "legacy thetas": {"global_rope_theta": 80_000.0, "local_rope_theta": 2_000.0},
    "one rope entry": {"rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 9_000.0}}},
    "rope_scaling": {"rope_scaling": {"rope_type": "linear", "factor": 2.0}},
    "flat rope": {"rope_parameters": {"rope_type": "default", "rope_theta": 5000.0}},  # refused by both
}


def test_default_config_is_exact():
    default_config_is_exact(MT, None, "")


@pytest.mark.parametrize("variant", VARIANTS)
def test_varied_configs_are_exact(variant):
    """Each size changed: the count equals transformers', and every layer has transformers' window, RoPE θ and
    attention norm (none in layer 0)."""
    built = exact_or_refused_alike({**SMALL, **VARIANTS[variant]})
    if not built:
        return
    arch, model = built
    blocks = [arch.blocks[k] for k in arch.layers]
    theirs = model.model.layers
    assert [b.mixer.window for b in blocks] == [layer.attn.sliding_window for layer in theirs]
    assert [b.mixer_norm for b in blocks] == [type(layer.attn_norm).__name__ == "LayerNorm" for layer in theirs]
    types = model.config.layer_types
    thetas = [model.config.rope_parameters[t]["rope_theta"] for t in types]
    assert [b.mixer.rope.theta for b in blocks] == thetas
    scaling = [b.mixer.rope.scaling and b.mixer.rope.scaling.factor for b in blocks]
    assert scaling == [model.config.rope_parameters[t].get("factor") for t in types]


@pytest.mark.parametrize(("change", "why"), [
    ({"local_attention": None}, "local_attention None"), ({"local_attention": 1}, "local_attention 1"),
    ({"layer_types": ["full_attention"] * 3}, "3 entries for 5 layers"), ({"norm_bias": "no"}, "norm_bias"),
    ({"rope_parameters": {"rope_type": "default", "rope_theta": 5000.0}}, "keyed by 'full_attention'")])
def test_hostile_values_are_refused_in_one_line(change, why):
    """A null or 1-token local_attention builds in transformers, but its local layers' window (local_attention // 2,
    -1 or 0) masks every key: refused, as are the others, in one line."""
    with pytest.raises(DerivationError, match=why) as err:
        derive({**SMALL, **change})
    assert "\n" not in str(err.value)


def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys):
    drafts_a_clean_spec(tmp_path, SMALL, capsys)


def test_the_try_page_reads_it():
    the_try_page_counts_it(SMALL)


def _arch(config: dict) -> Arch:
    return Arch.model_validate(derive(config).arch, strict=False)


def test_the_diagram_draws_layer_0_without_its_attention_norm_and_the_prediction_head():
    from gallery.spec import Spec

    spec = Spec.model_validate({
        "slug": "my-model", "name": "m", "family": "f", "organisation": "o", "arch": derive(SMALL).arch,
        "source": {"hf_repo": "o/m", "config": "configs/m.json", "model_type": MT,
                   "transformers_class": "ModernBertDecoderForCausalLM"}}, strict=False)
    dot = to_dot(spec)
    first, later = spec.arch.layers[0], spec.arch.layers[1]
    assert f"{first}.mixer_pre" not in dot and f"{later}.mixer_pre" in dot and f"{first}.ffn_pre" in dot
    assert "after dense 96 → 96, gelu, LayerNorm" in dot and "with bias" in dot


def test_cache_and_flops_by_hand():
    """SMALL: 5 layers, global at 0 and 3, local (a window of local_attention // 2 = 4) at 1, 2 and 4; every layer
    caches K and V of all 6 heads of 16 dims. Per token: 2 FLOPs per weight (q, k, v, Wo: 4 d²; Wi and Wo of the
    MLP: 3 d × d_ff; the head's dense d² and the tied decoder vocab × d), and 4 × d per attended token."""
    arch = _arch(SMALL)
    d, ff, v, window = SMALL["hidden_size"], SMALL["intermediate_size"], SMALL["vocab_size"], SMALL["local_attention"] // 2
    per_token = 2 * d  # K and V, n_heads × head_dim = d each
    assert kv_bytes_per_token(arch) == 5 * per_token * 2
    assert kv_bytes(arch, 100) == (2 * 100 + 3 * window) * per_token * 2
    assert matmul_flops(arch) == 2 * (5 * (4 * d * d + 3 * d * ff) + d * d + v * d)
    assert attention_flops(arch, 100) == (2 * 100 + 3 * window) * 4 * d


def _hf_state(w: dict, layer: int) -> dict[str, np.ndarray]:
    """The toy's weights under ModernBertDecoderLayer's names: Linear stores (out, in); Wi holds the activated half
    (the toy's gate_proj) then the other (up_proj); Wo is attention's output, mlp.Wo the MLP's down projection."""
    p = f"model.layers.{layer}."
    names = {"attn_norm": "attn_norm", "ffn_norm": "mlp_norm", "q_proj": "attn.q_proj", "k_proj": "attn.k_proj",
             "v_proj": "attn.v_proj", "o_proj": "attn.Wo", "down_proj": "mlp.Wo"}
    out = {}
    for name, value in w.items():
        base, _, kind = name.rpartition(".")
        if base in ("gate_proj", "up_proj"):
            continue
        out[p + f"{names[base]}.{kind}"] = value.T if kind == "weight" and value.ndim == 2 else value
    for kind in ("weight", "bias"):
        if f"gate_proj.{kind}" in w:
            out[p + f"mlp.Wi.{kind}"] = np.concatenate([w[f"gate_proj.{kind}"], w[f"up_proj.{kind}"]], axis=-1).T \
                if kind == "weight" else np.concatenate([w["gate_proj.bias"], w["up_proj.bias"]])
    return out


@pytest.mark.parametrize(("layer", "change"), [(0, {}), (1, {}), (1, VARIANTS["biases"])],
                         ids=["layer 0 (no attention norm)", "local", "local with biases"])
def test_toy_layer_equals_transformers(layer, change):
    """The toy layer against ModernBertDecoderLayer with the same weights, float64, eager attention."""
    import torch
    import transformers

    config = {**SMALL, **change}
    arch = _arch(config)
    toy = toy_trace(arch, layer, SEQ, seed=3)
    block = toy.arch.blocks[arch.layers[layer]]
    m = block.mixer
    cfg = {**config, "hidden_size": toy.arch.d_model, "num_attention_heads": m.n_heads, "num_hidden_layers": layer + 1,
           "intermediate_size": block.ffn.d_ff, "vocab_size": 32, "local_attention": 2 * (m.window or 4)}
    assert type(block).model_validate(derive(cfg).arch["blocks"][arch.layers[layer]], strict=False) == block
    hf_config = transformers.CONFIG_MAPPING[MT].from_dict(cfg)
    hf_config._attn_implementation = "eager"
    model = _model_with_toy_layer(hf_config, _hf_state(toy.weights, layer), f"model.layers.{layer}.")
    x = torch.from_numpy(np.random.default_rng(7).standard_normal((1, SEQ, toy.arch.d_model)))
    hidden_in, hidden_out = _layer_io(model, MT, layer, x)
    steps = toy_forward(toy.arch, toy.weights, hidden_in)
    np.testing.assert_allclose(steps[-1].value, hidden_out, rtol=1e-6, atol=1e-6)
