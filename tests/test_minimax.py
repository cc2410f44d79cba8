"""MiniMax-01 (``minimax``): lightning attention (the ``lightning`` kind) in a hybrid stack with softmax attention, on
Mixtral's MoE, each config compared with the model transformers builds on the meta device, exactly: the default
config, variants that change every size the config has (widths, heads and KV heads, head_dim, layers with
``layer_types`` regenerated, experts and top-k, vocab, tying, the window), and the config spelled with the
``attribute_map`` alias. The layer kinds are read back from the built model; the state and FLOPs are derived by
hand from the config numbers; the decay rates equal ``MiniMaxLightningAttention``'s buffers at every layer; and the
toy layers (lightning and softmax, each residual add from the normed input, weighed by alpha and beta factors) equal
transformers' float64 layers (their norms run in float32), through the block form of the prompt (blocks of 4 tokens,
6 tokens)."""

from __future__ import annotations

import numpy as np
import pytest

from gallery.derive import FAMILIES
from gallery.flops import attention_flops, state_flops
from gallery.kinds.lightning import slopes
from gallery.memory import BF16, kv_bytes_per_token, state_bytes
from gallery.toy import toy_trace
from gallery.trace import trace

from .test_model_types import _arch, default_config_is_exact, drafts_a_clean_spec, exact_or_refused_alike, \
    the_try_page_counts_it
from .test_model_types_hybrid import _toy_equals_transformers
from .test_toy import SEQ, _hf_moe, _renamed

# every width distinct, so a width read into the wrong place shows
_SMALL = {"model_type": "minimax", "vocab_size": 500, "hidden_size": 96, "intermediate_size": 40,
          "num_attention_heads": 6, "num_key_value_heads": 2, "num_hidden_layers": 5, "num_local_experts": 5,
          "num_experts_per_tok": 2}
