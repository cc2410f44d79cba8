"""The compare table: values from the configs, differences marked, compact units, CSV, charts."""

from __future__ import annotations

import csv
import re
import io

import pytest

from gallery.compare import breakdown_frame, compact, frame, kv_curve, marked_frame, rows, to_csv
from gallery.spec import InklingAttention, LatentAttention, SoftmaxAttention

from .conftest import spec_ids
from .reference import reference_param_count


@pytest.mark.parametrize(("n", "text"), [
    (8_030_261_248, "8.03B"), (124_439_808, "124M"), (1_644_515_328, "1.64B"), (999_885_952, "1.00B"),
    (46_702_792_704, "46.7B"), (0, "0"), (131_072, "131K"), (12_879_925_248, "12.9B"), (999, "999"),
    (1_000, "1.00K"), (999_500, "1.00M"), (70_553_706_496, "70.6B"), (1_234_567_890_123, "1.23T"),
])
def test_compact_units(n, text):
    assert compact(n) == text


def _row(table, field):
    return next(r for r in table if r.field == field)


def _fields(table):
    return {r.field for r in table}


def _key(config, *names):
    """The first of ``names`` the config has (Llama-style or GPT-2-style key)."""
    return next(config[n] for n in names if n in config)


def _kv_heads(config):
    """KV heads as the config says them: multi_query is one; no key means one per query head."""
    if config.get("multi_query"):
        return 1
    return config.get("num_key_value_heads") or _key(config, "num_attention_heads", "n_head")


