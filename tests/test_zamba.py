"""Zamba (``models/zamba``): multi-head Mamba-1 layers and one shared attention block run by the hybrid layers.

Counts are compared with the model transformers builds on the meta device, exactly: the default config, variants that
change every size (layers and the hybrid pattern, widths, heads, Mamba heads, state, conv, Δ rank, biases, tying,
vocab) and the attribute_map aliases. The shared block is counted once (transformers ties its copies) and each use's
linear once per hybrid layer; the cache keeps the shared attention's K and V at every hybrid layer; FLOPs multiply
the shared block's weights once per use. Cache and FLOPs are derived by hand from the config numbers.
"""

from __future__ import annotations

import math

import pytest

from gallery.counts import param_terms, total_params
from gallery.derive import DerivationError, derive
from gallery.flops import attention_flops, matmul_flops, state_flops
from gallery.memory import kv_bytes_per_token, state_bytes

from .reference import reference_param_count
from .test_model_types import _arch, drafts_a_clean_spec, exact_or_refused_alike, the_try_page_counts_it

# every width distinct, so a width read into the wrong place shows
SMALL = {"model_type": "zamba", "vocab_size": 500, "hidden_size": 48, "intermediate_size": 72,
         "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 9, "n_mamba_heads": 3,
         "mamba_d_state": 12, "mamba_d_conv": 3, "mamba_dt_rank": 5, "attn_layer_period": 3, "attn_layer_offset": 1}
VARIANTS = {
    "small": {}, "mha": {"num_key_value_heads": 4}, "mqa": {"num_key_value_heads": 1},
    "head dim": {"attention_head_dim": 20}, "width": {"hidden_size": 96}, "d_ff": {"intermediate_size": 40},
    "mamba heads": {"n_mamba_heads": 4}, "one mamba head": {"n_mamba_heads": 1},
    "mamba heads do not divide": {"n_mamba_heads": 5}, "state": {"mamba_d_state": 8}, "conv": {"mamba_d_conv": 5},
    "expand": {"mamba_expand": 3}, "dt rank auto": {"mamba_dt_rank": "auto"},
    "biases": {"mamba_proj_bias": True, "mamba_conv_bias": False}, "untied": {"tie_word_embeddings": False},
    "vocab": {"vocab_size": 777}, "period": {"attn_layer_period": 2, "attn_layer_offset": 0},
    "3 layers": {"num_hidden_layers": 3}, "3 layers untied": {"num_hidden_layers": 3, "tie_word_embeddings": False},
    "2 layers": {"num_hidden_layers": 2}, "13 layers": {"num_hidden_layers": 13},
    "listed": {"layers_block_type": ["hybrid", "mamba", "linear_attention", "hybrid", "full_attention", "mamba",
                                     "mamba", "mamba", "hybrid"]},
    "no hybrid": {"layers_block_type": ["mamba"] * 9},
    "not a layer type": {"layers_block_type": ["hybrid", "attention_please"] + ["mamba"] * 7},
}


def test_default_config_is_exact():
    """ZambaConfig's default is Zamba-7B's shape: 76 layers of 3,712, 13 of them hybrid."""
    arch = _arch({"model_type": "zamba"})
    assert total_params(arch) == reference_param_count({"model_type": "zamba"})
    assert arch.layers.count("hybrid") == 1 + len([i for i in range(73) if i % 6 == 4])


@pytest.mark.parametrize("variant", VARIANTS)
def test_varied_configs_are_exact(variant):
    """Each size changed: the count equals transformers', and the hybrid layers are where transformers put them; a
    config transformers refuses is refused too."""
    exact_with_hybrid_layers_alike(SMALL | VARIANTS[variant], "shared_transf")


def exact_with_hybrid_layers_alike(config: dict, shared: str) -> None:
    """:func:`exact_or_refused_alike`, and where transformers builds it, the hybrid layers are the layers of its model
    that hold the shared block (attribute ``shared``)."""
    built = exact_or_refused_alike(config)
    if built:
        arch, model = built
        assert [k == "hybrid" for k in arch.layers] == [hasattr(layer, shared) for layer in model.model.layers]


def test_configs_spelled_with_attribute_map_aliases_are_exact():
    """layer_types for layers_block_type, head_dim for attention_head_dim."""
    config = SMALL | {"head_dim": 20, "layer_types": ["mamba", "hybrid", "mamba", "mamba", "hybrid", "mamba", "mamba",
                                                      "mamba", "mamba"]}
    arch = _arch(config)
    assert arch.shared_blocks["attention"].mixer.head_dim == 20 and arch.layers.count("hybrid") == 2
    assert total_params(arch) == reference_param_count(config)


