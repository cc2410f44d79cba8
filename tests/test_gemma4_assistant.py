"""Gemma 4 assistants (``models/gemma4_assistant``, ``models/gemma4_unified_assistant``): draft models whose every
layer reuses the target model's K/V, between a pre-projection and a post-projection (``gallery/draft_head.py``).

transformers 5.23 builds no real assistant: every layer's ``__init__`` reads ``kv_sharing_modes``, which refuses a
config where no layer keeps K/V of its own (checked below, so a transformers that lifts this fails the test and the
counts can move to the meta device). The independent source for those is a hand count of what
``Gemma4AssistantForCausalLM.__init__`` and the text stack's modules build (:func:`hand_count`); the hand count is
itself checked against transformers on the meta device where transformers builds: the unified assistant with layers
of their own K/V (its class accepts them), and the gemma4_text assistant once its class's check has passed (the
attribute set after the config is made, since ``validate_architecture`` refuses any layer of its own K/V).
"""

from __future__ import annotations

import copy

import pytest

from gallery.counts import total_params
from gallery.derive import DerivationError, derive_arch
from gallery.diagram import to_dot
from gallery.flops import attention_flops, matmul_flops
from gallery.memory import kv_bytes, kv_bytes_per_token, layer_caches

from .test_model_types import drafts_a_clean_spec

SLIDING, FULL = "sliding_attention", "full_attention"
TEXT = {"vocab_size": 512, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "global_head_dim": 24,
        "sliding_window": 10, "layer_types": [SLIDING, SLIDING, SLIDING, FULL]}
ASSISTANT = {"model_type": "gemma4_assistant", "backbone_hidden_size": 40,
             "text_config": TEXT | {"model_type": "gemma4_text", "hidden_size_per_layer_input": 0,
                                    "vocab_size_per_layer_input": 0}}
UNIFIED = {"model_type": "gemma4_unified_assistant", "backbone_hidden_size": 40,
           "text_config": TEXT | {"model_type": "gemma4_unified_text"}}


def _with(config: dict, own: dict | None = None, **text) -> dict:
    out = copy.deepcopy(config) | (own or {})
    out["text_config"] |= text
    return out


# the real assistants: every layer KV-shared (num_kv_shared_layers 0 or all of them)
REAL = {
    "assistant": ASSISTANT,
    "all layers named": _with(ASSISTANT, num_kv_shared_layers=4),
    "untied head": _with(ASSISTANT, {"tie_word_embeddings": False}),
    "text config's tying ignored": _with(ASSISTANT, tie_word_embeddings=False),
    "ordered embeddings": _with(ASSISTANT, {"use_ordered_embeddings": True, "num_centroids": 8,
                                            "centroid_intermediate_top_k": 2}),
    "values are keys": _with(ASSISTANT, attention_k_eq_v=True, num_global_key_value_heads=1),
    "attention bias": _with(ASSISTANT, attention_bias=True),
    "unified": UNIFIED,
    "unified, double-wide MLP": _with(UNIFIED, use_double_wide_mlp=True),
    "unified, ordered embeddings, untied": _with(UNIFIED, {"use_ordered_embeddings": True, "num_centroids": 16,
                                                           "tie_word_embeddings": False}),
}


def hand_count(config: dict, own_kv: int = 0) -> int:
    """The parameters ``Gemma4AssistantForCausalLM.__init__`` builds, counted by hand from the modeling code, with the
    first ``own_kv`` layers keeping K/V of their own (0: a real assistant).

    Model (Gemma4TextModel / Gemma4UnifiedTextModel): embed_tokens V × d, final norm d. Each layer
    (Gemma4TextDecoderLayer): input, post-attention, pre- and post-feed-forward norms, 4 × d; the attention's q_proj
    d × H·hd and o_proj H·hd × d (+ H·hd and d with attention_bias), q_norm hd; only a layer with K/V of its own has
    k_norm hd, k_proj d × kv·hd (+ kv·hd) and, unless a full layer with attention_k_eq_v, v_proj the same (v_norm has no
    weight); hd and kv are global_head_dim and num_global_key_value_heads (when k_eq_v) in full layers. The MLP: gate,
    up, down, 3 × d × ff, ff doubled in KV-shared layers with use_double_wide_mlp. Then lm_head V × d unless the
    assistant's own tie_word_embeddings (default true), pre_projection 2B × d, post_projection d × B, and with
    use_ordered_embeddings the centroids d × C (token_ordering is a buffer).
    """
    t = config["text_config"]
    V, d, ff, H = t["vocab_size"], t["hidden_size"], t["intermediate_size"], t["num_attention_heads"]
    bias, k_eq_v, B = t.get("attention_bias", False), t.get("attention_k_eq_v", False), config["backbone_hidden_size"]
    total = V * d + d
    for i, kind in enumerate(t["layer_types"]):
        full = kind == FULL
        hd = t["global_head_dim"] if full else t["head_dim"]
        kv = t.get("num_global_key_value_heads") or t["num_key_value_heads"] if full and k_eq_v else \
            t["num_key_value_heads"]
        total += 4 * d + 2 * d * H * hd + hd + bias * (H * hd + d)
        if i < own_kv:
            total += hd + (1 if full and k_eq_v else 2) * (d * kv * hd + bias * kv * hd)
        total += 3 * d * ff * (2 if i >= own_kv and t.get("use_double_wide_mlp") else 1)
    if not config.get("tie_word_embeddings", True):
        total += V * d
    total += 2 * B * d + d * B
    if config.get("use_ordered_embeddings"):
        total += d * config.get("num_centroids", 2048)
    return total


def _meta_count(config: dict, own_kv: int = 0) -> int:
    """The assistant transformers builds on the meta device; for the gemma4_text assistant, whose class refuses any
    layer of its own K/V, the sharing is set after the config is made (the class's check then passed)."""
    import torch
    import transformers

    cls = transformers.CONFIG_MAPPING[config["model_type"]]
    if config["model_type"] == "gemma4_assistant":
        cfg = cls.from_dict(config)
        cfg.text_config.num_kv_shared_layers = len(config["text_config"]["layer_types"]) - own_kv
    else:
        cfg = cls.from_dict(_with(config, num_kv_shared_layers=len(config["text_config"]["layer_types"]) - own_kv))
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(cfg)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", REAL)
def test_real_assistants_count_as_the_modeling_code_builds_them(name):
    """Every layer KV-shared: the count equals the hand count, and so does the Try page's."""
    from gallery.trial import spec_from_config

    arch = derive_arch(REAL[name])
    assert all(arch.blocks[k].mixer.kv_shared for k in arch.layers)
    assert total_params(arch) == hand_count(REAL[name])
    assert total_params(spec_from_config(REAL[name]).arch) == hand_count(REAL[name])


@pytest.mark.parametrize("name", ["assistant", "untied head", "ordered embeddings", "values are keys", "unified",
                                  "unified, double-wide MLP", "unified, ordered embeddings, untied"])
def test_the_hand_count_is_what_transformers_builds_where_it_builds(name):
    """Layers 0 (sliding) and 3 (full) with K/V of their own would not be in order; the first two layers of types
    sliding, sliding, sliding, full cannot supply a full layer, so the pattern is full, sliding, sliding, full."""
    config = _with(REAL[name], layer_types=[FULL, SLIDING, SLIDING, FULL])
    assert _meta_count(config, own_kv=2) == hand_count(config, own_kv=2)


@pytest.mark.parametrize("name", ["unified", "unified, double-wide MLP", "unified, ordered embeddings, untied"])
def test_unified_assistants_with_layers_of_their_own_kv_equal_transformers(name):
    """The unified assistant's class accepts layers of their own K/V: read and counted like any config it builds."""
    config = _with(REAL[name], layer_types=[FULL, SLIDING, SLIDING, FULL], num_kv_shared_layers=2)
    arch = derive_arch(config)
    assert arch.layers == ["full", "sliding", "sliding-shared", "full-shared"]
    assert total_params(arch) == _meta_count(config, own_kv=2)


@pytest.mark.parametrize("config", [ASSISTANT, UNIFIED])
def test_transformers_builds_no_real_assistant(config):
    """``kv_sharing_modes`` (configuration_gemma4.py, configuration_gemma4_unified.py) refuses every layer KV-shared;
    the day it does not, these counts can be compared on the meta device."""
    with pytest.raises(ValueError, match="The set of layer types producing a cache is different"):
        _meta_count(config)


@pytest.mark.parametrize(("config", "message"), [
    ({"model_type": "gemma4_assistant"}, "hidden_size_per_layer_input is 256: a gemma4_assistant's text_config"),
    (_with(ASSISTANT, num_kv_shared_layers=2), "num_kv_shared_layers is 2: every layer of a gemma4_assistant"),
    (_with(ASSISTANT, enable_moe_block=True), "enable_moe_block is true"),
    (_with(ASSISTANT, use_double_wide_mlp=True), "use_double_wide_mlp is true"),
    (_with(ASSISTANT, vocab_size_per_layer_input=8), "vocab_size_per_layer_input is 8"),
])
def test_what_the_assistant_class_refuses_is_refused(config, message):
    import transformers

    with pytest.raises(DerivationError, match=message):
        derive_arch(config)
    from huggingface_hub.errors import StrictDataclassClassValidationError

    with pytest.raises(StrictDataclassClassValidationError, match="validate_architecture"):
        transformers.CONFIG_MAPPING["gemma4_assistant"].from_dict(config)


@pytest.mark.parametrize(("config", "message"), [
    ({"model_type": "gemma4_assistant", "text_config": 7}, "text_config is 7: expected an object"),
    (_with(ASSISTANT, model_type="llama"), 'text_config.model_type is "llama": the text_config of a gemma4_assistant'),
    (_with(ASSISTANT, {"backbone_hidden_size": "40"}), 'backbone_hidden_size is "40", a string'),
    (_with(ASSISTANT, {"num_centroids": 0, "use_ordered_embeddings": True}), "num_centroids is 0"),
    (_with(UNIFIED, num_kv_shared_layers=9), "num_kv_shared_layers is 9: more than the 4 layers"),
])
def test_hostile_assistant_configs_are_one_line_errors(config, message):
    with pytest.raises(DerivationError, match=message) as err:
        derive_arch(config)
    assert "\n" not in str(err.value)


def test_the_draft_caches_nothing_of_its_own():
    """Every layer reads the target's K/V (shared_kv_states): 0 bytes per token and at any context."""
    arch = derive_arch(ASSISTANT)
    assert kv_bytes_per_token(arch) == 0 and kv_bytes(arch, 100_000, batch=4) == 0
    assert all("target model" in c.formula for c in layer_caches(arch))


def test_flops_by_hand():
    """A drafted token at 100 tokens of the target's context, 8 centroids of 64 tokens, the top 2 picked. Weights it
    multiplies: per sliding layer q_proj and o_proj 2 × 64 × 4 × 16 = 8,192 and the MLP 3 × 64 × 96 = 18,432; the
    full layer's heads of 24: 2 × 64 × 4 × 24 = 12,288 + 18,432; pre_projection 80 × 64 = 5,120, post_projection
    64 × 40 = 2,560, centroids 64 × 8 = 512 and the 2 × 64 picked rows of the tied table, 128 × 64 = 8,192.
    Attention: QKᵀ and A·V, 2 × 4 × (16 + 16) × 10 (the window) per sliding layer, 2 × 4 × (24 + 24) × 100 for the
    full one."""
    arch = derive_arch(REAL["ordered embeddings"])
    weights = 3 * (8_192 + 18_432) + 12_288 + 18_432 + 5_120 + 2_560 + 512 + 8_192
    assert matmul_flops(arch) == 2 * weights
    assert attention_flops(arch, 100) == 3 * 2 * 4 * 32 * 10 + 2 * 4 * 48 * 100


def test_the_diagram_shows_the_projections_and_the_target_kv():
    from gallery.trial import spec_from_config

    dot = to_dot(spec_from_config(REAL["ordered embeddings"]))
    for words in ("Pre-projection", "2 × 40 → 64", "Target model's K and V", "post-projection 64 → 40",
                  "centroids 64 → 8: logits for the top 2 clusters' 128 tokens only"):
        assert words in dot


@pytest.mark.parametrize("config", [ASSISTANT, UNIFIED, {"model_type": "gemma4_unified_assistant"}])
def test_new_drafts_a_spec_that_lints_clean(tmp_path, config, capsys):
    drafts_a_clean_spec(tmp_path, config, capsys)


def test_the_trace_reads_the_target_s_kv_and_adds_up():
    """A draft layer's trace has no k_proj or v_proj; its shared K and V are the target model's; its parameters are
    the layer's count (the toy runs the same steps)."""
    from gallery.counts import block_terms
    from gallery.toy import toy_trace
    from gallery.trace import trace

    arch = derive_arch(ASSISTANT)
    for layer, kind in ((0, "sliding-shared"), (3, "full-shared")):
        steps = trace(arch, layer, 5)
        ops = [s.op for s in steps]
        assert "k_proj" not in ops and "v_proj" not in ops
        assert "target model's last layer" in next(s.formula for s in steps if s.op == "shared K")
        assert sum(p.count for s in steps for p in s.params) == sum(t.count for t in block_terms(arch, kind))
        assert [s.op for s in toy_trace(arch, layer, 5).steps] == ops
