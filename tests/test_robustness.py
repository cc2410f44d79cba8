"""Robustness: generated and hostile input never crashes the core; generated valid models count exactly.

Property-based (hypothesis): spec text in, problems out; configs in, a spec or a clear error out;
valid generated configs of several families counted exactly as transformers builds them, and drawn
as DOT that Graphviz accepts. Hostile strings in every free-text field come out escaped.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gallery.counts import breakdown, total_params
from gallery.derive import DerivationError, derive
from gallery.diagram import to_dot
from gallery.loader import load_text
from gallery.memory import kv_bytes
from gallery.spec import Arch
from gallery.trial import TrialError, spec_from_config

from .conftest import SPEC_DIR
from .reference import reference_param_count

SPEC_TEXT = (SPEC_DIR / "qwen3-0.6b.yaml").read_text()
CONFIGS = {p.stem: json.loads(p.read_text()) for p in sorted((SPEC_DIR / "configs").glob("*.json"))}
JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**12) | st.floats(allow_nan=False)
                    | st.text(max_size=12), lambda inner: st.lists(inner, max_size=4), max_leaves=6)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _dot_accepts(dot: str) -> bool:
    return subprocess.run(["dot", "-Tsvg", "-o", "/dev/null"], input=dot.encode(), capture_output=True).returncode == 0


@FAST
@given(st.text(max_size=400))
def test_any_text_is_a_spec_or_problems(text):
    loaded = load_text(text, "x.yaml")
    assert (loaded.spec is None) == bool(loaded.problems)
    assert all(p.line >= 1 and p.col >= 1 and p.code for p in loaded.problems)


@FAST
@given(st.integers(0, len(SPEC_TEXT) - 1), st.integers(0, 40), st.text(max_size=30))
def test_a_damaged_real_spec_is_a_spec_or_problems(start, length, insert):
    loaded = load_text(SPEC_TEXT[:start] + insert + SPEC_TEXT[start + length:], "x.yaml")
    assert (loaded.spec is None) == bool(loaded.problems)
    assert all(p.line >= 1 and p.col >= 1 and p.code for p in loaded.problems)


@FAST
@given(st.sampled_from(sorted(CONFIGS)), st.data())
def test_damaged_configs_give_a_spec_or_a_clear_error(name, data):
    config = dict(CONFIGS[name])
    for key in data.draw(st.lists(st.sampled_from(sorted(config)), max_size=3, unique=True)):
        config[key] = data.draw(JSON)
    try:
        spec = spec_from_config(config)
    except TrialError as exc:
        assert exc.lines and all(isinstance(line, str) and line for line in exc.lines)
        return
    assert sum(breakdown(spec.arch).values()) == total_params(spec.arch)


def _llama_like(draw, model_type: str) -> dict:
    heads = draw(st.sampled_from([2, 4, 8]))
    kv = draw(st.sampled_from([h for h in (1, 2, 4, 8) if heads % h == 0]))
    head_dim = draw(st.sampled_from([8, 16]))
    config = {
        "model_type": model_type, "num_hidden_layers": draw(st.integers(1, 6)), "num_attention_heads": heads,
        "num_key_value_heads": kv, "hidden_size": heads * head_dim, "intermediate_size": draw(st.integers(8, 96)),
        "vocab_size": draw(st.integers(16, 300)), "tie_word_embeddings": draw(st.booleans()),
    }
    if model_type in ("qwen3", "gemma2", "gemma3_text"):
        config["head_dim"] = head_dim
    if model_type == "mixtral":
        config["num_local_experts"] = draw(st.integers(2, 6))
        config["num_experts_per_tok"] = draw(st.integers(1, config["num_local_experts"]))
    if model_type == "qwen2_moe":
        config.update(num_experts=draw(st.integers(2, 6)), num_experts_per_tok=1, moe_intermediate_size=16,
                      shared_expert_intermediate_size=draw(st.integers(8, 32)),
                      decoder_sparse_step=draw(st.integers(1, 3)))
    return config


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_generated_valid_configs_count_exactly_and_draw(data):
    model_type = data.draw(st.sampled_from(["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text",
                                            "mixtral", "qwen2_moe", "olmo2", "cohere", "stablelm", "starcoder2"]))
    arch, expected = _counted(_llama_like(data.draw, model_type))
    assert sum(breakdown(arch).values()) == expected


def _counted(config: dict) -> tuple[Arch, int]:
    """The derived architecture of a generated config, counted exactly as transformers builds it, and drawn."""
    try:
        expected = reference_param_count(config)
    except Exception:  # noqa: BLE001 - transformers itself rejects this combination
        assume(False)
    arch = Arch.model_validate(derive(config).arch, strict=False)
    assert total_params(arch) == expected
    assert _dot_accepts(to_dot(spec_from_config(config)))
    return arch, expected


def _hybrid_like(draw, model_type: str) -> dict:
    """A small valid config of a hybrid model type: fixed-state layers mixed with attention (or none)."""
    pick = lambda *xs: draw(st.sampled_from(xs))  # noqa: E731
    heads, head_dim = pick(2, 4), pick(8, 16)
    base = {"model_type": model_type, "vocab_size": draw(st.integers(16, 300)), "hidden_size": heads * head_dim,
            "num_attention_heads": heads, "num_key_value_heads": pick(*[k for k in (1, 2, 4) if heads % k == 0]),
            "tie_word_embeddings": draw(st.booleans())}
    if model_type == "qwen3_next":  # Gated DeltaNet : gated attention, experts with a gated shared expert
        experts = draw(st.integers(2, 6))
        return base | {"head_dim": head_dim, "num_hidden_layers": draw(st.integers(1, 6)),
                       "full_attention_interval": pick(1, 2, 4), "linear_num_key_heads": pick(1, 2),
                       "linear_num_value_heads": pick(2, 4), "linear_key_head_dim": pick(4, 8),
                       "linear_value_head_dim": pick(4, 8), "linear_conv_kernel_dim": pick(2, 4),
                       "num_experts": experts, "num_experts_per_tok": draw(st.integers(1, experts)),
                       "moe_intermediate_size": pick(8, 12), "shared_expert_intermediate_size": pick(8, 16),
                       "decoder_sparse_step": pick(1, 2), "partial_rotary_factor": pick(0.25, 0.5, 1.0)}
    if model_type == "nemotron_h":  # Mamba-2, attention, MLP and MoE layers by pattern
        ssm_heads = pick(2, 4)
        experts = draw(st.integers(2, 6))
        return base | {"head_dim": head_dim, "hybrid_override_pattern": "".join(draw(st.lists(
                           st.sampled_from("M*-E"), min_size=1, max_size=6))),
                       "mamba_num_heads": ssm_heads, "mamba_head_dim": pick(4, 8), "n_groups": pick(1, ssm_heads),
                       "ssm_state_size": pick(4, 8), "conv_kernel": pick(2, 4), "intermediate_size": pick(8, 20),
                       "n_routed_experts": experts, "num_experts_per_tok": draw(st.integers(1, experts)),
                       "moe_intermediate_size": pick(8, 12), "moe_shared_expert_intermediate_size": pick(8, 16),
                       "use_bias": draw(st.booleans()), "use_conv_bias": draw(st.booleans())}
    if model_type == "falcon_mamba":  # attention-free Mamba-1
        return {k: base[k] for k in ("model_type", "vocab_size", "hidden_size", "tie_word_embeddings")} | {
            "num_hidden_layers": draw(st.integers(1, 4)), "state_size": pick(4, 8), "expand": pick(1, 2),
            "conv_kernel": pick(2, 4), "time_step_rank": pick("auto", 3), "use_bias": draw(st.booleans()),
            "use_conv_bias": draw(st.booleans())}
    layers = draw(st.lists(st.sampled_from(["conv", "full_attention"]), min_size=1, max_size=6))  # LFM2
    return base | {"num_hidden_layers": len(layers), "layer_types": layers, "conv_L_cache": pick(2, 3),
                   "conv_bias": draw(st.booleans()), "block_ff_dim": pick(16, 24), "intermediate_size": pick(16, 24),
                   "block_auto_adjust_ff_dim": draw(st.booleans()), "block_multiple_of": pick(4, 8)}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_generated_hybrid_configs_count_exactly_and_draw(data):
    """Configs of the hybrid model types, generated: counted as transformers builds them, cached, drawn."""
    arch, _ = _counted(_hybrid_like(data.draw, data.draw(st.sampled_from(
        ["qwen3_next", "nemotron_h", "falcon_mamba", "lfm2"]))))
    assert kv_bytes(arch, 4096) >= kv_bytes(arch, 1) > 0 or all(
        arch.blocks[k].mixer is None for k in arch.layers)  # every mixer keeps something


# --- wrong-typed values and per-layer lists (issue 18): transformers' own annotations are the oracle --------

PLAIN = {k: c for k, c in CONFIGS.items() if "text_config" not in c}  # a wrapper's keys live in its text_config


def _annotation(model_type: str, key: str):
    """The type transformers' config class of ``model_type`` annotates ``key`` with, or None."""
    import transformers

    from gallery.derive import FAMILIES

    family = FAMILIES[model_type]
    try:
        cls = transformers.CONFIG_MAPPING[family.reads_as or model_type]
    except KeyError:
        return None
    return next((getattr(k, "__annotations__", {})[key] for k in cls.__mro__
                 if key in getattr(k, "__annotations__", {})), None)