@pytest.mark.parametrize("slug", spec_ids())
def test_rows_carry_the_config_values(bundled, slug):
    spec, config = bundled[slug]
    table = rows([spec])
    assert _row(table, "total").values == (reference_param_count(config),)
    assert _row(table, "vocab").values == (config["vocab_size"],)
    assert _row(table, "d_model").values == (_key(config, "hidden_size", "n_embd", "embedding_dim"),)
    assert _row(table, "layers").values == (_key(config, "num_hidden_layers", "n_layer", "num_blocks"),)
    context = config.get("max_position_embeddings", config.get("model_max_length", config.get("n_positions")))
    assert _row(table, "context").values == (context or "none",)  # Falcon-Mamba's config sets no limit
    if "tie_word_embeddings" in config:
        assert _row(table, "tied embeddings").values == (config["tie_word_embeddings"],)
    heads = config.get("num_attention_heads", config.get("n_head"))
    if config["model_type"] == "jetmoe":  # JetMoeConfig.__post_init__: num_key_value_heads × num_experts_per_tok
        heads = config["num_key_value_heads"] * config["num_experts_per_tok"]
    mla = "kv_lora_rank" in config
    assert ("kv_lora_rank" in _fields(table)) == mla
    softmax = (SoftmaxAttention, LatentAttention, InklingAttention)  # attention kinds with query and KV heads
    hybrid = any(not isinstance(b.mixer, softmax) for b in spec.arch.blocks.values())
    if heads is None:  # attention-free (Falcon-Mamba): no attention rows at all
        assert not _fields(table) & {"query heads", "KV heads", "head dim", "RoPE θ", "sliding window"}
    elif hybrid and not mla:  # LFM2, Qwen3-Next, Nemotron-H: attention facts are read over the attention layers only
        assert _row(table, "query heads").values == (heads,)
        if config["model_type"] != "deepseek_v4":  # V4: one shared KV head whatever the config says (see below)
            assert _row(table, "KV heads").values == (_kv_heads(config),)
    elif mla:  # KV heads do not apply to MLA (Kimi Linear: beside KDA layers): its cache is the latent
        assert _row(table, "query heads").values == (heads,)
        assert "KV heads" not in _fields(table) and _row(table, "kv_lora_rank").values == (config["kv_lora_rank"],)
    elif len(spec.arch.blocks) > 1 and any(isinstance(_row(table, f).values[0], str) for f in ("query heads",
                                                                                             "KV heads")):
        # per-kind head layouts (MiMo-V2-Flash's KV heads, Step 3.5's query heads): every count transformers builds
        from .reference import reference_model

        attention = [m for m in reference_model(config).modules() if hasattr(m, "k_proj")]
        for field, proj in (("query heads", "q_proj"), ("KV heads", "k_proj")):
            built = {getattr(m, proj).out_features // m.head_dim for m in attention}
            shown = _row(table, field).values[0]
            if len(built) == 1:
                assert shown == built.pop()
            else:
                assert all(f"{n} (" in shown for n in built)
    else:
        assert _row(table, "query heads").values == (heads,)
        assert _row(table, "KV heads").values == (_kv_heads(config),)
    moe = any(config.get(k) for k in ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts"))
    assert ("routed experts" in _fields(table)) == moe
    if not moe:
        assert _row(table, "active").values == _row(table, "total").values
    assert not any(r.differs for r in table)  # one model never differs from itself
    assert not any(r.differs for r in rows([spec, spec]))


def test_groups_come_in_order(bundled):
    table = rows([bundled["deepseek-v2-lite-chat"][0], bundled["gpt2"][0]])
    groups = list(dict.fromkeys(r.group for r in table))
    assert groups == ["Parameters", "Attention", "Norms", "Positions", "Feed-forward", "Vocabulary & context"]
    assert [r.group for r in table] == sorted((r.group for r in table), key=groups.index)  # each group in one run
    assert [r.field for r in table][:2] == ["total", "active"]
    assert len({r.field for r in table}) == len(table)  # no two rows share a name


def test_llama_2_vs_mistral_differs_where_the_configs_do(bundled):
    (llama, lc), (mistral, mc) = bundled["llama-2-7b-hf"], bundled["mistral-7b-v0.1"]
    table = rows([llama, mistral])
    kv = _row(table, "KV heads")
    assert kv.values == (lc["num_key_value_heads"], mc["num_key_value_heads"]) == (32, 8) and kv.differs
    assert _row(table, "group size").values == (1, 32 // 8)
    assert _row(table, "vocab").differs is False  # both 32,000
    assert _row(table, "sliding window").exact == ("none", f"{mc['sliding_window']:,}")
    shown, mask = marked_frame([llama, mistral])
    assert mask[("Attention", "KV heads")] and not mask[("Vocabulary & context", "vocab")]
    assert list(mask.index) == list(shown.index) == list(frame([llama, mistral]).index)
    # Neither is MLA nor MoE: those rows, and the zero expert and router parameters, are not shown.
    assert not _fields(table) & {"kv_lora_rank", "q_lora_rank", "routed experts", "top-k", "experts", "router"}


def test_mla_and_moe_rows_next_to_a_dense_model(bundled):
    (llama, lc), (deepseek, dc) = bundled["llama-2-7b-hf"], bundled["deepseek-v2-lite-chat"]
    table = rows([llama, deepseek])
    assert _row(table, "kv_lora_rank").exact == ("—", f"{dc['kv_lora_rank']:,}")
    assert _row(table, "qk_rope_head_dim").exact == ("—", f"{dc['qk_rope_head_dim']:,}")
    assert dc["q_lora_rank"] is None and _row(table, "q_lora_rank").exact == ("—", "none")
    # first_k_dense_replace = 1: one dense layer, then MoE layers; each fact said per block kind.
    assert dc["first_k_dense_replace"] == 1
    assert _row(table, "layer pattern").values[1] == f"1 dense, {dc['num_hidden_layers'] - 1} moe"
    d_ff = (f"{lc['intermediate_size']:,}", f"{dc['intermediate_size']:,} (dense) / — (moe)")
    assert _row(table, "d_ff").exact == d_ff
    assert _row(table, "routed experts").exact == ("—", f"— (dense) / {dc['n_routed_experts']} (moe)")
    assert _row(table, "top-k").exact[1] == f"— (dense) / {dc['num_experts_per_tok']} (moe)"
    assert _row(table, "expert width").exact[1] == f"— (dense) / {dc['moe_intermediate_size']:,} (moe)"
    assert _row(table, "shared experts").exact[1] == f"— (dense) / {dc['n_shared_experts']} (moe)"
    # Llama 2 has an untied head of vocab × d_model; DeepSeek-V2-Lite one of its own.
    head = _row(table, "head").values
    assert head == (lc["vocab_size"] * lc["hidden_size"], dc["vocab_size"] * dc["hidden_size"])


def test_state_space_and_convolution_rows(bundled):
    (falcon, fc), (lfm2, lc), (llama, llc) = (bundled[s] for s in ("falcon-mamba-7b", "lfm2-1.2b", "llama-2-7b-hf"))
    table = rows([falcon, lfm2, llama])
    groups = list(dict.fromkeys(r.group for r in table))
    assert groups.index("Fixed-state mixers") == groups.index("Attention") + 1
    assert _row(table, "attention kind").exact == ("Mamba", "GQA / Short conv", "MHA")
    assert _row(table, "SSM state size (d_state)").exact == (str(fc["state_size"]), "—", "—")
    assert _row(table, "SSM inner width").exact == (f"{fc['intermediate_size']:,}", "—", "—")  # 8,192, not 16 × 4,096
    assert _row(table, "dt_rank").exact == (str(fc["time_step_rank"]), "—", "—")
    conv_kernel = (str(fc["conv_kernel"]), str(lc["conv_L_cache"]), "—")  # read over the conv layers only
    assert _row(table, "conv kernel").exact == conv_kernel
    assert _row(table, "context").exact == ("none", f"{lc['max_position_embeddings']:,}",
                                             f"{llc['max_position_embeddings']:,}")
    # KV cache per token: none for Falcon-Mamba; LFM2's 6 attention layers × K, V × 8 KV heads × 64 dims × 2 bytes.
    assert _row(table, "KV cache bytes / token (bf16)").values == (0, 6 * 2 * 8 * 64 * 2, 32 * 2 * 32 * 128 * 2)
    # Fixed state: 64 layers × 8,192 channels × (16 state + 4 conv taps); LFM2: 10 conv layers × 2,048 × 3 taps.
    assert _row(table, "fixed state bytes / sequence (bf16)").exact == (
        f"{64 * 8192 * (16 + 4) * 2:,}", f"{10 * 2048 * 3 * 2:,}", "—")
    assert "SSM state size (d_state)" not in _fields(rows([llama]))  # no such fact: no row


def test_per_kind_values_are_spelled_out(bundled):
    gemma3, g3 = bundled["gemma-3-1b-it"]
    # local layers: rope_local_base_freq 10,000; global: rope_theta 1,000,000
    theta = f"{g3['rope_local_base_freq']:,} (sliding) / {g3['rope_theta']:,} (full)"
    assert _row(rows([gemma3]), "RoPE θ").exact == (theta,)
    gemma2, g2 = bundled["gemma-2-9b"]
    table = rows([gemma2])
    assert _row(table, "sliding window").exact == (f"{g2['sliding_window']:,} (sliding) / none (full)",)
    assert _row(table, "logit soft-cap").values == (g2["attn_logit_softcapping"],)  # same for both kinds
    assert _row(table, "final logit soft-cap").values == (g2["final_logit_softcapping"],)


def test_frame_and_csv(bundled):
    specs = [bundled[s][0] for s in ("gpt2", "gpt-j-6b", "qwen3-30b-a3b")]
    table = frame(specs)
    assert list(table.columns) == [s.name for s in specs]
    assert table.loc[("Parameters", "total"), "GPT-2 (124M)"] == "124M"
    parsed = list(csv.reader(io.StringIO(to_csv(specs))))
    assert parsed[0] == ["group", "field", *[s.name for s in specs]]
    assert len(parsed) == 1 + len(table)
    assert all(len(r) == 2 + len(specs) for r in parsed)
    total = next(r for r in parsed if r[1] == "total")
    assert total[2:] == [f"{reference_param_count(bundled[s][1]):,}" for s in ("gpt2", "gpt-j-6b", "qwen3-30b-a3b")]
    namesake = specs[0].model_copy(update={"slug": "gpt2-copy"})  # two specs of one name: slugs tell them apart
    assert list(frame([specs[0], namesake]).columns) == ["GPT-2 (124M) (gpt2)", "GPT-2 (124M) (gpt2-copy)"]


def test_kv_curve_is_window_aware(bundled):
    gpt2, mistral = bundled["gpt2"][0], bundled["mistral-7b-v0.1"][0]
    curve = kv_curve([gpt2, mistral], [1024, 8192], batch=3)
    assert list(curve.columns) == ["model", "context", "kv_bytes"] and len(curve) == 3
    at = {(r.model, r.context): r.kv_bytes for r in curve.itertuples()}
    assert (gpt2.name, 8192) not in at  # GPT-2 has 1,024 positions: no point past them
    # layers × (K, V) × KV heads × head dim × bf16 bytes × tokens × batch
    assert at[(gpt2.name, 1024)] == 12 * 2 * 12 * 64 * 2 * 1024 * 3
    assert at[(mistral.name, 1024)] == 32 * 2 * 8 * 128 * 2 * 1024 * 3
    assert at[(mistral.name, 8192)] == 32 * 2 * 8 * 128 * 2 * 4096 * 3  # the 4,096-token window caps it


def test_breakdown_frame_sums_to_the_reference(bundled):
    slugs = ("gpt2", "mixtral-8x7b-v0.1", "qwen1.5-moe-a2.7b")
    parts = breakdown_frame([bundled[s][0] for s in slugs])
    assert (parts.params > 0).all()
    totals = parts.groupby("model").params.sum()
    for slug in slugs:
        spec, config = bundled[slug]
        assert totals[spec.name] == reference_param_count(config)
    qwen_moe = parts[parts.model == bundled["qwen1.5-moe-a2.7b"][0].name]
    assert {"experts", "router", "shared_experts"} <= set(qwen_moe.component)


def test_exact_counts_on_request(bundled):
    spec, config = bundled["gpt2"]
    table = frame([spec, bundled["gpt-j-6b"][0]], exact_counts=True)
    assert table.loc[("Parameters", "total"), spec.name] == f"{reference_param_count(config):,}"


def test_table_compares_whole_caches_at_a_long_context(bundled):
    gpt2, mistral = bundled["gpt2"][0], bundled["mistral-7b-v0.1"][0]
    table = {r.field: r.values for r in rows([gpt2, mistral])}
    at = next(v for f, v in table.items() if f.startswith("cache bytes at 131,072 tokens"))
    # GPT-2 caches every token; Mistral 7B's layers keep their 4,096-token window only.
    assert at == (12 * 2 * 12 * 64 * 2 * 131_072, 32 * 2 * 8 * 128 * 2 * 4096)
    assert not any(f.startswith("fixed state") for f in table)  # neither keeps a fixed state


def test_linear_attention_rows_next_to_plain_attention(bundled):
    next_spec, c = bundled["qwen3-next-80b-a3b-instruct"]
    table = rows([next_spec, bundled["qwen3-30b-a3b"][0]])
    get = lambda field: _row(table, field).values  # noqa: E731
    assert get("linear-attention Q/K heads") == (c["linear_num_key_heads"], None)  # — for plain attention
    assert get("linear-attention V heads") == (c["linear_num_value_heads"], None)
    assert get("linear-attention head dim") == (f"{c['linear_key_head_dim']} (V {c['linear_value_head_dim']})", None)
    assert get("conv kernel") == (c["linear_conv_kernel_dim"], None)
    assert get("output gate") == (True, False)  # Qwen3NextAttention's q_proj also emits the gate
    # attention facts are read over the full-attention layers only
    assert get("query heads") == (c["num_attention_heads"], 32) and get("KV heads") == (c["num_key_value_heads"], 4)
    assert get("partial rotary") == (c["partial_rotary_factor"], 1.0)
    # 36 Gated DeltaNet layers × (32 × 128 × 128 recurrent + 8,192 × 4 conv) elements in bf16; none for Qwen3
    assert get("fixed state bytes / sequence (bf16)") == (36 * (32 * 128 * 128 + 8192 * 4) * 2, None)  # — for Qwen3
    assert _row(table, "attention kind").exact == ("GQA / Gated DeltaNet", "GQA")
    assert "conv kernel" not in _fields(rows([bundled["qwen3-30b-a3b"][0]]))  # no row that applies to none


def test_every_story_names_bundled_models_and_a_fact_the_table_shows(bundled):
    from gallery.compare import STORIES, stories

    assert stories(set(bundled)) == list(STORIES)  # every story is openable on the bundled specs
    for story in STORIES:
        fields = {r.field for r in rows([bundled[s][0] for s in story.slugs])}
        quoted = re.findall(r"'([^']+)'", story.look_at)
        assert quoted and all(q in fields for q in quoted), story.title
    assert stories({"gpt2"}) == []


def test_compressed_attention_rows_next_to_mla(bundled):
    (v4, c), (v32, c32) = bundled["deepseek-v4-flash"], bundled["deepseek-v3.2"]
    table = rows([v4, v32])
    # compress_ratios: 0 (window only), 4 (CSA, overlapping, with the indexer), 128 (HCA); V3.2 has none.
    assert _row(table, "compression (tokens per KV entry)").exact == (
        "none (window-hash) / 4 (overlapping) (csa4-hash, csa4) / 128 (hca128)", "—")
    assert _row(table, "sparse indexer").exact == (
        f"none (window-hash, hca128) / {c['index_n_heads']} × {c['index_head_dim']}, top-{c['index_topk']} "
        "(csa4-hash, csa4)", f"{c32['index_n_heads']} × {c32['index_head_dim']}, top-{c32['index_topk']:,}")
    assert _row(table, "output groups × o_lora_rank").exact == (f"{c['o_groups']} × {c['o_lora_rank']:,}", "—")
    assert _row(table, "KV heads").exact == ("1", "—") and _row(table, "sinks").exact == ("yes", "no")  # MLA: none
    assert _row(table, "hyper-connections").exact == (f"{c['hc_mult']} streams", "none")
    assert _row(table, "routing").exact == (
        f"hash ({c['scoring_func']} weights) (window-hash, csa4-hash) / {c['scoring_func']} (hca128, csa4)",
        "— (dense) / sigmoid (moe)")
    assert _row(table, "hyper_connections").values[1] == 0


def test_state_space_rows_nemotron_h_beside_a_transformer(bundled):
    nemotron, config = bundled["nvidia-nemotron-3-nano-30b-a3b"]
    table = rows([nemotron, bundled["qwen3-30b-a3b"][0]])
    # Mamba-2 facts straight from the config; a model without Mamba-2 layers shows "—".
    assert _row(table, "SSM state size (d_state)").exact == (str(config["ssm_state_size"]), "—")
    assert _row(table, "SSM heads × head dim").values == (
        f"{config['mamba_num_heads']} × {config['mamba_head_dim']}", None)
    assert _row(table, "SSM groups").values == (config["n_groups"], None)
    assert _row(table, "conv kernel").values == (config["conv_kernel"], None)
    assert all(_row(table, f).differs for f in ("SSM state size (d_state)", "SSM groups", "conv kernel"))
    # Attention facts read the attention layers only, not the Mamba-2 or MoE-only ones.
    assert _row(table, "query heads").values == (config["num_attention_heads"], 32)
    assert _row(table, "KV heads").values[0] == config["num_key_value_heads"]
    assert _row(table, "RoPE θ").values[0] == "none (NoPE)"  # NemotronHAttention has no rotary embedding
    assert _row(table, "routed experts").values[0] == config["n_routed_experts"]
    # Models without Mamba-2 leave the state-space rows out altogether.
    assert "SSM state size" not in _fields(rows([bundled["qwen3-30b-a3b"][0]]))
