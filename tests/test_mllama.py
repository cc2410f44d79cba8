"""Mllama (``mllama``, read through its ``text_config`` of type ``mllama_text_model``; issue 15): the default config and
variants that change every size it has, counted exactly against ``MllamaForCausalLM`` built on the meta device (its
embed_tokens 8 rows longer than lm_head, never tied); the cross-attention layers where ``cross_attention_layers`` puts
them; the image tokens read from the wrapper's ``vision_config``; configs transformers refuses, refused in one line;
``new`` and the Try page; the toy's cross-attention layer (queries from the text, K and V from image states, QK-norm,
tanh gates) and self-attention layer against transformers' layers in float64; the cache and FLOPs derived by hand.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from gallery.counts import total_params
from gallery.derive import FAMILIES, DerivationError, derive
from gallery.flops import attention_flops, flops_per_token, matmul_flops
from gallery.kinds.cross_attention import image_states_toy
from gallery.kinds.mlp import FF_TOY
from gallery.memory import kv_bytes, layer_caches
from gallery.toy import toy_forward, toy_trace

from .reference import reference_param_count
from .test_model_types import _arch, drafts_a_clean_spec, the_try_page_counts_it

# every width distinct, so a width read into the wrong place shows
TEXT = {"model_type": "mllama_text_model", "vocab_size": 500, "hidden_size": 96, "num_attention_heads": 6,
        "num_key_value_heads": 2, "intermediate_size": 40, "num_hidden_layers": 5, "cross_attention_layers": [1, 3],
        "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
VARIANTS = {
    "small": {},
    "7 layers, cross every third": {"num_hidden_layers": 7, "cross_attention_layers": [0, 3, 6]},
    "no cross layers": {"cross_attention_layers": []},
    "indices beyond the stack": {"cross_attention_layers": [2, 9, -1]},
    "default cross layers": {"cross_attention_layers": None, "num_hidden_layers": 9},  # [3, 8, ...]: 3 and 8 here
    "width": {"hidden_size": 48},
    "heads": {"num_attention_heads": 12, "num_key_value_heads": 4},
    "MHA": {"num_key_value_heads": 6},
    "MQA": {"num_key_value_heads": 1},
    "d_ff": {"intermediate_size": 72},
    "vocab": {"vocab_size": 777},
    "tied (ignored)": {"tie_word_embeddings": True},
    "activation": {"hidden_act": "gelu"},
    "rope scaling": {"rope_parameters": {"rope_type": "llama3", "rope_theta": 5e5, "factor": 8.0,
                                         "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                         "original_max_position_embeddings": 64}},
    "padding at the last extra row": {"pad_token_id": 507},
}


def _causal_lm_count(text: dict) -> int:
    """sum(p.numel()) of MllamaForCausalLM built on the meta device from ``text`` (independent of tests/reference.py's
    choice of class)."""
    return _count(json.dumps(text, sort_keys=True))


@functools.lru_cache(maxsize=None)
def _count(text_json: str) -> int:
    import torch
    import transformers

    text = json.loads(text_json)
    cfg = transformers.MllamaTextConfig.from_dict({k: v for k, v in text.items() if k != "model_type"})
    with torch.device("meta"):
        return sum(p.numel() for p in transformers.MllamaForCausalLM(cfg).parameters())


def _wrapped(text: dict, **top) -> dict:
    return {"model_type": "mllama", "text_config": text, **top}


@pytest.mark.parametrize("form", ["text config", "wrapper"])
def test_the_default_config_is_exact(form):
    """MllamaTextConfig's defaults: 40 layers, cross-attention at 3, 8, …, 38; 9,775,192,080 parameters."""
    text = {"model_type": "mllama_text_model"}
    config = text if form == "text config" else _wrapped(text)
    arch = _arch(config)
    assert [i for i, k in enumerate(arch.layers) if k == "cross"] == [3, 8, 13, 18, 23, 28, 33, 38]
    assert total_params(arch) == _causal_lm_count(text) == reference_param_count(config) == 9_775_192_080


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("form", ["text config", "wrapper"])
def test_varied_configs_are_exact(variant, form):
    text = TEXT | VARIANTS[variant]
    config = text if form == "text config" else _wrapped(text, tie_word_embeddings=True)  # the wrapper's flag: no tie
    arch = _arch(config)
    assert total_params(arch) == _causal_lm_count(text) == reference_param_count(config)
    assert arch.embedding.tied is False and arch.embedding.extra_rows == 8


