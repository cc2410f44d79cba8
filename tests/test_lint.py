"""Lint: every code, on a broken copy of a real spec, at the exact line and column.

The base file is ``arch_specs/smollm2-135m-instruct.yaml``; each case edits one line of it (line
numbers below are that file's, 1-based; columns are 1-based and point at the offending key or value).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

from gallery.codes import CODES
from gallery.lint import PARALLEL_FROM, lint_paths

from .conftest import BASE, ROOT, SPEC_DIR


def _edit(folder, old: str, new: str, name: str = BASE):
    path = folder / f"{name}.yaml"
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))
    return path


# (code, old text, new text, line, col, field)
CASES = [
    ("Y001", "  d_model: 576\n", "  d_model: [576\n", 20, 11, ""),  # the parser stops at the next key
    ("Y002", "  d_model: 576\n", "  d_model: 576\n  d_model: 577\n", 20, 3, "arch.d_model"),
    ("Y003", "    tied: true\n", "    tied: yes\n", 27, 11, "arch.embedding.tied"),
    ("Y004", "    eps: 1.0e-05\n", "    eps: 1e-5\n", 25, 10, "arch.norm.eps"),
    ("S001", "        n_heads: 9\n", "        n_head: 9\n", 34, 9, "arch.blocks.full.mixer.n_head"),
    # missing: the mapping that lacks the key (its first key, kind, at 29:9)
    ("S002", "        head_dim: 64\n", "", 33, 9, "arch.blocks.full.mixer.head_dim"),
    ("S003", "        d_ff: 1536\n", '        d_ff: "1536"\n', 41, 15, "arch.blocks.full.ffn.d_ff"),
    ("S004", "        kind: mlp\n", "        kind: dense_mlp\n", 40, 15, "arch.blocks.full.ffn.kind"),
    ("C001", "        n_kv_heads: 3\n", "        n_kv_heads: 4\n", 35, 21, "arch.blocks.full.mixer.n_kv_heads"),
    ("C002", "        kind: gqa\n", "        kind: mha\n", 33, 15, "arch.blocks.full.mixer.kind"),
    ("C003", "  n_layers: 30\n", "  n_layers: 31\n", 28, 11, "arch.layers"),
    ("C004", "    full:\n      mixer:", "    dense:\n      mixer:", 28, 11, "arch.layers"),
    ("C006", "        gated: true\n", "        gated: true\n      shared_norm: true\n", 44, 20, "arch.blocks.full.shared_norm"),
    ("C007", "    stated: 135M\n", "    stated: 135M\n    adds: [vision]\n", 9, 3, "published.vision_params"),
    # every layer reuses K/V (kv_shared), none keeps its own to share
    ("C008", "        n_kv_heads: 3\n", "        n_kv_heads: 3\n        kv_shared: true\n", 28, 11, "arch.layers"),
    ("F001", "slug: smollm2-135m-instruct\n", "slug: smollm2-135m\n", 2, 7, "slug"),
    ("F003", "  config: configs/smollm2-135m-instruct.json\n", "  config: configs/missing.json\n", 15, 11, "source.config"),
    ("F004", "        d_ff: 1536\n", "        d_ff: 1537\n", 41, 15, "arch.blocks.full.ffn.d_ff"),
    ("F006", "# yaml-language-server: $schema=../schema/spec.schema.json\n", "", 1, 1, ""),
    ("Y005", "  d_model: 576\n", "  d_model: &width 576\n", 19, 12, "arch.d_model"),
    # the document is level 1, arch level 2: the 99th '[' (column 12 + 98) opens level 101
    ("Y006", "  d_model: 576\n", "  d_model: " + "[" * 101 + "]" * 101 + "\n", 19, 110, "arch.d_model.0.0.0.0..."),
    ("Y007", "  d_model: 576\n", "  d_model: 9007199254740992\n", 19, 12, "arch.d_model"),  # 2**53
    ("F007", "  config: configs/smollm2-135m-instruct.json\n", "  config: ../../etc/passwd\n", 15, 11, "source.config"),
]


@pytest.mark.parametrize(("code", "old", "new", "line", "col", "field"), CASES, ids=[c[0] for c in CASES])
def test_each_code_at_its_line_and_column(folder, code, old, new, line, col, field):
    path = _edit(folder, old, new)
    problems = [p for p in lint_paths([folder]) if p.code == code]
    assert problems, [str(p) for p in lint_paths([folder])]
    p = problems[0]
    assert (p.path, p.line, p.col) == (str(path), line, col), str(p)
    assert p.field == field, str(p)


def test_c005_more_active_experts_than_experts(tmp_path):
    name = "mixtral-8x7b-v0.1"
    shutil.copy(SPEC_DIR / f"{name}.yaml", tmp_path / f"{name}.yaml")
    shutil.copytree(SPEC_DIR / "configs", tmp_path / "configs")
    path = _edit(tmp_path, "        top_k: 2\n", "        top_k: 9\n", name)
    line = path.read_text().splitlines().index("        top_k: 9") + 1  # wherever the draft put it
    [p] = [p for p in lint_paths([path]) if p.code == "C005"]
    assert (p.line, p.col, p.field) == (line, 16, "arch.blocks.moe.ffn.top_k")


def test_f002_duplicate_slug_names_both_files(folder):
    twin = folder / "twin.yaml"
    twin.write_text((folder / f"{BASE}.yaml").read_text())
    problems = [p for p in lint_paths([folder]) if p.code == "F002"]
    assert {p.path for p in problems} >= {str(twin)} and all(p.line == 2 for p in problems)


def test_f005_unreadable_model_type(folder):
    cfg = folder / "configs" / f"{BASE}.json"
    cfg.write_text(cfg.read_text().replace('"model_type": "llama"', '"model_type": "llama9"'))
    [p] = [p for p in lint_paths([folder]) if p.code == "F005"]
    assert "llama9" in p.message and "qwen3" in p.message


def test_every_code_is_tested_and_documented():
    tested = {c[0] for c in CASES} | {"C005", "F002", "F005"}
    assert tested == set(CODES)
    readme = (ROOT / "README.md").read_text()
    for code in CODES:
        assert f"| {code} |" in readme, f"{code} is not in the README's lint table"


def test_bundled_specs_lint_clean_and_fast():
    start = time.perf_counter()
    problems = lint_paths([SPEC_DIR])
    elapsed = time.perf_counter() - start
    assert problems == [], [str(p) for p in problems]
    print(f"linted {len(list(SPEC_DIR.glob('*.yaml')))} specs in {elapsed * 1000:.0f} ms")


def test_lint_cli_exit_codes_and_fix(folder):
    path = folder / f"{BASE}.yaml"
    ok = subprocess.run([sys.executable, "-m", "gallery", "lint", str(folder)], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stdout
    _edit(folder, "    eps: 1.0e-05\n", "    eps: 1.0e-5  # keep this comment\n")
    _edit(folder, "  layers: [full, full, full, full, full, full, full, full, full, full, full, full, full, full, full,\n"
                  "    full, full, full, full, full, full, full, full, full, full, full, full, full, full, full]\n",
          "  layers: full*30\n")
    fixed = subprocess.run([sys.executable, "-m", "gallery", "lint", "--fix", str(folder)], capture_output=True,
                           text=True, cwd=ROOT)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    text = path.read_text()
    assert "keep this comment" in text and "full*30" not in text and text.count("full") >= 31
    bad = _edit(folder, "        n_kv_heads: 3\n", "        n_kv_heads: 4\n")
    proc = subprocess.run([sys.executable, "-m", "gallery", "lint", str(bad), "--github"], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 1 and "[C001]" in proc.stdout and "::error file=" in proc.stdout


def test_many_files_split_between_processes_find_what_one_process_finds(folder):
    """Above PARALLEL_FROM files, worker processes lint the folder; the problems are those of each file on its own
    (a Y004 written into the 150th file, once) plus F002 on every file after the first that reuses a slug, in file
    order (the twins are named so that they sort after the original and fall to different workers)."""
    base = (folder / f"{BASE}.yaml").read_text()
    for i in range(PARALLEL_FROM + 10):
        (folder / f"zz-twin-{i:03d}.yaml").write_text(base if i != 150 else base.replace("eps: 1.0e-05", "eps: 1e-5"))
    problems = lint_paths([folder])
    twins = sorted(str(p) for p in folder.glob("zz-twin-*.yaml"))
    assert [p.path for p in problems if p.code == "F002"] == twins
    assert all(p.message.endswith(f"already used by {folder / f'{BASE}.yaml'}") for p in problems if p.code == "F002")
    trapped = [(p.path, p.line, p.col) for p in problems if p.code == "Y004"]
    assert trapped == [(str(folder / "zz-twin-150.yaml"), 25, 10)]
    assert {p.code for p in problems} == {"F002", "F001", "Y004"}  # F001: each twin's slug differs from its name