def test_the_shared_block_is_counted_once_and_each_use_owns_its_linear():
    """By hand: the shared block once (q, k, v from 2 × d_model; o_proj back; the gated MLP; norms of 2·d and d), a
    d × d linear per hybrid layer, a multi-head Mamba-1 layer in every layer."""
    arch = _arch(SMALL)
    d, v, n = 48, 500, 9
    hybrid = arch.layers.count("hybrid")
    assert hybrid == 3  # layer 2, then i % 3 == 1 for i < 6: layers 4 and 7
    hd = 2 * d // 4  # attention_head_dim: 2 × hidden_size / heads
    shared = 2 * d * (4 + 2 + 2) * hd + 4 * hd * d + 3 * d * 72 + 2 * d + d
    di, r, s, k = 2 * d, 5, 12, 3
    mamba = d * 2 * di + di * k + di + di * (r + 2 * s) + r * di + di + di * s + di + di * d + d  # + its norm
    assert total_params(arch) == v * d + n * mamba + hybrid * d * d + shared + d  # tied head, final norm
    terms = [t for t in param_terms(arch) if t.where == "shared attention"]
    assert sum(t.total for t in terms) == shared and all(t.repeat == 1 for t in terms)
    (linear,) = [t for t in param_terms(arch) if t.name == "shared_linear"]
    assert linear.repeat == hybrid and linear.formula == f"d_model × d_model = 48 × 48 = 2,304 (× 3 layers = 6,912)"


BF16 = 2


def test_cache_and_flops_by_hand():
    """KV per use: every hybrid layer keeps the shared attention's K and V (2 KV heads of 24); every layer keeps its
    Mamba state (d_inner × d_state, split over heads, plus the conv window). FLOPs: the shared block's weights once
    per use, its attention per use, the Mamba scan in every layer."""
    arch = _arch(SMALL)
    d, hd, di, s, k, hybrid = 48, 24, 96, 12, 3, 3
    assert kv_bytes_per_token(arch) == hybrid * 2 * 2 * hd * BF16
    assert state_bytes(arch) == 9 * (di * s + di * k) * BF16
    assert state_flops(arch) == 9 * 9 * di * s
    assert attention_flops(arch, 1000) == hybrid * 2 * 4 * (hd + hd) * 1000
    shared_matmul = 2 * d * 8 * hd + 4 * hd * d + 3 * d * 72  # per use
    mamba_matmul = d * 2 * di + di * k + di * (5 + 2 * s) + 5 * di + di * d
    assert matmul_flops(arch) == 2 * (hybrid * (shared_matmul + d * d) + 9 * mamba_matmul + 500 * d)


def test_the_shared_attention_reads_twice_the_width_and_scales_by_half_the_head():
    m = _arch(SMALL).shared_blocks["attention"].mixer
    assert (m.d_in, m.head_dim, m.rope) == (96, 24, None)
    assert math.isclose(m.scale, 1 / math.sqrt(12))


def test_hostile_configs_are_one_line_errors():
    with pytest.raises(DerivationError, match="n_mamba_heads 5 must divide"):
        derive(SMALL | {"n_mamba_heads": 5})
    with pytest.raises(DerivationError, match="at least 3 layers"):
        derive(SMALL | {"num_hidden_layers": 2})
    with pytest.raises(DerivationError, match="not a layer type"):
        derive(SMALL | {"layers_block_type": ["hybrid", "attention_please"] + ["mamba"] * 7})


def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys):
    drafts_a_clean_spec(tmp_path, {"model_type": "zamba"}, capsys)


def test_the_try_page_reads_it():
    the_try_page_counts_it(SMALL)


# --- the hybrid layer's toy against transformers' ZambaHybridLayer (float64) -------------------------------------

_NAMES = {"input_norm": "shared_transf.input_layernorm", "pre_ff_norm": "shared_transf.pre_ff_layernorm",
          "linear": "linear", "mixer_norm": "mamba_decoder.input_layernorm"} | {
    k: f"shared_transf.self_attn.{k}" for k in ("q_proj", "k_proj", "v_proj", "o_proj")} | {
    k: f"shared_transf.feed_forward.{k}" for k in ("gate_proj", "up_proj", "down_proj")} | {
    k: f"mamba_decoder.mamba.{k}" for k in ("in_proj", "conv1d", "out_proj", "dt_proj_bias", "A_log", "D")}


def _hf_weights(w: dict) -> dict:
    """The toy's weights under ZambaHybridLayer's names and layouts: nn.Linear (out, in), the conv (channels, 1, taps),
    x_proj_weight (heads, Δ rank + 2 d_state, head_dim), dt_proj_weight (heads, head_dim, Δ rank)."""
    from .test_toy import _renamed

    w = dict(w)
    per_head = {f"mamba_decoder.mamba.{k}": w.pop(k).transpose(0, 2, 1) for k in ("x_proj_weight", "dt_proj_weight")}
    return _renamed(_NAMES, w, "") | per_head