def test_cross_attention_layers_are_where_transformers_builds_them():
    import torch
    import transformers

    for change in VARIANTS.values():
        text = TEXT | change
        cfg = transformers.MllamaTextConfig.from_dict({k: v for k, v in text.items() if k != "model_type"})
        with torch.device("meta"):
            layers = transformers.MllamaForCausalLM(cfg).model.layers
        built = ["cross" if type(layer).__name__ == "MllamaCrossAttentionDecoderLayer" else "full" for layer in layers]
        assert _arch(text).layers == built


def test_image_tokens_come_from_the_wrappers_vision_config():
    """max_num_tiles × ((image_size // patch_size)² + 1): MllamaVisionConfig's defaults 4 × (32² + 1) = 4,100;
    Llama 3.2 Vision's 560-pixel tiles 4 × (40² + 1) = 6,404; the vision config changes no count of the text model."""
    def tokens(config):
        return _arch(config).blocks["cross"].mixer.image_tokens

    assert tokens(TEXT) == tokens(_wrapped(TEXT)) == 4 * (32 ** 2 + 1) == 4100
    assert tokens(_wrapped(TEXT, vision_config={"image_size": 560})) == 4 * (40 ** 2 + 1) == 6404
    assert tokens(_wrapped(TEXT, vision_config={"image_size": 56, "patch_size": 8, "max_num_tiles": 2})) == 2 * 50
    assert total_params(_arch(_wrapped(TEXT, vision_config={"image_size": 560}))) == _causal_lm_count(TEXT)


def test_the_config_classes_have_no_aliases_the_family_reads():
    """MllamaTextConfig has no attribute_map; MllamaConfig's (image_token_id) names no architecture key."""
    from transformers import MllamaConfig, MllamaTextConfig

    assert MllamaTextConfig.attribute_map == {} and FAMILIES["mllama_text_model"].aliases == {}
    assert MllamaConfig.attribute_map == {"image_token_id": "image_token_index"}


@pytest.mark.parametrize(("change", "why"), [
    ({"pad_token_id": 508}, "pad_token_id is 508"),  # nn.Embedding: padding_idx must be within num_embeddings
    ({"cross_attention_layers": "3"}, "cross_attention_layers"),
    ({"cross_attention_layers": [1.5]}, r"cross_attention_layers\[0\]"),
    ({"num_key_value_heads": None}, "num_key_value_heads is null"),
    ({"num_attention_heads": 5}, "n_kv_heads"),
    ({"hidden_size": "96"}, "hidden_size"),
    ({"num_hidden_layers": 10**9}, "num_hidden_layers"),
])
def test_bad_configs_are_refused_in_one_line(change, why):
    from gallery.trial import spec_from_config

    with pytest.raises((DerivationError, ValueError), match=why) as refused:
        spec_from_config(TEXT | change)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(("vision", "why"), [({"image_size": [560, 560]}, "vision_config.image_size"),
                                             ({"patch_size": 0}, "vision_config.patch_size"),
                                             ("big", "vision_config")])
def test_a_bad_vision_config_is_refused_in_one_line(vision, why):
    from gallery.trial import spec_from_config

    with pytest.raises((DerivationError, ValueError), match=why) as refused:
        spec_from_config(_wrapped(TEXT, vision_config=vision))
    assert "\n" not in str(refused.value)


