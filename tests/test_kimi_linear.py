"""Kimi Linear (``kimi_linear``, issue 15): its default config and variants that change every size it has, the
checkpoint's ``linear_attn_config`` and the attribute_map spellings, each counted exactly against the model
transformers builds on the meta device; its layer patterns read by hand from ``KimiLinearConfig.__post_init__``.
"""

from __future__ import annotations

import pytest

from gallery.counts import total_params
from gallery.derive import DerivationError, derive
from gallery.spec import Arch

from .reference import reference_param_count

# every width distinct, so a width read into the wrong place shows; 6 layers so the default pattern has a full layer
SMALL = {"model_type": "kimi_linear", "vocab_size": 500, "hidden_size": 96, "num_attention_heads": 6,
         "intermediate_size": 160, "moe_intermediate_size": 40, "num_hidden_layers": 6, "num_local_experts": 5,
         "num_experts_per_tok": 3, "kv_lora_rank": 24, "qk_nope_head_dim": 12, "qk_rope_head_dim": 4,
         "v_head_dim": 20, "linear_num_heads": 3, "linear_head_dim": 10, "linear_conv_kernel_dim": 3,
         "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
CHECKPOINT_LISTS = {"num_heads": 4, "head_dim": 6, "short_conv_kernel_size": 2, "full_attn_layers": [2, 6],
                    "kda_layers": [1, 3, 4, 5]}
VARIANTS = {
    "default": None,
    "small": {},
    "7 layers": {"num_hidden_layers": 7},
    "query latent": {"q_lora_rank": 36},
    "biases": {"attention_bias": True},
    "tied (never tied)": {"tie_word_embeddings": True},
    "two shared experts": {"n_shared_experts": 2},
    "no shared expert": {"n_shared_experts": 0},
    "expert groups": {"num_local_experts": 6, "n_group": 2, "topk_group": 1},
    "first 3 dense": {"first_k_dense_replace": 3},
    "mlp_layer_types": {"mlp_layer_types": ["sparse", "dense", "sparse", "dense", "sparse", "sparse"]},
    "layer_types": {"layer_types": ["full_attention", "linear_attention", "full_attention", "linear_attention",
                                    "linear_attention", "full_attention"]},
    "linear_attn_config": {"linear_attn_config": CHECKPOINT_LISTS},
    "widths only in linear_attn_config": {"linear_attn_config": {"num_heads": 2, "head_dim": 14}},
    "activation": {"hidden_act": "gelu_pytorch_tanh"},
}


def _config(variant: str) -> dict:
    change = VARIANTS[variant]
    return {"model_type": "kimi_linear"} if change is None else SMALL | change


def _arch(config: dict) -> Arch:
    return Arch.model_validate(derive(config).arch, strict=False)


@pytest.mark.parametrize("variant", VARIANTS)
def test_configs_are_exact(variant):
    config = _config(variant)
    assert total_params(_arch(config)) == reference_param_count(config)


def test_configs_spelled_as_the_checkpoint_spells_them_are_exact():
    """KimiLinearConfig.attribute_map: num_experts, num_experts_per_token, num_shared_experts, num_expert_group,
    moe_renormalize, model_max_length, each given instead of its attribute with a value that is not the default."""
    import transformers

    config = dict(SMALL)
    for alias, key in transformers.CONFIG_MAPPING["kimi_linear"].attribute_map.items():
        config.pop(key, None)
        config.pop(alias, None)
    config |= {"num_experts": 6, "num_experts_per_token": 2, "num_shared_experts": 2, "num_expert_group": 2,
               "topk_group": 1, "moe_renormalize": False, "model_max_length": 4096}
    arch = _arch(config)
    assert total_params(arch) == reference_param_count(config)
    moe = arch.blocks["linear-moe"].ffn
    assert (moe.n_experts, moe.top_k, moe.n_shared_experts, moe.router.n_groups) == (6, 2, 2, 2)
    assert arch.context_length == 4096


def _kinds(config: dict) -> list[str]:
    return [kind.split("-")[0] for kind in _arch(config).layers]


def test_layer_patterns_read_by_hand():
    """layer_types, else the 1-indexed lists of linear_attn_config, else full at every i > 0 with i % 4 == 0."""
    L, F = "linear", "full"
    assert _kinds({"model_type": "kimi_linear", "num_hidden_layers": 9}) == [L, L, L, L, F, L, L, L, F]
    assert _kinds(SMALL | {"linear_attn_config": CHECKPOINT_LISTS}) == [L, F, L, L, L, F]
    assert _kinds(SMALL | VARIANTS["layer_types"] | {"linear_attn_config": CHECKPOINT_LISTS}) == [F, L, F, L, L, F]
    # the first first_k_dense_replace layers dense (default 1), the rest MoE
    ffn = [kind.split("-")[-1] for kind in _arch(SMALL | {"first_k_dense_replace": 2}).layers]
    assert ffn == ["dense", "dense", "moe", "moe", "moe", "moe"]


def test_the_kda_and_mla_blocks_read_by_hand():
    arch = _arch(SMALL | VARIANTS["widths only in linear_attn_config"])
    kda, mla = arch.blocks["linear-moe"].mixer, arch.blocks["full-moe"].mixer
    assert (kda.kind, kda.n_heads, kda.head_dim, kda.conv_kernel) == ("kda", 2, 14, 3)  # kernel from its own key
    assert (mla.kind, mla.n_heads, mla.kv_lora_rank, mla.rope, mla.scale) == ("mla", 6, 24, None, None)  # NoPE
    assert arch.embedding.tied is False


@pytest.mark.parametrize(("change", "message"), [
    ({"linear_attn_config": {"full_attn_layers": [2], "kda_layers": [1, 3, 4, 5]}},
     "layers [6] are in neither full_attn_layers nor kda_layers"),
    ({"linear_attn_config": {"full_attn_layers": [0], "kda_layers": [1, 2, 3, 4, 5, 6]}},
     "linear_attn_config.full_attn_layers: 0 is not a layer number from 1 to 6"),
    ({"linear_attn_config": {"head_dim": "128"}}, 'linear_attn_config.head_dim is "128", a string'),
    ({"linear_attn_config": [1, 2]}, "linear_attn_config is [1, 2], a list"),
])
def test_a_bad_linear_attn_config_is_refused_in_one_line(change, message):
    with pytest.raises(DerivationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        derive(SMALL | change)


def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys):
    import json

    from gallery.cli import main

    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "kimi_linear"}))
    out = tmp_path / "specs" / "my-model.yaml"
    assert main(["new", str(path), "--hf-repo", "org/my-model", "-o", str(out)]) == 0
    assert main(["lint", str(out)]) == 0, capsys.readouterr().out


def test_the_try_page_reads_it():
    from gallery.trial import spec_from_config

    config = SMALL | {"linear_attn_config": CHECKPOINT_LISTS}
    assert total_params(spec_from_config(config).arch) == reference_param_count(config)
