"""config.json → spec: derived the way transformers reads the config, defaults included."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from gallery.counts import total_params
from gallery.derive import FAMILIES, DerivationError, derive, family_for
from gallery.spec import Arch

from .conftest import CONFIGS, FIXTURES, ROOT, spec_ids
from .reference import reference_model, reference_param_count

# Every real config available offline: each bundled spec's vendored config, and the real configs no spec
# bundles (tests/fixtures/configs/, with their provenance in tests/fixtures/).
REAL = sorted(CONFIGS.glob("*.json")) + sorted((FIXTURES / "configs").glob("*.json"))
# Fixed-state hybrids whose model types have a family (attention-free Mamba-1, short convolutions + GQA)
CONV_SSM = [CONFIGS / f"{slug}.json" for slug in ("falcon-mamba-7b", "lfm2-1.2b")]
# Counted exactly as published, not yet also with keys stripped: the frontier configs and DeepSeek-V4.
_NOT_STRIPPED = {
    "deepseek-r1", "deepseek-v2.5", "deepseek-v3", "deepseek-v3.2", "deepseek-v4-flash", "devstral-small-2507",
    "gemma-3-27b-it", "gemma-3-4b-it", "gemma-4-26b-a4b", "glm-4.5-air", "glm-5.1", "gpt-oss-120b", "kimi-k2-instruct",
    "kimi-k2.5", "llama-3.3-70b-instruct", "llama-4-maverick-17b-128e-instruct", "llama-4-scout-17b-16e-instruct",
    "mimo-v2-flash", "minimax-m2.7", "phi-4", "qwen3-235b-a22b", "smollm3-3b",
    # stripped, Nemotron 3 Super's n_routed_experts: 512 becomes 8, fewer than its top-22 (a model that could not
    # route)
    "nvidia-nemotron-3-super-120b-a12b"}
STRIPPABLE = [p for p in REAL if p.stem not in _NOT_STRIPPED]


def _arch(config: dict) -> Arch:
    return Arch.model_validate(derive(config).arch, strict=False)


@pytest.mark.parametrize("slug", spec_ids())
def test_bundled_spec_rederives_from_its_vendored_config(bundled_raw, bundled, slug):
    spec, config = bundled_raw[slug]
    assert _arch(config) == spec.arch
    assert _arch(bundled[slug][1]) == spec.arch  # a wrapper's text config as transformers resolves it


@pytest.mark.parametrize("slug", spec_ids())
def test_bundled_spec_records_its_source(bundled_raw, slug):
    spec, config = bundled_raw[slug]
    assert spec.source.model_type == config["model_type"]
    assert spec.source.text_config == ("text_config" in config)
    if spec.source.text_config:  # a wrapper names its multimodal class; the text model is counted
        return
    if family_for(config).wrapper_head:  # no causal-LM class (Step 3.5's Hub config names its remote-code class)
        import transformers

        assert hasattr(transformers, spec.source.transformers_class)
    else:
        assert spec.source.transformers_class in config.get("architectures", [spec.source.transformers_class])


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_defaults_are_the_transformers_config_defaults(model_type):
    """Every default a family uses is the attribute default of the transformers config class."""
    import transformers

    cls = transformers.CONFIG_MAPPING[FAMILIES[model_type].reads_as or model_type]
    text = FAMILIES[model_type].text_type  # a draft model: its text_config's keys are that config class's
    for key, ours in FAMILIES[model_type].defaults.items():
        owner = transformers.CONFIG_MAPPING[text] if text and key not in cls.__dataclass_fields__ else cls
        # rope_theta: the class's own field when it declares one (BailingHybridConfig: 6,000,000), else default_theta
        declared = key == "rope_theta" and "rope_theta" in owner.__dataclass_fields__
        theirs = owner.default_theta if key == "rope_theta" and not declared else getattr(owner, key)
        assert ours == theirs, f"{model_type}.{key}: ours {ours!r}, transformers {theirs!r}"


# Keys that do not shape the architecture but must agree with those that do (token ids < vocab).
_ALONG = ("rope_scaling", "pad_token_id", "bos_token_id", "eos_token_id")
# Keys whose transformers default builds a model that could never run (DeepSeek-V2 routes to
# num_experts_per_tok=None experts): kept; derivation rejects the default with a clear error.
_UNUSABLE_DEFAULT = ("num_experts_per_tok",)


def _stripped(config: dict, keep_fraction: float) -> dict:
    """The config with a random share of the keys its family has defaults for removed.

    Tries a few seeds until transformers accepts the result and it can run (removing hidden_size
    but keeping a longrope factor list sized for the old head_dim makes a config transformers
    rejects; removing num_key_value_heads but keeping 14 query heads gives 32 KV heads that
    transformers builds but attention could never run).
    """
    text = config.get("text_config")  # a multimodal wrapper: strip its language model's config
    target = text if isinstance(text, dict) else config
    strippable = (set(family_for(target).defaults) | set(_ALONG)) - set(_UNUSABLE_DEFAULT)
    for seed in range(20):
        rng = random.Random(seed)
        kept = {k: v for k, v in target.items()
                if k == "model_type" or k not in strippable or rng.random() < keep_fraction}
        out = {**config, "text_config": kept} if target is text else kept
        try:
            model = reference_model(out)
        except Exception:  # noqa: BLE001 - transformers rejected this variant: try another
            continue
        heads = getattr(model.config, "num_attention_heads", None)
        kv_heads = getattr(model.config, "num_key_value_heads", None)
        if isinstance(heads, int) and isinstance(kv_heads, int) and heads % kv_heads:
            continue
        return out
    raise AssertionError("no stripped variant of this config is accepted by transformers")


@pytest.mark.parametrize("keep_fraction", [0.0, 0.5])
@pytest.mark.parametrize("path", STRIPPABLE, ids=[p.stem for p in STRIPPABLE])
def test_absent_keys_read_as_transformers_defaults(path, keep_fraction):
    """Leaving keys out of a config gives the count transformers builds from it, exactly."""
    config = json.loads(path.read_text())
    model_type = config.get("text_config", config)["model_type"]
    if model_type not in FAMILIES:
        pytest.fail(f"model_type {model_type} of {path.name} has no family")
    stripped = _stripped(config, keep_fraction)
    assert total_params(_arch(stripped)) == reference_param_count(stripped)


@pytest.mark.parametrize("path", REAL, ids=[p.stem for p in REAL])
def test_every_hub_config_is_exact(path):
    """The acceptance criterion, over every real config available offline (bundled or not)."""
    config = json.loads(path.read_text())
    assert total_params(_arch(config)) == reference_param_count(config)


def _leaves(value, prefix=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else k)
    else:
        yield prefix


@pytest.mark.parametrize("slug", spec_ids())
def test_every_field_says_where_it_came_from(bundled, slug):
    _, config = bundled[slug]
    derived = derive(config)
    for leaf in _leaves({"arch": derived.arch}):
        assert any(leaf == p or leaf.startswith(p + ".") for p in derived.provenance), leaf


def test_provenance_names_the_key_or_the_default():
    config = json.loads((CONFIGS / "llama-3.1-8b-instruct.json").read_text())
    reads = derive(config).provenance["arch.blocks.full.mixer.n_kv_heads"]
    assert [(r.key, r.value, r.from_config) for r in reads] == [("num_key_value_heads", 8, True)]
    del config["num_key_value_heads"]  # LlamaConfig: None → num_attention_heads
    reads = derive(config).provenance["arch.blocks.full.mixer.n_kv_heads"]
    assert [(r.key, r.from_config) for r in reads] == [("num_key_value_heads", False), ("num_attention_heads", True)]
    assert "absent" in str(reads[0])


def test_unsupported_model_type_names_the_supported_ones():
    with pytest.raises(DerivationError) as err:
        derive({"model_type": "llama9"})
    assert "llama9" in str(err.value) and "qwen3" in str(err.value)
    with pytest.raises(DerivationError, match="no 'model_type'"):
        derive({"hidden_size": 8})


def test_new_on_an_unsupported_config_is_one_line_exit_2_and_writes_nothing(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_type": "llama9"}))
    out = tmp_path / "specs" / "my-model.yaml"
    proc = subprocess.run([sys.executable, "-m", "gallery", "new", str(config), "--hf-repo", "a/b", "-o", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "llama9" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "specs").exists() or not any((tmp_path / "specs").rglob("*"))


def test_new_drafts_a_spec_that_lints_clean_and_keeps_curated_fields(tmp_path):
    src = CONFIGS / "qwen3-0.6b.json"
    out = tmp_path / "qwen3-0.6b.yaml"
    run = lambda: subprocess.run([sys.executable, "-m", "gallery", "new", str(src), "--hf-repo", "Qwen/Qwen3-0.6B",  # noqa: E731
                                  "-o", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert run().returncode == 0
    assert out.read_text().startswith("# yaml-language-server: $schema=")
    assert json.loads((tmp_path / "configs" / "qwen3-0.6b.json").read_text()) == json.loads(src.read_text())
    lint = subprocess.run([sys.executable, "-m", "gallery", "lint", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert lint.returncode == 0, lint.stdout
    out.write_text(out.read_text().replace("name: Qwen3-0.6B", "name: My curated name"))
    assert run().returncode == 0
    assert "name: My curated name" in out.read_text()


def test_stats_on_a_raw_config_prints_the_exact_total():
    path = CONFIGS / "qwen3-30b-a3b.json"
    if json.loads(path.read_text())["model_type"] not in FAMILIES:
        pytest.fail("qwen3_moe has no family yet")
    proc = subprocess.run([sys.executable, "-m", "gallery", "stats", str(path), "--json"],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    row = json.loads(proc.stdout)
    assert row["total_params"] == reference_param_count(json.loads(path.read_text()))
    assert {"slug", "total_params", "embedding_params", "active_params", "kv_cache_bytes_per_token"} <= set(row)


def _variant(name: str) -> dict:
    """A hand-varied config of a newer model type (defined further down)."""
    return {"deepseek-v4 ratios 8 and 64": lambda: _v4_variants()["ratios 8 and 64"],
            "nemotron-h biased": lambda: _NEMOTRON_SMALL | {"hybrid_override_pattern": "M-M*EM-", "use_bias": True},
            }[name]()


@pytest.mark.parametrize("name", ["deepseek-v4 ratios 8 and 64", "nemotron-h biased"])
def test_stats_on_a_varied_config_is_exact(tmp_path, name):
    config = _variant(name)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    proc = subprocess.run([sys.executable, "-m", "gallery", "stats", str(path), "--json"],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    assert json.loads(proc.stdout)["total_params"] == reference_param_count(config)


def test_stats_on_fixed_state_configs():
    proc = subprocess.run([sys.executable, "-m", "gallery", "stats", *map(str, CONV_SSM), "--json"],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    falcon, lfm2 = map(json.loads, proc.stdout.splitlines())
    assert (falcon["slug"], lfm2["slug"]) == ("falcon-mamba-7b", "lfm2-1.2b")  # _name_or_path "./": the file name
    for row, path in zip((falcon, lfm2), CONV_SSM):
        assert row["total_params"] == reference_param_count(json.loads(path.read_text()))
    # Falcon-Mamba: nothing per token; 64 layers × 8,192 channels × (16 state + 4 conv taps) × 2 bytes per sequence.
    assert falcon["kv_cache_bytes_per_token"] == 0 and falcon["state_bytes_per_sequence"] == 64 * 8192 * 20 * 2


def test_a_default_that_cannot_route_is_counted_and_says_what_is_missing(tmp_path):
    """DeepseekV2Config's default num_experts_per_tok is null: transformers builds the model (so the total is
    exact) but it cannot route a token, so the active count, FLOPs per token and the trace of an MoE layer are
    undefined, and each place that shows them says why instead of refusing the config."""
    from gallery.compare import rows
    from gallery.counts import active_params, total_params, unrouted
    from gallery.flops import flops_per_token
    from gallery.trace import trace
    from gallery.trial import spec_from_config

    config = json.loads((CONFIGS / "deepseek-v2-lite-chat.json").read_text())
    del config["num_experts_per_tok"]  # DeepseekV2Config default: None
    spec = spec_from_config(config)
    arch = spec.arch
    assert total_params(arch) == reference_param_count(config)
    assert active_params(arch) is None and flops_per_token(arch, 1) is None
    assert "top_k (num_experts_per_tok) is null" in unrouted(arch)
    assert next(r for r in rows([spec]) if r.field == "active").exact == ("undefined",)
    trace(arch, 0, 4)  # the dense first layer still traces
    with pytest.raises(ValueError, match="num_experts_per_tok\\) is null"):
        trace(arch, 1, 4)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    proc = subprocess.run([sys.executable, "-m", "gallery", "stats", str(path), "--json"],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    row = json.loads(proc.stdout)
    assert row["active_params"] is None and row["unrouted"] == unrouted(arch)
    assert row["total_params"] == reference_param_count(config)
    text = subprocess.run([sys.executable, "-m", "gallery", "stats", str(path)], capture_output=True, text=True,
                          cwd=ROOT, check=True).stdout
    assert "active parameters undefined: top_k" in text


def _reference_windows(config: dict) -> list[int | None]:
    """Each layer's sliding window as the transformers model built from ``config`` holds it."""
    import torch

    model = reference_model(config)
    layers = next(m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == model.config.num_hidden_layers)
    windows = []
    for layer in layers:
        attn = next((m for name, m in layer.named_children()
                     if "attn" in name or "attention" in name or type(m).__name__.endswith("Attention")), None)
        if attn is None:  # a layer without attention (a Nemotron-H Mamba-2, MLP or MoE layer) has no window
            windows.append(None)
            continue
        # Newer attention modules hold their own window; older ones read config.sliding_window in forward.
        window = getattr(attn, "sliding_window", getattr(model.config, "sliding_window", None))
        windows.append(window or None)  # Qwen2-MoE stores 0 for "no window"
    return windows


