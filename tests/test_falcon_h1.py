"""Falcon-H1: a Mamba-2 mixer and GQA attention side by side in every layer (the block's ``parallel_mixer``).

Each config is compared with the model transformers builds on the meta device, exactly: the default config,
variants that change every size the config has (Mamba widths, heads, groups, state, kernel, the inner width
``mamba_d_ssm`` or its fallback ``mamba_expand × hidden_size``, the gated norm's presence and order, the biases,
attention heads and head_dim, tying, vocab, layers), and the configs transformers refuses (its read-only
``layers_block_type`` and the alias ``layer_types``). The cache, FLOPs, diagram and trace of the two mixers are
derived by hand; the toy layer (both mixers summed, then the MLP) equals FalconH1DecoderLayer with the toy's weights.
"""

from __future__ import annotations

import re

import pytest

from gallery.changes import changes
from gallery.compare import rows
from gallery.counts import total_params
from gallery.derive import DerivationError, derive
from gallery.diagram import to_dot
from gallery.flops import attention_flops, state_flops
from gallery.memory import kv_bytes, kv_bytes_per_token, layer_caches, state_bytes
from gallery.toy import toy_trace
from gallery.trace import trace
from gallery.trial import spec_from_config

from .reference import reference_param_count
from .test_model_types import _arch, _reference, drafts_a_clean_spec, exact_or_refused_alike, the_try_page_counts_it
from .test_model_types_hybrid import _toy_equals_transformers
from .test_toy import SEQ, _renamed

SMALL = {"model_type": "falcon_h1", "vocab_size": 500, "hidden_size": 96, "intermediate_size": 160,
         "num_attention_heads": 6, "num_key_value_heads": 2, "num_hidden_layers": 3, "mamba_d_ssm": 144,
         "mamba_n_heads": 12, "mamba_d_head": "auto", "mamba_n_groups": 2, "mamba_d_state": 16, "mamba_d_conv": 3,
         "mamba_chunk_size": 32}
VARIANTS = {
    "small": {}, "mamba heads": {"mamba_n_heads": 24}, "mamba head dim": {"mamba_n_heads": 8, "mamba_d_head": 18},
    "mamba groups": {"mamba_n_groups": 4}, "mamba state": {"mamba_d_state": 8},
    "mamba conv": {"mamba_d_conv": 5, "mamba_conv_bias": False}, "in_proj bias": {"mamba_proj_bias": True},
    "out_proj bias": {"projectors_bias": True}, "d_ssm from expand": {"mamba_d_ssm": None, "mamba_expand": 1},
    "d_ssm from expand 2": {"mamba_d_ssm": None}, "rms norm": {"mamba_rms_norm": True},
    "rms norm, gate first": {"mamba_rms_norm": True, "mamba_norm_before_gate": False},
    "heads not filling": {"mamba_n_heads": 10}, "d_head wrong": {"mamba_d_head": 7},
    "mha": {"num_key_value_heads": 6}, "mqa": {"num_key_value_heads": 1}, "kv default": {"num_key_value_heads": None},
    "head_dim": {"head_dim": 24}, "biases": {"attention_bias": True, "mlp_bias": True},
    "tied": {"tie_word_embeddings": True}, "vocab": {"vocab_size": 777}, "width": {"hidden_size": 48},
    "5 layers": {"num_hidden_layers": 5}, "ffn": {"intermediate_size": 40},
    "rope": {"rope_parameters": {"rope_type": "linear", "rope_theta": 1e5, "factor": 2.0}},
    "layers_block_type": {"layers_block_type": ["hybrid"] * 3}, "layer_types": {"layer_types": ["hybrid"] * 3},
}


def test_default_config_is_exact():
    config = {"model_type": "falcon_h1"}
    assert total_params(_arch(config)) == reference_param_count(config)


@pytest.mark.parametrize("variant", VARIANTS)
def test_varied_configs_are_exact(variant):
    """Each size changed: the count equals transformers'; a config transformers refuses is refused too."""
    built = exact_or_refused_alike(SMALL | VARIANTS[variant])
    if not built:
        return
    arch, model = built
    (block,) = arch.blocks.values()
    built_layer = model.model.layers[0]
    assert block.mixer.d_inner == built_layer.mamba.intermediate_size
    assert block.parallel_mixer.head_dim == built_layer.self_attn.head_dim
    assert (block.mixer.gated_norm != "none") == hasattr(built_layer.mamba.norm, "weight")


@pytest.mark.parametrize("key", ["layers_block_type", "layer_types"])
def test_the_read_only_layer_types_are_refused_in_one_line(key):
    config = SMALL | {key: ["hybrid"] * 3}
    assert _reference(config) is None  # FalconH1Config: the property has no setter
    with pytest.raises(DerivationError, match=f"{key} cannot be set for falcon_h1"):
        derive(config)


def test_the_mixers_sit_side_by_side_with_their_gated_norm():
    arch = _arch(SMALL | {"mamba_rms_norm": True})
    (block,) = arch.blocks.values()
    assert (block.mixer.kind, block.parallel_mixer.kind, block.ffn.kind) == ("mamba2", "gqa", "mlp")
    assert block.mixer.gated_norm == "norm_first" and block.mixer.d_inner == 144 and block.mixer.head_dim == 12
    assert _arch(SMALL).blocks["hybrid"].mixer.gated_norm == "none"


@pytest.mark.parametrize(("change", "message"), [
    ({"mamba_d_ssm": "big"}, "mamba_d_ssm is \"big\", a string: expected a positive integer or null"),
    ({"mamba_rms_norm": "yes"}, "mamba_rms_norm is \"yes\", a string: expected a boolean or null"),
    ({"mamba_d_ssm": None, "mamba_expand": None}, "mamba_expand is null: falcon_h1 builds no Mamba layer"),
    ({"mamba_d_head": "x"}, "mamba_n_heads 12 × mamba_d_head 'x' must equal mamba_d_ssm"),
    ({"num_hidden_layers": 10**9}, "expected a positive integer up to 1,024"),
])
def test_hostile_configs_get_one_line(change, message):
    with pytest.raises(DerivationError, match=re.escape(message)):
        derive(SMALL | change)


@pytest.mark.parametrize(("change", "message"), [
    ({"parallel": True}, "parallel_mixer goes beside a mixer, in a block that is not parallel"),
    ({"mixer": None}, "parallel_mixer goes beside a mixer"),
    ({"mixer": "attention"}, "at most one of them attention"),
])
def test_a_parallel_mixer_is_wired_beside_a_mixer_of_another_kind(change, message):
    """C006: beside a mixer (not in a GPT-J parallel block), of another kind, and at most one attention (one KV
    cache per layer)."""
    from pydantic import ValidationError

    from gallery.codes import code_for
    from gallery.spec import Block

    block = _arch(SMALL).blocks["hybrid"].model_dump()
    if change.get("mixer") == "attention":
        change = {"mixer": block["parallel_mixer"] | {"n_kv_heads": 6, "kind": "mha"}}
    with pytest.raises(ValidationError, match=re.escape(message)) as err:
        Block.model_validate(block | change, strict=False)
    assert code_for(err.value.errors()[0]["type"]) == "C006"


# --- cache and FLOPs, by hand from the config numbers -----------------------------------------------------------

BF16 = 2


def test_cache_and_flops_by_hand():
    """Every layer keeps the attention's K and V per token and the Mamba-2 state; both mixers cost FLOPs."""
    arch = _arch(SMALL)
    layers, kv_heads, head_dim, heads = 3, 2, 96 // 6, 6
    m_heads, m_head_dim, groups, state, kernel = 12, 144 // 12, 2, 16, 3
    conv = m_heads * m_head_dim + 2 * groups * state  # x, B and C through the convolution
    fixed = m_heads * m_head_dim * state + conv * kernel
    assert kv_bytes_per_token(arch) == layers * 2 * kv_heads * head_dim * BF16
    assert state_bytes(arch) == layers * fixed * BF16
    assert kv_bytes(arch, 100, batch=2) == layers * (100 * 2 * kv_heads * head_dim + fixed) * 2 * BF16
    assert state_flops(arch) == layers * 5 * m_heads * m_head_dim * state  # decay, Δ·x·B, add, C·h per element
    assert attention_flops(arch, 100) == layers * 2 * heads * 2 * head_dim * 100  # QKᵀ and A·V over 100 tokens
    (cache,) = layer_caches(arch)
    assert "2 × n_kv_heads × head_dim" in cache.formula and "n_heads × head_dim × d_state" in cache.state_formula


# --- diagram and trace --------------------------------------------------------------------------------------------