def _refused_by_transformers(key: str, value, annotation) -> bool:
    from huggingface_hub.dataclasses import type_validator

    try:
        type_validator(key, value, annotation)
    except (TypeError, ValueError):
        return True
    return False


def _read_keys(config: dict) -> list[str]:
    """The keys of ``config`` the derivation reads (not the ones it leaves alone)."""
    return sorted({r.key for reads in derive(config).provenance.values() for r in reads
                   if r.from_config and r.key in config})


@FAST
@given(st.sampled_from(sorted(PLAIN)), st.data())
def test_a_value_of_a_type_transformers_refuses_is_named_with_its_key(name, data):
    config = dict(PLAIN[name])
    key = data.draw(st.sampled_from(_read_keys(config)))
    annotation = _annotation(config["model_type"], key)
    assume(annotation is not None)
    value = data.draw(JSON | st.dictionaries(st.text(max_size=4), JSON, max_size=2))
    assume(_refused_by_transformers(key, value, annotation))
    with pytest.raises(TrialError) as err:
        spec_from_config(config | {key: value})
    assert err.value.lines[0].startswith((f"{key} is ", f"{key} has the entry ", f"{key}[")), err.value.lines


LAYER_LISTS = {k: c for k, c in PLAIN.items() if isinstance(c.get("layer_types"), list)}
FEW = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FEW
@given(st.sampled_from(sorted(LAYER_LISTS)), st.integers(1025, 5000), st.data())
def test_a_per_layer_list_longer_than_the_cap_is_refused(name, n, data):
    config = LAYER_LISTS[name]
    entries = data.draw(st.lists(st.sampled_from(sorted(set(config["layer_types"]))), min_size=n, max_size=n))
    with pytest.raises(TrialError) as err:
        spec_from_config(config | {"layer_types": entries, "num_hidden_layers": n})
    assert err.value.lines[0] in (f"num_hidden_layers is {n}: expected a positive integer up to 1,024",
                                  f"layer_types has {n:,} entries: a model here has at most 1,024 layers")