@pytest.mark.parametrize("path", REAL, ids=[p.stem for p in REAL])
def test_sliding_windows_per_layer_agree_with_transformers(path):
    config = json.loads(path.read_text())
    arch = _arch(config)
    ours = [getattr(arch.blocks[kind].mixer, "window", None) for kind in arch.layers]
    assert ours == _reference_windows(config)


@pytest.mark.parametrize("slug", spec_ids())
def test_field_sources_name_config_keys_that_hold_the_value(bundled, slug):
    from gallery.derive import field_sources

    _, config = bundled[slug]
    rows = field_sources(config)
    assert rows and all(source for _, _, source in rows)
    for field, value, source in rows:
        # A field read from exactly one key that config.json sets shows that key's value.
        if source in config and isinstance(value, int) and not isinstance(value, bool) and "," not in source:
            if field.endswith(("d_model", "n_layers", "vocab_size", "n_heads", "d_ff")):
                held = config[source]  # a layer pattern (Nemotron-H hybrid_override_pattern) gives its length
                held = len(held) if isinstance(held, (str, list)) else held
                if config["model_type"] == "recurrent_gemma" and field.endswith("ffn.d_ff"):
                    held //= 2  # RecurrentGemmaMlp: gate and up are intermediate_size // 2 wide
                assert held == value, (field, source)


