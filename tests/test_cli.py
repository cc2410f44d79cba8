"""The command line: every command documented with an example; export writes real files."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from gallery.cli import COMMANDS

from .conftest import ROOT


def _run(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gallery", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help_with_an_example_and_is_in_the_readme(command):
    proc = _run(command, "--help")
    assert proc.returncode == 0 and "example: python -m gallery " + command in proc.stdout.replace("\n", " ")
    assert f"`python -m gallery {command}" in (ROOT / "README.md").read_text(), f"README lacks {command}"


@pytest.mark.parametrize(("fmt", "magic"), [("png", b"\x89PNG"), ("pdf", b"%PDF-"), ("svg", b"<?xml")])
def test_export_writes_the_format_asked_for(tmp_path, fmt, magic):
    out = tmp_path / f"diagram.{fmt}"
    proc = _run("export", "gemma-2-9b", "--format", fmt, "--theme", "dark", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes()
    assert data.startswith(magic)
    if fmt == "svg":
        assert ET.fromstring(data).tag.endswith("svg")


def test_export_of_an_unknown_slug_is_one_line_exit_2(tmp_path):
    proc = _run("export", "no-such-model", "-o", str(tmp_path / "x.svg"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no-such-model" in proc.stderr
    assert not (tmp_path / "x.svg").exists()


def test_export_takes_the_file_type_from_the_output_name(tmp_path):
    out = tmp_path / "llama.png"
    proc = _run("export", "llama-2-7b-hf", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes().startswith(b"\x89PNG")


def test_poster_writes_one_sheet_and_says_how_it_prints(tmp_path, bundled):
    out = tmp_path / "poster.pdf"
    proc = _run("export", "--poster", "--family", "Mistral AI", "--sort", "family", "--theme", "dark", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes().startswith(b"%PDF-")
    n = sum(spec.organisation == "Mistral AI" for spec, _ in bundled.values())
    assert f"{n} models in " in proc.stderr and "fitted to A0 it prints at" in proc.stderr


@pytest.mark.parametrize(("args", "said"), [
    (("--poster", "--family", "nobody"), "unknown family 'nobody'"),
    (("--poster", "--family", "Google", "gpt2"), "the selection is empty"),
    (("--poster", "gpt2", "-o", "poster.jpg"), "the file type must be one of svg, png, pdf"),
    (("--poster", "gpt2", "--format", "png", "-o", "poster.pdf"), "match --format png"),
    (("gpt2", "--family", "Google"), "add --poster"),
])
def test_poster_bad_input_is_one_line_exit_2(tmp_path, args, said):
    out = ["-o", str(tmp_path / "poster.svg")] if "-o" not in args else []
    proc = _run("export", *(str(tmp_path / a) if a.startswith("poster.") else a for a in args), *out)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and said in proc.stderr, proc.stderr
    assert not list(tmp_path.iterdir())


def test_trace_json_is_one_object_per_step(bundled):
    import json

    spec, config = bundled["qwen3-0.6b"]
    proc = _run("trace", "qwen3-0.6b", "--layer", "3", "--seq", "5", "--json")
    assert proc.returncode == 0, proc.stderr
    steps = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {"op", "in_shape", "out_shape", "params", "flops"} <= set(steps[0])
    q = next(s for s in steps if s["op"] == "q_proj")
    heads, hd, d = config["num_attention_heads"], config["head_dim"], config["hidden_size"]
    assert q["in_shape"] == [5, d] and q["out_shape"] == [5, heads * hd] and q["params"] == d * heads * hd
    assert q["flops"] == 2 * 5 * d * heads * hd
    assert _run("trace", "qwen3-0.6b", "--layer", "99").returncode == 2


def test_a_reader_that_stops_early_gets_no_traceback():
    """``python -m gallery trace … | head -2``: the pipe closes mid-output; exit quietly, no traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "gallery", "trace", "deepseek-v4-flash", "--layer", "2", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdout.readline()
    proc.stdout.close()  # the reader stops after one line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and "Traceback" not in err, err


def test_compare_prints_the_changes_grouped_by_stage(bundled):
    (a, x), (b, y) = bundled["deepseek-v3"], bundled["deepseek-v3.2"]
    proc = _run("compare", "deepseek-v3", "deepseek-v3.2", "gpt2")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:3] == [f"{a.name} → {b.name}: 1 change(s)", "  token mixer",
                         f"    sparse indexer {y['index_n_heads']} × {y['index_head_dim']}, top-{y['index_topk']:,}"]
    stages = [line.strip() for line in lines[4:] if line.startswith("  ") and not line.startswith("    ")]
    assert lines[3].startswith(f"{a.name} → {bundled['gpt2'][0].name}: ") and len(stages) == len(set(stages)) > 3


def test_compare_json_is_one_object_per_change():
    import json

    proc = _run("compare", "llama-2-7b-hf", "llama-3.1-8b-instruct", "--json")
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0 and rows and all(r["from"] == "llama-2-7b-hf" for r in rows)
    assert {"stage", "change", "before", "after", "fields", "follows"} <= set(rows[0])


@pytest.mark.parametrize("args", [("gpt2",), ("gpt2", "gpt2", "gpt2", "gpt2", "gpt2"), ("gpt2", "no-such-model")])
def test_compare_bad_input_is_one_line_exit_2(args):
    proc = _run("compare", *args)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")


@pytest.mark.parametrize(("fmt", "magic"), [("pdf", b"%PDF-"), ("svg", b"<?xml")])
def test_compare_writes_the_comparison_figure(tmp_path, bundled, fmt, magic):
    out = tmp_path / f"figure.{fmt}"
    proc = _run("compare", "llama-3.1-8b-instruct", "qwen3-8b", "gemma-3-27b-it", "-o", str(out), "--theme", "dark")
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    assert out.read_bytes().startswith(magic)


@pytest.mark.parametrize(("args", "says"), [(("figure.jpg",), "the file type must be one of svg, png, pdf"),
                                            (("figure.svg", "--json"), "not both")])
def test_compare_figure_bad_output_is_one_line_exit_2(tmp_path, args, says):
    proc = _run("compare", "gpt2", "gpt-j-6b", "-o", str(tmp_path / args[0]), *args[1:])
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and says in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_tree_writes_the_family_tree(tmp_path):
    out = tmp_path / "tree.svg"
    proc = _run("tree", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_bytes()
    assert ET.fromstring(text).tag.endswith("svg")
    proc = _run("tree", "--specs", str(tmp_path), "-o", str(out))  # a folder without specs: one line, exit 2
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1


def test_new_with_a_repo_whose_name_is_no_slug_says_so_in_one_line(tmp_path):
    config = tmp_path / "config.json"
    config.write_text('{"model_type": "llama"}')
    proc = _run("new", str(config), "--hf-repo", "org/b")  # "b": one character, not a slug
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "--hf-repo org/b: its name gives no slug" in proc.stderr and "-o SLUG.yaml" in proc.stderr


def test_the_command_line_starts_without_the_page_libraries():
    """pandas (the Trace page's pictures) costs most of a second to import: the CLI leaves it out."""
    code = "import sys, gallery.cli, gallery.counts, gallery.lint; print(sorted({'pandas', 'streamlit'} & set(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr
