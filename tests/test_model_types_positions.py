"""Model types of issue 15 with classic blocks and position schemes: OpenAI GPT (post-LN, learned positions), CTRL
and XGLM (sinusoidal positions), and, for their counts, BLOOM, MPT and Falcon (ALiBi, parallel blocks;
``test_model_types_alibi.py``) and DiffLlama (differential attention; ``test_model_types_diffllama.py``): each
compared with the model transformers builds on the meta device, exactly: the default config, variants that change
every size and switch the config has, configs spelled with the config class's attribute_map aliases, and refusals
where transformers builds a model that cannot run; the toy layer of GPT-1, CTRL and XGLM against the same tiny layer
in transformers (float64, within 1e-6), and their cache and FLOPs by hand."""

from __future__ import annotations

import numpy as np
import pytest

from gallery.counts import block_terms, breakdown, total_params
from gallery.derive import FAMILIES, DerivationError, derive
from gallery.flops import attention_flops
from gallery.memory import kv_bytes_per_token
from gallery.toy import toy_forward, toy_weights
from gallery.trace import trace

from .reference import reference_param_count
from .test_model_types import _arch, _reference, default_config_is_exact, drafts_a_clean_spec, exact_or_refused_alike
from .test_model_types import the_try_page_counts_it
from .test_toy import SEQ, _model_with_toy_layer, _renamed

TYPES = ["openai-gpt", "ctrl", "xglm", "bloom", "mpt", "falcon", "diffllama"]

# Small configs with every width distinct, so a width read into the wrong place shows.
_SMALL = {
    "openai-gpt": {"vocab_size": 500, "n_embd": 96, "n_head": 6, "n_layer": 3, "n_positions": 100},
    "ctrl": {"vocab_size": 500, "n_embd": 96, "n_head": 6, "n_layer": 3, "n_positions": 100, "dff": 40},
    "xglm": {"vocab_size": 500, "d_model": 96, "attention_heads": 6, "num_layers": 3, "max_position_embeddings": 100,
             "ffn_dim": 40, "pad_token_id": 1},
    "bloom": {"vocab_size": 500, "hidden_size": 96, "n_head": 6, "n_layer": 3},
    "mpt": {"vocab_size": 500, "d_model": 96, "n_heads": 6, "n_layers": 3, "max_seq_len": 100},
    "falcon": {"vocab_size": 500, "hidden_size": 96, "num_attention_heads": 6, "num_hidden_layers": 3,
               "max_position_embeddings": 100},
    "diffllama": {"vocab_size": 500, "hidden_size": 96, "num_attention_heads": 6, "num_key_value_heads": 2,
                  "num_hidden_layers": 3, "intermediate_size": 40},
}
_NEW_ARCH = {"new_decoder_architecture": True, "num_kv_heads": 2}  # Falcon-40B's layout
VARIANTS = {
    "openai-gpt": {"small": {}, "width": {"n_embd": 48}, "heads": {"n_head": 12}, "vocab": {"vocab_size": 777},
                   "positions": {"n_positions": 333}, "untied": {"tie_word_embeddings": False},
                   "relu": {"afn": "relu"}, "swish": {"afn": "swish"}, "unknown activation": {"afn": "gelu_new"},
                   "4 layers": {"n_layer": 4}, "heads do not divide": {"n_head": 7}},
    "ctrl": {"small": {}, "width": {"n_embd": 48}, "heads": {"n_head": 12}, "vocab": {"vocab_size": 777},
             "positions": {"n_positions": 333}, "untied": {"tie_word_embeddings": False}, "d_ff": {"dff": 24},
             "4 layers": {"n_layer": 4}, "eps": {"layer_norm_epsilon": 1e-5}},
    "xglm": {"small": {}, "width": {"d_model": 48}, "heads": {"attention_heads": 12}, "vocab": {"vocab_size": 777},
             "positions": {"max_position_embeddings": 333}, "untied": {"tie_word_embeddings": False},
             "unscaled": {"scale_embedding": False}, "d_ff": {"ffn_dim": 24}, "activation": {"activation_function": "relu"},
             "4 layers": {"num_layers": 4}, "heads do not divide": {"attention_heads": 7}},
    "bloom": {"small": {}, "width": {"hidden_size": 48}, "heads": {"n_head": 12}, "vocab": {"vocab_size": 777},
              "untied": {"tie_word_embeddings": False}, "n_embed": {"n_embed": 48}, "4 layers": {"n_layer": 4},
              "heads do not divide": {"n_head": 7}},
    "mpt": {"small": {}, "width": {"d_model": 48}, "heads": {"n_heads": 12}, "vocab": {"vocab_size": 777},
            "untied": {"tie_word_embeddings": False}, "4 layers": {"n_layers": 4},
            "switches transformers ignores": {"no_bias": False, "expansion_ratio": 2, "learned_pos_emb": True,
                                              "attn_config": {"alibi": False, "softmax_scale": 0.5}}},
    "falcon": {"small": {}, "width": {"hidden_size": 48}, "vocab": {"vocab_size": 777},
               "untied": {"tie_word_embeddings": False}, "d_ff": {"ffn_hidden_size": 40}, "bias": {"bias": True},
               "mha": {"multi_query": False}, "sequential": {"parallel_attn": False, "multi_query": False},
               "alibi": {"alibi": True, "multi_query": False, "parallel_attn": False, "bias": True},
               "new architecture": _NEW_ARCH, "new architecture, one norm": _NEW_ARCH | {"num_ln_in_parallel_attn": 1},
               "new architecture, kv default": {"new_decoder_architecture": True},
               "n_embed": {"n_embed": 48}, "null switches": {"alibi": None, "bias": None, "multi_query": None},
               "activation": {"activation": "relu"}, "4 layers": {"num_hidden_layers": 4}},
    "diffllama": {"small": {}, "mha": {"num_key_value_heads": 6}, "kv default": {"num_key_value_heads": None},
                  "head_dim": {"head_dim": 24}, "width": {"hidden_size": 48}, "biases": {"attention_bias": True},
                  "tied": {"tie_word_embeddings": True}, "vocab": {"vocab_size": 777}, "4 layers": {"num_hidden_layers": 4},
                  "activation": {"hidden_act": "gelu"}, "rope": {"rope_parameters": {"rope_type": "default",
                                                                                     "rope_theta": 5e5}},
                  "one kv head": {"num_key_value_heads": 1}, "odd kv heads": {"num_key_value_heads": 3},
                  "dropout": {"attention_dropout": 0.1}},  # the last three: transformers refuses, and so does derive
}
# configs transformers builds that are not a decoder-only LM, or whose forward cannot run: refused in one line
_REFUSED = [("xglm", {"add_cross_attention": True}, "cross-attention"),
            ("ctrl", {"n_head": 7}, "divisible"),  # CTRL's depth int(96 / 7): its heads' reshape fails
            ("bloom", {"apply_residual_connection_post_layernorm": True}, "normed input"),
            ("mpt", {"n_heads": 7}, "divisible"),
            ("falcon", _NEW_ARCH | {"parallel_attn": False}, "ln_attn"),
            ("falcon", {"num_ln_in_parallel_attn": 2}, "input_layernorm"),
            ("falcon", {"multi_query": False, "num_kv_heads": 2}, "fused QKV"),
            ("falcon", {"layer_norm_epsilon": None}, "layer_norm_epsilon is null")]


