"""Gallery cards: exact counts, attention labels, MoE flags, filters and sorts over the bundled specs."""

from __future__ import annotations

import dataclasses

import pytest

from gallery.catalog import SORTS, Filters, card, cards, facets, select, sort

from .conftest import spec_ids
from .reference import reference_param_count

EXPERT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")  # the last: Step 3.5
# A few known MoE models (the full set is read from the configs; these guard the reading itself).
SOME_MOE = {"mixtral-8x7b-v0.1", "qwen1.5-moe-a2.7b", "qwen3-30b-a3b", "deepseek-v2-lite-chat", "gpt-oss-20b"}


def _is_moe(config: dict) -> bool:
    return any((config.get(k) or 0) > 0 for k in EXPERT_KEYS)


def _key(config, *names):
    """The first of ``names`` the config has (Llama-style or GPT-2-style key)."""
    return next(config[n] for n in names if n in config)


@pytest.fixture(scope="module")
def everything(bundled):
    return cards([spec for spec, _ in bundled.values()])


@pytest.mark.parametrize("slug", spec_ids())
def test_card_counts_are_exact_and_moe_is_flagged(bundled, slug):
    spec, config = bundled[slug]
    c = card(spec)
    assert c.slug == slug and c.name == spec.name
    assert c.total_params == reference_param_count(config)
    assert c.moe == _is_moe(config)
    if not c.moe:
        assert c.active_params == c.total_params
    else:
        assert c.active_params < c.total_params
    assert c.n_layers == _key(config, "num_hidden_layers", "n_layer", "num_blocks")  # xLSTM: num_blocks
    assert c.d_model == _key(config, "hidden_size", "n_embd", "embedding_dim")
    assert c.context_length == config.get("max_position_embeddings", config.get("model_max_length", config.get("n_positions")))  # None: no limit


@pytest.mark.parametrize(("slug", "label"), [
    ("gpt-bigcode-santacoder", "MQA"),  # multi_query: true
    ("deepseek-v2-lite-chat", "MLA"),  # kv_lora_rank latent
    ("llama-2-7b-hf", "MHA"),  # 32 heads, 32 KV heads
    ("mistral-7b-v0.1", "GQA + sliding"),  # 8 KV heads, sliding_window 4096
    ("gemma-2-9b", "GQA + sliding"),  # alternating local/global
    ("gemma-3-1b-it", "MQA + sliding"),  # 4 heads, 1 KV head, 5 local : 1 global
    ("qwen3-8b", "GQA"),  # 32 heads, 8 KV heads, sliding_window null
])
def test_attention_labels(bundled, slug, label):
    assert card(bundled[slug][0]).attention == label


def test_pattern_of_a_repeating_stack(bundled):
    spec, config = bundled["gemma-3-1b-it"]
    # Every 6th layer is global: 26 layers = 4 × (5 sliding, 1 full) + 2 sliding.
    assert config["num_hidden_layers"] == 26 and config["sliding_window_pattern"] == 6
    assert card(spec).pattern == "(5 sliding : 1 full) ×4, 2 sliding"
    assert card(bundled["llama-2-7b-hf"][0]).pattern == "32 full"


def test_moe_filter_gives_exactly_the_moe_models(bundled, everything):
    expected = {slug for slug, (_, config) in bundled.items() if _is_moe(config)}
    assert SOME_MOE <= expected and not expected & {"llama-2-7b-hf", "gpt2", "gemma-2-9b"}
    assert {c.slug for c in select(everything, Filters(moe=True))} == expected
    assert {c.slug for c in select(everything, Filters(moe=False))} == set(bundled) - expected


def test_no_filter_keeps_everything(everything):
    assert select(everything, Filters()) == everything


def test_search_filters_and_facets(bundled, everything):
    gemma3 = {slug for slug, (spec, _) in bundled.items() if spec.family == "Gemma 3"}
    assert {c.slug for c in select(everything, Filters(query="gemma-3"))} == gemma3 and "gemma-3-1b-it" in gemma3
    assert {c.slug for c in select(everything, Filters(query="GOOGLE 9b"))} == {"gemma-2-9b"}  # every word, any case
    assert {c.slug for c in select(everything, Filters(query="tinyllama-1.1b"))} == {"tinyllama-1.1b-chat-v1.0"}
    assert select(everything, Filters(query="no such model")) == []
    # Doge 40M 41M, Doge 40M MoE 43M, GPT-2 124M, SmolLM2 135M, RWKV-4 169M
    small = select(everything, Filters(max_params=200_000_000))
    assert {c.slug for c in small} == {"doge-40m", "doge-40m-moe", "gpt2", "smollm2-135m-instruct", "rwkv-4-169m-pile"}
    # MLA on every layer; Kimi Linear's KDA layers (linear_attn_config) make it a facet value of its own
    mla = {slug for slug, (_, config) in bundled.items() if "kv_lora_rank" in config and "linear_attn_config" not in config}
    assert {c.slug for c in select(everything, Filters(attention=("MLA",)))} == mla and "deepseek-v2-lite-chat" in mla
    kda = {slug for slug, (_, config) in bundled.items() if "linear_attn_config" in config}
    assert {c.slug for c in select(everything, Filters(attention=("KDA / MLA",)))} == kda and kda
    gemma2 = select(everything, Filters(organisations=("Google",), families=("Gemma 2",)))
    assert {c.slug for c in gemma2} == {"gemma-2-2b", "gemma-2-9b"}
    assert {c.slug for c in select(everything, Filters(families=("Gemma 2",), min_params=5_000_000_000))} == {
        "gemma-2-9b"}
    options = facets(everything)
    assert set(options) == {"families", "organisations", "attention"}
    assert all(values == sorted(set(values)) for values in options.values())
    assert {"Google", "Meta"} <= set(options["organisations"])
    assert {"MHA", "MQA", "MLA", "GQA + sliding"} <= set(options["attention"])


def test_sorts(bundled, everything):
    assert set(SORTS) == {"newest", "oldest", "largest", "smallest", "name"}
    dates = [c.release_date for c in sort(everything, "newest")]
    assert dates == sorted(dates, reverse=True)
    assert sort(everything, "oldest")[0].slug == "gpt2"  # February 2019, the oldest bundled model
    largest = max(bundled, key=lambda slug: reference_param_count(bundled[slug][1]))  # transformers decides
    assert sort(everything, "largest")[0].slug == largest
    assert [c.total_params for c in sort(everything, "smallest")] == sorted(c.total_params for c in everything)
    names = [c.name.lower() for c in sort(everything, "name")]
    assert names == sorted(names)


@pytest.mark.parametrize("how", ["newest", "oldest"])
def test_undated_models_go_last(everything, how):
    undated = dataclasses.replace(everything[0], slug="undated", release_date=None)
    assert sort([undated, *everything], how)[-1].slug == "undated"


def test_readme_model_table_lists_every_bundled_model(bundled):
    """The README's table is what ``python -m gallery models`` prints today (regenerate it after adding a spec)."""
    from gallery.catalog import models_table

    from .conftest import ROOT

    table = models_table([spec for spec, _ in bundled.values()])
    assert table in (ROOT / "README.md").read_text()
    assert all(f"(`{slug}`)" in table for slug in bundled)
    assert table.count("\n") == len(bundled) + 1
