"""The JSON Schema is generated from the spec model and committed; editors read it via the modeline."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gallery.spec import Spec, expand_layers, json_schema

from .conftest import ROOT, SPEC_FILES


def test_committed_schema_matches_the_model():
    committed = json.loads((ROOT / "schema" / "spec.schema.json").read_text())
    assert committed == json_schema(), "schema drift: run python -m gallery schema"


def test_schema_check_command_agrees():
    proc = subprocess.run([sys.executable, "-m", "gallery", "schema", "--check"], cwd=ROOT, capture_output=True)
    assert proc.returncode == 0, proc.stderr


def test_schema_rejects_unknown_keys_and_discriminates_kinds():
    schema = json_schema()
    assert schema["additionalProperties"] is False
    mixer = schema["$defs"]["Block"]["properties"]["mixer"]
    assert "discriminator" in json.dumps(mixer)


@pytest.mark.parametrize("path", SPEC_FILES, ids=[p.stem for p in SPEC_FILES])
def test_every_spec_starts_with_the_modeline(path):
    assert path.read_text().splitlines()[0] == "# yaml-language-server: $schema=../schema/spec.schema.json"


def test_compact_layer_patterns_expand():
    assert expand_layers("dense*2, moe*3") == ["dense", "dense", "moe", "moe", "moe"]
    assert expand_layers("(sliding*2, full)*2") == ["sliding", "sliding", "full"] * 2
    assert expand_layers(["full*2", "sliding"]) == ["full", "full", "sliding"]
    with pytest.raises(ValueError, match="layer pattern"):
        expand_layers("full*")


def test_spec_model_is_strict():
    assert Spec.model_config["extra"] == "forbid"
