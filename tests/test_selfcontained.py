"""A public clone passes its own tests: nothing in the repository points at a file outside it.

Scans every file git would commit (tracked, or new and not ignored) except vendored configs, which are
data: a sibling ``shared`` folder, an absolute home or work path, or a ``Path(__file__)`` climbing above
the repository root is reported as ``path:line: text``. ``.ci/run`` proves the same by running the
tests in a fresh clone with nothing beside it. Also: the browser the tests launch is configurable.
"""

from __future__ import annotations

import re
import stat
import subprocess

from bench.browser import chromium

from .conftest import ROOT

DATA = ("arch_specs/configs/", "tests/fixtures/configs/")  # real config.json files, checked as data elsewhere
OUTSIDE = re.compile(
    r"\.\./shared\b"  # the development machines' sibling folder
    r"|/\s*[\"']shared[\"']|[\"']shared[\"']\s*/"  # ... joined as a path segment
    r"|(?<![\w.~-])/(?:work|home|root|Users)/"  # an absolute path on somebody's machine
)
CLIMB = re.compile(r"__file__\)(?:\.resolve\(\))?(?:\.parents\[(\d+)\]|((?:\.parent(?!s))+))")


def problems(rel: str, text: str) -> list[str]:
    """Each line of file ``rel`` (relative to the root) that points outside the repository."""
    folders = rel.count("/")  # Path(__file__).parents[folders] is the repository root
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        climbs = [int(n) if n else len(chain) // len(".parent") - 1 for n, chain in CLIMB.findall(line)]
        if OUTSIDE.search(line) or any(up > folders for up in climbs):
            out.append(f"{rel}:{number}: {line.strip()}")
    return out


def _files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    return [rel for rel in listed if rel and not rel.startswith(DATA) and (ROOT / rel).is_file()]


def test_nothing_points_outside_the_repository():
    found = []
    for rel in _files():
        try:
            text = (ROOT / rel).read_text(encoding="utf-8")
        except UnicodeDecodeError:  # a binary file names no path
            continue
        found += problems(rel, text)
    assert not found, "\n".join(found)


def test_the_scan_finds_what_it_should():
    sibling = "../" "shared/hub-configs/x.json"  # split so that this file does not match itself
    assert problems("tests/a.py", f'src = "{sibling}"')
    assert problems("tests/a.py", 'SHARED = ROOT.parent / "sha' 'red" / "hub-configs"')
    assert problems("bench/a.py", 'CHROMIUM = "/' 'home/me/chromium"')
    assert problems("README.md", "see /" "work/wt/shared/notes")
    here = "Path(__" "file__)"
    assert problems("tests/reference.py", f"ROOT = {here}.resolve().parents[2]")  # one above the root
    assert problems("tests/e2e/conftest.py", f"ROOT = {here}.parents[3]")
    assert problems("gallery/cli.py", f"ROOT = {here}.resolve().parent.parent.parent")
    # ... and not what stays inside: the root itself, a relative path within, a word, an output path
    assert not problems("tests/e2e/conftest.py", f"ROOT = {here}.resolve().parents[2]")
    assert not problems("views/common.py", f"ROOT = {here}.resolve().parent.parent")
    assert not problems("arch_specs/a.yaml", "# yaml-language-server: $schema=../schema/spec.schema.json")
    assert not problems("gallery/a.py", 'if ix.shared: name = "shared"  # a shared expert')
    assert not problems("CONTRIBUTING.md", "python -m gallery new ~/Downloads/config.json -o /tmp/x.png")


def _executable(path):
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_the_browser_is_gallery_chromium_or_the_first_chromium_on_path(tmp_path, monkeypatch):
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.delenv("GALLERY_CHROMIUM", raising=False)
    assert chromium() is None  # nothing on PATH: the e2e tests skip, or fail with CI=true
    browser = _executable(tmp_path / "bin" / "chromium-browser")
    assert chromium() == browser
    first = _executable(tmp_path / "bin" / "chromium")
    assert chromium() == first
    mine = _executable(tmp_path / "my-browser")
    monkeypatch.setenv("GALLERY_CHROMIUM", mine)
    assert chromium() == mine
    monkeypatch.setenv("GALLERY_CHROMIUM", str(tmp_path / "missing"))
    assert chromium() is None  # named but absent: not silently another browser


def test_every_vendored_config_says_where_it_comes_from():
    """Each config.json in the repository has one line in its folder's PROVENANCE.tsv (Hub repo, the public copy it
    was taken from, or why none was recorded), and no line names a file that is not there."""
    for folder in ("arch_specs/configs", "tests/fixtures"):
        lines = (ROOT / folder / "PROVENANCE.tsv").read_text(encoding="utf-8").splitlines()
        header, rows = lines[0].split("\t"), [line.split("\t") for line in lines[1:] if line]
        assert header[:2] == ["file", "hf_repo"] and all(len(row) == len(header) for row in rows), folder
        named = [row[0] for row in rows]
        files = sorted(str(p.relative_to(ROOT / folder)) for p in (ROOT / folder).rglob("*.json"))
        assert sorted(named) == files, f"{folder}: add or remove PROVENANCE.tsv lines"