def test_a_padding_index_transformers_refuses_is_refused():
    import transformers

    cfg = transformers.MllamaTextConfig.from_dict({k: v for k, v in (TEXT | {"pad_token_id": 508}).items()
                                                   if k != "model_type"})
    with pytest.raises(AssertionError, match="Padding_idx"):
        transformers.MllamaForCausalLM(cfg)
    with pytest.raises(DerivationError, match="padding index"):
        derive(TEXT | {"pad_token_id": 508})


@pytest.mark.parametrize("config", [{"model_type": "mllama_text_model"}, _wrapped({"model_type": "mllama_text_model"})])
def test_new_drafts_a_spec_that_lints_clean_and_the_try_page_reads_it(tmp_path, capsys, config):
    drafts_a_clean_spec(tmp_path, config, capsys)
    the_try_page_counts_it(config)


# --- the toy layers against MllamaCrossAttentionDecoderLayer and MllamaSelfAttentionDecoderLayer ----------------

SEQ = 6
_NAMES = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "gate_proj": "mlp.gate_proj",
          "up_proj": "mlp.up_proj", "down_proj": "mlp.down_proj", "attn_tanh_gate": "cross_attn_attn_gate",
          "ffn_tanh_gate": "cross_attn_mlp_gate"}


def _hf_state(w: dict, layer: int, attn: str) -> dict[str, np.ndarray]:
    """The toy's weights under the layer's names; nn.Linear stores (out, in)."""
    out = {}
    for name, value in w.items():
        base, _, kind = name.rpartition(".")
        base, kind = (base, "." + kind) if base else (name, "")
        hf = _NAMES.get(base, f"{attn}.{base}")
        out[f"model.layers.{layer}.{hf}{kind}"] = value.T if value.ndim == 2 else value
    return out


@pytest.mark.parametrize(("layer", "kv"), [(0, 2), (1, 2), (1, 1)])  # self-attention; cross-attention (GQA, MQA)
def test_toy_layer_equals_transformers(layer, kv):
    """Layer ``layer`` of a float64 MllamaForCausalLM with the toy's weights, run on the toy's image states (every
    token sees the whole image: no cross-attention mask), gives the toy layer's output."""
    import torch
    import transformers
    from transformers.utils import logging

    logging.set_verbosity_error()
    text = {"model_type": "mllama_text_model", "num_hidden_layers": 2, "cross_attention_layers": [1],
            "num_key_value_heads": kv, "rope_parameters": {"rope_type": "default", "rope_theta": 5e5}}
    toy = toy_trace(_arch(_wrapped(text, vision_config={"image_size": 560})), layer, SEQ, seed=3)
    block = toy.arch.blocks[toy.arch.layers[0]]
    m = block.mixer
    cfg = {"vocab_size": 32, "hidden_size": toy.arch.d_model, "num_attention_heads": m.n_heads,
           "num_key_value_heads": m.n_kv_heads, "intermediate_size": FF_TOY, "num_hidden_layers": layer + 1,
           "cross_attention_layers": [1], "rms_norm_eps": toy.arch.norm.eps, "pad_token_id": 0,
           "rope_parameters": {"rope_type": "default", "rope_theta": 5e5}}
    derived = derive({"model_type": "mllama_text_model", **cfg}).arch
    assert type(block).model_validate(derived["blocks"][derived["layers"][layer]], strict=False).model_copy(
        update={"mixer": m}) == block  # the same block but for the toy's few image tokens
    assert getattr(m, "image_tokens", None) in (None, 5) and block.tanh_gated == (layer == 1)

    hf_config = transformers.MllamaTextConfig.from_dict(cfg)
    hf_config._attn_implementation = "eager"
    torch.manual_seed(0)
    model = transformers.MllamaForCausalLM(hf_config).double().eval()
    params = dict(model.named_parameters())
    state = _hf_state(toy.weights, layer, "cross_attn" if layer else "self_attn")
    assert {k for k in params if k.startswith(f"model.layers.{layer}.")} == set(state)
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(torch.from_numpy(np.ascontiguousarray(value)))
    seen = {}
    model.model.layers[layer].register_forward_hook(
        lambda module, args, output: seen.update(x=args[0], y=output))
    x = torch.from_numpy(np.random.default_rng(7).standard_normal((1, SEQ, toy.arch.d_model)))
    image = torch.from_numpy(image_states_toy(m, toy.arch.d_model)[None]) if layer else None
    with torch.no_grad():
        model(inputs_embeds=x, cross_attention_states=image, use_cache=False)
    steps = toy_forward(toy.arch, toy.weights, seen["x"][0].numpy())
    np.testing.assert_allclose(steps[-1].value, seen["y"][0].numpy(), rtol=1e-6, atol=1e-6)


