"""dots3 (``dots3_note_text``, and the ``dots3_note`` wrapper): latent attention with widths per layer type.

The default config, variants that change every size the config has (the sliding layers' swa_* widths, a saved
``per_layer_config``, the layer schedules and switches, experts, windows), the attribute_map alias and the wrapper's
two layouts are compared with the model transformers builds on the meta device, exactly. The new options of latent
attention (the query latent's scale before q_b_proj, the RoPE-key norm, the per-head gate on latent attention, the
indexer's interleaved RoPE) are checked by the toy layer against ``Dots3NoteTextAttention`` in float64; the counts,
the cache and the FLOPs are derived by hand from the config numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from gallery.counts import block_terms, total_params
from gallery.derive import DerivationError, derive
from gallery.flops import flops_per_token, matmul_flops
from gallery.memory import kv_bytes, kv_bytes_per_token

from . import test_model_types as types
from .reference import reference_param_count

BF16 = 2
# Every width distinct. Indexed layers: 6 heads, query rank 40, KV latent 24, nope 12 + rope 8 (head_dim 20), values
# 10, indexer 3 × 16; sliding layers: 4 heads, query rank 28, KV latent 18, nope 10 + rope 6 (head_dim 16), values 14;
# d_model 96, dense MLP 160, 5 experts of 40 (top 2), shared experts of 24; 7 layers: indexed 0, 1, 5, sliding the rest.
SMALL = {"model_type": "dots3_note_text", "vocab_size": 500, "hidden_size": 96, "num_hidden_layers": 7,
         "num_attention_heads": 6, "num_key_value_heads": 6, "q_lora_rank": 40, "kv_lora_rank": 24,
         "qk_nope_head_dim": 12, "qk_rope_head_dim": 8, "head_dim": 20, "v_head_dim": 10, "index_n_heads": 3,
         "index_head_dim": 16, "index_topk": 4, "swa_num_attention_heads": 4, "swa_num_key_value_heads": 4,
         "swa_q_lora_rank": 28, "swa_kv_lora_rank": 18, "swa_head_dim": 16, "swa_qk_nope_head_dim": 10,
         "swa_v_head_dim": 14, "sliding_window": 64, "intermediate_size": 160, "moe_intermediate_size": 40,
         "shared_experts_intermediate_size": 24, "n_routed_experts": 5, "num_experts_per_tok": 2,
         "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
VARIANTS = {
    "small": {},
    "no dsa": {"use_dsa": False},  # every indexed layer becomes full: no indexer
    "no sliding": {"use_sliding_window": False},
    "layer types given": {"layer_types": ["full_attention", "sliding_attention", "indexed_attention",
                                          "sliding_attention", "full_attention", "sliding_attention",
                                          "sliding_attention"]},  # use_dsa (true) turns full layers indexed
    "layer types with dsa off": {"use_dsa": False, "layer_types": ["indexed_attention"] * 3 + [
        "sliding_attention"] * 4},
    "saved per-layer widths": {"per_layer_config": {"3": {"num_attention_heads": 2, "num_key_value_heads": 2,
                                                          "kv_lora_rank": 20}},
                               "layer_types": ["indexed_attention"] * 3 + ["sliding_attention"] + [
                                   "indexed_attention"] * 3},
    "per-layer config null": {"per_layer_config": None},  # no overrides, and use_dsa defaults to none
    "swa rope width": {"swa_qk_rope_head_dim": 4, "swa_head_dim": 14},
    "swa heads": {"swa_num_attention_heads": 8, "swa_num_key_value_heads": 8},
    "window size key": {"sliding_window": None, "sliding_window_size": 32},
    "first dense layers": {"first_k_dense_replace": 3},
    "moe every other layer": {"moe_layer_freq": 2},
    "moe flags per layer": {"moe_layer_freq": [0, 1, 1, 0, 1, 0, 1]},
    "mlp layer types": {"mlp_layer_types": ["sparse", "dense", "sparse", "sparse", "dense", "sparse", "sparse"]},
    "two shared experts": {"n_shared_experts": 2},
    "older shared width": {"moe_shared_expert_intermediate_size": 36},
    "groups": {"n_routed_experts": 6, "n_group": 3, "topk_group": 2},
    "tied": {"tie_word_embeddings": True},
    "biases": {"attention_bias": True},
    "widths": {"hidden_size": 64, "intermediate_size": 72, "moe_intermediate_size": 24},
    "latent ranks": {"q_lora_rank": 56, "kv_lora_rank": 16, "swa_q_lora_rank": 12, "swa_kv_lora_rank": 30},
    "indexer": {"index_n_heads": 5, "index_head_dim": 8},
    "rope parameters per type": {"rope_parameters": {"indexed_attention": {"rope_type": "default", "rope_theta": 1e6},
                                                     "sliding_attention": {"rope_type": "default",
                                                                           "rope_theta": 1e4}}},
    # refused by transformers, and so here
    "kv heads differ": {"num_key_value_heads": 3},
    "swa kv heads differ": {"swa_num_key_value_heads": 2},
    "no shared expert": {"n_shared_experts": 0},
    "rope wider than the indexer": {"index_head_dim": 6},
    "swa head_dim off": {"swa_qk_rope_head_dim": 4},
    "groups of one": {"n_group": 5},
    "uneven saved overrides": {"per_layer_config": {"2": {"num_attention_heads": 2, "num_key_value_heads": 2}}},
}


def test_default_config_is_exact():
    types.default_config_is_exact("dots3_note_text", None, "")


@pytest.mark.parametrize("variant", VARIANTS)
def test_varied_configs_are_exact(variant):
    built = types.exact_or_refused_alike(SMALL | VARIANTS[variant])
    if built:
        arch, model = built
        windows = [getattr(layer.self_attn, "sliding_window", None) for layer in model.model.layers]
        assert [arch.blocks[k].mixer.window for k in arch.layers] == windows
        indexed = [layer.self_attn.indexer is not None for layer in model.model.layers]
        assert [arch.blocks[k].mixer.indexer is not None for k in arch.layers] == indexed


def test_a_config_transformers_saved_reads_alike():
    """``Dots3NoteTextConfig.to_dict()`` writes per_layer_config (the sliding layers' overrides), layer_types and
    rope_parameters per type, and no swa_* keys."""
    from transformers import Dots3NoteTextConfig

    saved = Dots3NoteTextConfig(**{k: v for k, v in SMALL.items() if k != "model_type"}).to_dict()
    assert "per_layer_config" in saved and not any(k.startswith("swa_") for k in saved)
    assert total_params(types._arch(saved)) == reference_param_count(saved) == reference_param_count(SMALL)
    assert types._arch(saved).blocks == types._arch(SMALL).blocks


def test_the_attribute_map_alias_is_exact():
    config = {k: v for k, v in SMALL.items() if k != "n_routed_experts"} | {"num_local_experts": 7}
    assert types._arch(config).blocks["indexed-moe"].ffn.n_experts == 7
    assert total_params(types._arch(config)) == reference_param_count(config)


def test_the_wrapper_reads_its_text_config_or_its_top_level():
    towers = {"vision_config": {"adapter_out_dim": 96}, "audio_config": {"adapter_out_dim": 96}}
    text = {k: v for k, v in SMALL.items() if k != "model_type"}
    nested = {"model_type": "dots3_note", "text_config": {"model_type": "dots3_note_text", **text}, **towers}
    flat = {"model_type": "dots3_note", **text, **towers, "tie_word_embeddings": True}
    for config in (nested, flat):
        assert total_params(types._arch(config)) == reference_param_count(config)
    assert types._arch(flat).embedding.tied
    with pytest.raises(DerivationError, match="vision_config.adapter_out_dim is 5120"):
        derive({"model_type": "dots3_note", **text})  # Dots3NoteConfig refuses it too


def _mla(d, h, rq, rkv, nope, rope, v):
    """One latent attention by hand: q_a_proj, q_a_layernorm, q_b_proj; kv_a_proj_with_mqa, kv_a_layernorm,
    kv_b_proj; o_proj; k_rope_only_layernorm; g_proj (one gate per head)."""
    return (d * rq + rq + rq * h * (nope + rope) + d * (rkv + rope) + rkv + rkv * h * (nope + v) + h * v * d
            + rope + d * h)


def test_each_layer_by_hand():
    arch = types._arch(SMALL)
    assert arch.layers == ["indexed-dense", "indexed-moe", "sliding-moe", "sliding-moe", "sliding-moe",
                           "indexed-moe", "sliding-moe"]
    d = 96
    indexer = 40 * 3 * 16 + d * 16 + 2 * 16 + d * 3  # wq_b from the query latent, wk, k_norm (w and b), weights_proj
    indexed, sliding = _mla(d, 6, 40, 24, 12, 8, 10) + indexer, _mla(d, 4, 28, 18, 10, 6, 14)
    dense, moe = 3 * d * 160, d * 5 + 5 * 3 * d * 40 + 3 * d * 24  # router, experts, one shared expert
    norms = 2 * d
    assert sum(t.count for t in block_terms(arch, "indexed-dense")) == indexed + dense + norms
    assert sum(t.count for t in block_terms(arch, "indexed-moe")) == indexed + moe + norms
    assert sum(t.count for t in block_terms(arch, "sliding-moe")) == sliding + moe + norms
    layers = (indexed + dense) + 2 * (indexed + moe) + 4 * (sliding + moe) + 7 * norms
    assert total_params(arch) == layers + 2 * 500 * d + d


def test_cache_and_flops_by_hand():
    arch = types._arch(SMALL)
    indexed, sliding = 24 + 8 + 16, 18 + 6  # latent + shared RoPE key (+ the indexer's key), per token
    assert kv_bytes_per_token(arch) == (3 * indexed + 4 * sliding) * BF16
    T = 1000  # sliding layers keep their window of 64 tokens
    assert kv_bytes(arch, T, batch=2) == (3 * indexed * T + 4 * sliding * 64) * 2 * BF16
    d = 96
    mla_i = d * 40 + 40 * 6 * 20 + d * 32 + 24 * 6 * 22 + 6 * 10 * d + d * 6 + 40 * 3 * 16 + d * 16 + d * 3
    mla_s = d * 28 + 28 * 4 * 16 + d * 24 + 18 * 4 * 24 + 4 * 14 * d + d * 4
    expert = 3 * d * 40
    matmul = mla_i * 3 + mla_s * 4 + 3 * d * 160 + 6 * (d * 5 + 2 * expert + 3 * d * 24) + d * 500
    assert matmul_flops(arch) == 2 * matmul
    # indexed layers: QKᵀ and A·V over the indexer's top 4, plus the indexer's scores over all T; sliding: 64 tokens
    attend = 3 * (2 * 6 * (20 + 10) * 4 + 2 * 3 * 16 * T) + 4 * 2 * 4 * (16 + 14) * 64
    assert flops_per_token(arch, T) == 2 * matmul + attend


def _hf_attention(toy, word: str):
    """Dots3NoteTextAttention of a layer of type ``word`` at the toy's widths, float64, the toy's weights copied in."""
    import torch
    from transformers import Dots3NoteTextConfig
    from transformers.models.dots3_note.modeling_dots3_note import Dots3NoteTextAttention

    m = toy.arch.blocks[toy.arch.layers[0]].mixer
    widths = {"num_attention_heads": m.n_heads, "num_key_value_heads": m.n_heads, "q_lora_rank": m.q_lora_rank,
              "kv_lora_rank": m.kv_lora_rank, "qk_nope_head_dim": m.qk_nope_head_dim,
              "qk_rope_head_dim": m.qk_rope_head_dim, "v_head_dim": m.v_head_dim,
              "head_dim": m.qk_nope_head_dim + m.qk_rope_head_dim}
    cfg = Dots3NoteTextConfig(
        vocab_size=32, hidden_size=toy.arch.d_model, num_hidden_layers=3, intermediate_size=8,
        rms_norm_eps=toy.arch.norm.eps, sliding_window=m.window, pad_token_id=0, bos_token_id=1, eos_token_id=2,
        index_n_heads=m.indexer.n_heads if m.indexer else 2, index_head_dim=m.indexer.head_dim if m.indexer else 8,
        index_topk=m.indexer.top_k if m.indexer else 4, swa_rope_theta=m.rope.theta, rope_theta=m.rope.theta,
        **widths, **{f"swa_{k}": v for k, v in widths.items()})
    cfg._attn_implementation = "eager"
    torch.set_default_dtype(torch.float64)
    try:
        attn = Dots3NoteTextAttention(cfg, 2 if word == "sliding" else 0)
    finally:
        torch.set_default_dtype(torch.float32)
    w = {k: torch.from_numpy(v) for k, v in toy.weights.items()}
    state = {f"{name}.weight": w[f"{name}.weight"].T for name in (
        "q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj", "g_proj")}
    state |= {f"{name}.weight": w[f"{name}.weight"] for name in (
        "q_a_layernorm", "kv_a_layernorm", "k_rope_only_layernorm")}
    if m.indexer:
        state |= {f"indexer.{n}.weight": w[f"indexer.{n}.weight"].T for n in ("wq_b", "wk", "weights_proj")}
        state |= {f"indexer.k_norm.{t}": w[f"indexer.k_norm.{t}"] for t in ("weight", "bias")}
    attn.load_state_dict(state, strict=True)
    return cfg, attn


@pytest.mark.parametrize(("layer", "word"), [(0, "indexed"), (2, "sliding")])
def test_toy_attention_equals_transformers(layer, word):
    """The query latent scaled before q_b_proj (the indexer reads it so), the KV latent's scale, the RoPE-key norm,
    interleaved RoPE in attention and indexer, the indexer's top-k or the window, and the per-head gate: float64."""
    import torch
    from transformers.models.dots3_note.modeling_dots3_note import Dots3NoteTextRotaryEmbedding

    from gallery.toy import toy_trace

    arch = types._arch(SMALL | {"rms_norm_eps": 1e-2, "sliding_window": 3})  # an eps large enough to tell apart
    T = 7
    toy = toy_trace(arch, layer, T, seed=5)
    m = toy.arch.blocks[toy.arch.layers[0]].mixer
    assert (m.latent_scales, m.rope_key_norm, m.gate.per, bool(m.indexer)) == ("query_latent", True, "head",
                                                                               word == "indexed")
    cfg, attn = _hf_attention(toy, word)
    name = {"indexed": "indexed_attention", "sliding": "sliding_attention"}[word]
    pos = torch.arange(T)[None]
    rope = Dots3NoteTextRotaryEmbedding(cfg)(torch.zeros(1, dtype=torch.float64), pos, name)
    rope = tuple(r.to(torch.float64) for r in rope)
    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    allowed = (j <= i) & ((i - j < m.window) if m.window else True)
    mask = torch.from_numpy(np.where(allowed, 0.0, -np.inf))[None, None]
    steps = toy.steps
    h = torch.from_numpy(_mixer_input(steps))[None]
    with torch.no_grad():
        want = attn(h, position_embeddings=rope, attention_mask=mask)[0][0].numpy()
    got = next(s for s in steps if s.op == "o_proj").value
    if m.indexer:
        keep = next(s for s in steps if s.op == "top-k mask").value
        assert (~keep[T - 1]).sum() > 0  # the indexer drops tokens: its choice matters here
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def _mixer_input(steps):
    """The normed input the mixer reads (the step before q_a_proj)."""
    k = next(i for i, s in enumerate(steps) if s.op == "q_a_proj")
    return steps[k - 1].value


def test_trace_and_diagram_say_the_options():
    from gallery.diagram import to_dot
    from gallery.trace import trace
    from gallery.trial import spec_from_config

    arch = types._arch(SMALL)
    ops = [s.op for s in trace(arch, 0, 5)]
    assert ops.index("scale query latent") < ops.index("q_b_proj") < ops.index("indexer.wq_b")
    assert ops.index("scale latent") < ops.index("k_rope_only_layernorm") < ops.index("RoPE on k_pe")
    assert "gate" in ops and ops.index("gate") < ops.index("o_proj")
    dot = to_dot(spec_from_config(SMALL))
    assert "query latent and KV latent × √(d_model / rank)" in dot and "RoPE key RMS-normed" in dot


def test_the_longcat_scale_stays_after_q_b_proj_and_older_specs_read():
    from gallery.kinds.mla import LatentAttention

    fields = {"kind": "mla", "n_heads": 2, "q_lora_rank": 4, "kv_lora_rank": 4, "qk_nope_head_dim": 2,
              "qk_rope_head_dim": 2, "v_head_dim": 2, "rope": None}
    assert LatentAttention(**fields, latent_scales=True).latent_scales == "query"
    assert LatentAttention(**fields, latent_scales=False).latent_scales is None


@pytest.mark.parametrize("model_type", ["dots3_note_text", "dots3_note"])
def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys, model_type):
    types.drafts_a_clean_spec(tmp_path, {"model_type": model_type}, capsys)


@pytest.mark.parametrize("model_type", ["dots3_note_text", "dots3_note"])
def test_the_try_page_reads_it(model_type):
    types.the_try_page_counts_it({"model_type": model_type})


@pytest.mark.parametrize(("change", "says"), [
    ({"per_layer_config": [1, 2]}, r"per_layer_config: \[1, 2\]: expected an object"),
    ({"per_layer_config": {"9": {"num_attention_heads": 2}}}, "per_layer_config: .*0 to 6"),
    ({"per_layer_config": {"3": {"intermediate_size": 8}}}, "overriding num_attention_heads"),
    ({"per_layer_config": {str(i): {"num_attention_heads": "2"} for i in (2, 3, 4, 6)}},
     r"per_layer_config \(sliding_attention layers\) num_attention_heads"),
    ({"swa_q_lora_rank": "x"}, "swa_q_lora_rank"),
    ({"swa_q_lora_rank": None}, "swa_q_lora_rank is null"),
    ({"q_lora_rank": None}, "q_lora_rank is null"),
    ({"moe_layer_freq": [1, 1]}, "moe_layer_freq: 2 entries for 7 layers"),
    ({"layer_types": ["linear_attention"] * 7}, r"layer_types\[0\]"),
    ({"use_dsa": "yes"}, "use_dsa"),
    ({"vision_config": 3, "model_type": "dots3_note"}, "vision_config: 3: expected an object"),
])
def test_hostile_configs_get_one_line(change, says):
    """Wrong types, sizes and shapes: one line naming the key, never a traceback."""
    with pytest.raises(DerivationError, match=says) as err:
        types._arch(SMALL | change)
    assert len(err.value.lines) == 1
