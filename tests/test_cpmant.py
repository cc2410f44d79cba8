"""CPM-Ant (issue 15): the config read as ``CpmAntConfig`` and ``modeling_cpmant.py`` read it and counted exactly against
the model transformers builds on the meta device (the default config, variants changing every size, the tie flag that
changes nothing), the relative position bias table counted once however many layers read it, its buckets against
``CpmAntSegmentPositionEmbedding``, the KV cache and FLOPs derived by hand, and the toy layer against transformers'
layer 0 in a real forward (float64, within 1e-6)."""

from __future__ import annotations

import numpy as np
import pytest

from gallery.counts import breakdown, total_params
from gallery.derive import DerivationError, derive
from gallery.diagram import to_dot
from gallery.flops import attention_flops, matmul_flops
from gallery.kinds import relative_bias
from gallery.memory import kv_bytes, kv_bytes_per_token
from gallery.spec import Arch
from gallery.toy import toy_forward, toy_trace
from gallery.trace import trace

from .test_model_types import default_config_is_exact, drafts_a_clean_spec, exact_or_refused_alike, the_try_page_counts_it
from .test_toy import SEQ, _model_with_toy_layer

MT = "cpmant"
# every width distinct, so a width read into the wrong place shows; heads × dim_head (6 × 10) is not hidden_size
SMALL = {"model_type": MT, "vocab_size": 500, "hidden_size": 96, "num_attention_heads": 6, "dim_head": 10,
         "dim_ff": 80, "num_hidden_layers": 3, "prompt_types": 4, "prompt_length": 5, "segment_types": 7,
         "position_bias_num_buckets": 40, "position_bias_max_distance": 300}
VARIANTS = {
    "small": {}, "width": {"hidden_size": 48}, "heads": {"num_attention_heads": 9}, "dim_head": {"dim_head": 16},
    "d_ff": {"dim_ff": 51}, "5 layers": {"num_hidden_layers": 5}, "vocab": {"vocab_size": 777},
    "prompts": {"prompt_types": 3, "prompt_length": 11}, "no prompt": {"prompt_types": 0, "prompt_length": 0},
    "segments": {"segment_types": 3}, "buckets": {"position_bias_num_buckets": 64},
    "distance": {"position_bias_max_distance": 17}, "eps": {"eps": 1e-5},
    "tied flag": {"tie_word_embeddings": True}, "untied flag": {"tie_word_embeddings": False},
}


def _arch(config: dict) -> Arch:
    return Arch.model_validate(derive(config).arch, strict=False)


def test_default_config_is_exact():
    """openbmb/cpm-ant-10b's shape (the class default): 9,517,453,312 parameters."""
    default_config_is_exact(MT, None, "")


@pytest.mark.parametrize("variant", VARIANTS)
def test_varied_configs_are_exact(variant):
    """Each size changed: the count equals transformers', the head is never tied, and the shared table is built once
    with (segment_types² + num_buckets) rows × heads."""
    config = {**SMALL, **VARIANTS[variant]}
    arch, model = exact_or_refused_alike(config)
    assert model.lm_head.weight is not model.cpmant.input_embedding.weight and not arch.embedding.tied
    table = model.cpmant.position_bias.relative_attention_bias
    assert [t.count for t in _table_terms(arch)] == [table.numel()]
    assert model.cpmant.input_embedding.weight.shape[0] == _term(arch, "embed_tokens").count // arch.d_model


def _term(arch: Arch, name: str):
    from gallery.counts import param_terms

    return next(t for t in param_terms(arch) if t.name == name)


def _table_terms(arch: Arch):
    from gallery.counts import param_terms

    return [t for t in param_terms(arch) if t.name.startswith("position_bias.")]


def test_the_config_class_has_no_aliases():
    """CpmAntConfig declares no attribute_map: every key is read under its own name (nothing to respell)."""
    import transformers

    assert transformers.CpmAntConfig.attribute_map == {}


def test_the_table_is_counted_once_not_per_layer():
    """By hand: 48 layers read one (32² + 512) × 32 table; the token table has 30,720 + 32 × 32 rows, the head 30,720,
    the segment table 32."""
    arch = _arch({"model_type": MT})
    [table] = _table_terms(arch)
    assert (table.count, table.repeat, table.where) == ((32 * 32 + 512) * 32, 1, "model")
    assert _term(arch, "embed_tokens").count == (30720 + 32 * 32) * 4096
    assert _term(arch, "segment_embedding").count == 32 * 4096 and _term(arch, "lm_head").count == 30720 * 4096
    assert breakdown(arch)["attention"] == 48 * 4 * 4096 * 32 * 128 + (32 * 32 + 512) * 32
    assert all(not p for s in trace(arch, 0, 4) for p in s.params if s.op == "relative position bias")


