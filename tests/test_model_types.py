"""The table of model types (``gallery/derive/model_types.tsv``), and the families that read the Llama-like
types of issue 15, each compared with the model transformers builds on the meta device, exactly."""

from __future__ import annotations

import functools
import json
import re

import pytest

from gallery.counts import total_params
from gallery.derive import FAMILIES, DerivationError, derive, modeltypes
from gallery.spec import Arch

from .conftest import ROOT
from .reference import reference_model, reference_param_count

ROWS = modeltypes.load()
BY_NAME = {r.name: r for r in ROWS}


def _mapping() -> dict[str, str]:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    return dict(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)


def test_the_table_covers_exactly_the_causal_lm_mapping():
    names = [r.name for r in ROWS]
    assert len(names) == len(set(names)), "a model type is listed twice"
    assert sorted(names) == sorted(_mapping())


def test_every_row_says_why():
    for r in ROWS:
        assert r.status in modeltypes.STATUSES, r
        if r.status == "out":
            assert r.detail in modeltypes.REASONS, r
        if r.status == "todo":
            assert r.detail, f"{r.name}: say what it needs"


def test_read_means_a_family_reads_it():
    """``read``: a family has the type, or (a multimodal wrapper) transformers' default config of the type
    holds a text_config of a type a family has; every family's type is in the table as read."""
    import transformers

    for r in ROWS:
        wrapped = re.fullmatch(r"via text_config \((\w+)\)", r.detail)
        if r.status != "read":
            assert r.name not in FAMILIES, f"{r.name} has a family: mark it read"
        elif wrapped:
            assert transformers.CONFIG_MAPPING[r.name]().get_text_config().model_type == wrapped[1]
            # the text type is read; it has a row unless transformers gives it no causal-LM class (emu3_text_model)
            assert wrapped[1] in FAMILIES and (wrapped[1] not in BY_NAME or BY_NAME[wrapped[1]].status == "read")
        else:
            assert r.name in FAMILIES, f"{r.name} is marked read but no family has it"
    mapping = _mapping()
    for name, family in FAMILIES.items():  # remote-code types (kimi_k2) are read as a transformers type
        row = BY_NAME.get(family.reads_as or name)
        if row is None:  # a text config of a model with no causal-LM class (qwen3_vl_text): beyond the table
            assert (family.reads_as or name) not in mapping and family.wrapper_head, name
            continue
        assert row.status == "read", name


def test_readme_section_is_generated_from_the_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert modeltypes.updated(readme, ROWS) == readme, "run python -m gallery types"


# --- the Llama-like families of issue 15 -------------------------------------------------------------

# transformers cannot build these types' default configs (head_dim defaults to null and the attention
# multiplies by it): the smallest complete config adds head_dim.
SMALLEST = {"ministral": {"head_dim": 128}, "hunyuan_v1_dense": {"head_dim": 128}, "hunyuan_v1_moe": {"head_dim": 128},
            "dots1": {"n_routed_experts": 128, "n_shared_experts": 2, "num_experts_per_tok": 6}}  # dots.llm1's
# what derive says of the bare default instead (head_dim unless named here)
_BARE = {"dots1": "n_routed_experts is null"}
LLAMA_LIKE = ["arcee", "helium", "internlm3", "iquestcoder", "granite", "ernie4_5", "seed_oss", "hunyuan_v1_dense",
              "glm", "glm4", "cwm", "ministral", "ministral3", "olmo3", "exaone4", "cohere2", "vaultgemma", "granite_swa",
              "jais2", "hyperclovax", "gemma4_unified_text"]
MOE = ["olmoe", "flex_olmo", "granitemoe", "granitemoeshared", "mellum", "phimoe", "granitemoe_swa"]
# MoE families with shared experts, dense layers, expert grids and groups: varied further by _EXPERT_VARIANTS
MOE_SHARED = ["ernie4_5_moe", "solar_open", "exaone_moe", "kolibri1", "dots1", "hunyuan_v1_moe", "glm4_moe_lite",
              "flint", "hy_v3"]
# multi-head latent attention with a dense MLP: varied by _MLA_VARIANTS
MLA = ["minicpm3", "youtu"]
NEW = LLAMA_LIKE + MOE + MOE_SHARED + MLA + ["gpt-sw3", "codegen"]

