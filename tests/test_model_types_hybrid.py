"""The hybrid and state-space model types of issue 15 (Mamba-2, Bamba, Granite 4, Jamba, Falcon-H1, OLMo hybrid),
each compared with the model transformers builds on the meta device, exactly: the default config, variants that
change every size the config has, and configs spelled with the config class's attribute_map aliases. Cache and
FLOPs are derived by hand from the config numbers for one config of each type."""

from __future__ import annotations

import json

import pytest

from gallery.counts import total_params
from gallery.derive import FAMILIES, DerivationError, derive
from gallery.flops import state_flops
from gallery.memory import kv_bytes_per_token, state_bytes

from .reference import reference_param_count
from .test_model_types import _arch, _reference

HYBRID = ["mamba2", "bamba", "granitemoehybrid"]

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
}


@pytest.mark.parametrize("model_type", HYBRID)
def test_default_config_is_exact(model_type):
    config = {"model_type": model_type}
    assert total_params(_arch(config)) == reference_param_count(config)


@pytest.mark.parametrize(("model_type", "variant"), [(t, v) for t in HYBRID for v in VARIANTS[t]])
def test_varied_configs_are_exact(model_type, variant):
    """Each size changed: the count equals transformers'; a config transformers refuses is refused too."""
    config = {"model_type": model_type, **_SMALL[model_type], **VARIANTS[model_type][variant]}
    model = _reference(config)
    if model is None:
        with pytest.raises(DerivationError):
            derive(config)
        return
    arch = _arch(config)
    assert total_params(arch) == sum(p.numel() for p in model.parameters())
    # layer by layer, the mixer transformers built: a Mamba layer where ours is Mamba-2, attention elsewhere
    built = [_mixer_of(layer) for layer in _layers_of(model)]
    assert [arch.blocks[k].mixer.kind == "mamba2" for k in arch.layers] == [b == "mamba" for b in built]


def _layers_of(model):
    return model.backbone.layers if hasattr(model, "backbone") else model.model.layers


def _mixer_of(layer) -> str:
    return "mamba" if getattr(layer, "mamba", None) is not None or hasattr(layer, "mixer") else "attention"


@pytest.mark.parametrize("model_type", [t for t in HYBRID if FAMILIES[t].aliases])
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


def test_granite_4_default_is_all_mamba_with_experts_and_a_shared_mlp():
    arch = _arch({"model_type": "granitemoehybrid"})
    (block,) = arch.blocks.values()
    assert block.mixer.kind == "mamba2" and block.ffn.n_experts == 8 and block.ffn.d_shared == 1024
    assert kv_bytes_per_token(arch) == 0


@pytest.mark.parametrize("model_type", HYBRID)
def test_new_drafts_a_spec_that_lints_clean(tmp_path, model_type, capsys):
    from gallery.cli import main

    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": model_type}))
    out = tmp_path / "specs" / "my-model.yaml"
    assert main(["new", str(path), "--hf-repo", "org/my-model", "-o", str(out)]) == 0
    assert main(["lint", str(out)]) == 0, capsys.readouterr().out


@pytest.mark.parametrize("model_type", HYBRID)
def test_the_try_page_reads_it(model_type):
    from gallery.trial import spec_from_config

    config = {"model_type": model_type, **_SMALL[model_type]}
    assert total_params(spec_from_config(config).arch) == reference_param_count(config)
