"""Gallery cards: exact counts, attention labels, MoE flags, filters and sorts over the bundled specs."""

from __future__ import annotations

import pytest

from gallery.catalog import Filters, card, cards, facets, select, sort

from .conftest import spec_ids
from .reference import reference_param_count

EXPERT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")


def _is_moe(config: dict) -> bool:
    return any((config.get(k) or 0) > 0 for k in EXPERT_KEYS)


@pytest.mark.parametrize("slug", spec_ids())
def test_card_counts_are_exact_and_moe_is_flagged(bundled, slug):
    spec, config = bundled[slug]
    c = card(spec)
    assert c.total_params == reference_param_count(config)
    assert c.moe == _is_moe(config)
    assert c.n_layers == config.get("num_hidden_layers", config.get("n_layer"))


@pytest.mark.parametrize(("slug", "label"), [
    ("gpt-bigcode-santacoder", "MQA"),  # multi_query: true
    ("deepseek-v2-lite-chat", "MLA"),  # kv_lora_rank latent
    ("llama-2-7b-hf", "MHA"),  # 32 heads, 32 KV heads
    ("mistral-7b-v0.1", "GQA + sliding"),  # 8 KV heads, sliding_window 4096
    ("gemma-2-9b", "GQA + sliding"),  # alternating local/global
])
def test_attention_labels(bundled, slug, label):
    assert card(bundled[slug][0]).attention == label


def test_moe_filter_gives_exactly_the_moe_models(bundled):
    everything = cards([s for s, _ in bundled.values()])
    expected = {slug for slug, (_, config) in bundled.items() if _is_moe(config)}
    assert expected == {"mixtral-8x7b-v0.1", "qwen1.5-moe-a2.7b", "qwen3-30b-a3b", "deepseek-v2-lite-chat",
                        "gpt-oss-20b"}
    assert {c.slug for c in select(everything, Filters(moe=True))} == expected
    assert len(select(everything, Filters(moe=False))) == len(bundled) - len(expected)


def test_search_size_and_facets(bundled):
    everything = cards([s for s, _ in bundled.values()])
    assert {c.slug for c in select(everything, Filters(query="gemma 3"))} == {"gemma-3-1b-it"}
    assert {c.slug for c in select(everything, Filters(query="GOOGLE 9b"))} == {"gemma-2-9b"}  # every word, any case
    small = select(everything, Filters(max_params=200_000_000))  # GPT-2 124M, SmolLM2 135M
    assert {c.slug for c in small} == {"gpt2", "smollm2-135m-instruct"}
    assert "Google" in facets(everything)["organisations"]
    assert select(everything, Filters(organisations=("Google",), families=("Gemma 2",)))[0].family == "Gemma 2"


def test_sorts(bundled):
    everything = cards([s for s, _ in bundled.values()])
    newest = sort(everything, "newest")
    dates = [c.release_date for c in newest if c.release_date]
    assert dates == sorted(dates, reverse=True)
    assert sort(everything, "oldest")[0].slug == "gpt2"  # February 2019, the oldest bundled model
    largest = sort(everything, "largest")
    assert largest[0].slug == "llama-2-70b-hf"
    assert [c.total_params for c in sort(everything, "smallest")] == sorted(c.total_params for c in everything)