@pytest.mark.parametrize("model_type", TYPES)
def test_default_config_is_exact(model_type):
    default_config_is_exact(model_type, None, "")


@pytest.mark.parametrize(("model_type", "variant"), [(t, v) for t in TYPES for v in VARIANTS[t]])
def test_varied_configs_are_exact(model_type, variant):
    """Each size changed: the count equals transformers'; a config transformers refuses is refused too."""
    exact_or_refused_alike({"model_type": model_type, **_SMALL[model_type], **VARIANTS[model_type][variant]})


@pytest.mark.parametrize("model_type", [t for t in TYPES if FAMILIES[t].aliases])
def test_aliases_are_the_attribute_map_and_read_as_transformers_reads_them(model_type):
    """The small config with every key the config class's attribute_map aliases spelled by its alias."""
    import transformers

    aliases = transformers.CONFIG_MAPPING[model_type].attribute_map
    assert FAMILIES[model_type].aliases == aliases
    spelled = {key: alias for alias, key in aliases.items()}
    config = {"model_type": model_type} | {spelled.get(k, k): v for k, v in _SMALL[model_type].items()}
    assert set(config) - set(_SMALL[model_type]) and total_params(_arch(config)) == reference_param_count(config)


@pytest.mark.parametrize("model_type", ["bloom", "falcon"])
def test_n_embed_wins_over_hidden_size(model_type):
    """BloomConfig/FalconConfig.__post_init__: a deprecated n_embed replaces hidden_size."""
    config = {"model_type": model_type, **_SMALL[model_type], "n_embed": 48}
    assert _arch(config).d_model == 48 and total_params(_arch(config)) == reference_param_count(config)


