"""Zamba2 (``models/zamba2``): Mamba-2 layers, and ``num_mem_blocks`` shared attention blocks the hybrid layers take in
turn, each use with its own LoRA adapters inside the block.

Counts are compared with the model transformers builds on the meta device, exactly: the default config, variants that
change every size (layers and the hybrid pattern, widths, heads and KV heads, Mamba heads, groups, state, conv,
expand, the number of shared blocks, the adapters' rank and whether q, k, v have them, RoPE, biases, tying, vocab) and
the attribute_map aliases. By hand: a tied model holds each block once with one adapter set per use of it; an untied
one a copy per use, each with every use's adapters; the cache keeps the shared attention's K and V at every hybrid
layer; FLOPs multiply, per use, the block and that use's adapters only. The toy of a hybrid layer equals transformers'
``Zamba2HybridLayer`` in float64.
"""

from __future__ import annotations

import pytest

from gallery.counts import param_terms, total_params
from gallery.derive import DerivationError, derive
from gallery.flops import attention_flops, matmul_flops, state_flops
from gallery.memory import kv_bytes_per_token, state_bytes

from .reference import reference_param_count
from .test_model_types import _arch, drafts_a_clean_spec, the_try_page_counts_it
from .test_zamba import exact_with_hybrid_layers_alike

H, M = "hybrid", "linear_attention"
# every width distinct, so a width read into the wrong place shows; hybrid layers 1, 3, 4 and 6
SMALL = {"model_type": "zamba2", "vocab_size": 500, "hidden_size": 48, "intermediate_size": 72,
         "num_attention_heads": 4, "num_hidden_layers": 7, "n_mamba_heads": 4, "mamba_d_state": 8, "mamba_d_conv": 3,
         "adapter_rank": 5, "layers_block_type": [M, H, M, H, H, M, H]}
VARIANTS = {
    "small": {}, "gqa": {"num_key_value_heads": 2}, "mqa": {"num_key_value_heads": 1},
    "heads": {"num_attention_heads": 6}, "width": {"hidden_size": 96}, "d_ff": {"intermediate_size": 40},
    "d_ff null": {"intermediate_size": None}, "mamba heads": {"n_mamba_heads": 8}, "groups": {"mamba_ngroups": 2},
    "state": {"mamba_d_state": 12}, "conv": {"mamba_d_conv": 5}, "expand": {"mamba_expand": 3},
    "biases": {"add_bias_linear": True, "use_conv_bias": False}, "untied": {"tie_word_embeddings": False},
    "vocab": {"vocab_size": 777}, "rank": {"adapter_rank": 3},
    "two blocks": {"num_mem_blocks": 2}, "two blocks untied": {"num_mem_blocks": 2, "tie_word_embeddings": False},
    "three blocks": {"num_mem_blocks": 3}, "more blocks than uses": {"num_mem_blocks": 6},
    "more blocks than uses untied": {"num_mem_blocks": 6, "tie_word_embeddings": False},
    "attention adapters": {"use_shared_attention_adapter": True},
    "attention adapters, two blocks untied": {"use_shared_attention_adapter": True, "num_mem_blocks": 2,
                                              "tie_word_embeddings": False},
    "rope": {"use_mem_rope": True, "rope_parameters": {"rope_type": "default", "rope_theta": 5000.0}},
    "long context": {"use_mem_rope": True, "use_long_context": True},
    "legacy names": {"layers_block_type": ["mamba", H, "mamba", H, H, "mamba", H]},
    "one hybrid": {"layers_block_type": [M, M, M, H, M, M, M]},
    "one hybrid untied": {"layers_block_type": [M, M, M, H, M, M, M], "tie_word_embeddings": False},
    "no hybrid": {"layers_block_type": [M] * 7},
    "not a layer type": {"layers_block_type": [H, "attention_please"] + [M] * 5},
    "too few entries": {"layers_block_type": [H, M]},
}


def test_default_config_is_exact():
    """Zamba2Config's default is Zamba2-2.7B's shape: 54 layers of 2,560, 9 of them hybrid, one shared block."""
    arch = _arch({"model_type": "zamba2"})
    assert total_params(arch) == reference_param_count({"model_type": "zamba2"})
    assert [i for i, k in enumerate(arch.layers) if k == "hybrid"] == [6, 12, 18, 24, 30, 36, 42, 47, 51]


@pytest.mark.parametrize("variant", VARIANTS)
def test_varied_configs_are_exact(variant):
    """Each size changed: the count equals transformers', and the hybrid layers are where transformers put them; a
    config transformers refuses is refused too."""
    exact_with_hybrid_layers_alike(SMALL | VARIANTS[variant], "shared_transformer")


def test_configs_spelled_with_attribute_map_aliases_are_exact():
    """layer_types for layers_block_type (PreTrainedConfig sets it after Zamba2Config.__post_init__ has taken
    hybrid_layer_ids from layers_block_type, so it needs hybrid_layer_ids beside it), head_dim for
    attention_head_dim (which __post_init__ sets to 2 × hidden_size // heads, but a stored value overrides)."""
    layers = SMALL["layers_block_type"][::-1]
    config = {k: v for k, v in SMALL.items() if k != "layers_block_type"} | {
        "layer_types": layers, "hybrid_layer_ids": [0, 2, 3, 5], "head_dim": 20}
    arch = _arch(config)
    assert arch.shared_blocks["attention"].mixer.head_dim == 20 and arch.layers[0] == "hybrid"
    assert total_params(arch) == reference_param_count(config)


def test_a_config_as_transformers_saves_it_is_exact():
    """save_pretrained stores what __post_init__ set: attention_head_dim, attention_hidden_size, mamba_headdim,
    hybrid_layer_ids; read back as they are."""
    config = SMALL | {"attention_head_dim": 24, "attention_hidden_size": 96, "mamba_headdim": 24,
                      "hybrid_layer_ids": [1, 3, 4, 6], "use_shared_attention_adapter": True}
    assert total_params(_arch(config)) == reference_param_count(config)


D, V, DFF, HD, R = 48, 500, 72, 24, 5  # HD: 2 × 48 / 4 heads
DI, G, N, K, MH = 96, 1, 8, 3, 4  # Mamba-2: inner 2 × 48, groups, state, conv, heads
CONV = DI + 2 * G * N
MAMBA = D * (DI + CONV + MH) + CONV * K + CONV + 3 * MH + DI + DI * D + D  # in, conv, dt/A/D, norm, out, its norm
BASE = 3 * 2 * D * 4 * HD + 4 * HD * D + 3 * D * DFF + 2 * D + D  # q, k, v from 2·d; o_proj; the MLP; two norms
FFN_ADAPTER = D * R + R * 2 * DFF
QKV_ADAPTERS = 3 * (2 * D * R + R * 2 * D)


def test_tied_blocks_hold_each_use_s_adapters_once_by_hand():
    """One block, four uses: the block once with four adapter sets, a d × d linear per use, Mamba-2 everywhere."""
    arch = _arch(SMALL)
    assert total_params(arch) == V * D + 7 * MAMBA + 4 * D * D + BASE + 4 * FFN_ADAPTER + D
    (adapter,) = [t for t in param_terms(arch) if t.name == "gate_up_adapter.up"]
    assert adapter.formula == "rank × 2 × d_ff × uses = 5 × 144 × 4 = 2,880" and adapter.repeat == 1


def test_untied_copies_hold_every_use_s_adapters_by_hand():
    """Untied: a copy per use, each holding the adapters of every use of its block (nn.Identity elsewhere); two blocks
    taken in turn by four uses: two uses each."""
    arch = _arch(SMALL | {"tie_word_embeddings": False})
    assert total_params(arch) == 2 * V * D + 7 * MAMBA + 4 * D * D + 4 * (BASE + 4 * FFN_ADAPTER) + D
    two = _arch(SMALL | {"tie_word_embeddings": False, "num_mem_blocks": 2, "use_shared_attention_adapter": True})
    per_copy = BASE + 2 * (FFN_ADAPTER + QKV_ADAPTERS)
    assert total_params(two) == 2 * V * D + 7 * MAMBA + 4 * D * D + 4 * per_copy + D
    tied = _arch(SMALL | {"num_mem_blocks": 2, "use_shared_attention_adapter": True})
    assert total_params(tied) == V * D + 7 * MAMBA + 4 * D * D + 2 * per_copy + D


def test_uses_take_the_blocks_in_turn():
    """Hybrid layer i runs block i mod num_mem_blocks (Zamba2Model.get_layers: block_id), and only blocks some layer
    runs are built."""
    from gallery.sharedblock import turns

    arch = _arch(SMALL | {"num_mem_blocks": 3})
    assert turns(arch) == [(1, "attention_0"), (3, "attention_1"), (4, "attention_2"), (6, "attention_0")]
    assert arch.blocks["hybrid"].shared.block == ["attention_0", "attention_1", "attention_2"]
    assert list(_arch(SMALL | {"num_mem_blocks": 9}).shared_blocks) == [f"attention_{i}" for i in range(4)]
    assert list(_arch(SMALL).shared_blocks) == ["attention"]


BF16 = 2


@pytest.mark.parametrize("change", [{}, {"tie_word_embeddings": False, "num_mem_blocks": 2}])
def test_cache_and_flops_by_hand(change):
    """KV per use: each of the 4 hybrid layers keeps its K and V (4 heads of 24); every layer keeps its Mamba-2 state
    (heads × head_dim × d_state, plus the conv window). FLOPs: per use, the block's weights and that use's adapters
    only (an untied copy holds four sets but runs one), its attention per use, the Mamba-2 state in every layer."""
    arch = _arch(SMALL | {"use_shared_attention_adapter": True} | change)
    hybrid, P = 4, DI // MH
    assert kv_bytes_per_token(arch) == hybrid * 2 * 4 * HD * BF16
    assert state_bytes(arch) == 7 * (MH * P * N + CONV * K) * BF16
    assert state_flops(arch) == 7 * 5 * MH * P * N
    assert attention_flops(arch, 1000) == hybrid * 2 * 4 * (HD + HD) * 1000
    shared = 3 * 2 * D * 4 * HD + 4 * HD * D + 3 * D * DFF + FFN_ADAPTER + QKV_ADAPTERS  # per use
    mamba = D * (DI + CONV + MH) + CONV * K + DI * D
    assert matmul_flops(arch) == 2 * (hybrid * (shared + D * D) + 7 * mamba + V * D)


def test_the_shared_attention_reads_twice_the_width_with_rope_only_when_asked():
    import math

    m = _arch(SMALL).shared_blocks["attention"].mixer
    assert (m.d_in, m.head_dim, m.rope) == (96, 24, None) and math.isclose(m.scale, 1 / math.sqrt(12))
    arch = _arch(SMALL | {"use_mem_rope": True, "use_long_context": True})
    assert arch.shared_blocks["attention"].mixer.rope.theta == 10000.0 and arch.context_length == 16384


def test_the_mamba2_layers_have_a_conv_bias_always_and_a_grouped_gated_norm():
    m = _arch(SMALL | {"use_conv_bias": False, "mamba_ngroups": 2, "add_bias_linear": True}).blocks["hybrid"].mixer
    assert (m.kind, m.n_heads, m.head_dim, m.n_groups, m.conv_bias, m.bias, m.gated_norm) == (
        "mamba2", 4, 24, 2, True, True, "gate_first")


@pytest.mark.parametrize(("change", "message"), [
    ({"n_mamba_heads": 5}, "n_mamba_heads 5 must divide mamba_expand × hidden_size = 96"),
    ({"num_mem_blocks": 0}, "num_mem_blocks is 0: expected a positive integer"),
    ({"use_shared_attention_adapter": True, "num_key_value_heads": 2}, "use_shared_attention_adapter with 4 heads"),
    ({"layers_block_type": None}, "Zamba2Config lists its own 54 layers"),
    # layer_types alone: transformers takes hybrid_layer_ids from its default pattern, then builds these layers
    ({"layers_block_type": None, "layer_types": SMALL["layers_block_type"]},
     r"hybrid_layer_ids \[6, 12, 18, 24, 30, 36, 42, 47, …\] \(from Zamba2Config's default pattern, as layer_types"),
    ({"hybrid_layer_ids": [1, 3]}, r"hybrid_layer_ids \[1, 3\] \(as config.json gives them\) differ from the "
     r"hybrid layers \[1, 3, 4, 6\]"),
    ({"attention_hidden_size": 80}, "attention_hidden_size 80 must be 2 × hidden_size = 96"),
    ({"mamba_headdim": 12}, "mamba_headdim 12 × n_mamba_heads 4 must equal"),
])
def test_configs_transformers_cannot_run_are_one_line_errors(change, message):
    with pytest.raises(DerivationError, match=message):
        derive(SMALL | change)


@pytest.mark.parametrize(("change", "message"), [
    ({"num_mem_blocks": "2"}, "num_mem_blocks is \"2\", a string"),
    ({"adapter_rank": -1}, "adapter_rank is -1"),
    ({"use_mem_rope": "yes"}, "use_mem_rope"),
    ({"layers_block_type": "hybrid"}, "layers_block_type"),
])
def test_hostile_values_are_one_line_problems_on_the_try_page(change, message):
    from gallery.trial import TrialError, spec_from_config

    with pytest.raises(TrialError, match=message):
        spec_from_config(SMALL | change)


def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys):
    drafts_a_clean_spec(tmp_path, {"model_type": "zamba2"}, capsys)


def test_new_drafts_a_spec_with_blocks_in_turn_that_lints_clean(tmp_path, capsys):
    drafts_a_clean_spec(tmp_path, SMALL | {"num_mem_blocks": 2, "use_shared_attention_adapter": True}, capsys)


def test_the_try_page_reads_it():
    the_try_page_counts_it(SMALL | {"num_mem_blocks": 2})


def test_the_shared_blocks_show_in_the_diagram_and_compare_table():
    """Each block drawn once, in a frame saying where it runs and that its adapters are per use; the hybrid frame says
    the blocks are taken in turn; a compare row with the adapters."""
    from gallery import compare
    from gallery.diagram import to_dot
    from gallery.trial import spec_from_config

    spec = spec_from_config(SMALL | {"num_mem_blocks": 2, "use_shared_attention_adapter": True})
    dot = to_dot(spec)
    assert dot.count("cluster_shared_attention_0") == 1 and dot.count("cluster_shared_attention_1") == 1
    assert "weights stored once (tied) · runs at 2 layers (1, 4)" in dot
    assert "weights stored once (tied) · runs at 2 layers (3, 6)" in dot
    assert "shared blocks 'attention_0', 'attention_1' in turn (drawn once, beside)" in dot
    assert "each use's own LoRA adapters (rank 5) on q, k, v, gate|up · 2 sets held" in dot
    row = compare.frame([spec]).loc[("Attention", "shared blocks")].tolist()
    assert row == ["MHA + dense block, stored once, run at 2 layers, rank-5 adapters per use; "
                   "MHA + dense block, stored once, run at 2 layers, rank-5 adapters per use"]


# --- the hybrid layer's toy against transformers' Zamba2HybridLayer (float64) ------------------------------------

_NAMES = {"input_norm": "shared_transformer.input_layernorm", "pre_ff_norm": "shared_transformer.pre_ff_layernorm",
          "linear": "linear", "mixer_norm": "mamba_decoder.input_layernorm",
          "down_proj": "shared_transformer.feed_forward.down_proj",
          "gate_up_proj_adapter.0": "shared_transformer.feed_forward.gate_up_proj_adapter_list.0.0",
          "gate_up_proj_adapter.1": "shared_transformer.feed_forward.gate_up_proj_adapter_list.0.1"} | {
    k: f"shared_transformer.self_attn.{k}" for k in ("q_proj", "k_proj", "v_proj", "o_proj")} | {
    f"linear_{p}_adapter.{i}": f"shared_transformer.self_attn.linear_{p}_adapter_list.0.{i}"
    for p in "qkv" for i in (0, 1)} | {
    k: f"mamba_decoder.mamba.{k}" for k in ("in_proj", "conv1d", "out_proj", "dt_bias", "A_log", "D", "norm")}


def _hf_weights(w: dict) -> dict:
    """The toy's weights under Zamba2HybridLayer's names and layouts: nn.Linear (out, in), the conv (channels, 1,
    taps), gate and up fused into gate_up_proj (gate first, Zamba2MLP's chunk)."""
    import numpy as np

    from .test_toy import _renamed

    w = dict(w)
    w["conv1d.weight"] = w["conv1d.weight"].T  # the toy's (taps, channels)
    fused = np.concatenate([w.pop("gate_proj.weight"), w.pop("up_proj.weight")], axis=1).T
    biases = [w.pop(f"{p}_proj.bias") for p in ("gate", "up") if f"{p}_proj.bias" in w]
    out = _renamed(_NAMES, w, "") | {"shared_transformer.feed_forward.gate_up_proj.weight": fused}
    if biases:
        out["shared_transformer.feed_forward.gate_up_proj.bias"] = np.concatenate(biases)
    return out


@pytest.mark.parametrize("change", [
    {"use_shared_attention_adapter": True},
    {"num_attention_heads": 2, "mamba_ngroups": 2, "add_bias_linear": True},
    {"use_shared_attention_adapter": True, "use_mem_rope": True},
])
def test_hybrid_layer_toy_equals_transformers(change):
    """The toy of a hybrid layer (the shared block on concat(x, x₀) with this use's adapters after q, k, v and
    gate|up, this layer's linear, the Mamba-2 layer on x + its output, the residual from x) equals Zamba2HybridLayer built at
    the toy's widths."""
    import torch
    from torch import nn
    from transformers import Zamba2Config
    from transformers.models.zamba2 import modeling_zamba2 as zm

    from gallery.toy import toy_trace

    from .test_zamba import toy_equals_hybrid_layer

    toy = toy_trace(_arch(SMALL | change), 1, 6, seed=3)
    m, sb = toy.arch.blocks["hybrid"].mixer, toy.arch.shared_blocks["attention"]
    d = toy.arch.d_model
    assert sb.mixer.head_dim == 2 * d // sb.mixer.n_heads  # Zamba2's head width, kept at toy size
    rope = sb.mixer.rope
    cfg = Zamba2Config(hidden_size=d, num_hidden_layers=1, layers_block_type=["hybrid"], vocab_size=32,
                       n_mamba_heads=m.n_heads, mamba_expand=m.d_inner // d, mamba_ngroups=m.n_groups,
                       mamba_d_state=m.d_state, mamba_d_conv=m.conv_kernel, chunk_size=m.chunk_size,
                       num_attention_heads=sb.mixer.n_heads, num_key_value_heads=sb.mixer.n_kv_heads,
                       intermediate_size=sb.ffn.d_ff, adapter_rank=sb.adapters.rank,
                       use_shared_attention_adapter=sb.adapters.attention, add_bias_linear=m.bias,
                       use_mem_rope=rope is not None, rms_norm_eps=toy.arch.norm.eps,
                       rope_parameters={"rope_type": "default", "rope_theta": rope.theta} if rope else None)
    cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    layer = zm.Zamba2HybridLayer(zm.Zamba2AttentionDecoderLayer(cfg, block_id=0), nn.Linear(d, d, bias=False),
                                 zm.Zamba2MambaDecoderLayer(cfg, layer_idx=0)).double().eval()
    position = None
    if rope:
        cos, sin = zm.Zamba2RotaryEmbedding(cfg)(torch.zeros(1, 6, dtype=torch.float64), torch.arange(6)[None])
        position = (cos.double(), sin.double())
    toy_equals_hybrid_layer(toy, layer, _hf_weights(toy.weights), 0, position_embeddings=position)


def test_the_trace_shows_each_adapter_after_its_projection():
    from gallery.trace import trace

    ops = [s.op for s in trace(_arch(SMALL | {"use_shared_attention_adapter": True}), 1, 5)]
    for p in "qkv":
        at = ops.index(f"{p}_proj")
        assert ops[at + 1:at + 4] == [f"{p} adapter down", f"{p} adapter up", f"add {p} adapter"]
    at = ops.index("gate_proj")
    assert ops[at:at + 6] == ["gate_proj", "gate|up adapter down", "gate|up adapter up", "add gate adapter",
                              "up_proj", "add up adapter"]


def test_the_try_page_shows_a_zamba2_config():
    """Pasted on the Try page: no exception, no error, the exact total."""
    import json

    from .conftest import page_facts
    from .test_app import _app

    config = SMALL | {"num_mem_blocks": 2, "use_shared_attention_adapter": True}
    at = _app("views/try.py", mode="paste or upload")
    at.text_area(key="pasted").set_value(json.dumps(config)).run()
    assert not at.exception and not at.error
    assert page_facts(at)["Total parameters"][1] == f"{reference_param_count(config):,}"


def test_a_spec_whose_adapters_do_not_fit_is_a_wiring_error():
    """Adapters on q, k, v are d_in wide: a GQA shared attention cannot take them (C006), nor an MoE the gate|up one."""
    from pydantic import ValidationError

    from gallery.spec import Arch

    arch = derive(SMALL | {"use_shared_attention_adapter": True}).arch
    arch["shared_blocks"]["attention"]["mixer"] |= {"kind": "gqa", "n_kv_heads": 2}
    with pytest.raises(ValidationError, match="adapters on q, k and v are d_in = 96 wide"):
        Arch.model_validate(arch, strict=False)