# --- cache and FLOPs by hand ------------------------------------------------------------------------------------

_VISION = _wrapped({"model_type": "mllama_text_model"}, vision_config={"image_size": 560})  # Llama 3.2 11B Vision's


def test_cache_by_hand():
    """32 self-attention layers cache K and V of 8 heads of 128 per token, 2 × 8 × 128 = 2,048 elements; the 8
    cross-attention layers nothing per text token but K and V of one image's 6,404 tokens, 6,404 × 2,048 =
    13,115,392 elements each, whatever the context."""
    caches = {c.kind: c for c in layer_caches(_arch(_VISION))}
    assert (caches["full"].n_layers, caches["full"].elements_per_token, caches["full"].state_elements) == (32, 2048, 0)
    assert (caches["cross"].n_layers, caches["cross"].elements_per_token) == (8, 0)
    assert caches["cross"].state_elements == 6404 * 2 * 8 * 128 == 13_115_392
    assert kv_bytes(_arch(_VISION), 1000) == 2 * (32 * 1000 * 2048 + 8 * 13_115_392)


def test_flops_by_hand():
    """2 FLOPs per weight a text token multiplies with: per self-attention layer q and o 4,096 × 4,096, k and v
    4,096 × 1,024; per cross-attention layer q and o only (k and v read the image, once per image); every layer's MLP
    3 × 4,096 × 14,336; the head 128,256 × 4,096 (not the 8 extra rows). Attention: 2 × 32 heads × (128 + 128) per
    token seen, the context for self-attention, the image's 6,404 tokens for cross-attention."""
    arch = _arch(_VISION)
    mlp = 3 * 4096 * 14336
    own = 2 * 4096 * 4096 + 2 * 4096 * 1024 + mlp
    cross = 2 * 4096 * 4096 + mlp
    assert matmul_flops(arch) == 2 * (32 * own + 8 * cross + 128_256 * 4096)
    assert attention_flops(arch, 1000) == 2 * 32 * 256 * (32 * 1000 + 8 * 6404)
    assert flops_per_token(arch, 1000) == matmul_flops(arch) + attention_flops(arch, 1000)


def test_the_cross_attention_trace_reads_the_image_once():
    """Its K and V projections run over the image's tokens (6,404 × 4,096 → 1,024), not the text; the scores are
    (32 heads, T, 6,404); the gated residual adds carry the two tanh gates."""
    from gallery.trace import trace

    steps = {s.op: s for s in trace(_arch(_VISION), 3, 10)}
    assert steps["k_proj"].in_shape == (6404, 4096) and steps["k_proj"].out_shape == (6404, 1024)
    assert steps["k_proj"].flops == 2 * 6404 * 4096 * 1024 and not steps["k_proj"].matmul
    assert steps["scores = Q·Kᵀ"].out_shape == (32, 10, 6404)
    adds = [s for s in trace(_arch(_VISION), 3, 10) if s.op == "residual add"]
    assert [p.name for s in adds for p in s.params] == ["attn_tanh_gate", "ffn_tanh_gate"]