@pytest.mark.parametrize(("model_type", "change", "message"), _REFUSED)
def test_configs_transformers_builds_but_cannot_run_as_a_decoder_only_lm_are_refused(model_type, change, message):
    config = {"model_type": model_type, **_SMALL[model_type], **change}
    assert _reference(config) is not None
    with pytest.raises(DerivationError, match=message):
        derive(config)


@pytest.mark.parametrize("model_type", TYPES)
def test_new_drafts_a_spec_that_lints_clean(tmp_path, model_type, capsys):
    drafts_a_clean_spec(tmp_path, {"model_type": model_type}, capsys)


@pytest.mark.parametrize("model_type", TYPES)
def test_the_try_page_reads_it(model_type):
    the_try_page_counts_it({"model_type": model_type, **_SMALL[model_type]})


def test_position_schemes_read_by_hand():
    """GPT-1 learns n_positions rows; CTRL and XGLM add fixed sinusoids (no parameters; XGLM's table starts at row 2)
    to embeddings × √d_model; GPT-1 has no final norm, and its norms follow the residual add."""
    gpt, ctrl, xglm = (_arch({"model_type": t, **_SMALL[t]}) for t in TYPES[:3])
    assert gpt.embedding.learned_positions == 100 and gpt.embedding.sinusoidal_positions is None
    assert not gpt.final_norm and gpt.blocks["full"].norm_placement == "post_residual"
    assert ctrl.embedding.sinusoidal_positions.offset == 0 and ctrl.embedding.scaled and ctrl.embedding.head_bias
    assert xglm.embedding.sinusoidal_positions.offset == 2 and xglm.embedding.scaled
    assert breakdown(ctrl)["embeddings"] == 500 * 96  # the token table only: the sinusoids are a buffer
    assert breakdown(xglm)["embeddings"] == 500 * 96
    assert breakdown(gpt)["embeddings"] == 500 * 96 + 100 * 96


@pytest.mark.parametrize("model_type", TYPES[:3])
def test_cache_and_attention_flops_by_hand(model_type):
    """MHA in every layer: K and V of 6 heads of 16 per token and layer; QKᵀ and A·V over the context."""
    arch = _arch({"model_type": model_type, **_SMALL[model_type]})
    assert kv_bytes_per_token(arch) == 3 * 2 * 6 * 16 * 2  # 3 layers, K and V, bf16
    assert attention_flops(arch, 50) == 3 * 2 * 6 * (16 + 16) * 50


# --- the toy layer against transformers' --------------------------------------------------------------------------

_TOY = {  # one-layer configs at toy width (d_model 16, 2 heads of 8), each type's own key names
    "openai-gpt": {"model_type": "openai-gpt", "vocab_size": 32, "n_embd": 16, "n_head": 2, "n_positions": 16},
    "ctrl": {"model_type": "ctrl", "vocab_size": 32, "n_embd": 16, "n_head": 2, "n_positions": 16, "dff": 12},
    "xglm": {"model_type": "xglm", "vocab_size": 32, "d_model": 16, "attention_heads": 2, "ffn_dim": 12,
             "max_position_embeddings": 16, "pad_token_id": 1},
}
_LAYERS = {"openai-gpt": "transformer.h.", "ctrl": "transformer.h.", "xglm": "model.layers."}
_NAMES = {
    "ctrl": {"attn_norm": "layernorm1", "ffn_norm": "layernorm2", "q_proj": "multi_head_attention.Wq",
             "k_proj": "multi_head_attention.Wk", "v_proj": "multi_head_attention.Wv",
             "o_proj": "multi_head_attention.dense", "up_proj": "ffn.0", "down_proj": "ffn.2"},
    "xglm": {"attn_norm": "self_attn_layer_norm", "ffn_norm": "final_layer_norm", "o_proj": "self_attn.out_proj",
             "up_proj": "fc1", "down_proj": "fc2"} | {k: f"self_attn.{k}" for k in ("q_proj", "k_proj", "v_proj")},
}


def _gpt1_state(w: dict, p: str) -> dict:
    """GPT-1's Conv1D layers store (in, out) as the toy does; Q, K and V are one c_attn."""
    qkv = ("q_proj", "k_proj", "v_proj")
    out = {p + "attn.c_attn.weight": np.concatenate([w[f"{n}.weight"] for n in qkv], 1),
           p + "attn.c_attn.bias": np.concatenate([w[f"{n}.bias"] for n in qkv])}
    for toy, hf in (("o_proj", "attn.c_proj"), ("up_proj", "mlp.c_fc"), ("down_proj", "mlp.c_proj"),
                    ("attn_norm", "ln_1"), ("ffn_norm", "ln_2")):
        out |= {p + f"{hf}.weight": w[f"{toy}.weight"], p + f"{hf}.bias": w[f"{toy}.bias"]}
    return out


