"""JetMoE (``models/jetmoe``): a mixture of attention heads (``gallery/kinds/moa.py``) and a mixture of MLP experts
with one shared output bias, compared with the model transformers builds on the meta device, exactly: the default
config, variants changing every size, the ``head_dim`` alias of ``kv_channels``; ``new`` drafts a clean spec and the
Try page counts it; the toy layer against the same tiny layer in transformers (float64); the cache, the attention
FLOPs and the active parameters by hand."""

from __future__ import annotations

import numpy as np
import pytest

from gallery.counts import active_params, breakdown, total_params
from gallery.derive import DerivationError, derive
from gallery.flops import attention_flops, matmul_flops
from gallery.memory import kv_bytes_per_token

from .reference import reference_param_count
from .test_model_types import _arch, default_config_is_exact, drafts_a_clean_spec, exact_or_refused_alike
from .test_model_types import the_try_page_counts_it
from .test_model_types_positions import toy_layer_equals_transformers

# every width distinct: d_model 96, 3 KV heads of 16 (48 ≠ d_model), experts 40 wide, 5 experts, top-2
_SMALL = {"model_type": "jetmoe", "vocab_size": 500, "hidden_size": 96, "num_key_value_heads": 3, "kv_channels": 16,
          "intermediate_size": 40, "num_hidden_layers": 3, "num_local_experts": 5, "num_experts_per_tok": 2,
          "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
_VARIANTS = {
    "small": {},
    "one KV head": {"num_key_value_heads": 1},
    "heads fill d_model": {"num_key_value_heads": 4, "kv_channels": 24},
    "5 layers": {"num_hidden_layers": 5},
    "untied": {"tie_word_embeddings": False},
    "more experts, top-3": {"num_local_experts": 7, "num_experts_per_tok": 3},
    "every expert active": {"num_experts_per_tok": 5},
    "one expert": {"num_local_experts": 1, "num_experts_per_tok": 1},
    "gelu": {"activation_function": "gelu"},
    "vocab": {"vocab_size": 1000},
    "top-k above the experts": {"num_experts_per_tok": 6},  # JetMoeConfig refuses it: so does derive
}


def test_default_config_is_exact():
    default_config_is_exact("jetmoe", None, "")


@pytest.mark.parametrize("variant", _VARIANTS)
def test_varied_configs_are_exact(variant):
    exact_or_refused_alike(_SMALL | _VARIANTS[variant])


def test_top_k_above_the_experts_is_one_line():
    with pytest.raises(DerivationError, match="num_experts_per_tok 6: at most num_local_experts .5."):
        derive(_SMALL | {"num_experts_per_tok": 6})


def test_the_head_dim_alias_reads_as_kv_channels():
    """JetMoeConfig.attribute_map: head_dim is kv_channels."""
    config = {k: v for k, v in _SMALL.items() if k != "kv_channels"} | {"head_dim": 24}
    arch = _arch(config)
    assert arch.blocks["moe"].mixer.head_dim == 24
    assert total_params(arch) == reference_param_count(config)


def test_new_drafts_a_clean_spec_and_the_try_page_counts_it(tmp_path, capsys):
    drafts_a_clean_spec(tmp_path, {"model_type": "jetmoe"}, capsys)
    the_try_page_counts_it({"model_type": "jetmoe"})
    the_try_page_counts_it(_SMALL)


def test_parameters_cache_and_flops_by_hand():
    """d 96, 3 layers, 5 experts top-2 in both mixtures, 3 KV heads of 16 (width 48), experts 40 wide, tied."""
    arch = _arch(_SMALL)
    d, n, E, k, w, ff, V = 96, 3, 5, 2, 48, 40, 500
    q_o = E * d * w * 2  # each expert's query projection and output projection
    attention = q_o + d + 2 * d * w  # + the shared output bias + kv_proj
    experts = E * (d * 2 * ff + ff * d) + d  # fused gate|up and down per expert + the shared output bias
    routers = 2 * d * E  # the attention's router and the MLP's
    norms = n * 2 * d + d
    total = V * d + n * (attention + experts + routers) + norms
    assert total_params(arch) == total == reference_param_count(_SMALL)
    assert breakdown(arch)["attention"] == n * attention and breakdown(arch)["router"] == n * routers
    # a token skips E − k experts of each mixture; the biases, kv_proj and the routers it always uses
    skipped = n * (E - k) * (d * w * 2 + 3 * d * ff)
    assert active_params(arch) == total - skipped
    # the matrices a token multiplies: k experts of each, kv_proj, both routers, and the tied head (no biases, norms)
    used = n * (k * d * w * 2 + 2 * d * w + k * 3 * d * ff + routers)
    assert matmul_flops(arch) == 2 * (used + V * d)
    # the cache: K and V of the 3 shared KV heads per token and layer, bf16
    assert kv_bytes_per_token(arch) == n * 2 * 3 * 16 * 2
    # QKᵀ and A·V for the 2 × 3 query heads of 16 over 50 tokens
    assert attention_flops(arch, 50) == n * 2 * (k * 3) * (16 + 16) * 50


def _state(w: dict, p: str) -> dict[str, np.ndarray]:
    """The toy's weights in JetMoE's layout: JetMoeParallelExperts stores (experts, out, in), nn.Linear (out, in); the
    MLP experts' gate and up are one input_linear, gate first."""
    t = np.transpose
    experts = lambda a: t(a, (0, 2, 1))  # noqa: E731
    gate_up = np.concatenate([w["experts.gate_proj.weight"], w["experts.up_proj.weight"]], -1)
    return {p + "input_layernorm.weight": w["attn_norm.weight"],
            p + "post_attention_layernorm.weight": w["ffn_norm.weight"],
            p + "self_attention.experts.bias": w["out_bias"],
            p + "self_attention.experts.input_linear.weight": experts(w["experts.q_proj.weight"]),
            p + "self_attention.experts.output_linear.weight": experts(w["experts.o_proj.weight"]),
            p + "self_attention.experts.router.layer.weight": t(w["attn_router.weight"]),
            p + "self_attention.kv_proj.weight": t(w["kv_proj.weight"]),
            p + "mlp.bias": w["moe_out_bias"],
            p + "mlp.input_linear.weight": experts(gate_up),
            p + "mlp.output_linear.weight": experts(w["experts.down_proj.weight"]),
            p + "mlp.router.layer.weight": t(w["router.weight"])}


@pytest.mark.parametrize("heads", [1, 2])
def test_toy_layer_equals_transformers(heads):
    """At toy width (d 16, 4 experts top-2, heads of 8, experts 6 wide), so the toy keeps every size."""
    cfg = {"model_type": "jetmoe", "vocab_size": 32, "hidden_size": 16, "num_key_value_heads": heads,
           "kv_channels": 8, "intermediate_size": 6, "num_hidden_layers": 1, "num_local_experts": 4,
           "num_experts_per_tok": 2}
    steps = toy_layer_equals_transformers(cfg, "model.layers.", _state)
    ops = [s.op for s in steps]
    assert ops.index("attention gates") < ops.index("experts.q_proj") < ops.index("repeat K heads") < ops.index(
        "experts.o_proj") < ops.index("gated sum of experts") < ops.index("add output bias")
    assert ops[-2] == "add experts' output bias"
    by_op = {s.op: s for s in steps}
    assert np.allclose(by_op["attention gates"].value.sum(-1), 1)


def test_derive_reads_no_partial_rotary_factor():
    """JetMoeRotaryEmbedding's default RoPE turns all of kv_channels whatever partial_rotary_factor says."""
    arch = _arch(_SMALL | {"partial_rotary_factor": 0.5})
    assert arch.blocks["moe"].mixer.rope.partial == 1.0
    assert derive(_SMALL).arch["blocks"]["moe"]["ffn"]["out_bias"] is True