def _v4_variants() -> dict[str, dict]:
    """DeepSeek-V4-Flash varied by hand: fewer layers, other compression ratios, no or other hash layers,
    the transformers defaults, other widths; each in a key spelling DeepseekV4Config reads."""
    flash = json.loads((CONFIGS / "deepseek-v4-flash.json").read_text())
    few = flash | {"num_hidden_layers": 5}  # compress_ratios cut to [0, 0, 4, 128, 4]
    return {
        "5 layers": few,
        "no hash layers": few | {"num_hash_layers": 0},
        "ratios 8 and 64": {k: v for k, v in few.items() if k != "compress_ratios"} | {
            "layer_types": ["sliding_attention", "compressed_sparse_attention", "heavily_compressed_attention"] * 2,
            "num_hidden_layers": 6,
            "compress_rates": {"compressed_sparse_attention": 8, "heavily_compressed_attention": 64}},
        "legacy rate keys": few | {"compress_rate_csa": 16, "compress_rate_hca": 32},
        "hash in the middle": few | {"mlp_layer_types": ["moe", "hash_moe", "moe", "hash_moe", "moe"]},
        "defaults": {"model_type": "deepseek_v4", "num_hidden_layers": 4},
        "other widths": few | {"hc_mult": 2, "o_groups": 4, "o_lora_rank": 512, "index_n_heads": 32,
                               "index_head_dim": 64, "q_lora_rank": 768, "head_dim": 256, "qk_rope_head_dim": 32,
                               "mlp_bias": True, "num_attention_heads": 32},
    }


