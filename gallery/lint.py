"""Lint spec files: the schema (via the loader), YAML 1.1 traps, and file and folder rules.

Each finding is a :class:`~gallery.loader.Problem` printed as ``path:line:col: field: message
[CODE]``; the codes and what to do about each are in ``gallery.codes``. ``lint_paths`` is what
``python -m gallery lint`` runs; the app uses ``lint_loaded`` on specs it has already loaded.
"""

from __future__ import annotations

import functools
import json
import multiprocessing as mp
import os
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterable, NamedTuple

from . import yamlio
from .derive import DerivationError, derive_arch
from .loader import (FileProblem, Loaded, Problem, config_problem, gc_paused, load_spec, spec_files,
                     vendored_config)
from .spec import Arch

_LEADING_ZERO = re.compile(r"^[-+]?0[0-9]+$")
_BARE_EXPONENT = re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$")


PARALLEL_FROM = 200  # files: below this, starting worker processes costs more than it saves


def lint_paths(paths: Iterable[Path | str]) -> list[Problem]:
    """All problems of the given spec files and folders (folders: their ``*.yaml``).

    Many files are split between worker processes, one per CPU (each file is checked on its own; only the
    slugs meet again, for F002): 1,000 specs in about half the time on two cores.
    """
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(spec_files(p) if p.is_dir() else [p])
    workers = min(os.cpu_count() or 1, len(files) // (PARALLEL_FROM // 2))
    numbered = list(enumerate(files))
    if len(files) < PARALLEL_FROM or workers < 2 or "fork" not in mp.get_all_start_methods():
        found = [_lint_files(numbered)]
    else:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
            size = -(-len(files) // workers)  # neighbours together: copies that share a config derive it once
            found = list(pool.map(_lint_files, [numbered[i:i + size] for i in range(0, len(files), size)]))
    problems = [p for own, _ in found for p in own]
    uses = [use for _, use in sorted((u for _, slugs in found for u in slugs), key=lambda u: u[0])]  # file order
    return sorted(set(problems + _duplicates(uses)))


class _SlugUse(NamedTuple):
    slug: str
    path: Path
    line: int
    col: int


def _lint_files(files: list[tuple[int, Path]]) -> tuple[list[Problem], list[tuple[int, _SlugUse]]]:
    """The problems of each (numbered) file on its own, and where each file names its slug (for F002)."""
    problems: list[Problem] = []
    uses = []
    with gc_paused():
        for i, path in files:
            item = load_spec(path)
            problems += _file_problems(item)
            if item.spec is not None:
                uses.append((i, _slug_use(item)))
    return problems, uses


def lint_loaded(loaded: list[Loaded]) -> list[Problem]:
    """Problems of already loaded specs, including cross-file ones (duplicate slugs)."""
    problems = [p for item in loaded for p in _file_problems(item)]
    return sorted(set(problems + duplicate_slugs(loaded)))


def _file_problems(item: Loaded) -> list[Problem]:
    return [*item.problems, *yaml11_traps(item), *file_rules(item)]


def yaml11_traps(item: Loaded) -> list[Problem]:
    """Plain scalars that YAML 1.1 tools read differently from YAML 1.2 (Y003, Y004)."""
    out = []
    for path, node in yamlio.plain_scalars(item.node):
        value = node.value
        if value in yamlio.YAML11_BOOLEANS:
            code, message = "Y003", (f"'{value}' is a boolean in YAML 1.1 but a string in YAML 1.2: "
                                     "write true/false, or quote it if you mean the word")
        elif _LEADING_ZERO.match(value) or _BARE_EXPONENT.match(value):
            code, message = "Y004", (f"'{value}' reads differently in YAML 1.1 (octal, or a string): "
                                     "drop the leading zero, or write the exponent with a dot (1.0e-5)")
        else:
            continue  # nearly every scalar: its field and position are only worked out for a problem
        out.append(Problem(str(item.path), node.start_mark.line + 1, node.start_mark.column + 1,
                           ".".join(map(str, path)), message, code))
    return out


def file_rules(item: Loaded) -> list[Problem]:
    """Modeline, slug = file name, vendored config confined, present and in agreement (F001, F003–F007)."""
    path = str(item.path)
    out: list[Problem] = []
    if item.node is not None and not _first_line(item.path).startswith(yamlio.MODELINE.split("=")[0]):
        out.append(Problem(path, 1, 1, "", f"start the file with '{yamlio.MODELINE}'", "F006"))
    spec = item.spec
    if spec is None:
        return out
    if spec.slug != item.path.stem:
        line, col = yamlio.locate(item.node, ("slug",))
        out.append(Problem(path, line, col, "slug",
                           f"slug '{spec.slug}' differs from the file name '{item.path.name}': "
                           f"rename one of them", "F001"))
    try:
        config = vendored_config(item)
    except FileProblem as exc:
        return out + [config_problem(item, exc)]
    try:
        derived = _derive_once(json.dumps(config))
    except DerivationError as exc:
        line, col = yamlio.locate(item.node, ("source", "config"))
        return out + [Problem(path, line, col, "source.config", f"{Path(spec.source.config).name}: {exc}", "F005")]
    return out + arch_disagreements(item, derived)


@functools.lru_cache(maxsize=64)  # configs are at most 512 KB: a bounded cache
def _derive_once(config: str) -> Arch:
    """The architecture derived from a config's JSON text: specs that share a config (copies, or neighbours in
    the folder's order) derive it once; an Arch is frozen, so they can share it."""
    return derive_arch(json.loads(config))


def arch_disagreements(item: Loaded, derived: Arch) -> list[Problem]:
    """F004 for every arch field whose value differs from the one derived from the config."""
    if item.spec.arch == derived:  # the usual case, without dumping both
        return []
    ours_dump, theirs_dump = item.spec.arch.model_dump(mode="json"), derived.model_dump(mode="json")
    if ours_dump == theirs_dump:  # the usual case: nothing to locate
        return []
    ours, theirs = _flatten(ours_dump, ("arch",)), _flatten(theirs_dump, ("arch",))
    out = []
    for loc in sorted(set(ours) | set(theirs), key=str):
        if ours.get(loc) != theirs.get(loc):
            line, col = yamlio.locate(item.node, loc)
            out.append(Problem(str(item.path), line, col, ".".join(map(str, loc)),
                               f"spec says {ours.get(loc)!r} but the vendored config gives {theirs.get(loc)!r}",
                               "F004"))
    return _collapse_layers(out)


def _collapse_layers(problems: list[Problem]) -> list[Problem]:
    """One F004 for a layer pattern that differs, not one per layer."""
    out, seen = [], False
    for p in problems:
        if p.field.startswith("arch.layers."):
            if not seen:
                out.append(Problem(p.path, p.line, p.col, "arch.layers",
                                   "the layer pattern differs from the one the vendored config gives", "F004"))
            seen = True
        else:
            out.append(p)
    return out


def duplicate_slugs(loaded: list[Loaded]) -> list[Problem]:
    """F002 on every spec after the first that uses a slug."""
    return _duplicates([_slug_use(item) for item in loaded if item.spec is not None])


def _slug_use(item: Loaded) -> _SlugUse:
    return _SlugUse(item.spec.slug, item.path, *yamlio.locate(item.node, ("slug",)))


def _duplicates(uses: list[_SlugUse]) -> list[Problem]:
    first: dict[str, Path] = {}
    out = []
    for use in uses:
        if use.slug in first:
            out.append(Problem(str(use.path), use.line, use.col, "slug",
                               f"slug '{use.slug}' is already used by {first[use.slug]}", "F002"))
        else:
            first[use.slug] = use.path
    return out


def _flatten(value, prefix: tuple) -> dict[tuple, object]:
    if isinstance(value, dict):
        out: dict[tuple, object] = {}
        for k, v in value.items():
            out.update(_flatten(v, (*prefix, k)))
        return out
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out.update(_flatten(v, (*prefix, i)))
        return out
    return {prefix: value}


def _first_line(path: Path) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.readline()
    except OSError:
        return ""
