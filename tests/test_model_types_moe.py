"""Model types of issue 15 read on existing kinds, mostly mixture-of-experts variants: Emu3's and Aria's language
models, LFM3 and LFM2-MoE, Cohere 2 MoE, AFMoE, MiniMax-M3-VL's text model, DBRX, Qwen4-Exp and Cohere Compass's
text model. Each is compared with the model transformers builds on the meta device, exactly: the default config (or,
where transformers cannot build it, the smallest complete one), variants that change every size the config has,
and configs spelled with the config class's attribute_map aliases; ``new`` drafts a spec that lints clean and the
Try page counts it."""

from __future__ import annotations

import pytest

from gallery.counts import total_params
from gallery.derive import FAMILIES, derive

from .reference import reference_param_count
from .test_model_types import (
    _arch, default_config_is_exact, drafts_a_clean_spec, exact_or_refused_alike, the_try_page_counts_it,
)

# transformers cannot build these defaults: the smallest complete config adds what is named, and derive refuses the
# bare default in one line matching the reason
SMALLEST: dict[str, tuple[dict, str]] = {
    "cohere_compass_text": ({"rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 10000.0}}},
                            "no 'full_attention' entry"),
    "dbrx": ({"attn_config": {"rope_theta": 500000}}, "attn_config has no rope_theta"),
    "lfm2_moe": ({"layer_types": ["full_attention" if i % 4 == 3 else "conv" for i in range(32)]}, "layer_types is null"),
}

# Small configs with every width distinct, so a width read into the wrong place shows.
_LLAMA = {"vocab_size": 500, "hidden_size": 96, "num_attention_heads": 6, "num_key_value_heads": 2,
          "intermediate_size": 40, "num_hidden_layers": 3, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
_SMALL = {
    "emu3_text_model": _LLAMA,
    "aria_text": _LLAMA | {"moe_num_experts": 5, "moe_topk": 2, "moe_num_shared_experts": 2},
    "lfm3": _LLAMA | {"head_dim": 16, "num_hidden_layers": 5, "sliding_window": 32, "norm_eps": 1e-6},
    "lfm2_moe": _LLAMA | {"moe_intermediate_size": 24, "num_hidden_layers": 4, "num_dense_layers": 1, "num_experts": 5,
                          "num_experts_per_tok": 2, "layer_types": ["conv", "full_attention", "conv", "full_attention"]},
    "cohere2_moe": _LLAMA | {"head_dim": 16, "num_hidden_layers": 5, "sliding_window": 32, "num_experts": 5,
                             "shared_expert_combination_strategy": "sum", "first_k_dense_replace": 1},
    "cohere_compass_text": _LLAMA | {"num_hidden_layers": 4, "sliding_window": 32, "layer_types": [
        "sliding_attention", "full_attention", "sliding_attention", "full_attention"], "rope_parameters": {
        "full_attention": None, "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}},
    "afmoe": _LLAMA | {"head_dim": 16, "num_hidden_layers": 5, "sliding_window": 32, "moe_intermediate_size": 24,
                       "num_experts": 5, "num_experts_per_tok": 2, "global_attn_every_n_layers": 3},
    "dbrx": {"vocab_size": 500, "d_model": 96, "n_heads": 6, "n_layers": 3, "max_seq_len": 100,
             "attn_config": {"kv_n_heads": 2, "rope_theta": 500000, "clip_qkv": 8},
             "ffn_config": {"ffn_hidden_size": 40, "moe_num_experts": 5, "moe_top_k": 2}},
    "minimax_m3_vl_text": _LLAMA | {"head_dim": 16, "rotary_dim": 8, "dense_intermediate_size": 72,
                                    "shared_intermediate_size": 24, "num_local_experts": 5, "num_experts_per_tok": 2,
                                    "mlp_layer_types": ["dense", "sparse", "sparse"]},
}
_ATTENTION = {
    "mha": {"num_key_value_heads": 6},
    "mqa": {"num_key_value_heads": 1},
    "kv default": {"num_key_value_heads": None},
    "head_dim": {"head_dim": 24},
    "tied": {"tie_word_embeddings": True},
    "vocab": {"vocab_size": 777},
    "width": {"hidden_size": 48},
    "4 layers": {"num_hidden_layers": 4},
}
VARIANTS = {
    "emu3_text_model": {"small": {}, **_ATTENTION, "biases": {"attention_bias": True, "mlp_bias": True},
                        "d_ff": {"intermediate_size": 72}, "activation": {"hidden_act": "gelu_pytorch_tanh"}},
    "aria_text": {"small": {}, **_ATTENTION, "biases": {"attention_bias": True, "mlp_bias": True},
                  "experts": {"moe_num_experts": 7, "moe_topk": 3}, "shared": {"moe_num_shared_experts": 3},
                  "no shared": {"moe_num_shared_experts": 0}, "expert width": {"intermediate_size": 72},
                  "activation": {"hidden_act": "gelu"}, "empty shared with bias": {"moe_num_shared_experts": 0,
                                                                                   "mlp_bias": True}},
    "lfm3": {"small": {}, **{k: _ATTENTION[k] for k in ("mha", "mqa", "head_dim", "vocab", "width")},
             "untied": {"tie_word_embeddings": False}, "9 layers": {"num_hidden_layers": 9},
             "layer_types": {"layer_types": ["sliding_attention", "conv", "full_attention", "full_attention", "conv"]},
             "no gate": {"use_attention_gate": False}, "no sandwich": {"use_sandwich_norm": False},
             "bias": {"attention_bias": True}, "conv": {"conv_L_cache": 3, "conv_bias": True},
             "no window": {"sliding_window": None}, "d_ff": {"intermediate_size": 72},
             "rope": {"rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 5e5},
                                          "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}}},
    "lfm2_moe": {"small": {}, **{k: _ATTENTION[k] for k in ("mha", "mqa", "vocab", "width")},
                 "untied": {"tie_word_embeddings": False}, "tie_embedding": {"tie_embedding": False},
                 "experts": {"num_experts": 7, "num_experts_per_tok": 3}, "expert width": {"moe_intermediate_size": 56},
                 "no dense": {"num_dense_layers": 0}, "all dense": {"num_dense_layers": 4},
                 "no expert bias": {"use_expert_bias": False}, "routing": {"norm_topk_prob": False,
                                                                            "routed_scaling_factor": 2.5},
                 "conv": {"conv_L_cache": 4, "conv_bias": True}, "d_ff": {"intermediate_size": 72},
                 "all attention": {"layer_types": ["full_attention"] * 4}},
    "cohere2_moe": {"small": {}, **{k: _ATTENTION[k] for k in ("mha", "mqa", "head_dim", "vocab", "width")},
                    "untied": {"tie_word_embeddings": False}, "7 layers": {"num_hidden_layers": 7},
                    "rms norm": {"rms_norm_eps": 1e-6}, "experts": {"num_experts": 7, "num_experts_per_tok": 3},
                    "shared": {"num_shared_experts": 2}, "averaged shared": {"num_shared_experts": 2,
                                                                             "shared_expert_combination_strategy": "average"},
                    "sigmoid": {"expert_selection_fn": "sigmoid", "norm_topk_prob": False},
                    "dense prefix": {"first_k_dense_replace": 3, "prefix_dense_intermediate_size": 72,
                                     "prefix_dense_sliding_window_pattern": 2},
                    "no dense": {"first_k_dense_replace": 0}, "pattern": {"sliding_window_pattern": 2},
                    "no window": {"sliding_window": None}, "bias": {"attention_bias": True},
                    "listed": {"layer_types": ["full_attention", "sliding_attention"] * 2 + ["full_attention"],
                               "mlp_layer_types": ["sparse", "dense", "sparse", "sparse", "dense"]},
                    "unknown entry": {"mlp_layer_types": ["dense", 7, "sparse", "sparse", "dense"]}},
    "cohere_compass_text": {"small": {}, **{k: _ATTENTION[k] for k in ("mha", "mqa", "kv default", "vocab", "width")},
                            "untied": {"tie_word_embeddings": False}, "bias": {"attention_bias": True},
                            "head_dim": {"head_dim": 24}, "all full": {"layer_types": None, "rope_parameters": {
                                "full_attention": {"rope_type": "default", "rope_theta": 5e5}}},
                            "flat rope": {"rope_parameters": {"rope_type": "default", "rope_theta": 5e5}},
                            "rope both": {"rope_parameters": {"full_attention": {"rope_type": "default",
                                                                                 "rope_theta": 5e5},
                                                              "sliding_attention": {"rope_type": "default",
                                                                                    "rope_theta": 1e4}}}},
    "afmoe": {"small": {}, **_ATTENTION, "untied": {"tie_word_embeddings": False}, "bias": {"attention_bias": True},
              "experts": {"num_experts": 7, "num_experts_per_tok": 3}, "shared": {"num_shared_experts": 3},
              "no shared": {"num_shared_experts": 0}, "dense": {"num_dense_layers": 3, "intermediate_size": 72},
              "no dense": {"num_dense_layers": 0}, "pattern": {"global_attn_every_n_layers": 2},
              "listed": {"layer_types": ["full_attention", "sliding_attention"] * 2 + ["sliding_attention"]},
              "no window": {"sliding_window": None}, "mup": {"mup_enabled": True, "route_scale": 2.5},
              "null dense": {"num_dense_layers": None}},
    "dbrx": {"small": {}, "width": {"d_model": 48}, "heads": {"n_heads": 12}, "vocab": {"vocab_size": 777},
             "4 layers": {"n_layers": 4}, "tied": {"tie_word_embeddings": True},
             "mha": {"attn_config": {"kv_n_heads": 6, "rope_theta": 500000}},
             "kv default": {"attn_config": {"rope_theta": 500000}},
             "no rope_theta": {"attn_config": {"kv_n_heads": 2}},
             "experts": {"ffn_config": {"ffn_hidden_size": 72, "moe_num_experts": 7, "moe_top_k": 3}},
             "ffn defaults": {"ffn_config": None},
             "activation": {"ffn_config": {"ffn_hidden_size": 40, "ffn_act_fn": {"name": "gelu"}}},
             "unnormalised": {"ffn_config": {"ffn_hidden_size": 40, "moe_normalize_expert_weights": None}},
             "2-norm": {"ffn_config": {"ffn_hidden_size": 40, "moe_normalize_expert_weights": 2.0}},
             "rope": {"rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}},
             "heads do not divide": {"n_heads": 7}, "width by its alias": {"hidden_size": 48}},
    "minimax_m3_vl_text": {
        "small": {}, **{k: _ATTENTION[k] for k in ("mha", "mqa", "vocab", "width", "tied", "4 layers")},
        "head_dim": {"head_dim": 24, "rotary_dim": 12}, "full rotary": {"rotary_dim": 16},
        "experts": {"num_local_experts": 7, "num_experts_per_tok": 3, "intermediate_size": 56},
        "shared": {"shared_intermediate_size": 48}, "all sparse": {"mlp_layer_types": None},
        "moe_layer_freq": {"mlp_layer_types": None, "moe_layer_freq": [1, 0, 1]},
        "scaling": {"routed_scaling_factor": 1.5},
        "sparse attention": {"layer_types": ["full_attention", "minimax_m3_sparse", "full_attention"]},
        "sparse_attention_freq": {"sparse_attention_config": {"sparse_attention_freq": [0, 0, 1]}},
        "other clamp": {"swiglu_limit": 10.0}},
}
TYPES = list(_SMALL)
# configs transformers builds that the gallery refuses in one line rather than draw wrong
_REFUSED = {("aria_text", "activation"): "routed experts stay SiLU",
            ("cohere2_moe", "averaged shared"): "'average' with shared experts",
            ("dbrx", "2-norm"): "p = 1", ("dbrx", "heads do not divide"): "not a multiple of n_heads",
            ("dbrx", "width by its alias"): "spell it d_model",
            ("minimax_m3_vl_text", "sparse attention"): "block lightning indexer",
            ("minimax_m3_vl_text", "sparse_attention_freq"): "block lightning indexer",
            ("minimax_m3_vl_text", "other clamp"): "gpt-oss's",
            ("aria_text", "empty shared with bias"): "empty shared MLP"}


@pytest.mark.parametrize("model_type", TYPES)
def test_default_config_is_exact(model_type):
    smallest, why = SMALLEST.get(model_type, (None, ""))
    default_config_is_exact(model_type, smallest, why)


@pytest.mark.parametrize(("model_type", "variant"), [(t, v) for t in TYPES for v in VARIANTS[t]])
def test_varied_configs_are_exact(model_type, variant):
    """Each size changed: the count equals transformers'; a config transformers refuses is refused too."""
    config = {"model_type": model_type, **_SMALL[model_type], **VARIANTS[model_type][variant]}
    if (model_type, variant) in _REFUSED:
        from gallery.derive import DerivationError

        with pytest.raises(DerivationError, match=_REFUSED[model_type, variant]):
            derive(config)
        return
    exact_or_refused_alike(config)


@pytest.mark.parametrize("model_type", [t for t in TYPES if FAMILIES[t].aliases])
def test_configs_spelled_with_attribute_map_aliases_are_exact(model_type):
    import transformers

    cls, family = transformers.CONFIG_MAPPING[model_type], FAMILIES[model_type]
    config = {"model_type": model_type, **_SMALL[model_type]}
    canonical = dict(config)
    for alias, key in cls.attribute_map.items():
        if key not in config or (model_type, alias) == ("dbrx", "hidden_size"):
            continue  # not an architecture key; DBRX's width alias is refused (test_varied_configs_are_exact)
        assert family.aliases.get(alias) == key, alias
        config[alias] = config.pop(key)
    assert _arch(config) == _arch(canonical)
    assert total_params(_arch(config)) == reference_param_count(config)


@pytest.mark.parametrize("model_type", TYPES)
def test_new_drafts_a_spec_that_lints_clean(tmp_path, model_type, capsys):
    drafts_a_clean_spec(tmp_path, {"model_type": model_type} | SMALLEST.get(model_type, ({}, ""))[0], capsys)


@pytest.mark.parametrize("model_type", TYPES)
def test_the_try_page_reads_it(model_type):
    the_try_page_counts_it({"model_type": model_type, **_SMALL[model_type]})


@pytest.mark.parametrize(("wrapper", "text"), [("emu3", "emu3_text_model"), ("aria", "aria_text")])
def test_a_wrapper_is_read_through_its_text_config(wrapper, text, tied=True):
    """The checkpoints' own form (Emu3-Chat-hf, rhymes-ai/Aria): the language model and the wrapper's head, tied as
    the wrapper's flag says (its text config's own flag is false), counted in the wrapper transformers builds, its
    vision parts left out."""
    import torch
    import transformers

    config = {"model_type": wrapper, "text_config": {"model_type": text, **_SMALL[text]}, "tie_word_embeddings": tied}
    if wrapper == "emu3":
        config["vocabulary_map"] = {"<image>": 3}  # Emu3Model maps image tokens through it
    cfg = transformers.CONFIG_MAPPING[wrapper].from_dict(config)
    with torch.device("meta"):
        model = transformers.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING[type(cfg)](cfg)
    language = {id(p): p for name, p in model.named_parameters(remove_duplicate=False)
                if name.startswith(("model.text_model.", "model.language_model.", "lm_head."))}
    assert derive(config).arch["embedding"]["tied"] is tied
    assert total_params(_arch(config)) == sum(p.numel() for p in language.values())


# --- AFMoE's layer: the toy against AfmoeDecoderLayer (float64) -------------------------------------------------

_AFMOE_NAMES = {"attn_norm": "input_layernorm", "post_attn_norm": "post_attention_layernorm",
                "ffn_norm": "pre_mlp_layernorm", "post_ffn_norm": "post_mlp_layernorm",
                "router": "mlp.router.gate", "gate_proj": "mlp.gate_proj", "up_proj": "mlp.up_proj",
                "down_proj": "mlp.down_proj"} | {
    k: f"self_attn.{k}" for k in ("k_proj", "v_proj", "o_proj", "q_norm", "k_norm")} | {
    f"shared_expert.{k}": f"mlp.shared_experts.{k}" for k in ("gate_proj", "up_proj", "down_proj")}


def _afmoe_state(w: dict, m, p: str) -> dict:
    """The toy's weights under AFMoE's names: the gate's g_proj is gate_proj; the frozen expert_bias; experts fused
    as Qwen2MoeExperts stores them."""
    import numpy as np

    from .test_toy import _renamed

    out = {p + "self_attn.gate_proj.weight": w.pop("g_proj.weight").T}
    if "router.correction_bias" in w:
        out[p + "mlp.expert_bias"] = w.pop("router.correction_bias")
        g, u, d = (w.pop(f"experts.{n}.weight") for n in ("gate_proj", "up_proj", "down_proj"))  # (E, in, out)
        out |= {p + "mlp.experts.gate_up_proj": np.concatenate([g, u], 2).transpose(0, 2, 1),
                p + "mlp.experts.down_proj": d.transpose(0, 2, 1)}
    return out | _renamed(_AFMOE_NAMES | {"q_proj": "self_attn.q_proj"}, w, p)


@pytest.mark.parametrize("layer", [0, 1, 3])  # dense MLP (sliding, RoPE); experts (sliding); experts (global, NoPE)
def test_afmoe_toy_layer_equals_transformers(layer):
    from gallery.toy import toy_trace

    from .test_model_types_hybrid import _toy_equals_transformers
    from .test_toy import SEQ

    toy = toy_trace(_arch({"model_type": "afmoe", "num_hidden_layers": 4}), layer, SEQ, seed=3)
    block = toy.arch.blocks[toy.arch.layers[0]]
    m, f = block.mixer, block.ffn
    assert m.gate.per == "element" and (m.rope is None) == (layer == 3) and block.norm_placement == "sandwich"
    cfg = {"model_type": "afmoe", "vocab_size": 32, "hidden_size": toy.arch.d_model, "num_hidden_layers": layer + 1,
           "num_attention_heads": m.n_heads, "num_key_value_heads": m.n_kv_heads, "head_dim": m.head_dim,
           "sliding_window": m.window or 1024, "num_dense_layers": 1}
    cfg |= {"intermediate_size": f.d_ff} if f.kind == "mlp" else {
        "intermediate_size": 12, "moe_intermediate_size": f.d_expert, "num_experts": f.n_experts,
        "num_experts_per_tok": f.top_k, "num_shared_experts": f.d_shared // f.d_expert}
    _toy_equals_transformers(toy, cfg, layer, _afmoe_state(dict(toy.weights), m, f"model.layers.{layer}."))


# --- LFM3's layers: the toy against Lfm3DecoderLayer (float64) ---------------------------------------------------

_LFM3_NAMES = {"attn_norm": "operator_norm", "mixer_norm": "operator_norm", "post_attn_norm": "post_operator_norm",
               "post_mixer_norm": "post_operator_norm", "ffn_norm": "ffn_norm", "post_ffn_norm": "post_ffn_norm",
               "in_proj": "conv.in_proj", "conv": "conv.conv", "out_proj": "conv.out_proj",
               "gate_proj": "feed_forward.w1", "up_proj": "feed_forward.w3", "down_proj": "feed_forward.w2"} | {
    k: f"self_attn.{k}" for k in ("q_proj", "k_proj", "v_proj", "o_proj", "g_proj", "q_norm", "k_norm")}


@pytest.mark.parametrize(("layer", "kind"), [(0, "conv"), (1, "full_attention"), (1, "sliding_attention")])
def test_lfm3_toy_layer_equals_transformers(layer, kind):
    """The 7-tap short convolution; full attention with proportional RoPE on half of each head; sliding attention
    (a window of 3 over 6 tokens) with plain RoPE: each with its per-head sigmoid gate and sandwich norms."""
    from gallery.toy import toy_trace

    from .test_model_types_hybrid import _toy_equals_transformers
    from .test_toy import SEQ, _renamed

    types = ["conv"] * layer + [kind]
    toy = toy_trace(_arch({"model_type": "lfm3", "num_hidden_layers": layer + 1, "layer_types": types}), layer, SEQ,
                    seed=3)
    block = toy.arch.blocks[toy.arch.layers[0]]
    m = block.mixer
    assert block.norm_placement == "sandwich" and (m.kind == "short_conv") == (kind == "conv")
    cfg = {"model_type": "lfm3", "vocab_size": 32, "hidden_size": toy.arch.d_model, "num_hidden_layers": layer + 1,
           "intermediate_size": block.ffn.d_ff, "layer_types": types, "pad_token_id": 0, "bos_token_id": 1,
           "eos_token_id": 2}
    if m.kind != "short_conv":
        assert m.gate.per == "head" and (m.window is not None) == (kind == "sliding_attention")
        cfg |= {"num_attention_heads": m.n_heads, "num_key_value_heads": m.n_kv_heads, "head_dim": m.head_dim,
                "sliding_window": m.window or 256}
    _toy_equals_transformers(toy, cfg, layer, _renamed(_LFM3_NAMES, dict(toy.weights), f"model.layers.{layer}."))


# --- MiniMax-M3's layers: the toy against MiniMaxM3VLDecoderLayer (float64) ---------------------------------------


def _minimax_m3_state(w: dict, p: str) -> dict:
    """The toy's weights under MiniMax-M3's names: gate and up fused (rows gate then up), Gemma-style norms stored as
    weight − 1, the router's correction bias a buffer of its gate."""
    import numpy as np

    out = {p + n.replace("attn_norm", "input_layernorm").replace("ffn_norm", "post_attention_layernorm"): v - 1
           for n, v in w.items() if n.split(".")[0] in ("attn_norm", "ffn_norm")}
    out |= {p + f"self_attn.{n}": (v - 1 if "norm" in n else v.T) for n, v in w.items()
            if n.split(".")[0] in ("q_proj", "k_proj", "v_proj", "o_proj", "q_norm", "k_norm")}
    for prefix, hf in (("", "mlp."), ("shared_expert.", "mlp.shared_experts.")):
        if f"{prefix}gate_proj.weight" in w:
            out[p + hf + "gate_up_proj.weight"] = np.concatenate(
                [w[f"{prefix}gate_proj.weight"], w[f"{prefix}up_proj.weight"]], 1).T
            out[p + hf + "down_proj.weight"] = w[f"{prefix}down_proj.weight"].T
    if "router.weight" in w:
        g, u, d = (w[f"experts.{n}.weight"] for n in ("gate_proj", "up_proj", "down_proj"))  # (E, in, out)
        out |= {p + "mlp.gate.weight": w["router.weight"].T, p + "mlp.gate.e_score_correction_bias":
                w["router.correction_bias"], p + "mlp.experts.gate_up_proj": np.concatenate([g, u], 2).transpose(0, 2, 1),
                p + "mlp.experts.down_proj": d.transpose(0, 2, 1)}
    return out


@pytest.mark.parametrize("layer", [0, 1])  # a dense clamped-SwiGLU MLP; experts with a shared expert
def test_minimax_m3_toy_layer_equals_transformers(layer):
    """The whole head rotates (rotary_dim is not read by transformers here), the MLPs are gpt-oss's clamped SwiGLU,
    the routed sum is scaled by routed_scaling_factor before the shared expert is added."""
    from gallery.toy import toy_trace

    from .test_model_types_hybrid import _toy_equals_transformers
    from .test_toy import SEQ

    mlp = ["dense", "sparse"][:layer + 1]
    toy = toy_trace(_arch({"model_type": "minimax_m3_vl_text", "num_hidden_layers": layer + 1,
                           "mlp_layer_types": mlp}), layer, SEQ, seed=3)
    block = toy.arch.blocks[toy.arch.layers[0]]
    m, f = block.mixer, block.ffn
    assert f.activation == "swish_clamped" and m.rope.partial == 1.0
    cfg = {"model_type": "minimax_m3_vl_text", "vocab_size": 32, "hidden_size": toy.arch.d_model,
           "num_hidden_layers": layer + 1, "mlp_layer_types": mlp, "num_attention_heads": m.n_heads,
           "num_key_value_heads": m.n_kv_heads, "head_dim": m.head_dim, "bos_token_id": 1, "eos_token_id": 2}
    cfg |= {"dense_intermediate_size": f.d_ff} if f.kind == "mlp" else {
        "dense_intermediate_size": 12, "intermediate_size": f.d_expert, "shared_intermediate_size": f.d_shared,
        "num_local_experts": f.n_experts, "num_experts_per_tok": f.top_k}
    _toy_equals_transformers(toy, cfg, layer, _minimax_m3_state(dict(toy.weights), f"model.layers.{layer}."))


# --- cache by hand, from the config numbers ------------------------------------------------------------------------

BF16 = 2


def test_lfm3_default_cache_by_hand():
    """Lfm3Config: 24 layers, full attention at i % 4 == 2 (6 layers), sliding (256 tokens) at i % 4 == 0 from layer 4
    (5), the 7-tap short convolution elsewhere (13, a fixed d_model × 7 window each); 4 KV heads of 128."""
    from gallery.memory import kv_bytes, kv_bytes_per_token, state_bytes

    arch = _arch({"model_type": "lfm3"})
    per_token = 2 * 4 * 128  # K and V
    assert kv_bytes_per_token(arch) == 11 * per_token * BF16
    assert state_bytes(arch) == 13 * 2048 * 7 * BF16
    assert kv_bytes(arch, 4096) == (6 * per_token * 4096 + 5 * per_token * 256 + 13 * 2048 * 7) * BF16


def test_afmoe_and_dbrx_cache_by_hand():
    """AFMoE's default: 32 layers, every fourth full (8), the others in a 1,024-token window, 16 KV heads of 128 (MHA:
    num_key_value_heads null); DBRX 132B: 40 layers, 8 KV heads of 6144 / 48 = 128."""
    from gallery.memory import kv_bytes, kv_bytes_per_token

    afmoe = _arch({"model_type": "afmoe"})
    per_token = 2 * 16 * 128
    assert kv_bytes_per_token(afmoe) == 32 * per_token * BF16
    assert kv_bytes(afmoe, 8192) == (8 * per_token * 8192 + 24 * per_token * 1024) * BF16
    dbrx = _arch({"model_type": "dbrx", "d_model": 6144, "n_heads": 48, "n_layers": 40,
                  "attn_config": {"kv_n_heads": 8, "rope_theta": 500000}})
    assert kv_bytes_per_token(dbrx) == 40 * 2 * 8 * 128 * BF16