def test_the_diagram_draws_both_mixers_from_one_norm_into_one_add():
    spec = spec_from_config(SMALL)
    dot = to_dot(spec)
    assert "Mamba-2 state-space mixer" in dot and "Grouped-query attention" in dot
    assert "Hybrid block (two mixers side by side) × 3" in dot
    pre, add = "hybrid.mixer_pre", "hybrid.add1"
    for node in ("hybrid.mixer", "hybrid.parallel_mixer"):
        assert f'"{pre}" -> "{node}"' in dot and f'"{node}" -> "{add}"' in dot


def test_the_trace_runs_both_mixers_and_adds_up_to_the_count():
    arch = _arch(SMALL)
    steps = trace(arch, 0, 5)
    ops = [s.op for s in steps]
    assert ops.index("in_proj") < ops.index("q_proj") < ops.index("add the mixers") < ops.index("gate_proj")
    per_layer = (total_params(arch) - 2 * 500 * 96 - 96) // 3  # embeddings, head and final norm apart
    assert sum(s.n_params for s in steps) == per_layer


def test_compare_and_changes_read_both_mixers(bundled):
    """The compare table has the facts of both kinds of the block; the change of mixer names both, side by side."""
    qwen3, falcon = bundled["qwen3-8b"][0], spec_from_config(SMALL)
    table = {r.field: r.values for r in rows([qwen3, falcon])}
    assert table["query heads"] == (32, 6) and table["SSM heads × head dim"] == (None, "12 × 12")
    assert "Mamba-2 + GQA (was GQA)" in [c.phrase for c in changes(qwen3, falcon)]


# --- drafting and the Try page ------------------------------------------------------------------------------------

def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys):
    drafts_a_clean_spec(tmp_path, {"model_type": "falcon_h1"}, capsys)


def test_the_try_page_reads_it():
    the_try_page_counts_it(SMALL)


def test_the_try_page_shows_it():
    """Pasted on the Try page: no error, the exact total, the diagram with both mixers."""
    import json

    from .conftest import diagram_text, page_diagrams, page_facts
    from .test_app import _app

    at = _app("views/try.py", mode="paste or upload")
    at.text_area(key="pasted").set_value(json.dumps(SMALL)).run()
    assert not at.exception and not at.error
    assert page_facts(at)["Total parameters"][1] == f"{reference_param_count(SMALL):,}"
    texts = [diagram_text(svg) for svg in page_diagrams(at)]
    assert any("Mamba-2 state-space mixer" in t and "Grouped-query attention" in t for t in texts)


# --- the toy layer against FalconH1DecoderLayer ------------------------------------------------------------------

_TOY = {"model_type": "falcon_h1", "num_hidden_layers": 1, "vocab_size": 32, "hidden_size": 16,
        "intermediate_size": 12, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "mamba_d_ssm": 16,
        "mamba_n_heads": 4, "mamba_n_groups": 2, "mamba_d_state": 4, "mamba_chunk_size": 4}
_NAMES = {"mixer_norm": "input_layernorm", "ffn_norm": "pre_ff_layernorm"} | {
    k: f"mamba.{k}" for k in ("in_proj", "conv1d", "dt_bias", "A_log", "D", "norm", "out_proj")} | {
    k: f"self_attn.{k}" for k in ("q_proj", "k_proj", "v_proj", "o_proj")} | {
    k: f"feed_forward.{k}" for k in ("gate_proj", "up_proj", "down_proj")}


@pytest.mark.parametrize("change", [{}, {"mamba_rms_norm": True},
                                    {"mamba_rms_norm": True, "mamba_norm_before_gate": False},
                                    {"projectors_bias": True, "mamba_proj_bias": True, "attention_bias": True}])
def test_toy_layer_equals_transformers(change):
    """The toy keeps these widths (d_model 16, 4 Mamba heads of 4 in 2 groups, a state of 4, chunks of 4 so six
    tokens span two; 4 attention heads of 8 in 2 KV groups; d_ff 12), so the config above is the toy's; the
    multipliers are transformers' defaults, 1."""
    cfg = _TOY | change
    toy = toy_trace(_arch(cfg), 0, SEQ, seed=3)
    assert toy.arch.d_model == 16 and "add the mixers" in [s.op for s in toy.steps]
    weights = dict(toy.weights)
    weights["conv1d.weight"] = weights["conv1d.weight"].T  # the toy's (conv_kernel, conv_dim): as _renamed takes it
    _toy_equals_transformers(toy, cfg, 0, _renamed(_NAMES, weights, "model.layers.0."))
