"""Untrusted configs: size limit, JSON only, clear messages; edits counted exactly by transformers."""

from __future__ import annotations

import json

import pytest

from gallery.counts import total_params
from gallery.diagram import to_dot
from gallery.trial import MAX_BYTES, TrialError, edit_config, parse_config, spec_from_config

from .conftest import CONFIGS
from .reference import reference_param_count


@pytest.mark.parametrize(("data", "message"), [
    (b"x" * (MAX_BYTES + 1), "at most"),
    ("{not json", "not valid JSON at line 1"),
    ("[1, 2]", "JSON object"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_bad_input_is_a_message(data, message):
    with pytest.raises(TrialError, match=message):
        parse_config(data)


@pytest.mark.parametrize(("config", "message"), [
    ({"model_type": "llama9"}, "not supported yet"),
    ({"hidden_size": 8}, "no 'model_type'"),
    ({"model_type": "llama", "num_attention_heads": 32, "num_key_value_heads": 6}, "multiple of n_kv_heads"),
    ({"model_type": "llama", "num_hidden_layers": 0}, "^num_hidden_layers is 0: expected a positive integer up to 1,024$"),
    ({"model_type": "llama", "hidden_size": 0}, "^hidden_size is 0: expected a positive integer$"),
    ({"model_type": "gpt2", "n_embd": 512, "n_head": 12}, "must be divisible by n_head"),
    ({"model_type": "llama", "hidden_size": [4096]}, r"^hidden_size is \[4096\], a list: expected a positive integer$"),
])
def test_impossible_configs_are_messages_not_tracebacks(config, message):
    with pytest.raises(TrialError, match=message):
        spec_from_config(config)


def test_edits_land_in_the_right_keys_and_count_exactly(bundled):
    _, gemma = bundled["gemma-2-9b"]
    edited = edit_config(gemma, n_layers=10, n_kv_heads=4, d_ff=8192)
    assert (edited["num_hidden_layers"], edited["num_key_value_heads"], edited["intermediate_size"]) == (10, 4, 8192)
    spec = spec_from_config(edited)
    assert total_params(spec.arch) == reference_param_count(edited)  # transformers builds the edit
    assert len(spec.arch.layers) == 10 and set(spec.arch.layers) == {"sliding", "full"}
    _, gpt2 = bundled["gpt2"]
    edited = edit_config(gpt2, n_layers=6, d_model=384)
    assert (edited["n_layer"], edited["n_embd"]) == (6, 384)  # GPT-2's own key names
    assert total_params(spec_from_config(edited).arch) == reference_param_count(edited)


def test_hostile_strings_never_reach_graphviz_raw(bundled):
    _, config = bundled["qwen3-0.6b"]
    with pytest.raises(TrialError, match="hf_repo"):
        spec_from_config(config, hf_repo='evil/x"];a[label="pwned')
    dot = to_dot(spec_from_config(config).model_copy(update={"name": '"]; injected [label="x'}))
    assert '\\"]; injected [label=\\"x' in dot and 'injected [label="x"' not in dot


def test_pasted_real_config_round_trips(bundled):
    _, config = bundled["mixtral-8x7b-v0.1"]
    spec = spec_from_config(parse_config(json.dumps(config)))
    assert total_params(spec.arch) == reference_param_count(config)


def test_a_problem_in_a_new_mixer_kind_names_the_field_not_the_kind_tag():
    import json

    config = json.loads((CONFIGS / "qwen3-next-80b-a3b-instruct.json").read_text())
    config["linear_num_value_heads"] = 17  # not a multiple of the 16 key heads
    with pytest.raises(TrialError) as err:
        spec_from_config(config)
    assert any(line.startswith("arch.blocks.linear.mixer.n_k_heads:") for line in err.value.lines), err.value.lines
    assert "gated_deltanet" not in str(err.value)


def test_an_edit_the_model_type_does_not_read_is_said():
    import json

    from gallery.trial import ignored_edits

    nemotron = json.loads((CONFIGS / "nvidia-nemotron-3-nano-30b-a3b.json").read_text())
    layers = len(nemotron["hybrid_override_pattern"])  # NemotronHConfig: one layer per pattern character
    spec = spec_from_config(edit_config(nemotron, n_layers=10))
    assert spec.arch.n_layers == layers
    [line] = ignored_edits(spec, n_layers=10)
    assert line.startswith("n_layers 10 has no effect") and f"keeps {layers:,}" in line
    llama = json.loads((CONFIGS / "llama-3.1-8b-instruct.json").read_text())
    assert ignored_edits(spec_from_config(edit_config(llama, n_layers=10)), n_layers=10) == []
