"""RWKV-4 (issue 15, the time-mix and channel-mix kinds): the config read as ``RwkvConfig`` reads it and counted
exactly against the model transformers builds on the meta device (the default config, variants changing every size,
the ``max_position_embeddings`` alias), the cache and FLOPs derived by hand from the config numbers, and the toy
layer against transformers' ``RwkvBlock`` on its pure-PyTorch path (float64, within 1e-6)."""

from __future__ import annotations

import numpy as np
import pytest

from gallery.derive import DerivationError, derive
from gallery.flops import flops_per_token, matmul_flops, state_flops
from gallery.memory import kv_bytes, kv_bytes_per_token, layer_caches, state_bytes
from gallery.toy import toy_forward, toy_trace

from .test_model_types import default_config_is_exact, drafts_a_clean_spec, exact_or_refused_alike, the_try_page_counts_it
from .test_toy import LAYERS, SEQ, _layer_io, _model_with_toy_layer

MT, SLUG = "rwkv", "rwkv-4-169m-pile"
# every width distinct, so a width read into the wrong place shows
SMALL = {"model_type": MT, "vocab_size": 500, "hidden_size": 48, "num_hidden_layers": 3, "attention_hidden_size": 40,
         "intermediate_size": 72}
VARIANTS = {
    "small": {}, "width": {"hidden_size": 64}, "att default": {"attention_hidden_size": None},
    "att": {"attention_hidden_size": 24}, "d_ff default": {"intermediate_size": None}, "d_ff": {"intermediate_size": 20},
    "7 layers": {"num_hidden_layers": 7}, "vocab": {"vocab_size": 777}, "tied": {"tie_word_embeddings": True},
    "eps": {"layer_norm_epsilon": 1e-6}, "context": {"context_length": 77}, "no rescale": {"rescale_every": 0},
}


def test_default_config_is_exact():
    default_config_is_exact(MT, None, "")


@pytest.mark.parametrize("variant", VARIANTS)
def test_varied_configs_are_exact(variant):
    """Each size changed: the count equals transformers', and every layer's widths are the ones transformers built."""
    arch, model = exact_or_refused_alike({**SMALL, **VARIANTS[variant]})
    ours = [(arch.blocks[k].mixer.d_att, arch.blocks[k].ffn.d_ff) for k in arch.layers]
    theirs = [(b.attention.key.out_features, b.feed_forward.key.out_features) for b in model.rwkv.blocks]
    assert ours == theirs
    assert arch.embedding.norm and hasattr(model.rwkv.blocks[0], "pre_ln")  # the embedding norm lives in block 0
    assert arch.context_length is None  # context_length bounds only the CUDA kernel


def test_the_max_position_embeddings_alias_reads_as_context_length():
    """attribute_map: max_position_embeddings → context_length; transformers reads it, and it changes no count."""
    config = {**SMALL, "max_position_embeddings": 77}
    arch, model = exact_or_refused_alike(config)
    assert model.config.context_length == 77 and arch.context_length is None


@pytest.mark.parametrize(("key", "value", "why"), [
    ("attention_hidden_size", "64", "attention_hidden_size"), ("intermediate_size", 0, "intermediate_size"),
    ("hidden_size", None, "hidden_size"), ("layer_norm_epsilon", -1.0, "layer_norm_epsilon")])
def test_hostile_values_are_refused_in_one_line(key, value, why):
    with pytest.raises(DerivationError, match=why) as err:
        derive({**SMALL, key: value})
    assert "\n" not in str(err.value)


def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys):
    drafts_a_clean_spec(tmp_path, SMALL, capsys)


def test_the_try_page_reads_it():
    the_try_page_counts_it(SMALL)


def test_cache_and_flops_by_hand(bundled):
    """RWKV-4 169M from its config: no layer caches anything per token; each of the 12 layers keeps num, den and the
    running max of its WKV recurrence (attention_hidden_size each) and two shifted tokens (hidden_size each: the
    time mix's and the channel mix's). One token costs 2 FLOPs per weight it multiplies (per layer: key, value,
    receptance d × d_att, output d_att × d; the channel mix's key and value d × d_ff, its receptance d × d; the head
    vocab × d) plus 23 per WKV channel (read-out 12, update 11)."""
    spec, config = bundled[SLUG]
    layers, d, att, ff = (config[k] for k in ("num_hidden_layers", "hidden_size", "attention_hidden_size",
                                               "intermediate_size"))
    per_layer = 3 * att + 2 * d
    assert kv_bytes_per_token(spec.arch) == 0
    assert state_bytes(spec.arch) == layers * per_layer * 2
    assert kv_bytes(spec.arch, 100_000, batch=3) == 3 * layers * per_layer * 2  # the same at any context
    [cache] = layer_caches(spec.arch)
    assert "shifted token" in cache.state_formula and "channel mix" in cache.state_formula
    weights = layers * (4 * d * att + 2 * d * ff + d * d) + config["vocab_size"] * d
    assert matmul_flops(spec.arch) == 2 * weights
    assert state_flops(spec.arch) == layers * 23 * att
    assert flops_per_token(spec.arch, 1) == flops_per_token(spec.arch, 100_000) == 2 * weights + layers * 23 * att


