"""Curated facts of every bundled spec: notes that point into the reference implementation.

Every note names where the installed ``transformers`` shows it, as
``models/<dir>/<file>.py: <Name>`` (a class or function of that file) or
``models/<dir>/<file>.py: <Class>.<method>`` (a method defined in that class's body).
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from pathlib import Path

import pytest

from gallery.loader import load_spec

from .conftest import SPEC_FILES

REF = re.compile(r"^(?P<file>models/[A-Za-z0-9_]+/[A-Za-z0-9_]+\.py): (?P<name>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)$")


@lru_cache(maxsize=1)
def transformers_root() -> Path:
    import transformers

    return Path(transformers.__file__).parent


@lru_cache(maxsize=None)
def source(file: str) -> str:
    return (transformers_root() / file).read_text(encoding="utf-8")


def class_body(text: str, name: str) -> str | None:
    """The source of top-level ``class <name>``: its line and every indented (or blank) line after."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if re.match(rf"class {re.escape(name)}\b", ln)), None)
    if start is None:
        return None
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0].isspace()):
        end += 1
    return "\n".join(lines[start:end])


def ref_problem(ref: str) -> str | None:
    """Why ``ref`` does not point at a class, function or method of the installed transformers."""
    m = REF.match(ref)
    if not m:
        return f"{ref!r} is not of the form 'models/<dir>/<file>.py: <Name>' (or '<Class>.<method>')"
    file, name = m["file"], m["name"]
    if not (transformers_root() / file).is_file():
        return f"{file} does not exist in transformers {transformers_root()}"
    text = source(file)
    if "." in name:
        cls, method = name.split(".")
        body = class_body(text, cls)
        if body is None:
            return f"{file} has no 'class {cls}'"
        if not re.search(rf"^\s+def {re.escape(method)}\b", body, re.M):
            return f"class {cls} in {file} defines no method '{method}'"
        return None
    if not re.search(rf"^(?:class|def) {re.escape(name)}\b", text, re.M):
        return f"{file} has no top-level 'class {name}' or 'def {name}'"
    return None


def _specs():
    return [pytest.param(path, id=path.stem) for path in SPEC_FILES]


@pytest.fixture
def spec(request):
    loaded = load_spec(request.param)
    assert loaded.spec is not None, [str(p) for p in loaded.problems]
    return loaded.spec


@pytest.mark.parametrize("spec", _specs(), indirect=True)
def test_curated_facts_are_set(spec):
    assert spec.release_date is not None, f"{spec.slug}: set release_date"
    assert dt.date(2017, 6, 1) <= spec.release_date <= dt.date.today(), spec.release_date
    assert spec.licence, f"{spec.slug}: set licence"


@pytest.mark.parametrize("spec", _specs(), indirect=True)
def test_two_to_five_notes(spec):
    assert 2 <= len(spec.notes) <= 5, f"{spec.slug} has {len(spec.notes)} notes; write 2 to 5"
    texts = [n.text for n in spec.notes]
    assert len(set(texts)) == len(texts), f"{spec.slug}: duplicate note"


@pytest.mark.parametrize("spec", _specs(), indirect=True)
def test_every_note_ref_exists_in_transformers(spec):
    problems = [f"note {i + 1}: {p}" for i, n in enumerate(spec.notes) if (p := ref_problem(n.ref))]
    assert not problems, f"{spec.slug}:\n" + "\n".join(problems)


def test_ref_checker_rejects_what_does_not_exist():
    assert ref_problem("models/llama/modeling_llama.py: LlamaAttention") is None
    assert ref_problem("models/llama/modeling_llama.py: repeat_kv") is None
    assert ref_problem("models/llama/modeling_llama.py: LlamaModel.forward") is None
    assert "form" in ref_problem("modeling_llama.py: LlamaAttention")
    assert "form" in ref_problem("models/llama/modeling_llama.py:LlamaAttention")
    assert "does not exist" in ref_problem("models/llama/modeling_lama.py: LlamaAttention")
    assert "no top-level" in ref_problem("models/llama/modeling_llama.py: LlamaAtention")
    assert "no method" in ref_problem("models/llama/modeling_llama.py: LlamaMLP.prepare_inputs_for_generation")
    assert "no 'class" in ref_problem("models/llama/modeling_llama.py: repeat_kv.forward")
