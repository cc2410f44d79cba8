"""Load spec files into :class:`~gallery.spec.Spec` objects, or into problems with positions.

Loading never raises for a bad file: it returns a :class:`Loaded` with ``spec=None`` and the
problems, each printable as ``path:line:col: dotted.field: message [CODE]``. One broken spec
therefore never stops the others from loading (the app lists it with its message).

Files are read only if they are regular files of bounded size (a FIFO or ``/dev/zero`` named as a
spec or a config would otherwise hang or fill memory), and a spec's vendored config only from its
folder's ``configs/`` (:func:`vendored_config`), never through a symlink.
"""

from __future__ import annotations

import gc
import json
import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from . import yamlio
from .codes import code_for
from .spec import KIND_TAGS, Spec


@dataclass(frozen=True, order=True)
class Problem:
    """One lint finding at a position in a file."""

    path: str
    line: int
    col: int
    field: str
    message: str
    code: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.field or '(file)'}: {self.message} [{self.code}]"


@dataclass
class Loaded:
    """The outcome of loading one spec file."""

    path: Path
    spec: Spec | None
    problems: list[Problem] = field(default_factory=list)
    data: Any = None
    node: Any = None


MAX_SPEC_BYTES = 1024 * 1024  # a spec is a few KB; 1,024 explicit layers and long notes stay far below
MAX_CONFIG_BYTES = 512 * 1024  # the largest real config.json (multimodal wrappers) is about 50 KB


class FileProblem(ValueError):
    """A file that is not read: missing, not a regular file, too large, or outside where it may be."""

    def __init__(self, message: str, code: str = "F003"):
        super().__init__(message)
        self.code = code


def read_bounded(path: Path | str, max_bytes: int, *, follow: bool = True) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; :class:`FileProblem` for anything else.

    The file is opened without blocking and checked on the open descriptor, so a FIFO, a device or
    a file swapped in after the check is never read; ``follow=False`` refuses a symlink.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | (0 if follow else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        symlink = not follow and os.path.islink(path)
        raise FileProblem("it is a symlink; vendor the file itself" if symlink else exc.strerror or str(exc)) from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileProblem("not a regular file")
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileProblem(f"larger than {max_bytes:,} bytes")
    return data


def load_spec(path: Path | str) -> Loaded:
    """Read, parse and validate one spec file."""
    path = Path(path)
    try:
        text = read_bounded(path, MAX_SPEC_BYTES).decode("utf-8")
    except (FileProblem, UnicodeDecodeError) as exc:
        return Loaded(path, None, [Problem(str(path), 1, 1, "", f"cannot read file: {exc}", "Y001")])
    return load_text(text, path)


def vendored_config(item: Loaded) -> dict:
    """The config.json a loaded spec names in ``source.config``, read from its folder's ``configs/`` only.

    :class:`FileProblem` with code F007 when the path leaves ``configs/`` (an absolute path, ``..``,
    a symlink), F003 when the file there cannot be read as a JSON object of bounded size.
    """
    name = item.spec.source.config
    parts = Path(name).parts
    if len(parts) != 2 or parts[0] != "configs" or parts[1] in ("..", ".") or "\\" in name:
        raise FileProblem(f"'{name}' is not configs/<file>.json: a vendored config lives in the spec folder's "
                          "configs/", "F007")
    folder = item.path.parent / "configs"
    if folder.is_symlink() or not folder.is_dir():
        raise FileProblem(f"{folder} is not a folder of the spec folder (a symlink or missing)", "F007")
    try:
        data = json.loads(read_bounded(folder / parts[1], MAX_CONFIG_BYTES, follow=False).decode("utf-8"))
    except FileProblem as exc:
        raise FileProblem(f"cannot read vendored config {folder / parts[1]}: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise FileProblem(f"vendored config {folder / parts[1]} is not JSON: {str(exc)[:100]}") from None
    if not isinstance(data, dict):
        raise FileProblem(f"vendored config {folder / parts[1]} is not a JSON object")
    return data


def load_text(text: str, path: Path | str = "<spec>") -> Loaded:
    """Parse and validate spec text (the app's "try your own" page uses this too)."""
    path = Path(path)
    try:
        data, node = yamlio.load(text)
    except yamlio.YamlProblem as p:
        return Loaded(path, None, [Problem(str(path), p.line, p.col, p.field, p.message, p.code)])
    if not isinstance(data, dict):
        return Loaded(path, None, [Problem(str(path), 1, 1, "", "a spec must be a YAML mapping", "S003")], data, node)
    try:
        return Loaded(path, Spec.model_validate(data), [], data, node)
    except ValidationError as exc:
        return Loaded(path, None, validation_problems(exc, node, str(path)), data, node)


def validation_problems(exc: ValidationError, node: Any, path: str) -> list[Problem]:
    """pydantic errors as problems at the YAML position of the field each one names."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if err.get("ctx", {}).get("field"):  # a dotted field when a model's rule names a part's field
            loc = (*loc, *err["ctx"]["field"].split("."))
        if err["type"] == "union_tag_invalid":  # point at the kind that names no known variant
            loc = (*loc, "kind")
        loc = _strip_tags(loc, node)
        line, col = yamlio.locate(node, loc, key=err["type"] == "extra_forbidden")
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "bool_type" and str(err.get("input")) in yamlio.YAML11_BOOLEANS:
            message += f" ('{err['input']}' is a string in YAML 1.2: write true or false)"
        problems.append(Problem(path, line, col, ".".join(map(str, loc)), message, code_for(err["type"])))
    return sorted(set(problems))


def _strip_tags(loc: tuple, node: Any) -> tuple:
    """Drop the discriminator tags pydantic inserts into ``loc`` (``mixer.gqa.n_heads``)."""
    out: list = []
    data_path: Any = node
    for part in loc:
        child = _child(data_path, part)
        if child is None and isinstance(part, str) and out and part in KIND_TAGS:
            continue
        out.append(part)
        data_path = child
    return tuple(out)


def _child(node: Any, part: Any) -> Any:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if k.value == str(part)), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None


def config_problem(item: Loaded, exc: FileProblem) -> Problem:
    """The problem of a spec whose vendored config is not read, at its ``source.config``."""
    line, col = yamlio.locate(item.node, ("source", "config"))
    return Problem(str(item.path), line, col, "source.config", str(exc), exc.code)


def spec_files(folder: Path | str) -> list[Path]:
    """The spec files of a folder, sorted (``*.yaml`` directly inside it)."""
    return sorted(Path(folder).glob("*.yaml"))


def load_folder(folder: Path | str) -> list[Loaded]:
    """Every spec file of a folder, good or bad."""
    with gc_paused():
        return [load_spec(p) for p in spec_files(folder)]


@contextmanager
def gc_paused():
    """Python's cyclic garbage collector paused while many specs are loaded and checked.

    Every few hundred new objects it walked all the node trees kept so far: more than half of the time of
    linting 1,000 specs (profiled; 3.9 s → 1.8 s of CPU). Loading makes no reference cycles to wait for;
    reference counting frees everything as before, and the collector runs again afterwards.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()