def _hf_state(w: dict, layer: int) -> dict[str, np.ndarray]:
    """The toy's weights under RwkvBlock's names: ln1 and ln2 for the two pre-norms, Linear stores (out, in), the
    token-shift mixes (1, 1, d_model)."""
    p, out = f"rwkv.blocks.{layer}.", {}
    norms = {"mixer_norm": "ln1", "ffn_norm": "ln2"}
    for name, value in w.items():
        base, _, kind = name.rpartition(".")
        if base in norms:
            out[p + f"{norms[base]}.{kind}"] = value
        elif "time_mix" in name:
            out[p + name] = value.reshape(1, 1, -1)
        else:
            out[p + name] = value.T if kind == "weight" else value
    return out


def test_toy_layer_equals_transformers(bundled, monkeypatch):
    """The toy layer (ln1 → time mix → add, ln2 → channel mix → add) against RwkvBlock 1 (no pre_ln) with the same
    weights, float64, on transformers' pure-PyTorch recurrence (rwkv_linear_attention_cpu)."""
    import torch
    import transformers

    spec, config = bundled[SLUG]
    toy = toy_trace(spec, 1, SEQ, seed=3)
    block = toy.arch.blocks["rwkv"]
    cfg = {**config, "hidden_size": toy.arch.d_model, "num_hidden_layers": 2, "vocab_size": 32,
           "attention_hidden_size": block.mixer.d_att, "intermediate_size": block.ffn.d_ff}
    derived = derive(cfg).arch["blocks"]["rwkv"]
    assert type(block).model_validate(derived, strict=False) == block  # the tiny config reads as the toy block
    model = _model_with_toy_layer(transformers.CONFIG_MAPPING[MT].from_dict(cfg), _hf_state(toy.weights, 1),
                                  "rwkv.blocks.1.")
    monkeypatch.setitem(LAYERS, MT, "rwkv.blocks.")
    x = torch.from_numpy(np.random.default_rng(7).standard_normal((1, SEQ, toy.arch.d_model)))
    hidden_in, hidden_out = _layer_io(model, MT, 1, x)
    steps = toy_forward(toy.arch, toy.weights, hidden_in)
    np.testing.assert_allclose(steps[-1].value, hidden_out, rtol=1e-6, atol=1e-6)


def test_the_recurrence_is_causal(bundled):
    """The WKV output at token t does not depend on later tokens, and the shift reads only the token before."""
    spec, _ = bundled[SLUG]
    toy = toy_trace(spec, 0, SEQ, seed=1)
    x = toy.x.copy()
    x[-1] += 1.0
    before = {s.op: s.value for s in toy.steps}
    after = {s.op: s.value for s in toy_forward(toy.arch, toy.weights, x)}
    np.testing.assert_array_equal(after["WKV recurrence"][:-1], before["WKV recurrence"][:-1])
    np.testing.assert_array_equal(after["residual add"][:-1], before["residual add"][:-1])


def test_trace_page_runs_the_rwkv_layer_and_draws_its_recurrence():
    """The Trace page (Streamlit's AppTest): the layer's steps in RwkvBlock's order, and the toy's picture."""
    from streamlit.testing.v1 import AppTest

    from .conftest import ROOT, page_tables

    at = AppTest.from_file(str(ROOT / "gallery_app.py"), default_timeout=60)
    for key, value in {"slug": SLUG, "layer": "1", "seq": "8", "toy": "true"}.items():
        at.query_params[key] = value
    at.switch_page("views/trace.py")
    at.run()
    assert not at.exception
    ops = list(page_tables(at)[0]["op"])  # the steps: a static table
    assert ops[:3] == ["mixer norm (pre)", "token shift", "mix for key"] and "WKV recurrence" in ops
    assert ops[-3:] == ["receptance", "σ(receptance) ⊙ value", "residual add"]
    assert len(at.get("vega_lite_chart")) == 1  # the receptance and the WKV average side by side
