"""Per-layer lists (``layer_types``, ``layers_block_type``, ``mlp_layer_types``, ``indexer_types``, patterns)
read the way each model type's transformers config class and modeling code read them.

Each spelling is checked against transformers: the count of the model it builds, and the per-layer choice its
modules make (which mixer, MLP or MoE, own indexer or not). A list transformers could not build from (an
unknown name, the wrong length, a wrong-typed entry) is a one-line error naming the key, the layer and what is
accepted, never read as a default.
"""

from __future__ import annotations

import pytest

from gallery.counts import total_params
from gallery.derive import DerivationError, derive
from gallery.spec import Arch

from .reference import reference_model, reference_param_count

_NEMOTRON = {"model_type": "nemotron_h", "hidden_size": 64, "vocab_size": 100, "num_attention_heads": 4,
             "num_key_value_heads": 2, "head_dim": 16, "mamba_num_heads": 4, "mamba_head_dim": 16, "n_groups": 2,
             "ssm_state_size": 8, "intermediate_size": 48, "n_routed_experts": 4, "num_experts_per_tok": 2,
             "moe_intermediate_size": 24, "moe_shared_expert_intermediate_size": 32}
_DSA = {"model_type": "glm_moe_dsa", "hidden_size": 64, "vocab_size": 100, "num_hidden_layers": 4,
        "num_attention_heads": 4, "q_lora_rank": 32, "kv_lora_rank": 16, "qk_nope_head_dim": 16,
        "qk_rope_head_dim": 8, "v_head_dim": 16, "intermediate_size": 96, "moe_intermediate_size": 24,
        "n_routed_experts": 4, "num_experts_per_tok": 2, "index_n_heads": 2, "index_head_dim": 16,
        "first_k_dense_replace": 1}
_QWEN35 = {"model_type": "qwen3_5_text", "hidden_size": 64, "vocab_size": 100, "num_hidden_layers": 4,
           "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 96,
           "linear_num_key_heads": 2, "linear_num_value_heads": 4, "linear_key_head_dim": 16,
           "linear_value_head_dim": 16}


def _layers(config: dict) -> list[str]:
    return derive(config).arch["layers"]


def _exact(config: dict) -> None:
    arch = Arch.model_validate(derive(config).arch, strict=False)
    assert total_params(arch) == reference_param_count(config)


# --- Nemotron-H: layers_block_type's names, old and new, and its precedence over the pattern string ---------


@pytest.mark.parametrize("types", [
    ["mamba", "moe", "attention", "mlp"],  # Nemotron 3.5 Lightning's spelling, renamed by PreTrainedConfig
    ["linear_attention", "moe", "full_attention", "mlp"],
    ["attention", "linear_attention", "mamba", "full_attention", "moe"],  # both spellings in one list
])
def test_nemotron_layers_block_type_names_old_and_new(types):
    config = _NEMOTRON | {"layers_block_type": types, "num_hidden_layers": 99}  # the list sets the layer count
    _exact(config)
    model = reference_model(config)
    built = ["mamba" if hasattr(layer.mixer, "ssm_state_size") else
             "attention" if hasattr(layer.mixer, "q_proj") else
             "moe" if hasattr(layer.mixer, "experts") else "mlp" for layer in model.model.layers]
    assert _layers(config) == built


def test_nemotron_layers_block_type_wins_over_the_pattern_string():
    config = _NEMOTRON | {"layers_block_type": ["mamba", "moe"], "hybrid_override_pattern": "*-*-"}
    assert _layers(config) == ["mamba", "moe"]
    _exact(config)
    assert _layers(_NEMOTRON | {"hybrid_override_pattern": "*-"}) == ["attention", "mlp"]


# --- mlp_layer_types next to first_k_dense_replace; indexer_types next to its older spellings ---------------


def _built_dsa(config: dict) -> tuple[list[str], list[bool]]:
    model = reference_model(config)
    ffn = ["moe" if hasattr(layer.mlp, "experts") else "dense" for layer in model.model.layers]
    shared = [layer.self_attn.indexer is None for layer in model.model.layers]
    return ffn, shared


@pytest.mark.parametrize("change", [
    {},  # first_k_dense_replace 1 → dense, sparse, sparse, sparse
    {"mlp_layer_types": ["sparse", "dense", "sparse", "dense"]},  # the list wins over first_k_dense_replace
    {"indexer_types": ["full", "shared", "shared", "full"]},
    {"index_topk_pattern": "FSFS"},
    {"index_topk_pattern": ["full", "full", "shared", "shared"]},
    {"indexer_types": ["full", "full", "full", "shared"], "index_topk_pattern": "FSSS"},  # indexer_types wins
    {"index_topk_freq": 2, "index_skip_topk_offset": 1},
])
def test_glm_dsa_per_layer_lists_agree_with_transformers(change):
    config = _DSA | change
    _exact(config)
    ffn, shared = _built_dsa(config)
    arch = derive(config).arch
    assert [k.split("-")[-1] for k in arch["layers"]] == ffn
    assert [arch["blocks"][k]["mixer"]["indexer"].get("shared", False) for k in arch["layers"]] == shared


# --- every reader rejects what transformers could not build, naming key, layer and the accepted names --------


@pytest.mark.parametrize(("config", "message"), [
    # Qwen3.5: an unknown layer type must not quietly become full attention
    (_QWEN35 | {"layer_types": ["linear_attention", "linear_attention", "sliding_attention", "full_attention"]},
     r"^layer_types\[2\]: 'sliding_attention' at layer 2 is not a layer type qwen3_5_text builds; "
     r"accepted: 'linear_attention' \(or 'mamba'\), 'full_attention' \(or 'attention'\)$"),
    (_QWEN35 | {"layer_types": ["linear_attention", "full_attention"]},
     r"^layer_types: 2 entries for 4 layers \(num_hidden_layers\); give exactly one entry per layer$"),
    (_QWEN35 | {"layer_types": "linear_attention"}, r"^layer_types is \"linear_attention\", a string: expected a list"),
    (_QWEN35 | {"layer_types": ["linear_attention", 3, "linear_attention", "full_attention"]},
     r"^layer_types\[1\]: 3 at layer 1 is an integer"),
    (_NEMOTRON | {"layers_block_type": ["mamba", "ssm", "moe"]},
     r"^layers_block_type\[1\]: 'ssm' at layer 1 .* accepted: 'linear_attention' \(or 'mamba'\), "
     r"'full_attention' \(or 'attention'\), 'moe', 'mlp'$"),
    (_DSA | {"mlp_layer_types": ["dense", "moe", "sparse", "sparse"]},
     r"^mlp_layer_types\[1\]: 'moe' at layer 1 .*; accepted: 'dense', 'sparse'$"),
    (_DSA | {"indexer_types": ["full", "shared", "full"]}, r"^indexer_types: 3 entries for 4 layers"),
    (_DSA | {"indexer_types": ["full", "Shared", "full", "full"]}, r"^indexer_types\[1\]: 'Shared' at layer 1"),
    (_DSA | {"index_topk_pattern": "FSXF"}, r"^index_topk_pattern\[2\]: 'X' at layer 2 .*; accepted: 'F', 'S'$"),
    ({"model_type": "gemma3_text", "num_hidden_layers": 2, "layer_types": ["sliding_attention", True]},
     r"^layer_types\[1\]: true at layer 1"),
    ({"model_type": "qwen2", "num_hidden_layers": 2, "layer_types": ["full_attention", "chunked_attention"]},
     r"^layer_types\[1\]: 'chunked_attention' at layer 1"),
])
def test_a_bad_per_layer_list_is_one_line_naming_key_layer_and_accepted(config, message):
    with pytest.raises(DerivationError, match=message) as err:
        derive(config)
    assert "\n" not in str(err.value)


def test_qwen3_5_layer_types_are_read_not_defaulted():
    """A valid list that differs from the 3:1 default is what transformers builds, layer by layer."""
    config = _QWEN35 | {"layer_types": ["full_attention", "linear_attention", "full_attention", "full_attention"]}
    _exact(config)
    built = ["linear" if layer.block_type == "linear_attention" else "full"
             for layer in reference_model(config).model.layers]
    assert _layers(config) == built == ["full", "linear", "full", "full"]


_DSV4 = {"model_type": "deepseek_v4", "num_hidden_layers": 4}


@pytest.mark.parametrize("change", [
    {"layer_types": ["sliding_attention", "compressed_sparse_attention", "heavily_compressed_attention",
                     "sliding_attention", "sliding_attention"]},  # one entry too many (an MTP layer): cut
    {"compress_ratios": [0, 4, 128, 4, 0]},  # the legacy spelling, also cut
    {"mlp_layer_types": ["moe", "hash_moe", "moe", "moe", "hash_moe"]},
])
def test_deepseek_v4_lists_are_cut_to_the_layers_as_transformers_does(change):
    import transformers

    config = _DSV4 | change
    theirs = transformers.CONFIG_MAPPING["deepseek_v4"].from_dict(config)
    kinds = {"sliding_attention": "window", "compressed_sparse_attention": "csa", "heavily_compressed_attention": "hca"}
    ours = _layers(config)
    assert [k.split("-")[0].rstrip("0123456789") for k in ours] == [kinds[t] for t in theirs.layer_types]
    assert [k.endswith("-hash") for k in ours] == [t == "hash_moe" for t in theirs.mlp_layer_types]


@pytest.mark.parametrize(("change", "message"), [
    ({"layer_types": ["sliding_attention", "full_attention", "sliding_attention", "sliding_attention"]},
     r"^layer_types\[1\]: 'full_attention' at layer 1 .*accepted: 'sliding_attention'"),
    ({"layer_types": ["sliding_attention"] * 3}, r"^layer_types: 3 entries for 4 layers"),
    ({"compress_ratios": [0, 4, 64, 4]}, r"^compress_ratios\[2\]: 64 at layer 2 .*; accepted: 0, 4, 128$"),
    ({"mlp_layer_types": ["moe", "dense", "moe", "moe"]}, r"^mlp_layer_types\[1\]: 'dense' at layer 1"),
])
def test_deepseek_v4_bad_lists_are_one_line(change, message):
    with pytest.raises(DerivationError, match=message):
        derive(_DSV4 | change)