@pytest.mark.parametrize(("buckets", "distance"), [(512, 2048), (40, 300), (8, 8), (6, 2)])
def test_position_buckets_equal_transformers(buckets, distance):
    """Every distance from −5,000 to 5,000 falls in transformers' bucket (its float32 log included)."""
    import torch
    import transformers

    module = transformers.models.cpmant.modeling_cpmant.CpmAntSegmentPositionEmbedding(transformers.CpmAntConfig(
        num_attention_heads=2, position_bias_num_buckets=buckets, position_bias_max_distance=distance))
    relative = np.arange(-5000, 5001, dtype=np.int32)
    theirs = module._position_bucket(torch.from_numpy(relative), num_buckets=buckets, max_distance=distance).numpy()
    np.testing.assert_array_equal(relative_bias.position_bucket(relative, buckets, distance), theirs)


def test_the_bias_with_segments_equals_transformers():
    """The rows each query and key read across and within segments (prompt 0, text 2, another 5), as the module adds
    them; across segments the distance does not count."""
    import torch
    import transformers

    arch = _arch(SMALL)
    rb = arch.blocks["full"].mixer.relative_bias
    module = transformers.models.cpmant.modeling_cpmant.CpmAntSegmentPositionEmbedding(
        transformers.CpmAntConfig(**{k: v for k, v in SMALL.items() if k != "model_type"})).double()
    table = np.random.default_rng(1).standard_normal((rb.rows, 6))
    with torch.no_grad():
        module.relative_attention_bias.copy_(torch.from_numpy(table))
    segments = np.array([0, 0, 0, 2, 2, 2, 2, 5, 5, 2] + [2] * 290)
    pos = torch.arange(len(segments), dtype=torch.int32)[None]
    seg = torch.from_numpy(segments.astype(np.int32))[None]
    theirs = module(pos, pos, seg, seg)[0].detach().numpy()
    ours = table[relative_bias.buckets(rb, segments)].transpose(2, 0, 1)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(("change", "why"), [
    ({"segment_types": 2}, "segment_types is 2"), ({"prompt_types": 2}, "prompt_types is 2"),
    ({"position_bias_num_buckets": 3}, "position_bias_num_buckets is 3"),
    ({"position_bias_max_distance": 10}, "position_bias_max_distance is 10"),
    ({"dim_head": "10"}, "dim_head is \"10\""), ({"num_hidden_layers": 10**6}, "num_hidden_layers"),
    ({"eps": 1}, "eps is 1"), ({"prompt_length": -1}, "prompt_length is -1"), ({"dim_ff": 0}, "dim_ff is 0"),
    ({"segment_types": None}, "segment_types is null")])
def test_hostile_values_are_refused_in_one_line(change, why):
    """Sizes the model cannot run with (transformers builds them, but its forward looks up segment 2 and prompt type
    2, and its bucket formula divides by num_buckets // 4 and by log(max_distance / it)), wrong types and absurd
    sizes: one line each."""
    with pytest.raises(DerivationError, match=why) as err:
        derive({**SMALL, **change})
    assert "\n" not in str(err.value)


def test_a_spec_whose_layers_disagree_on_the_shared_table_is_refused():
    from pydantic import ValidationError

    data = derive({**SMALL, "num_hidden_layers": 2}).arch
    data["layers"] = ["full", "other"]
    other = {**data["blocks"]["full"]["mixer"], "relative_bias": {
        **data["blocks"]["full"]["mixer"]["relative_bias"], "num_buckets": 64}}
    data["blocks"]["other"] = {**data["blocks"]["full"], "mixer": other}
    with pytest.raises(ValidationError, match="one table the model shares"):
        Arch.model_validate(data, strict=False)


def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys):
    drafts_a_clean_spec(tmp_path, SMALL, capsys)


def test_the_try_page_reads_it():
    the_try_page_counts_it(SMALL)


