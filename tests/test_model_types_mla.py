"""Model types of issue 15 with multi-head latent attention: A.X-K1 (DeepSeek-V3 with a norm on its MoE output),
compared with the model transformers builds on the meta device, exactly: the default config, variants that change
every size the config has (the Llama-like, expert and latent-attention variants of tests/test_model_types.py, and
the legacy dense-layer keys), and configs spelled with the config class's attribute_map aliases. Cache and FLOPs are
derived by hand from the config numbers; the new option (the MoE's output norm) is checked by a toy layer against
transformers' layer."""

from __future__ import annotations

import pytest

from gallery.counts import total_params
from gallery.derive import DerivationError, derive
from gallery.flops import flops_per_token, matmul_flops
from gallery.memory import kv_bytes_per_token

from . import test_model_types as types
from .reference import reference_param_count
from .test_toy import _check_against_transformers

BF16 = 2
TYPES = ["axk1"]
# A.X-K1's config class annotates num_key_value_heads as int (the latent attention never reads it, the class refuses
# null there); the windows and the Llama-like keys of the other variants are plain attributes it never reads.
_NOT_APPLICABLE = {("axk1", "null kv heads")}
_LEGACY = {  # AXK1Config.__post_init__'s legacy keys, read when mlp_layer_types is not given
    "every other layer sparse": {"first_k_dense_replace": 0, "moe_layer_freq": 2},
    "dense first three": {"first_k_dense_replace": 3},
    "listed wins": {"mlp_layer_types": ["sparse", "dense", "sparse", "sparse", "dense"], "first_k_dense_replace": 4},
}
VARIANTS = types._VARIANTS | types._EXPERT_VARIANTS | types._MLA_VARIANTS | _LEGACY


@pytest.mark.parametrize("model_type", TYPES)
def test_default_config_is_exact(model_type):
    types.default_config_is_exact(model_type, None, "")


@pytest.mark.parametrize(("model_type", "variant"), [
    (t, v) for t in TYPES for v in VARIANTS if (t, v) not in _NOT_APPLICABLE])
def test_varied_configs_are_exact(model_type, variant):
    types.exact_or_refused_alike(types._config(model_type, VARIANTS[variant]))


@pytest.mark.parametrize("model_type", TYPES)
def test_configs_spelled_with_attribute_map_aliases_are_exact(model_type):
    types.test_configs_spelled_with_attribute_map_aliases_are_exact(model_type)


def test_axk1_dense_layers_follow_the_legacy_keys_by_hand():
    """sparse where i >= first_k_dense_replace (default 1) and i % moe_layer_freq == 0 (default 1)."""
    layers = lambda **c: types._arch({"model_type": "axk1", "num_hidden_layers": 6, **c}).layers  # noqa: E731
    assert layers() == ["dense"] + ["moe"] * 5
    assert layers(first_k_dense_replace=2, moe_layer_freq=2) == ["dense", "dense", "moe", "dense", "moe", "dense"]
    assert layers(mlp_layer_types=["sparse"] * 6, first_k_dense_replace=3) == ["moe"] * 6
    with pytest.raises(DerivationError, match="moe_layer_freq is 0"):
        derive({"model_type": "axk1", "moe_layer_freq": 0})  # transformers divides by it


def test_axk1_refuses_what_its_config_class_refuses():
    for key in ("q_lora_rank", "n_group", "num_experts_per_tok", "first_k_dense_replace"):
        with pytest.raises(DerivationError, match=f"{key} is null"):
            derive({"model_type": "axk1", key: None})
    # norm_topk_prob is bool | None: null routes without renormalising (DeepseekV3TopkRouter: if norm_topk_prob)
    arch = types._arch({"model_type": "axk1", "norm_topk_prob": None})
    assert arch.blocks["moe"].ffn.router.normalize_topk is False


# Every width distinct: d_model 96, 6 heads, query rank 40, KV latent 24, nope 12 + rope 8, values 20.
SMALL = {"model_type": "axk1", "vocab_size": 500, "hidden_size": 96, "num_attention_heads": 6, "q_lora_rank": 40,
         "kv_lora_rank": 24, "qk_nope_head_dim": 12, "qk_rope_head_dim": 8, "v_head_dim": 20,
         "intermediate_size": 160, "moe_intermediate_size": 40, "n_routed_experts": 8, "num_experts_per_tok": 2,
         "n_shared_experts": 1, "n_group": 4, "topk_group": 2, "num_hidden_layers": 3, "pad_token_id": 0}


def test_axk1_cache_and_flops_by_hand():
    arch = types._arch(SMALL)
    assert arch.layers == ["dense", "moe", "moe"]
    assert total_params(arch) == reference_param_count(SMALL)
    # MLA caches the KV latent and the shared RoPE key in each of 3 layers; the MoE's output norm caches nothing.
    assert kv_bytes_per_token(arch) == 3 * (24 + 8) * BF16
    d, h = 96, 6
    attention = d * 40 + 40 * h * (12 + 8) + d * (24 + 8) + 24 * h * (12 + 20) + h * 20 * d  # q_a, q_b, kv_a, kv_b, o
    dense = 3 * d * 160
    moe = d * 8 + (2 + 1) * 3 * d * 40  # the router, 2 routed experts and the shared one; the norm is elementwise
    matmul = 3 * attention + dense + 2 * moe + d * 500  # and the untied head
    assert matmul_flops(arch) == 2 * matmul
    T = 4096  # QKᵀ over nope + rope dims, A·V over the value dims, 6 heads, 3 layers
    assert flops_per_token(arch, T) == 2 * matmul + 3 * 2 * h * (12 + 8 + 20) * T


def test_axk1_moe_output_norm_toy_layer_equals_transformers():
    arch = types._arch(SMALL)
    assert arch.blocks["moe"].ffn.out_norm and not hasattr(arch.blocks["dense"].ffn, "out_norm")
    ops = [s.op for s in _check_against_transformers(arch, SMALL, 1)]
    assert ops.index("add shared expert") == ops.index("moe norm (post)") - 1


def test_axk1_moe_output_norm_is_traced_counted_and_drawn():
    from gallery.counts import block_terms
    from gallery.diagram import to_dot
    from gallery.trace import trace
    from gallery.trial import spec_from_config

    arch = types._arch(SMALL)
    steps = trace(arch, 1, 7)
    norm = next(s for s in steps if s.op == "moe norm (post)")
    assert [p.name for p in norm.params] == ["post_mlp_layernorm.weight"] and norm.params[0].count == 96
    assert sum(p.count for s in steps for p in s.params) == sum(t.count for t in block_terms(arch, "moe"))
    dot = to_dot(spec_from_config(SMALL))  # the sum of the experts, then the norm, then the residual add
    assert '"moe.ffn_out" -> "moe.moe_norm"' in dot and '"moe.moe_norm" [label=RMSNorm' in dot


@pytest.mark.parametrize("model_type", TYPES)
def test_new_drafts_a_spec_that_lints_clean(tmp_path, model_type, capsys):
    types.drafts_a_clean_spec(tmp_path, {"model_type": model_type}, capsys)


@pytest.mark.parametrize("model_type", TYPES)
def test_the_try_page_reads_it(model_type):
    types.the_try_page_counts_it({"model_type": model_type})
