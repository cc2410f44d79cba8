"""Model types of issue 15 read on existing kinds: the state-space and hybrid types (Mamba-2, Bamba, Granite 4, Jamba,
OLMo hybrid) and norm/position variants (GPT-Neo, Phi, Nemotron-4), each compared with the model transformers
builds on the meta device, exactly: the default config (or, where transformers cannot build it, the smallest
complete one), variants that change every size the config has, and configs spelled with the config class's
attribute_map aliases. Cache and FLOPs are derived by hand from the config numbers for one config of each hybrid;
the kinds' new options (Jamba's weighted Δ/B/C norms, OLMo hybrid's β = 2σ(b)) are checked by toy layers against
transformers' layers."""

from __future__ import annotations

import numpy as np
import pytest

from gallery.counts import total_params
from gallery.derive import FAMILIES, DerivationError, derive
from gallery.flops import state_flops
from gallery.memory import kv_bytes_per_token, state_bytes
from gallery.toy import toy_forward, toy_trace

from .reference import reference_param_count
from .test_model_types import (
    _arch, _reference, default_config_is_exact, drafts_a_clean_spec, exact_or_refused_alike, the_try_page_counts_it,
)
from .test_toy import SEQ, _layer_io, _model_with_toy_layer, _renamed

HYBRID = ["mamba2", "bamba", "granitemoehybrid", "jamba", "olmo_hybrid"]
VARIANT_TYPES = ["gpt_neo", "phi", "nemotron", "opt", "biogpt", "olmo", "nanochat"]
TYPES = HYBRID + VARIANT_TYPES
# transformers cannot build NemotronConfig's default (num_key_value_heads null, which the attention divides by)
SMALLEST = {"nemotron": {"num_key_value_heads": 8}}

# Small configs with every width distinct, so a width read into the wrong place shows.
_MAMBA = {"mamba_n_heads": 12, "mamba_d_head": "auto", "mamba_n_groups": 2, "mamba_d_state": 16, "mamba_d_conv": 3,
          "mamba_expand": 2, "mamba_chunk_size": 32}
_SMALL = {
    "mamba2": {"vocab_size": 500, "hidden_size": 96, "num_heads": 12, "head_dim": 16, "n_groups": 2, "state_size": 24,
               "conv_kernel": 3, "num_hidden_layers": 3, "expand": 2},
    "bamba": {"vocab_size": 500, "hidden_size": 96, "intermediate_size": 160, "num_attention_heads": 6,
              "num_key_value_heads": 2, "num_hidden_layers": 5, "attn_layer_indices": [1, 3], **_MAMBA},
    "granitemoehybrid": {"vocab_size": 500, "hidden_size": 96, "intermediate_size": 40, "num_attention_heads": 6,
                         "num_key_value_heads": 2, "num_hidden_layers": 5, "num_local_experts": 5,
                         "num_experts_per_tok": 2, "shared_intermediate_size": 72,
                         "layer_types": ["mamba", "attention", "mamba", "mamba", "attention"], **_MAMBA},
    "jamba": {"vocab_size": 500, "hidden_size": 96, "intermediate_size": 40, "num_attention_heads": 6,
              "num_key_value_heads": 2, "num_hidden_layers": 5, "attn_layer_period": 3, "attn_layer_offset": 1,
              "expert_layer_period": 2, "expert_layer_offset": 0, "num_experts": 5, "num_experts_per_tok": 2,
              "mamba_d_state": 12, "mamba_d_conv": 3, "mamba_expand": 2, "mamba_dt_rank": 7},
    "olmo_hybrid": {"vocab_size": 500, "hidden_size": 96, "intermediate_size": 40, "num_attention_heads": 6,
                    "num_key_value_heads": 2, "num_hidden_layers": 5, "linear_num_key_heads": 2,
                    "linear_num_value_heads": 4, "linear_key_head_dim": 12, "linear_value_head_dim": 20,
                    "linear_conv_kernel_dim": 3, "pad_token_id": 0, "eos_token_id": 1},
    "gpt_neo": {"vocab_size": 500, "hidden_size": 96, "num_heads": 6, "num_layers": 5, "intermediate_size": 40,
                "max_position_embeddings": 100, "window_size": 7,
                "attention_types": [[["global", "local"], 2], [["local"], 1]], "bos_token_id": 1, "eos_token_id": 2},
    "phi": {"vocab_size": 500, "hidden_size": 96, "intermediate_size": 40, "num_attention_heads": 6,
            "num_key_value_heads": 2, "num_hidden_layers": 3, "max_position_embeddings": 100},
    "nemotron": {"vocab_size": 500, "hidden_size": 96, "intermediate_size": 40, "num_attention_heads": 6,
                 "num_key_value_heads": 2, "num_hidden_layers": 3, "pad_token_id": 0, "bos_token_id": 1,
                 "eos_token_id": 2},
    "opt": {"vocab_size": 500, "hidden_size": 96, "ffn_dim": 40, "num_attention_heads": 6, "num_hidden_layers": 3,
            "max_position_embeddings": 100},
    "biogpt": {"vocab_size": 500, "hidden_size": 96, "intermediate_size": 40, "num_attention_heads": 6,
               "num_hidden_layers": 3, "max_position_embeddings": 100},
    "olmo": {"vocab_size": 500, "hidden_size": 96, "intermediate_size": 40, "num_attention_heads": 6,
             "num_key_value_heads": 2, "num_hidden_layers": 3, "pad_token_id": 0, "eos_token_id": 1},
    "nanochat": {"vocab_size": 500, "hidden_size": 96, "intermediate_size": 40, "num_attention_heads": 6,
                 "num_key_value_heads": 2, "num_hidden_layers": 3},
}
_MAMBA_VARIANTS = {
    "mamba heads": {"mamba_n_heads": 24},
    "mamba head dim": {"mamba_n_heads": 8, "mamba_d_head": 24},
    "mamba groups": {"mamba_n_groups": 4},
    "mamba state": {"mamba_d_state": 8},
    "mamba conv": {"mamba_d_conv": 5, "mamba_conv_bias": False},
    "mamba bias": {"mamba_proj_bias": True},
    "mamba expand": {"mamba_expand": 1, "mamba_n_heads": 6},
}
_ATTENTION_VARIANTS = {
    "mha": {"num_key_value_heads": 6},
    "mqa": {"num_key_value_heads": 1},
    "head_dim": {"head_dim": 24},
    "biases": {"attention_bias": True, "mlp_bias": True},
    "tied": {"tie_word_embeddings": True},
    "vocab": {"vocab_size": 777},
    "width": {"hidden_size": 48, "mamba_n_heads": 6},
}
VARIANTS = {
    "mamba2": {
        "small": {}, "heads": {"num_heads": 24, "head_dim": 8}, "groups": {"n_groups": 4}, "state": {"state_size": 8},
        "conv": {"conv_kernel": 5, "use_conv_bias": False}, "bias": {"use_bias": True},
        "tied": {"tie_word_embeddings": True},
        "expand": {"expand": 1, "num_heads": 6}, "7 layers": {"num_hidden_layers": 7}, "vocab": {"vocab_size": 777},
    },
    "bamba": {"small": {}, **_MAMBA_VARIANTS, **_ATTENTION_VARIANTS, "no attention": {"attn_layer_indices": None},
              "7 layers": {"num_hidden_layers": 7, "attn_layer_indices": [0, 6]}},
    "granitemoehybrid": {
        "small": {}, **_MAMBA_VARIANTS, **_ATTENTION_VARIANTS,
        "rope": {"position_embedding_type": "rope"},
        "experts": {"num_local_experts": 7, "num_experts_per_tok": 3},
        "no experts": {"num_local_experts": 0},
        "no shared": {"shared_intermediate_size": 0},
        "all mamba": {"layer_types": None},
        "new names": {"layer_types": ["linear_attention", "full_attention", "full_attention", "linear_attention",
                                      "linear_attention"]},
        "7 layers": {"num_hidden_layers": 7, "layer_types": ["mamba"] * 6 + ["attention"]},
    },
    "jamba": {
        "small": {}, **{k: _ATTENTION_VARIANTS[k] for k in ("mha", "mqa", "head_dim", "tied", "vocab")},
        "width": {"hidden_size": 48}, "biases": {"mamba_proj_bias": True, "mamba_conv_bias": False},
        "mamba state": {"mamba_d_state": 8}, "mamba conv": {"mamba_d_conv": 5}, "mamba expand": {"mamba_expand": 3},
        "dt rank auto": {"mamba_dt_rank": "auto"}, "experts": {"num_experts": 7, "num_experts_per_tok": 3},
        "one expert": {"num_experts": 1}, "attention period": {"attn_layer_period": 2, "attn_layer_offset": 0},
        "expert period": {"expert_layer_period": 3, "expert_layer_offset": 2}, "7 layers": {"num_hidden_layers": 7},
        "offset too large": {"attn_layer_offset": 3},
    },
    "olmo_hybrid": {
        "small": {}, **{k: _ATTENTION_VARIANTS[k] for k in ("mha", "mqa", "head_dim", "tied", "vocab")},
        "width": {"hidden_size": 48}, "bias": {"attention_bias": True},
        "linear heads": {"linear_num_key_heads": 4, "linear_num_value_heads": 8},
        "linear dims": {"linear_key_head_dim": 8, "linear_value_head_dim": 16}, "conv": {"linear_conv_kernel_dim": 5},
        "linear defaults": {"linear_num_key_heads": None, "linear_num_value_heads": None, "linear_key_head_dim": None,
                            "linear_value_head_dim": None},
        "layer_types": {"layer_types": ["full_attention", "linear_attention", "full_attention", "linear_attention",
                                        "linear_attention"]},
        "3 layers": {"num_hidden_layers": 3},  # no i % 4 == 3: the last layer is full
        "7 layers": {"num_hidden_layers": 7},
        "no attention": {"layer_types": ["linear_attention"] * 5},
        "no rope": {"rope_parameters": {"rope_type": "default", "rope_theta": None}},
    },
    "gpt_neo": {
        "small": {}, "width": {"hidden_size": 48}, "heads": {"num_heads": 12}, "vocab": {"vocab_size": 777},
        "d_ff default": {"intermediate_size": None}, "untied": {"tie_word_embeddings": False},
        "positions": {"max_position_embeddings": 333}, "window": {"window_size": 3},
        "all global": {"attention_types": [[["global"], 5]]}, "7 layers": {"num_layers": 7},
        "too few types": {"attention_types": [[["global", "local"], 2]]},
        "heads do not divide": {"num_heads": 7},
    },
    "phi": {
        "small": {}, **{k: _ATTENTION_VARIANTS[k] for k in ("mha", "mqa", "head_dim", "tied", "vocab")},
        "width": {"hidden_size": 48}, "partial rope": {"partial_rotary_factor": 0.25},
        "activation": {"hidden_act": "gelu"}, "kv default": {"num_key_value_heads": None},
    },
    "nemotron": {
        "small": {}, **{k: _ATTENTION_VARIANTS[k] for k in ("mha", "mqa", "head_dim", "biases", "tied", "vocab")},
        "width": {"hidden_size": 48}, "partial rope": {"partial_rotary_factor": 0.25},
        "no kv heads": {"num_key_value_heads": None},
    },
    "opt": {
        "small": {}, "width": {"hidden_size": 48}, "heads": {"num_attention_heads": 12}, "vocab": {"vocab_size": 777},
        "positions": {"max_position_embeddings": 333}, "no biases": {"enable_bias": False},
        "untied": {"tie_word_embeddings": False}, "no final norm": {"_remove_final_layer_norm": True},
        "activation": {"activation_function": "gelu"}, "4 layers": {"num_hidden_layers": 4},
    },
    "biogpt": {
        "small": {}, "width": {"hidden_size": 48}, "heads": {"num_attention_heads": 12}, "vocab": {"vocab_size": 777},
        "positions": {"max_position_embeddings": 333}, "untied": {"tie_word_embeddings": False},
        "unscaled": {"scale_embedding": False}, "activation": {"hidden_act": "relu"},
        "4 layers": {"num_hidden_layers": 4},
    },
    "olmo": {"small": {}, **{k: _ATTENTION_VARIANTS[k] for k in ("mha", "mqa", "tied", "vocab")},
             "width": {"hidden_size": 48}, "bias": {"attention_bias": True}, "clip": {"clip_qkv": 8.0},
             "kv default": {"num_key_value_heads": None}},
    "nanochat": {"small": {}, **{k: _ATTENTION_VARIANTS[k] for k in ("mha", "mqa", "tied", "vocab")},
                 "width": {"hidden_size": 48}, "bias": {"attention_bias": True},
                 "no softcap": {"final_logit_softcapping": None}, "kv default": {"num_key_value_heads": None}},
}


@pytest.mark.parametrize("model_type", TYPES)
def test_default_config_is_exact(model_type):
    default_config_is_exact(model_type, SMALLEST.get(model_type), "num_key_value_heads is null")


@pytest.mark.parametrize(("model_type", "variant"), [(t, v) for t in TYPES for v in VARIANTS[t]])
def test_varied_configs_are_exact(model_type, variant):
    """Each size changed: the count equals transformers'; a config transformers refuses is refused too."""
    config = {"model_type": model_type, **_SMALL[model_type], **VARIANTS[model_type][variant]}
    built = exact_or_refused_alike(config)
    if not built:
        return
    arch, model = built
    # layer by layer, what transformers built: a Mamba mixer or attention, experts or not
    ours = [(arch.blocks[k].mixer.kind in ("mamba", "mamba2", "gated_deltanet"),
             getattr(arch.blocks[k].ffn, "kind", None) == "moe")
            for k in arch.layers]
    assert ours == [_built_parts(layer) for layer in _layers_of(model)]


def _layers_of(model):
    """The decoder layers under whatever name the model keeps them (backbone, transformer.h, model.decoder, biogpt)."""
    base = next(getattr(model, name) for name in ("backbone", "transformer", "biogpt", "model") if hasattr(model, name))
    base = getattr(base, "decoder", base)
    return base.h if hasattr(base, "h") else base.layers


def _built_parts(layer) -> tuple[bool, bool]:
    """(a fixed-state mixer, experts) in one transformers decoder layer."""
    names = [name for name, _ in layer.named_parameters()]
    return any(n.startswith(("mamba.", "mixer.", "linear_attn.")) for n in names), any(".experts." in n for n in names)


@pytest.mark.parametrize("model_type", [t for t in TYPES if FAMILIES[t].aliases])
def test_configs_spelled_with_attribute_map_aliases_are_exact(model_type):
    import transformers

    cls, family = transformers.CONFIG_MAPPING[model_type], FAMILIES[model_type]
    config = {"model_type": model_type, **_SMALL[model_type]}
    for alias, key in cls.attribute_map.items():
        assert family.aliases.get(alias) == key, alias
        config[alias] = config.pop(key)
    assert total_params(_arch(config)) == reference_param_count(config)


def test_mamba2_refuses_heads_that_do_not_fill_the_inner_width():
    config = {"model_type": "mamba2", **_SMALL["mamba2"], "num_heads": 5}
    assert _reference(config) is None
    with pytest.raises(DerivationError, match="num_heads 5 × head_dim 16 must equal expand × hidden_size = 192"):
        derive(config)


def test_bamba_rotates_half_of_each_head_unless_rope_parameters_say_otherwise():
    config = {"model_type": "bamba", "attn_layer_indices": [0]}
    assert _arch(config).blocks["full"].mixer.rope.partial == 0.5
    config["rope_parameters"] = {"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 1.0}
    assert _arch(config).blocks["full"].mixer.rope.partial == 1.0
    assert _reference(config).model.rotary_emb.inv_freq.shape == (64,)  # head_dim 128, all of it rotated


def test_granite_4_attention_has_rope_only_when_asked():
    config = {"model_type": "granitemoehybrid", **_SMALL["granitemoehybrid"]}
    assert _arch(config).blocks["full"].mixer.rope is None
    assert _reference(config).model.rotary_emb is None
    assert _arch(config | {"position_embedding_type": "rope"}).blocks["full"].mixer.rope.theta == 10000.0


# --- cache and FLOPs, by hand from the config numbers -------------------------------------------------------

BF16 = 2


def _mamba2_by_hand(heads, head_dim, groups, state, kernel):
    """One Mamba-2 layer: its state (heads × head_dim × state) plus its conv window (conv channels × kernel);
    per token: decay, Δ·x·B, add and C·h on every state element."""
    conv = heads * head_dim + 2 * groups * state
    return heads * head_dim * state + conv * kernel, 5 * heads * head_dim * state


def test_bamba_cache_and_state_flops_by_hand():
    c = {"model_type": "bamba", **_SMALL["bamba"]}
    arch = _arch(c)
    n_attention = len(c["attn_layer_indices"])
    heads, head_dim = 12, 2 * 96 // 12  # mamba_expand × hidden_size split over mamba_n_heads
    state, flops = _mamba2_by_hand(heads, head_dim, 2, 16, 3)
    assert kv_bytes_per_token(arch) == n_attention * 2 * 2 * (96 // 6) * BF16  # K and V, 2 KV heads of 16
    assert state_bytes(arch) == (5 - n_attention) * state * BF16
    assert state_flops(arch) == (5 - n_attention) * flops


def test_mamba2_default_cache_and_state_flops_by_hand():
    arch = _arch({"model_type": "mamba2"})  # Mamba2Config: 64 layers, 128 heads of 64, 8 groups, state 128, conv 4
    state, flops = _mamba2_by_hand(128, 64, 8, 128, 4)
    assert kv_bytes_per_token(arch) == 0
    assert state_bytes(arch) == 64 * state * BF16
    assert state_flops(arch) == 64 * flops


def test_olmo_hybrid_cache_and_state_flops_by_hand():
    c = {"model_type": "olmo_hybrid", **_SMALL["olmo_hybrid"]}
    arch = _arch(c)  # layers 0-2 and 4 Gated DeltaNet, layer 3 attention (i % 4 == 3)
    n_v, d_k, d_v = 4, 12, 20
    conv = 2 * 2 * d_k + n_v * d_v  # q, k (2 key heads each) and v through the convolution
    assert kv_bytes_per_token(arch) == 1 * 2 * 2 * (96 // 6) * BF16
    assert state_bytes(arch) == 4 * (n_v * d_k * d_v + conv * 3) * BF16
    assert state_flops(arch) == 4 * 6 * n_v * d_k * d_v  # read by k, rank-1 write, read by q
    assert [arch.blocks[k].norm_placement for k in arch.layers] == ["pre", "pre", "pre", "post", "pre"]


def test_granite_4_default_is_all_mamba_with_experts_and_a_shared_mlp():
    arch = _arch({"model_type": "granitemoehybrid"})
    (block,) = arch.blocks.values()
    assert block.mixer.kind == "mamba2" and block.ffn.n_experts == 8 and block.ffn.d_shared == 1024
    assert kv_bytes_per_token(arch) == 0


@pytest.mark.parametrize("model_type", TYPES)
def test_new_drafts_a_spec_that_lints_clean(tmp_path, model_type, capsys):
    drafts_a_clean_spec(tmp_path, {"model_type": model_type} | SMALLEST.get(model_type, {}), capsys)


@pytest.mark.parametrize("model_type", TYPES)
def test_the_try_page_reads_it(model_type):
    the_try_page_counts_it({"model_type": model_type, **_SMALL[model_type]})


# --- Jamba's Mamba-1 layer with learned Δ, B, C norms: the toy against transformers' JambaMambaMixer -------------

_JAMBA = {"model_type": "jamba", "num_hidden_layers": 4, "attn_layer_period": 4, "attn_layer_offset": 1}
_JAMBA_NAMES = {"mixer_norm": "input_layernorm", "attn_norm": "input_layernorm", "ffn_norm": "pre_ff_layernorm"} | {
    k: f"mamba.{k}" for k in ("in_proj", "conv1d", "x_proj", "dt_proj", "A_log", "D", "out_proj", "dt_layernorm",
                              "b_layernorm", "c_layernorm")} | {
    k: f"self_attn.{k}" for k in ("q_proj", "k_proj", "v_proj", "o_proj")} | {
    k: f"feed_forward.{k}" for k in ("gate_proj", "up_proj", "down_proj")}


def _jamba_state(w: dict, p: str) -> dict:
    """The toy's weights under JambaDecoderLayer's names: its router (experts, d_model) and fused experts."""
    experts = {k: w.pop(k) for k in list(w) if k.startswith(("experts.", "router."))}
    out = _renamed(_JAMBA_NAMES, w, p)
    if experts:
        g, u, d = (experts[f"experts.{n}.weight"] for n in ("gate_proj", "up_proj", "down_proj"))  # (E, in, out)
        out |= {p + "feed_forward.router.weight": experts["router.weight"].T,
                p + "feed_forward.experts.gate_up_proj": np.concatenate([g, u], 2).transpose(0, 2, 1),
                p + "feed_forward.experts.down_proj": d.transpose(0, 2, 1)}
    return out


@pytest.mark.parametrize("layer", [0, 1, 3])  # Mamba + MLP; NoPE attention + experts; Mamba + experts
def test_jamba_toy_layer_equals_transformers(layer):
    arch = _arch(_JAMBA)
    toy = toy_trace(arch, layer, SEQ, seed=3)
    block = toy.arch.blocks[toy.arch.layers[0]]
    m, f = block.mixer, block.ffn
    cfg = _JAMBA | {"hidden_size": toy.arch.d_model, "num_hidden_layers": layer + 1, "vocab_size": 32,
                    "intermediate_size": f.d_ff if f.kind == "mlp" else f.d_expert}
    if m.kind == "mamba":
        cfg |= {"mamba_expand": m.d_inner // toy.arch.d_model, "mamba_d_state": m.d_state, "mamba_dt_rank": m.dt_rank,
                "mamba_d_conv": m.conv_kernel, "num_attention_heads": 2, "num_key_value_heads": 1}  # earlier layers
    else:
        cfg |= {"num_attention_heads": m.n_heads, "num_key_value_heads": m.n_kv_heads}
    if f.kind == "moe":
        cfg |= {"num_experts": f.n_experts, "num_experts_per_tok": f.top_k}
    _toy_equals_transformers(toy, cfg, layer, _jamba_state(dict(toy.weights), f"model.layers.{layer}."))


def _toy_equals_transformers(toy, cfg: dict, layer: int, state: dict):
    """``cfg`` (the toy's widths) reads as exactly the toy block, and layer ``layer`` of the float64 model it builds,
    with the toy's weights ``state``, gives the toy's output (their norms and the delta rule run in float32)."""
    import torch
    import transformers

    block = toy.arch.blocks[toy.arch.layers[0]]
    derived = derive(cfg).arch
    assert type(block).model_validate(derived["blocks"][derived["layers"][layer]], strict=False) == block
    hf_config = transformers.CONFIG_MAPPING[cfg["model_type"]].from_dict(cfg)
    model = _model_with_toy_layer(hf_config, state, f"model.layers.{layer}.")
    x = torch.from_numpy(np.random.default_rng(7).standard_normal((1, SEQ, toy.arch.d_model)))
    hidden_in, hidden_out = _layer_io(model, cfg["model_type"], layer, x)
    steps = toy_forward(toy.arch, toy.weights, hidden_in)
    np.testing.assert_allclose(steps[-1].value, hidden_out, rtol=1e-6, atol=1e-6)


def test_jamba_mixer_norm_weights_are_counted_and_drawn():
    """Each Mamba layer holds dt_rank + 2 × d_state norm weights (JambaRMSNorm); Falcon-Mamba's norms hold none."""
    arch = _arch(_JAMBA)
    mamba = arch.blocks["linear-dense"].mixer
    assert mamba.bc_dt_norm_weights and mamba.bc_dt_norm_eps == 1e-6
    without = arch.model_copy(update={"blocks": {
        k: b.model_copy(update={"mixer": b.mixer.model_copy(update={"bc_dt_norm_weights": False})})
        if b.mixer.kind == "mamba" else b for k, b in arch.blocks.items()}})
    assert total_params(arch) - total_params(without) == 3 * (mamba.dt_rank + 2 * mamba.d_state)  # 3 Mamba layers


# --- OLMo hybrid: Gated DeltaNet with β = 2σ(b) and its own output-norm eps; post-norm OLMo attention ------------

_OLMO_HYBRID = {"model_type": "olmo_hybrid", "num_hidden_layers": 4, "vocab_size": 32, "hidden_size": 16,
                "num_attention_heads": 2, "num_key_value_heads": 2, "intermediate_size": 12, "linear_num_key_heads": 2,
                "linear_num_value_heads": 2, "linear_key_head_dim": 8, "linear_value_head_dim": 8, "pad_token_id": 0,
                "eos_token_id": 1}
_OLMO_NAMES = {"mixer_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
               "post_attn_norm": "post_attention_layernorm", "post_ffn_norm": "post_feedforward_layernorm"} | {
    "in_proj_z": "linear_attn.g_proj", "in_proj_b": "linear_attn.b_proj", "in_proj_a": "linear_attn.a_proj",
    "norm": "linear_attn.o_norm", "out_proj": "linear_attn.o_proj", "conv1d": "linear_attn.conv1d",
    "A_log": "linear_attn.A_log", "dt_bias": "linear_attn.dt_bias"} | {
    k: f"self_attn.{k}" for k in ("q_proj", "k_proj", "v_proj", "o_proj", "q_norm", "k_norm")} | {
    k: f"mlp.{k}" for k in ("gate_proj", "up_proj", "down_proj")}


def _olmo_hybrid_state(w: dict, m, p: str) -> dict:
    """The toy's weights under OlmoHybrid's names: its in_proj_qkv split into q_proj, k_proj and v_proj."""
    if "in_proj_qkv.weight" in w:
        qkv, key = w.pop("in_proj_qkv.weight"), m.n_k_heads * m.k_head_dim
        w |= {"q_proj.weight": qkv[:, :key], "k_proj.weight": qkv[:, key:2 * key], "v_proj.weight": qkv[:, 2 * key:]}
        names = _OLMO_NAMES | {k: f"linear_attn.{k}" for k in ("q_proj", "k_proj", "v_proj")}
    else:
        names = _OLMO_NAMES
    return _renamed(names, w, p)


@pytest.mark.parametrize("layer", [0, 3])  # Gated DeltaNet + MLP, pre-norm; full attention, post-norm
def test_olmo_hybrid_toy_layer_equals_transformers(layer):
    toy = toy_trace(_arch(_OLMO_HYBRID), layer, SEQ, seed=3)
    assert toy.arch.d_model == 16  # the toy keeps these widths: the config above is the toy's
    m = toy.arch.blocks[toy.arch.layers[0]].mixer
    types = ["linear_attention"] * layer + ["linear_attention", "full_attention"][layer > 0:]  # one of each at least
    cfg = _OLMO_HYBRID | {"num_hidden_layers": len(types), "layer_types": types}
    _toy_equals_transformers(toy, cfg, layer, _olmo_hybrid_state(dict(toy.weights), m, f"model.layers.{layer}."))


@pytest.mark.parametrize(("change", "message"), [
    ({"do_layer_norm_before": False}, "post-LN"), ({"word_embed_proj_dim": 64}, "project_in"),
    ({"layer_norm_elementwise_affine": False}, "without weights")])
def test_opt_configs_beyond_the_spec_are_refused_in_one_line(change, message):
    """OPT-350m's post-LN blocks and project_in/out are built by transformers but not modelled: refused, not guessed."""
    config = {"model_type": "opt", **_SMALL["opt"], **change}
    assert _reference(config) is not None
    with pytest.raises(DerivationError, match=message):
        derive(config)


def test_gpt_neo_local_layers_slide_and_scores_are_unscaled():
    """Each layer's window is window_size where transformers built a local attention, none where global; GPT-Neo
    multiplies q·kᵀ by nothing (GPTNeoSelfAttention._attn), so the spec's scale is 1 instead of 1/√head_dim."""
    config = {"model_type": "gpt_neo", **_SMALL["gpt_neo"]}
    arch, model = _arch(config), _reference(config)
    built = [layer.attn.attention.attention_type for layer in model.transformer.h]
    assert [arch.blocks[k].mixer.window for k in arch.layers] == [7 if t == "local" else None for t in built]
    assert built == ["global", "local", "global", "local", "local"]
    assert {arch.blocks[k].mixer.scale for k in arch.layers} == {1.0}


@pytest.mark.parametrize(("model_type", "label", "mlp"), [
    ("olmo", "LayerNorm (no weights)", {"gate_proj": "mlp.gate_proj", "up_proj": "mlp.up_proj",
                                        "down_proj": "mlp.down_proj"}),
    ("nanochat", "RMSNorm (no weights)", {"up_proj": "mlp.fc1", "down_proj": "mlp.fc2"})])
def test_weightless_norms_count_nothing_and_the_toy_layer_equals_transformers(model_type, label, mlp):
    """OlmoLayerNorm and NanoChatRMSNorm have no parameters: none counted (the counts above are exact), none in the
    trace, and the toy layer (its norms only normalising; nanochat's weightless QK-norm after RoPE, relu² MLP)
    equals the transformers decoder layer."""
    arch = _arch({"model_type": model_type})
    assert not arch.norm.weights and arch.norm.label() == label
    toy = toy_trace(arch, 0, SEQ, seed=3)
    assert not [name for name in toy.weights if "norm" in name]
    m, f = toy.arch.blocks[toy.arch.layers[0]].mixer, toy.arch.blocks[toy.arch.layers[0]].ffn
    cfg = {"model_type": model_type, "vocab_size": 32, "hidden_size": toy.arch.d_model, "num_hidden_layers": 1,
           "num_attention_heads": m.n_heads, "num_key_value_heads": m.n_kv_heads, "intermediate_size": f.d_ff,
           "pad_token_id": 0, "eos_token_id": 1}
    names = {k: f"self_attn.{k}" for k in ("q_proj", "k_proj", "v_proj", "o_proj")} | mlp
    weights = dict(toy.weights)
    if model_type == "nanochat":  # its rotate_half is cat(x2, −x1): RoPE by −θ, which is RoPE by θ on q and k with
        # the second half of each head negated (and negated back; the weightless QK-norm does not see signs): the
        # same layer with those columns of q_proj and k_proj negated
        flip = np.tile(np.r_[np.ones(m.head_dim // 2), -np.ones(m.head_dim // 2)], m.n_heads)
        weights["q_proj.weight"] = weights["q_proj.weight"] * flip
        weights["k_proj.weight"] = weights["k_proj.weight"] * flip[:m.n_kv_heads * m.head_dim]
    _toy_equals_transformers(toy, cfg, 0, _renamed(names, weights, "model.layers.0."))