def test_the_diagram_draws_the_shared_bias_segments_and_prompt_rows():
    from gallery.trial import spec_from_config

    dot = to_dot(spec_from_config(SMALL))
    assert "relative position bias: one shared table, 40 log buckets to 300" in dot
    assert "+ 20 prompt rows (4 × 5)" in dot and "+ segment embedding (7 segments)" in dot
    assert "the whole input both ways" in dot and "causal" not in dot  # CpmAntModel: context = 1 for the input


def test_cache_and_flops_by_hand():
    """SMALL: 3 layers each caching K and V of 6 heads of 10 dims per token (the bias is computed from positions:
    nothing more). Per token: 2 FLOPs per weight (q, k, v, attention_out: 4 × 96 × 60; w_0, w_1, w_out: 3 × 96 × 80;
    the untied head 500 × 96; not the bias table, a lookup), and 2 × 6 × (10 + 10) per attended token."""
    arch = _arch(SMALL)
    d, hd, ff, v = 96, 6 * 10, 80, 500
    per_token = 2 * hd
    assert kv_bytes_per_token(arch) == 3 * per_token * 2
    assert kv_bytes(arch, 100) == 3 * 100 * per_token * 2
    assert matmul_flops(arch) == 2 * (3 * (4 * d * hd + 3 * d * ff) + v * d)
    assert attention_flops(arch, 100) == 3 * 100 * 2 * 6 * (10 + 10)


def _hf_state(w: dict, table: np.ndarray) -> dict[str, np.ndarray]:
    """The toy's weights under CpmAntTransformerBlock's names (Linear stores (out, in)), and the model's table."""
    p = "cpmant.encoder.layers.0."
    names = {"attn_norm.weight": "self_att.layernorm_before_attention.weight",
             "ffn_norm.weight": "ffn.layernorm_before_ffn.weight",
             **{f"{t}_proj.weight": f"self_att.self_attention.project_{t}.weight" for t in "qkv"},
             "o_proj.weight": "self_att.self_attention.attention_out.weight",
             "gate_proj.weight": "ffn.ffn.w_in.w_0.weight", "up_proj.weight": "ffn.ffn.w_in.w_1.weight",
             "down_proj.weight": "ffn.ffn.w_out.weight"}
    out = {p + names[name]: value.T if value.ndim == 2 else value for name, value in w.items()}
    return out | {"cpmant.position_bias.relative_attention_bias": table}


@pytest.mark.parametrize("config", [{"model_type": MT}, SMALL], ids=["default", "small"])
def test_toy_layer_equals_transformers(config):
    """The toy layer against layer 0 of CpmAntForCausalLM (float64, eager) in a real forward: 2 prompt tokens (segment
    0) before 4 text tokens (segment 2), the input seen both ways, the model's table the toy's stand-in."""
    import torch
    import transformers

    arch = _arch(config)
    toy = toy_trace(arch, 0, SEQ, seed=3)
    block = toy.arch.blocks["full"]
    m = block.mixer
    rb = m.relative_bias
    cfg = {**config, "hidden_size": toy.arch.d_model, "num_attention_heads": m.n_heads, "dim_head": m.head_dim,
           "dim_ff": block.ffn.d_ff, "num_hidden_layers": 1, "vocab_size": 32, "prompt_types": 3,
           "prompt_length": relative_bias.PROMPT_TOY, "segment_types": rb.segment_types,
           "position_bias_num_buckets": rb.num_buckets, "position_bias_max_distance": rb.max_distance}
    assert type(block).model_validate(derive(cfg).arch["blocks"]["full"], strict=False) == block
    hf_config = transformers.CONFIG_MAPPING[MT].from_dict(cfg)
    state = _hf_state(toy.weights, relative_bias.table_toy(rb, m.n_heads))
    model = _model_with_toy_layer(hf_config, state, "cpmant.encoder.layers.0.")
    seen = {}

    def hook(module, args, kwargs, output):
        seen["in"], seen["out"] = args[0], output[0]

    model.cpmant.encoder.layers[0].register_forward_hook(hook, with_kwargs=True)
    ids = torch.arange(1, SEQ - relative_bias.PROMPT_TOY + 1)[None]  # non-zero: text, segment 2
    with torch.no_grad():
        model(input_ids=ids, use_cache=False)
    hidden_in, hidden_out = seen["in"][0].numpy(), seen["out"][0].numpy()
    assert hidden_in.shape == (SEQ, toy.arch.d_model)
    steps = toy_forward(toy.arch, toy.weights, hidden_in)
    np.testing.assert_allclose(steps[-1].value, hidden_out, rtol=1e-6, atol=1e-6)