@pytest.mark.parametrize("name", list(_v4_variants()))
def test_deepseek_v4_variants_are_exact(name):
    config = _v4_variants()[name]
    arch = _arch(config)
    assert total_params(arch) == reference_param_count(config)
    model = reference_model(config)
    ours = [arch.blocks[kind].mixer.ratio for kind in arch.layers]
    theirs = [getattr(layer.self_attn.compressor, "compress_rate", None) for layer in model.model.layers]
    assert ours == theirs  # every layer's compression ratio as transformers builds it
    hashed = [bool(arch.blocks[kind].ffn.router.hash) for kind in arch.layers]
    assert hashed == [layer.mlp.is_hash for layer in model.model.layers]


# A small Nemotron-H config with every width distinct, so a width used in the wrong place shows.
_NEMOTRON_SMALL = {
    "model_type": "nemotron_h", "vocab_size": 1000, "hidden_size": 96, "hybrid_override_pattern": "M*ME-M",
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 12, "intermediate_size": 44,
    "mamba_num_heads": 6, "mamba_head_dim": 10, "n_groups": 3, "ssm_state_size": 14, "conv_kernel": 5,
    "n_routed_experts": 8, "num_experts_per_tok": 3, "moe_intermediate_size": 18,
    "moe_shared_expert_intermediate_size": 26,
}


