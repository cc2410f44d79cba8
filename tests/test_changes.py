"""The changes in words: expected changes read from the two vendored configs, completeness against the
compare table, minimality (nothing equal, nothing twice) and a stable order."""

from __future__ import annotations

import pytest

from gallery.changes import STAGES, changes
from gallery.compare import rows

from .conftest import spec_ids


def _said(a, b):
    return [(c.stage, c.phrase) for c in changes(a, b)]


def _n(x) -> str:
    return f"{x:,}"


def test_llama_3_1_to_3_2_scales_down_with_its_head_dim(bundled):
    (a, x), (b, y) = bundled["llama-3.1-8b-instruct"], bundled["llama-3.2-1b-instruct"]
    head_dim = lambda c: c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]  # noqa: E731
    # head_dim / d_model is the same in both (128 / 4,096 = 64 / 2,048): it is said with d_model, not apart
    assert head_dim(x) * y["hidden_size"] == head_dim(y) * x["hidden_size"] and head_dim(x) != head_dim(y)
    assert x["num_key_value_heads"] == y["num_key_value_heads"] and x["vocab_size"] == y["vocab_size"]
    assert _said(a, b) == [
        ("embedding", f"d_model {_n(x['hidden_size'])} → {_n(y['hidden_size'])} (head dim with it)"),
        ("layers", f"layers {x['num_hidden_layers']} → {y['num_hidden_layers']}"),
        ("token mixer", f"RoPE scaling llama3 ×{x['rope_scaling']['factor']:g} → llama3 ×{y['rope_scaling']['factor']:g}"),
        ("feed-forward", f"d_ff {_n(x['intermediate_size'])} → {_n(y['intermediate_size'])}"),
        ("head", "tied embeddings added"),
    ]
    assert not x.get("tie_word_embeddings") and y["tie_word_embeddings"]


def test_llama_2_to_llama_3_1(bundled):
    (a, x), (b, y) = bundled["llama-2-7b-hf"], bundled["llama-3.1-8b-instruct"]
    assert x.get("num_key_value_heads", x["num_attention_heads"]) == x["num_attention_heads"]  # MHA
    assert _said(a, b) == [
        ("embedding", f"vocab {_n(x['vocab_size'])} → {_n(y['vocab_size'])}"),
        ("token mixer", f"KV heads {x['num_attention_heads']} → {y['num_key_value_heads']}"),  # MHA → GQA with it
        ("token mixer", f"RoPE θ {_n(int(x.get('rope_theta', 10000)))} → {_n(int(y['rope_theta']))}"),
        ("token mixer", f"RoPE scaling added ({y['rope_scaling']['rope_type']} ×{y['rope_scaling']['factor']:g})"),
        ("token mixer", f"context {_n(x['max_position_embeddings'])} → {_n(y['max_position_embeddings'])}"),
        ("feed-forward", f"d_ff {_n(x['intermediate_size'])} → {_n(y['intermediate_size'])}"),
    ]
    kv = next(c for c in changes(a, b) if c.fields == ("KV heads",))
    assert {"attention kind", "group size"} <= set(kv.follows)


def test_mistral_drops_its_window(bundled):
    (a, x), (b, y) = bundled["mistral-7b-v0.1"], bundled["mistral-7b-instruct-v0.3"]
    assert y.get("sliding_window") is None
    assert _said(a, b) == [
        ("embedding", f"vocab {_n(x['vocab_size'])} → {_n(y['vocab_size'])}"),
        ("token mixer", f"no sliding window (was {_n(x['sliding_window'])})"),
        ("token mixer", f"RoPE θ {_n(int(x['rope_theta']))} → {_n(int(y['rope_theta']))}"),
    ]


def test_deepseek_v3_2_adds_only_the_indexer(bundled):
    (a, x), (b, y) = bundled["deepseek-v3"], bundled["deepseek-v3.2"]
    assert "index_topk" not in x
    assert _said(a, b) == [
        ("token mixer", f"sparse indexer {y['index_n_heads']} × {y['index_head_dim']}, top-{_n(y['index_topk'])}")]


def test_qwen3_moe_to_qwen3_next(bundled):
    (a, x), (b, y) = bundled["qwen3-30b-a3b"], bundled["qwen3-next-80b-a3b-instruct"]
    n = y["num_hidden_layers"]
    full = n // y["full_attention_interval"]  # every full_attention_interval-th layer attends, the rest are linear
    assert _said(a, b) == [
        ("token mixer", f"Gated DeltaNet on {n - full} of {n} layers, GQA on {full} (was GQA)"),
        ("token mixer", f"query heads {x['num_attention_heads']} → {y['num_attention_heads']}"),
        ("token mixer", f"KV heads {x['num_key_value_heads']} → {y['num_key_value_heads']}"),
        ("token mixer", f"head dim {x['head_dim']} → {y['head_dim']}"),
        ("token mixer", "output gate added"),  # Qwen3NextAttention always gates its output
        ("token mixer", f"RoPE θ {_n(int(x['rope_theta']))} → {_n(int(y['rope_theta']))}"),
        ("token mixer", f"partial rotary 1 → {y['partial_rotary_factor']:g}"),
        ("token mixer", f"context {_n(x['max_position_embeddings'])} → {_n(y['max_position_embeddings'])}"),
        ("feed-forward", f"routed experts {x['num_experts']} → {y['num_experts']}"),
        ("feed-forward", f"top-k {x['num_experts_per_tok']} → {y['num_experts_per_tok']}"),
        ("feed-forward", f"expert width {x['moe_intermediate_size']} → {y['moe_intermediate_size']}"),
        ("feed-forward", "shared experts 1"),  # shared_expert_intermediate_size: one shared expert (none before)
    ]
    mixer = changes(a, b)[0]
    assert {"linear-attention V heads", "conv kernel", "layer pattern"} <= set(mixer.follows)


def test_dense_to_moe_in_one_change(bundled):
    (a, _), (b, y) = bundled["llama-3.1-8b-instruct"], bundled["deepseek-v3"]
    n, dense = y["num_hidden_layers"], y["first_k_dense_replace"]
    ffn = next(c for c in changes(a, b) if c.fields == ("kind",))
    assert ffn.phrase == (f"MoE {y['n_routed_experts']} experts, top-{y['num_experts_per_tok']}, "
                          f"{y['n_shared_experts']} shared on {n - dense} of {n} layers (was dense)")
    assert {"routed experts", "top-k", "expert width", "shared experts"} <= set(ffn.follows)


def _pairs():
    ids = spec_ids()
    known = [("gemma-2-9b", "gemma-3-27b-it"), ("qwen3-30b-a3b", "nvidia-nemotron-3-nano-30b-a3b"),
             ("deepseek-v3.2", "deepseek-v4-flash"), ("llama-3.1-8b-instruct", "smollm3-3b"),
             ("falcon-mamba-7b", "lfm2-1.2b"), ("gpt2", "gpt-oss-20b")]
    return known + list(zip(ids, ids[1:] + ids[:1]))  # and every bundled model next to another


@pytest.mark.parametrize(("x", "y"), _pairs())
def test_complete_minimal_and_ordered(bundled, x, y):
    a, b = bundled[x][0], bundled[y][0]
    differing = [r.field for r in rows([a, b]) if r.differs]
    found = changes(a, b)
    accounted = [f for c in found for f in (*c.fields, *c.follows)]
    assert sorted(accounted) == sorted(differing)  # every differing row once, no equal row at all
    assert all(c.fields and c.before != c.after and c.phrase for c in found)
    ranks = [(STAGES.index(c.stage), differing.index(c.fields[0])) for c in found]
    assert ranks == sorted(ranks)  # by stage, then in the table's row order
    assert changes(a, b) == found  # the same every time
    back = changes(b, a)
    assert {c.fields for c in back} - {c.fields for c in found} <= {("layer pattern",)} | {
        (f,) for c in found for f in c.follows}  # what is said one way is said the other way round too


@pytest.mark.parametrize("slug", spec_ids()[:8])
def test_no_changes_between_equals(bundled, slug):
    spec = bundled[slug][0]
    assert changes(spec, spec) == []