def toy_layer_equals_transformers(cfg: dict, path: str, state, layer: int = 0, tol: float = 1e-6,
                                  attention: str = "eager") -> list:
    """Layer ``layer`` of the float64 model of ``cfg`` (a toy-width config), with the toy weights of its block copied
    in by ``state(weights, prefix)``, gives the toy's output for the same layer input; the toy's steps.
    ``attention``: the transformers attention implementation the model runs."""
    import torch
    import transformers
    from transformers.utils import logging

    logging.set_verbosity_error()
    arch = _arch(cfg)
    kind = arch.layers[layer]
    one = arch.model_copy(update={"n_layers": 1, "layers": [kind], "blocks": {kind: arch.blocks[kind]}})
    weights = toy_weights(one, seed=3)
    hf_config = transformers.CONFIG_MAPPING[cfg["model_type"]].from_dict(cfg)
    hf_config._attn_implementation = "eager"
    model = _model_with_toy_layer(hf_config, state(dict(weights), f"{path}{layer}."), f"{path}{layer}.")
    model.config._attn_implementation = attention  # read in forward (FalconAttention cannot be switched otherwise)
    seen = {}

    def hook(module, args, kwargs, output):
        seen["in"] = args[0] if args else kwargs["hidden_states"]
        seen["out"] = output[0] if isinstance(output, (tuple, list)) else output  # GPT-1: a list

    handle = model.get_submodule(path.rstrip("."))[layer].register_forward_hook(hook, with_kwargs=True)
    x = torch.from_numpy(np.random.default_rng(7).standard_normal((1, SEQ, arch.d_model)))
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # XGLMAttention's torch.full((), finfo(float64).min) needs it
    try:
        with torch.no_grad():
            model(inputs_embeds=x, use_cache=False)
    finally:
        torch.set_default_dtype(default)
        handle.remove()
    steps = toy_forward(one, weights, seen["in"][0].numpy())
    np.testing.assert_allclose(steps[-1].value, seen["out"][0].numpy(), rtol=tol, atol=tol)
    traced = trace(one, 0, SEQ)  # the toy runs the trace's steps, whose weights are the counted ones
    assert [s.op for s in steps] == [s.op for s in traced]
    assert all(s.value.shape == t.out_shape for s, t in zip(steps, traced) if s.op != "mask"), "shapes differ"
    assert sum(s.n_params for s in traced) == sum(t.count for t in block_terms(one, kind))
    return steps


@pytest.mark.parametrize("model_type", TYPES[:3])
def test_toy_layer_equals_transformers(model_type):
    cfg = _TOY[model_type] | {("n_layer" if model_type != "xglm" else "num_layers"): 1}
    state = _gpt1_state if model_type == "openai-gpt" else lambda w, p: _renamed(_NAMES[model_type], w, p)
    steps = toy_layer_equals_transformers(cfg, _LAYERS[model_type], state)
    ops = [s.op for s in steps]
    if model_type == "openai-gpt":  # post-LN: each norm reads the residual sum
        assert ops[-2:] == ["residual add", "ffn norm (after the add)"] and "attn norm (pre)" not in ops


def test_the_diagram_draws_the_norm_after_the_add_and_the_position_schemes():
    """GPT-1: each sublayer's sum is normed, and the norm's output feeds the next sublayer and its residual; no final
    norm. XGLM and CTRL: the embedding says its sinusoids and their offset."""
    from gallery.diagram import to_dot
    from gallery.trial import spec_from_config

    from .dotgraph import parse

    g = parse(to_dot(spec_from_config({"model_type": "openai-gpt", **_SMALL["openai-gpt"]})))
    for tail, head in (("full.mixer", "full.add1"), ("full.add1", "full.mixer_after"), ("full.mixer_after", "full.ffn"),
                       ("full.add2", "full.ffn_after"), ("full.ffn_after", "head")):
        g.edge(tail, head)
    assert g.edge("full.mixer_after", "full.add2")["style"] == "dashed"  # the residual is the normed sum
    assert "learned positions (100)" in g.nodes["embed"]["label"]
    for model_type, words in (("xglm", "sinusoidal positions (fixed, no weights; rows from 2)"),
                              ("ctrl", "sinusoidal positions (fixed, no weights)")):
        g = parse(to_dot(spec_from_config({"model_type": model_type, **_SMALL[model_type]})))
        assert words in g.nodes["embed"]["label"] and "√d_model" in g.nodes["embed"]["label"]