@FEW
@given(st.sampled_from(sorted(LAYER_LISTS)), st.data())
def test_a_per_layer_list_with_an_entry_of_the_wrong_type_is_refused(name, data):
    config = LAYER_LISTS[name]
    entries = list(config["layer_types"])
    bad = data.draw(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.lists(st.text(), max_size=2))
    at = data.draw(st.integers(0, len(entries) - 1))
    entries[at] = bad
    with pytest.raises(TrialError) as err:
        spec_from_config(config | {"layer_types": entries})
    assert err.value.lines[0].startswith(f"layer_types[{at}]: {json.dumps(bad, ensure_ascii=False)[:37]}")


HOSTILE = ['<b>bold</b>', '<<TABLE>>', 'say "hi"', 'back\\slash', '<IMG SRC=x onerror=alert(1)>', 'two\nlines',
           '{braces}', '"]; evil [label="x']


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_in_every_free_text_field_is_escaped(bundled, text):
    spec = bundled["gemma-2-9b"][0]
    data = spec.model_dump()
    data.update(name=text, family=text, organisation=text, licence=text,
                notes=[{"text": text, "ref": text}])
    hostile = type(spec).model_validate(data, strict=False)
    # block-kind names (they name DOT clusters and the layer strip) must be plain names: rejected
    bad = spec.model_dump()
    bad["arch"]["layers"] = [text if k == "sliding" else k for k in bad["arch"]["layers"]]
    bad["arch"]["blocks"][text] = bad["arch"]["blocks"].pop("sliding")
    with pytest.raises(ValueError):
        type(spec).model_validate(bad, strict=False)
    dot = to_dot(hostile)
    proc = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    svg = proc.stdout.decode()
    assert "<IMG" not in svg and "<b>" not in svg and "evil [label" not in svg.split("<title>")[0]
    with pytest.raises((TrialError, DerivationError)):
        spec_from_config({"model_type": text})