@pytest.mark.parametrize("config", [SMALL, SMALL | {"num_key_value_heads": 4, "n_mamba_heads": 2}])
def test_hybrid_layer_toy_equals_transformers(config):
    """The toy of a hybrid layer (the shared block on concat(x, x₀), this layer's linear, the multi-head Mamba layer
    on x + its output, the residual from x) equals ZambaHybridLayer built at the toy's widths."""
    import torch
    from torch import nn
    from transformers import ZambaConfig
    from transformers.models.zamba import modeling_zamba as zm

    from gallery.toy import toy_trace

    toy = toy_trace(_arch(config), 2, 6, seed=3)
    m, sb = toy.arch.blocks["hybrid"].mixer, toy.arch.shared_blocks["attention"]
    d = toy.arch.d_model
    cfg = ZambaConfig(hidden_size=d, num_hidden_layers=3, vocab_size=32, n_mamba_heads=m.n_heads,
                      mamba_expand=m.d_inner // d, mamba_d_state=m.d_state, mamba_dt_rank=m.dt_rank,
                      mamba_d_conv=m.conv_kernel, num_attention_heads=sb.mixer.n_heads,
                      num_key_value_heads=sb.mixer.n_kv_heads, attention_head_dim=sb.mixer.head_dim,
                      intermediate_size=sb.ffn.d_ff, rms_norm_eps=toy.arch.norm.eps)
    cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    layer = zm.ZambaHybridLayer(zm.ZambaAttentionDecoderLayer(cfg), nn.Linear(d, d, bias=False),
                                zm.ZambaMambaDecoderLayer(cfg, layer_idx=2)).double().eval()
    toy_equals_hybrid_layer(toy, layer, _hf_weights(toy.weights), 2)


def toy_equals_hybrid_layer(toy, layer, state: dict, layer_idx: int, **kwargs) -> None:
    """Load the toy's weights (``state``: under the layer's names and layouts) into transformers' hybrid ``layer``
    (float64), run both on the same 6 tokens beside the toy's stand-in input embeddings, causally masked, and compare
    within 1e-6; ``kwargs`` go to the layer's forward."""
    import numpy as np
    import torch

    from gallery.sharedblock import embeddings_toy
    from gallery.toy import toy_forward

    params, d = dict(layer.named_parameters()), toy.arch.d_model
    assert set(params) == set(state)
    with torch.no_grad():
        for name, value in state.items():
            assert params[name].shape == value.shape, name
            params[name].copy_(torch.from_numpy(np.ascontiguousarray(value)))
        x = np.random.default_rng(7).standard_normal((6, d))
        mask = torch.full((6, 6), float("-inf"), dtype=torch.float64).triu(1)[None, None]
        out = layer(torch.from_numpy(x)[None], original_hidden_states=torch.from_numpy(embeddings_toy(6, d))[None],
                    layer_idx=layer_idx, causal_mask=mask, **kwargs)
    steps = toy_forward(toy.arch, toy.weights, x)
    np.testing.assert_allclose(steps[-1].value, out[0].numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("change", "message"), [
    ({"mamba_dt_rank": "x"}, "mamba_dt_rank is 'x': expected a positive integer or \"auto\""),
    ({"n_mamba_heads": "2"}, "n_mamba_heads is \"2\", a string"),
    ({"attn_layer_period": 0}, "attn_layer_period is 0"),
    ({"attention_head_dim": -1}, "attention_head_dim is -1"),
    ({"layers_block_type": "hybrid"}, "layers_block_type"),
])
def test_hostile_values_are_one_line_problems_on_the_try_page(change, message):
    from gallery.trial import TrialError, spec_from_config

    with pytest.raises(TrialError, match=message):
        spec_from_config(SMALL | change)


def test_the_shared_block_shows_in_the_diagram_compare_table_and_changes():
    """Drawn once, in a frame saying it is stored once and where it runs, with each use's linear in the hybrid frame;
    a compare row and a change of its own."""
    from gallery import changes, compare
    from gallery.diagram import to_dot
    from gallery.trial import spec_from_config

    spec, plain = spec_from_config(SMALL), spec_from_config(SMALL | {"layers_block_type": ["mamba"] * 9})
    dot = to_dot(spec)
    assert dot.count("cluster_shared_attention") == 1
    assert "weights stored once (tied) · runs at 3 layers (2, 4, 7)" in dot
    assert "this layer's own linear 48 → 48" in dot and "q, k, v read 96; o_proj back to 48" in dot
    table = compare.frame([plain, spec])
    row = table.loc[("Attention", "shared blocks")].tolist()
    assert row == ["—", "GQA + dense block, stored once, run at 3 layers"]
    assert "shared blocks added (GQA + dense block, stored once, run at 3 layers)" in [
        c.phrase for c in changes.changes(plain, spec)]


def test_the_try_page_shows_a_zamba_config():
    """Pasted on the Try page: no exception, no error, the exact total."""
    import json

    from .conftest import page_facts
    from .test_app import _app

    at = _app("views/try.py", mode="paste or upload")
    at.text_area(key="pasted").set_value(json.dumps(SMALL)).run()
    assert not at.exception and not at.error
    assert page_facts(at)["Total parameters"][1] == f"{reference_param_count(SMALL):,}"