# Every width distinct, so a width read into the wrong place shows; 5 layers so patterns of 4 wrap.
_SMALL = {"vocab_size": 500, "hidden_size": 96, "num_attention_heads": 6, "num_key_value_heads": 2, "head_dim": 16,
          "intermediate_size": 160, "num_hidden_layers": 5, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
_VARIANTS = {
    "small": {},
    "mha": {"num_key_value_heads": 6},
    "mqa": {"num_key_value_heads": 1},
    "head_dim 24": {"head_dim": 24},  # q/k/v widths no longer d_model
    "7 layers": {"num_hidden_layers": 7},
    "tied": {"tie_word_embeddings": True},
    "untied": {"tie_word_embeddings": False},
    "window 64": {"sliding_window": 64},
    "no window": {"sliding_window": None},
    "layer_types": {"layer_types": ["full_attention", "sliding_attention", "sliding_attention", "full_attention",
                                    "sliding_attention"], "sliding_window": 32},
    "biases": {"attention_bias": True, "mlp_bias": True, "use_bias": True, "attention_out_bias": True},
    "no post norms": {"use_post_norm": False},
    "no biases": {"attention_bias": False, "mlp_bias": False, "use_bias": False},
    "activation": {"hidden_act": "gelu_pytorch_tanh"},
    "partial rope": {"partial_rotary_factor": 0.25},
    "experts": {"num_experts": 5, "num_local_experts": 5, "num_experts_per_tok": 3, "norm_topk_prob": True},
    "shared MLP": {"shared_intermediate_size": 72},
    "mlp_layer_types": {"mlp_layer_types": ["dense", "sparse", "sparse", "dense", "sparse"],
                        "moe_intermediate_size": 40},
}
# Each config class names its expert keys its own way: every spelling is given, the others are plain attributes
# its modeling code never reads.
_EXPERT_VARIANTS = {
    "shared experts": {"n_shared_experts": 3, "num_shared_experts": 3, "moe_num_shared_experts": 3,
                       "moe_intermediate_size": 40, "shared_expert_intermediate_size": 56},
    "no shared experts": {"n_shared_experts": 0, "num_shared_experts": 0, "moe_num_shared_experts": 0},
    "dense first": {"first_k_dense_replace": 2, "moe_layer_start_index": 2},
    "expert grid": {"moe_layer_interval": 2, "moe_layer_end_index": 3, "decoder_sparse_step": 2},
    "dense layers listed": {"mlp_only_layers": [1, 3]},
    "expert groups": {"n_routed_experts": 8, "num_experts": 8, "moe_num_experts": 8, "num_local_experts": 8,
                      "num_experts_per_tok": 2, "moe_k": 2, "n_group": 4, "topk_group": 2},
    "top_k null": {"num_experts_per_tok": None, "moe_k": None},
    "null kv heads": {"num_key_value_heads": None},
    "null routing options": {"n_group": None, "topk_group": None, "norm_topk_prob": None},
}
# The latent attention's own widths (the head counts, layers, vocab, tying and activation come from _VARIANTS)
_MLA_VARIANTS = {
    "latent ranks": {"kv_lora_rank": 24, "q_lora_rank": 40},
    "no query rank": {"q_lora_rank": None},
    "head widths": {"qk_nope_head_dim": 12, "qk_rope_head_dim": 8, "v_head_dim": 20},
    "null value width": {"v_head_dim": None},
}
# Configs transformers builds but whose attention could never run: refused with a clear error instead.
_REFUSED = {("helium", "head_dim 24"): "Helium's o_proj", ("olmoe", "head_dim 24"): "q_norm spans hidden_size"}


def _config(model_type: str, change: dict) -> dict:
    import transformers

    cls = transformers.CONFIG_MAPPING[model_type]
    # the smallest complete config's keys, unless the change spells them otherwise (an alias wins in transformers)
    # and _SMALL's keys unless one is an alias of a key the change gives (glm4_moe_lite's head_dim is
    # qk_rope_head_dim)
    respelled = {cls.attribute_map.get(key) for key in change}
    smallest = {k: v for k, v in SMALLEST.get(model_type, {}).items() if k not in respelled}
    small = {k: v for k, v in _SMALL.items() if cls.attribute_map.get(k) not in change}
    config = {"model_type": model_type, **smallest, **small, **change}
    # keys a config class does not declare become plain attributes that its modeling code never reads
    # (a window for Llama): given only to the classes that declare them.
    for key in ("layer_types", "sliding_window"):
        if key in change and key not in cls.__dataclass_fields__:
            del config[key]
    if model_type == "internlm3" and change.get("attention_bias") != change.get("mlp_bias"):
        config.pop("attention_bias", None)  # InternLM3Config rejects qkv_bias != bias
        config.pop("mlp_bias", None)
    return config


def _arch(config: dict) -> Arch:
    return Arch.model_validate(derive(config).arch, strict=False)


@functools.lru_cache(maxsize=None)
def _built(config_json: str):
    """The transformers model of a config (built once per test session), or None when transformers refuses it."""
    try:
        return reference_model(json.loads(config_json))
    except Exception:  # noqa: BLE001 - any refusal by transformers
        return None


def _reference(config: dict):
    return _built(json.dumps(config, sort_keys=True))


def _reference_windows(model) -> list[int | None]:
    """Each layer's window as the transformers model holds it: its attention's ``sliding_window`` (EXAONE 4
    keeps one on every layer and applies it where ``is_sliding``), else the config's (Ministral 3 reads
    ``config.sliding_window`` in forward)."""
    windows = []
    for layer in model.model.layers:
        attn = layer.self_attn
        window = getattr(attn, "sliding_window", getattr(model.config, "sliding_window", None))
        windows.append(window if getattr(attn, "is_sliding", True) else None)
    return windows


@pytest.mark.parametrize("model_type", NEW)
def test_default_config_is_exact(model_type):
    default_config_is_exact(model_type, SMALLEST.get(model_type), _BARE.get(model_type, "head_dim is null"))


def default_config_is_exact(model_type: str, smallest: dict | None, why: str) -> None:
    """The type's default config counts exactly; where transformers cannot build it, the smallest complete config
    (the default plus ``smallest``) does, and the bare default is refused in one line matching ``why``."""
    config = {"model_type": model_type} | (smallest or {})
    assert total_params(_arch(config)) == reference_param_count(config)
    if smallest:  # the bare default: transformers fails, we say why in one line
        assert _reference({"model_type": model_type}) is None
        with pytest.raises(DerivationError, match=why):
            derive({"model_type": model_type})


# Variants a config class cannot express: CwmConfig types sliding_window as int, so null is a type error
# (value types are the config reader's concern, gallery/derive/config.py, not a family's).
# Expert counts only where there are experts.
# MLA reads no num_key_value_heads (its config classes refuse null there; the gallery ignores the key).
_NOT_APPLICABLE = {("cwm", "no window"), ("glm4_moe_lite", "null kv heads")} | {
    (t, v) for t in LLAMA_LIKE for v in ("experts", "shared MLP", "mlp_layer_types")}


@pytest.mark.parametrize(("model_type", "variant"), [
    (t, v) for t in LLAMA_LIKE + MOE + MOE_SHARED + MLA for v in _VARIANTS if (t, v) not in _NOT_APPLICABLE] + [
    (t, v) for t in MOE_SHARED for v in _EXPERT_VARIANTS if (t, v) not in _NOT_APPLICABLE] + [(t, v) for t in MLA + ["glm4_moe_lite"] for v in _MLA_VARIANTS])
def test_varied_configs_are_exact(model_type, variant):
    """Each size changed: the count equals transformers', and so does every layer's window; a config
    transformers refuses is refused by derive too, with a clear error."""
    config = _config(model_type, (_VARIANTS | _EXPERT_VARIANTS | _MLA_VARIANTS)[variant])
    if (model_type, variant) in _REFUSED:
        with pytest.raises(DerivationError, match=_REFUSED[model_type, variant]):
            derive(config)
        return
    built = exact_or_refused_alike(config)
    if built:
        arch, model = built
        assert [getattr(arch.blocks[k].mixer, "window", None) for k in arch.layers] == _reference_windows(model)


def exact_or_refused_alike(config: dict):
    """(arch, model) when transformers builds ``config`` and the count equals its parameters; None when transformers
    refuses it and derive refuses it too, with a clear error."""
    model = _reference(config)
    if model is None:
        with pytest.raises(DerivationError):
            derive(config)
        return None
    arch = _arch(config)
    assert total_params(arch) == sum(p.numel() for p in model.parameters())
    return arch, model


@pytest.mark.parametrize("model_type", [t for t in NEW if FAMILIES[t].aliases])
def test_configs_spelled_with_attribute_map_aliases_are_exact(model_type):
    """Every alias of the config class's attribute_map for a key the family reads, given instead of its
    attribute (with a value that is not the default), reads as transformers reads it."""
    import transformers

    cls, family = transformers.CONFIG_MAPPING[model_type], FAMILIES[model_type]
    smallest = SMALLEST.get(model_type, {})
    config = {"model_type": model_type, **smallest, **_SMALL, "num_experts_per_tok": 1}
    for alias, key in cls.attribute_map.items():
        # the family reads one spelling (its defaults' key) and maps the other onto it; MellumConfig declares
        # num_experts and maps it onto num_local_experts, the other way round from OlmoeConfig
        read, other = (key, alias) if key in family.defaults else (alias, key)
        if read not in family.defaults:
            continue  # not an architecture key (Mellum's multi-token-prediction layers are not built)
        assert family.aliases.get(other) == read
        default = smallest.get(read, getattr(cls, read))  # Dots1Config's expert count defaults to null
        config[other] = (not default) if isinstance(default, bool) else 2 * default
        config.pop(read, None)
    assert total_params(_arch(config)) == reference_param_count(config)


def _layers(config: dict) -> list[tuple[str, bool]]:
    """(window or not, RoPE or not) per layer, as derived."""
    arch = _arch(config)
    return [(arch.blocks[k].mixer.window is not None, arch.blocks[k].mixer.rope is not None) for k in arch.layers]


def test_layer_patterns_read_by_hand():
    """The patterns the config classes' __post_init__ write, and where the modeling code skips RoPE."""
    s, g = (True, True), (False, True)  # sliding with RoPE; global with RoPE
    nope = (False, False)  # global without RoPE (EXAONE 4 and Cohere 2 with a window)
    assert _layers({"model_type": "cwm", "num_hidden_layers": 6}) == [g, s, s, s, g, s]  # full at i % 4 == 0
    assert _layers({"model_type": "olmo3", "num_hidden_layers": 5}) == [s, s, s, g, s]  # full at (i + 1) % 4 == 0
    assert _layers({"model_type": "exaone4", "num_hidden_layers": 5}) == [s, s, s, nope, s]
    assert _layers({"model_type": "exaone4", "num_hidden_layers": 3, "sliding_window": None,
                    "layer_types": ["full_attention"] * 3}) == [g] * 3  # no window: RoPE everywhere
    assert _layers({"model_type": "cohere2", "num_hidden_layers": 5, "sliding_window_pattern": 2}) == [
        s, nope, s, nope, s]
    assert _layers({"model_type": "ministral", "head_dim": 64, "num_hidden_layers": 2}) == [s, s]
    assert _layers({"model_type": "ministral3", "num_hidden_layers": 2}) == [g, g]
    with pytest.raises(DerivationError, match="sliding_window_pattern"):
        derive({"model_type": "exaone4", "sliding_window": None})  # transformers divides by a pattern of 0


def test_glm_ropes_half_of_each_head_unless_told_otherwise():
    assert _arch({"model_type": "glm"}).blocks["full"].mixer.rope.partial == 0.5
    assert _arch({"model_type": "glm4", "partial_rotary_factor": 1.0}).blocks["full"].mixer.rope.partial == 1.0


@pytest.mark.parametrize("model_type", NEW)
def test_new_drafts_a_spec_that_lints_clean(tmp_path, model_type, capsys):
    drafts_a_clean_spec(tmp_path, {"model_type": model_type} | SMALLEST.get(model_type, {}), capsys)


def drafts_a_clean_spec(tmp_path, config: dict, capsys) -> None:
    """``python -m gallery new`` on ``config`` writes a spec, and the spec lints clean."""
    from gallery.cli import main

    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    out = tmp_path / "specs" / "my-model.yaml"
    assert main(["new", str(path), "--hf-repo", "org/my-model", "-o", str(out)]) == 0
    assert main(["lint", str(out)]) == 0, capsys.readouterr().out


@pytest.mark.parametrize("model_type", NEW)
def test_the_try_page_reads_it(model_type):
    the_try_page_counts_it({"model_type": model_type} | SMALLEST.get(model_type, {}))


def the_try_page_counts_it(config: dict) -> None:
    """The Try page's spec of ``config`` counts what transformers builds."""
    from gallery.trial import spec_from_config

    assert total_params(spec_from_config(config).arch) == reference_param_count(config)


@pytest.mark.parametrize("model_type", ["granite_swa", "granitemoe_swa"])
def test_granite_swa_reads_a_rope_base_per_layer(model_type):
    """layer_rope_theta: 0 is NoPE in that layer (GraniteSWAModel passes no position embeddings), any other value the
    layer's own RoPE base; full attention on every fourth layer from layer 0 unless layer_types says otherwise."""
    config = {"model_type": model_type, "num_hidden_layers": 5, "layer_rope_theta": [0, 10000, 500000, 0, 10000]}
    arch = _arch(config)
    ropes = [arch.blocks[k].mixer.rope for k in arch.layers]
    assert [r and r.theta for r in ropes] == [None, 10000.0, 500000.0, None, 10000.0]
    assert [arch.blocks[k].mixer.window for k in arch.layers] == [None, 128, 128, 128, None]
    assert all(arch.blocks[k].mixer.sinks for k in arch.layers)
    assert total_params(arch) == reference_param_count(config)