_LINEAR_FIRST = ["linear_attention", "linear_attention", "full_attention", "linear_attention", "full_attention"]
VARIANTS = {
    "small": {}, "mha": {"num_key_value_heads": 6}, "mqa": {"num_key_value_heads": 1},
    "kv default": {"num_key_value_heads": None}, "head_dim": {"head_dim": 24}, "width": {"hidden_size": 48},
    "heads": {"num_attention_heads": 12, "head_dim": 8}, "tied": {"tie_word_embeddings": True},
    "vocab": {"vocab_size": 777}, "experts": {"num_local_experts": 7, "num_experts_per_tok": 3},
    "one expert": {"num_local_experts": 1, "num_experts_per_tok": 1}, "expert width": {"intermediate_size": 24},
    "window": {"sliding_window": 7}, "layer_types": {"layer_types": _LINEAR_FIRST},
    "all linear": {"layer_types": ["linear_attention"] * 5}, "all full": {"layer_types": ["full_attention"] * 5},
    "7 layers": {"num_hidden_layers": 7}, "2 layers": {"num_hidden_layers": 2},
    "activation": {"hidden_act": "gelu"}, "block size": {"block_size": 64},
    "residual factors": {"full_attn_alpha_factor": 3.5, "linear_attn_beta_factor": 0.5, "mlp_alpha_factor": 2.0},
    "rope": {"rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5}},
    "legacy type names": {"layer_types": ["mamba", "attention", "mamba", "attention", "attention"]},
}
_REFUSED = {"kv default"}  # MiniMaxConfig types num_key_value_heads as int: null is refused, by derive too


def test_default_config_is_exact():
    default_config_is_exact("minimax", None, "")


@pytest.mark.parametrize("variant", VARIANTS)
def test_varied_configs_are_exact(variant):
    """Each size changed: the count equals transformers'; layer by layer, lightning attention where transformers
    built MiniMaxLightningAttention, with the window transformers' mask applies on the others."""
    config = _SMALL | VARIANTS[variant]
    built = exact_or_refused_alike(config)
    assert (built is None) == (variant in _REFUSED)
    if built is None:
        return
    arch, model = built
    lightning = [type(layer.self_attn).__name__ == "MiniMaxLightningAttention" for layer in model.model.layers]
    assert [arch.blocks[k].mixer.kind == "lightning" for k in arch.layers] == lightning
    window = config.get("sliding_window")  # MiniMaxModel: create_sliding_window_causal_mask when it is set
    assert [getattr(arch.blocks[k].mixer, "window", window) for k in arch.layers] == [window] * len(arch.layers)
    assert all(arch.blocks[k].residual_from_norm for k in arch.layers)
    for k in arch.layers:  # each residual add weighed by the alpha and beta factors of its sublayer (1 and 1: none)
        layer = "linear_attn" if arch.blocks[k].mixer.kind == "lightning" else "full_attn"
        for scale, sublayer in ((arch.blocks[k].mixer_scale, layer), (arch.blocks[k].ffn_scale, "mlp")):
            alpha, beta = (config.get(f"{sublayer}_{f}_factor", 1) for f in ("alpha", "beta"))
            assert (scale.residual, scale.output) == (alpha, beta) if scale else alpha == beta == 1


def test_config_spelled_with_the_attribute_map_alias_is_exact():
    import transformers

    assert transformers.MiniMaxConfig.attribute_map == FAMILIES["minimax"].aliases == {
        "num_experts": "num_local_experts"}
    config = {k: v for k, v in _SMALL.items() if k != "num_local_experts"} | {"num_experts": 7}
    arch, _ = exact_or_refused_alike(config)
    assert {arch.blocks[k].ffn.n_experts for k in arch.layers} == {7}


def test_default_layers_alternate_from_a_full_one():
    """MiniMaxConfig.__post_init__: full attention at even layers, lightning at odd ones."""
    arch = _arch({"model_type": "minimax", "num_hidden_layers": 5})
    assert arch.layers == ["full", "linear", "full", "linear", "full"]


def test_a_layer_type_transformers_does_not_build_is_refused_in_one_line():
    from gallery.derive import DerivationError, derive

    with pytest.raises(DerivationError, match=r"layer_types\[1\]: 'sliding_attention' at layer 1"):
        derive(_SMALL | {"layer_types": ["full_attention", "sliding_attention", "full_attention",
                                         "linear_attention", "full_attention"]})


def test_cache_and_state_flops_by_hand():
    """Lightning layers keep one head_dim × head_dim state per head (MiniMaxCache.linear_cache) and nothing per token;
    per token each writes k ⊗ v (2 FLOPs per state element) and reads q·S (2 more). Softmax layers keep K and V."""
    arch = _arch(_SMALL | {"layer_types": _LINEAR_FIRST})  # 3 lightning, 2 softmax layers
    heads, head_dim, kv_heads = 6, 96 // 6, 2
    assert state_bytes(arch) == 3 * heads * head_dim * head_dim * BF16
    assert state_flops(arch) == 3 * 4 * heads * head_dim * head_dim
    assert kv_bytes_per_token(arch) == 2 * 2 * kv_heads * head_dim * BF16
    assert attention_flops(arch, 1000) == 2 * 4 * heads * head_dim * 1000  # QKᵀ and × V in the 2 softmax layers


def test_trace_in_reference_order_with_the_residual_from_the_normed_input():
    arch = _arch(_SMALL | {"layer_types": _LINEAR_FIRST})
    steps = trace(arch, 0, 5)
    assert [s.op for s in steps[:15]] == [
        "mixer norm (pre)", "qkv_proj", "silu", "split Q heads", "split K heads", "split V heads", "decay state",
        "write state", "read-out by q", "merge heads", "norm", "output_gate", "× σ(g)", "out_proj", "residual add"]
    by_op = {s.op: s for s in steps}
    assert by_op["qkv_proj"].params[0].shape == (96, 3 * 96) and by_op["norm"].params[0].shape == (96,)
    assert by_op["write state"].out_shape == (6, 16, 16) and by_op["write state"].flops == 2 * 5 * 6 * 16 * 16
    assert steps[14].formula.startswith("x = h + lightning attention(h), h = the normed x")
    scaled = trace(_arch(_SMALL | {"layer_types": _LINEAR_FIRST, **_FACTORS}), 0, 5)
    adds = [s.formula for s in scaled if s.op == "residual add"]
    assert adds == ["x = 1.5 · h + 0.5 · lightning attention(h), h = the normed x (the residual carries the normed "
                    "input)", "x = 3 · h + 0.25 · ffn(h), h = the normed x (the residual carries the normed input)"]


def test_decay_rates_equal_the_reference_buffers_at_every_layer():
    """slopes(n_heads, layer, n_layers) is MiniMaxLightningAttention.get_slope_rate: ALiBi slopes, weaker with depth."""
    import torch
    import transformers

    config = transformers.MiniMaxConfig(**{k: v for k, v in _SMALL.items() if k != "model_type"},
                                        layer_types=["linear_attention"] * 5)
    with torch.device("cpu"):
        model = transformers.MiniMaxModel(config)
    for i, layer in enumerate(model.layers):
        np.testing.assert_allclose(slopes(6, i, 5), layer.self_attn.slope_rate.flatten().numpy(), rtol=1e-6)


# --- the toy layers against transformers' MiniMaxDecoderLayer -----------------------------------------------------

_FACTORS = {"full_attn_alpha_factor": 2.0, "full_attn_beta_factor": 0.75, "linear_attn_alpha_factor": 1.5,
            "linear_attn_beta_factor": 0.5, "mlp_alpha_factor": 3.0, "mlp_beta_factor": 0.25}
_NAMES = {"mixer_norm": "input_layernorm", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"} | {
    k: f"self_attn.{k}" for k in ("qkv_proj", "norm", "output_gate", "out_proj", "q_proj", "k_proj", "v_proj",
                                  "o_proj")}


@pytest.mark.parametrize("kind", ["linear_attention", "full_attention"])
def test_toy_layer_equals_transformers(kind):
    """Layer 0 (the toy runs the decay rates of a first layer) of a model whose layer 0 is ``kind``."""
    cfg = {"model_type": "minimax", "num_hidden_layers": 2, "vocab_size": 32, "layer_types": [kind, "full_attention"],
           **_FACTORS}
    toy = toy_trace(_arch(cfg), 0, SEQ, seed=3)
    block = toy.arch.blocks[toy.arch.layers[0]]
    m, f = block.mixer, block.ffn
    cfg |= {"hidden_size": toy.arch.d_model, "num_attention_heads": m.n_heads, "head_dim": m.head_dim,
            "num_key_value_heads": getattr(m, "n_kv_heads", m.n_heads), "block_size": getattr(m, "block_size", 256),
            "num_local_experts": f.n_experts, "num_experts_per_tok": f.top_k, "intermediate_size": f.d_expert}
    w = dict(toy.weights)
    experts = {k: w.pop(k) for k in list(w) if k.startswith(("experts.", "router."))}
    state = _renamed(_NAMES, w, "model.layers.0.") | _hf_moe("minimax", experts, "model.layers.0.mlp.")
    _toy_equals_transformers(toy, cfg, 0, state)


def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys):
    drafts_a_clean_spec(tmp_path, {"model_type": "minimax"}, capsys)


def test_the_try_page_reads_it():
    the_try_page_counts_it(dict(_SMALL))