@pytest.mark.parametrize("change", [
    {},
    {"hybrid_override_pattern": "M-M*-M"},  # no MoE at all
    {"hybrid_override_pattern": "EE*EE"},  # no Mamba-2
    {"layers_block_type": ["mlp", "linear_attention", "full_attention"]},  # wins over the pattern
    {"use_bias": True, "use_conv_bias": False, "mlp_bias": True},
    {"mamba_proj_bias": True},  # in the config class, but the mixer reads use_bias: no bias
    {"n_group": 4, "topk_group": 2, "n_shared_experts": 3},  # one shared MLP whatever n_shared_experts says
    {"tie_word_embeddings": True},  # NemotronHForCausalLM ties nothing
    {"n_groups": None, "mamba_n_groups": 2, "conv_kernel": None, "mamba_d_conv": 3},  # legacy key names
    {"moe_latent_size": 32},  # experts in a latent: fc1/fc2_latent_proj around them
    {"moe_latent_size": 32, "mlp_bias": True},
], ids=lambda change: ",".join(change) or "base")
def test_hand_varied_nemotron_h_configs_are_exact(change):
    config = {k: v for k, v in (_NEMOTRON_SMALL | change).items() if v is not None}
    assert total_params(_arch(config)) == reference_param_count(config)


def test_nemotron_h_unknown_layer_types_are_a_clear_error():
    with pytest.raises(DerivationError, match=r"hybrid_override_pattern\[2\]: 'X' at layer 2 .*accepted: 'M', 'E', '\*', '-'"):
        derive(_NEMOTRON_SMALL | {"hybrid_override_pattern": "M*X"})


# Hand-varied configs of the fixed-state model types: each changes what the real configs leave alone.
_VARIED = {
    "falcon-auto-rank-expand-biases": {  # no intermediate_size: expand × hidden; "auto" rank = ceil(200 / 16) = 13
        "model_type": "falcon_mamba", "hidden_size": 200, "expand": 3, "time_step_rank": "auto", "state_size": 8,
        "num_hidden_layers": 3, "vocab_size": 1000, "use_bias": True, "use_conv_bias": False, "conv_kernel": 2},
    "falcon-tied": {"model_type": "falcon_mamba", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
                    "vocab_size": 500, "tie_word_embeddings": True, "mixer_rms_eps": 1e-5},
    "mamba-defaults": {"model_type": "mamba", "num_hidden_layers": 2},
    "lfm2-no-adjust-conv-bias": {  # d_ff = intermediate_size as given; conv_bias biases in_proj, conv and out_proj
        "model_type": "lfm2", "hidden_size": 128, "intermediate_size": 300, "block_auto_adjust_ff_dim": False,
        "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 1, "full_attn_idxs": [3],
        "conv_bias": True, "conv_L_cache": 5, "vocab_size": 700, "tie_embedding": False},
    "lfm2-multiplier": {  # int(2/3 × 1,000) = 666 → int(1.3 × 666) = 865 → rounded up to a multiple of 100: 900
        "model_type": "lfm2", "hidden_size": 96, "block_ff_dim": 1000, "block_ffn_dim_multiplier": 1.3,
        "block_multiple_of": 100, "num_hidden_layers": 3, "num_attention_heads": 6, "num_key_value_heads": 2,
        "layer_types": ["conv", "full_attention", "conv"], "vocab_size": 300},
    "lfm2-all-attention": {  # no full_attn_idxs, no layer_types: every layer is attention; d_ff: int(2/3 × 200)
        # = 133 → int(0.75 × 133) = 99 → rounded up to the default multiple of 256: 256
        "model_type": "lfm2", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 4, "vocab_size": 100, "intermediate_size": 200, "block_ffn_dim_multiplier": 0.75},
}


@pytest.mark.parametrize("name", sorted(_VARIED))
def test_varied_fixed_state_configs_are_exact(name):
    config = _VARIED[name]
    assert total_params(_arch(config)) == reference_param_count(config)


def test_varied_configs_read_the_rules_by_hand():
    mamba = _arch(_VARIED["falcon-auto-rank-expand-biases"]).blocks["mamba"].mixer
    assert (mamba.d_inner, mamba.dt_rank, mamba.bias, mamba.conv_bias) == (3 * 200, 13, True, False)
    assert _arch(_VARIED["lfm2-multiplier"]).blocks["conv"].ffn.d_ff == 900
    assert _arch(_VARIED["lfm2-no-adjust-conv-bias"]).blocks["attention"].ffn.d_ff == 300
    assert _arch(_VARIED["lfm2-no-adjust-conv-bias"]).layers == ["conv"] * 3 + ["attention"]
    all_attention = _arch(_VARIED["lfm2-all-attention"])
    assert set(all_attention.layers) == {"attention"} and all_attention.blocks["attention"].ffn.d_ff == 256
    assert _arch(_VARIED["mamba-defaults"]).blocks["mamba"].mixer.bc_dt_norm_eps is None  # plain Mamba: no B/C/Δ norms


@pytest.mark.parametrize(("config", "key"), [
    ({"model_type": "falcon_mamba", "expand": "16", "hidden_size": 10**12}, "expand"),
    ({"model_type": "lfm2", "block_ffn_dim_multiplier": "1.0", "intermediate_size": 10**12},
     "block_ffn_dim_multiplier"),
])
def test_text_where_a_number_belongs_is_a_clear_error_not_a_huge_string(config, key):
    with pytest.raises(DerivationError, match=key):
        derive(config)


def test_new_with_a_file_name_that_is_not_a_slug_says_so_and_writes_nothing(tmp_path):
    src = CONFIGS / "qwen3.5-27b.json"
    out = tmp_path / "Qwen--Qwen3.5-27B.yaml"  # a Hub-style file name: capitals and "--"
    proc = subprocess.run([sys.executable, "-m", "gallery", "new", str(src), "--hf-repo", "Qwen/Qwen3.5-27B",
                           "-o", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "the file name must be the slug" in proc.stderr and "qwen-qwen3.5-27b.yaml" in proc.stderr
    assert not any(tmp_path.rglob("*"))
