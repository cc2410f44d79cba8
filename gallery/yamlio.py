"""Reading and writing spec YAML with positions, the way YAML 1.2 reads it.

PyYAML implements YAML 1.1, where ``yes``/``no``/``on``/``off`` are booleans, ``1e-5`` is a string,
``010`` is octal and a duplicate key silently overwrites the first. Editors (yaml-language-server)
read YAML 1.2. :class:`Loader` uses libyaml's parser with YAML 1.2 core-schema resolvers, so both
agree; the ambiguous 1.1 spellings stay strings and the linter names them (see ``gallery.lint``).

Every loaded document keeps its node tree, so a pydantic error location such as
``('arch', 'blocks', 'full', 'mixer', 'n_kv_heads')`` maps back to a line and column.

Hostile text stays bounded: anchors and aliases are refused (Y005; a spec needs none, and nine
levels of aliases expand to a billion nodes for any tree walk), nesting deeper than
:data:`MAX_DEPTH` is refused before libyaml's recursive composer sees it (Y006; it overflows the C
stack near 100,000 levels), and integers are read only up to :data:`MAX_INT` (Y007).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from typing import Any

import yaml

MODELINE = "# yaml-language-server: $schema=../schema/spec.schema.json"

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_CORE_RESOLVERS = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
    ("tag:yaml.org,2002:timestamp", r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", list("0123456789")),
]

#: Plain scalars that YAML 1.1 (PyYAML, many tools) reads as booleans but YAML 1.2 as strings.
YAML11_BOOLEANS = frozenset("yes Yes YES no No NO on On ON off Off OFF y Y n N".split())

_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_DEPTH = 100  # a spec nests about 7 levels
MAX_INT = 2**53 - 1  # the largest integer JSON tools and browsers read exactly


@dataclass(frozen=True)
class YamlProblem(Exception):
    """A problem found while reading YAML, at a 1-based line and column."""

    line: int
    col: int
    message: str
    code: str
    field: str = ""  # dotted path of the offending key, when known


_SCALAR_TAGS = frozenset(tag for tag, _, _ in _CORE_RESOLVERS) | {"tag:yaml.org,2002:str"}


class Unusual(Exception):
    """A node :meth:`Loader.construct_plain` leaves to PyYAML's constructor."""


class Loader(_BASE):  # type: ignore[misc, valid-type]
    """libyaml parser + safe constructor + YAML 1.2 core resolvers + duplicate-key detection."""

    yaml_implicit_resolvers: dict = {}
    _tags: dict[str, str] = {}  # plain scalar → its tag: a folder of specs repeats the same few hundred words

    def resolve(self, kind, value, implicit):  # noqa: D102 - PyYAML hook, memoized for short plain scalars
        if kind is not yaml.ScalarNode or not implicit[0] or len(value) > 64:
            return super().resolve(kind, value, implicit)
        tag = self._tags.get(value)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(self._tags) < 65_536:  # bounded: hostile text cannot grow it further
                self._tags[value] = tag
        return tag

    def construct_mapping(self, node, deep=False):  # noqa: D102 - PyYAML hook
        self._keys(node, lambda key_node: self.construct_object(key_node, deep=True))
        return super().construct_mapping(node, deep=deep)

    def _keys(self, node: yaml.MappingNode, construct) -> list:
        """The mapping's keys, each ``construct``-ed; S003 for a key that is a collection, Y002 for a duplicate."""
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):  # "? [a, b]: c": no spec field is named by a collection
                raise YamlProblem(key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                  "a key must be a name, not a list or mapping", "S003")
            key = construct(key_node)
            if key in seen:
                first = seen[key]
                raise YamlProblem(
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                    f"duplicate key '{key}' (first defined on line {first.start_mark.line + 1}); "
                    "keep one of them",
                    "Y002",
                )
            seen[key] = key_node
        return list(seen)

    def construct_plain(self, root: yaml.Node) -> Any:
        """The document's data as :meth:`construct_document` builds it (the same values, the same first error:
        level by level, in document order within a level), without PyYAML's generator per node, which cost a
        third of loading a folder of specs. :class:`Unusual` for a tag outside the core schema (``!!set``,
        ``!!python/...``): the caller then lets PyYAML's constructor say what it makes of it."""
        data = self._new(root)
        level = [(root, data)] if isinstance(root, yaml.CollectionNode) else []
        while level:
            below = []
            for node, out in level:
                if isinstance(out, list):
                    pairs = [(None, child) for child in node.value]
                else:
                    pairs = list(zip(self._keys(node, self._new), (v for _, v in node.value)))
                for key, child in pairs:
                    value = self._new(child)
                    if isinstance(out, list):
                        out.append(value)
                    else:
                        out[key] = value
                    if isinstance(child, yaml.CollectionNode):
                        below.append((child, value))
            level = below
        return data

    def _new(self, node: yaml.Node) -> Any:
        """A scalar's value, or the empty container a collection's items go into."""
        if isinstance(node, yaml.ScalarNode) and node.tag in _SCALAR_TAGS:
            return self.yaml_constructors[node.tag](self, node)
        if isinstance(node, yaml.MappingNode) and node.tag == "tag:yaml.org,2002:map":
            return {}
        if isinstance(node, yaml.SequenceNode) and node.tag == "tag:yaml.org,2002:seq":
            return []
        raise Unusual

    def construct_yaml_int(self, node):  # noqa: D102
        text = self.construct_scalar(node)
        digits = text.lstrip("+-")
        if len(digits) > 20:  # before int(): Python refuses 4,300 digits with a ValueError
            value = None
        elif digits.startswith("0o"):
            value = int(text.replace("0o", "", 1), 8)
        else:
            value = int(text, 0) if digits.startswith("0x") else int(text, 10)
        if value is None or abs(value) > MAX_INT:
            raise YamlProblem(node.start_mark.line + 1, node.start_mark.column + 1,
                              f"integer {text[:24]}{'...' if len(text) > 24 else ''} is out of range: "
                              f"a spec's numbers are at most {MAX_INT:,}", "Y007")
        return value

    def construct_yaml_float(self, node):  # noqa: D102
        text = self.construct_scalar(node).lower()
        if text.endswith("inf"):
            return -math.inf if text.startswith("-") else math.inf
        return math.nan if text.endswith("nan") else float(text)


for _tag, _regex, _first in _CORE_RESOLVERS:
    Loader.add_implicit_resolver(_tag, re.compile(_regex), _first)
Loader.add_constructor("tag:yaml.org,2002:int", Loader.construct_yaml_int)
Loader.add_constructor("tag:yaml.org,2002:float", Loader.construct_yaml_float)


def load(text: str) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML document; return its data and its node tree (for positions).

    Raises :class:`YamlProblem` (code Y001 for syntax, Y002 for duplicate keys, Y005 for an anchor or
    alias, Y006 for nesting deeper than :data:`MAX_DEPTH`, Y007 for an integer beyond :data:`MAX_INT`).
    """
    if _may_be_hostile(text):
        _scan(text)
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        try:
            data = _construct(loader, node) if node is not None else None
        except YamlProblem as p:  # a duplicate key or a huge integer: name the field it belongs to
            raise YamlProblem(p.line, p.col, p.message, p.code, _key_path(node, p.line, p.col)) from None
        return data, node
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlProblem(line, col, f"YAML syntax error: {exc.problem or exc}", "Y001") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(1, 1, f"YAML error: {exc}", "Y001") from None
    finally:
        loader.dispose()


def _construct(loader: Loader, node: yaml.Node) -> Any:
    try:
        return loader.construct_plain(node)
    except Unusual:
        return loader.construct_document(node)


def _may_be_hostile(text: str) -> bool:
    """False when ``text`` can hold no anchor, no alias and no nesting beyond :data:`MAX_DEPTH` (no scan needed).

    An anchor needs a ``&``, an alias a ``*``; every nesting level opens with ``[``, ``{``, ``-``, ``?``
    or a deeper indentation, so their count bounds the depth. Real specs pass in microseconds.
    """
    if "&" in text or "*" in text:
        return True
    indent = max((len(line) - len(line.lstrip(" ")) for line in text.splitlines()), default=0)
    return sum(text.count(c) for c in "[{-?") + indent + 1 > MAX_DEPTH


def _scan(text: str) -> None:
    """Refuse anchors, aliases and deep nesting from libyaml's events, before any tree is built.

    Each collection on the way down is a frame ``[path, is_mapping, next key or index, expecting a key]``,
    so a problem names its field like the loader's others do.
    """
    frames: list[list] = []
    try:
        for event in yaml.parse(text, Loader=_BASE):
            if isinstance(event, yaml.CollectionEndEvent):
                frames.pop()
                continue
            if not isinstance(event, yaml.NodeEvent):
                continue  # stream and document boundaries
            path = _event_path(frames, event)
            mark, field = event.start_mark, ".".join(map(str, path[:6])) + ("..." if len(path) > 6 else "")
            if event.anchor is not None:
                raise YamlProblem(mark.line + 1, mark.column + 1,
                                  f"anchors and aliases (&{event.anchor}, *{event.anchor}) are not used in specs: "
                                  "write the value out", "Y005", field)
            if isinstance(event, yaml.CollectionStartEvent):
                frames.append([path, isinstance(event, yaml.MappingStartEvent), 0, True])
                if len(frames) > MAX_DEPTH:
                    raise YamlProblem(mark.line + 1, mark.column + 1,
                                      f"nested more than {MAX_DEPTH} levels deep: a spec nests about 7", "Y006", field)
    except yaml.YAMLError:
        return  # a syntax error: the loader reports it with its position


def _event_path(frames: list[list], event: yaml.NodeEvent) -> tuple:
    """The path of the node ``event`` opens (a mapping key is named by its own path), advancing its parent frame."""
    if not frames:
        return ()
    frame = frames[-1]
    path, is_mapping = frame[0], frame[1]
    if not is_mapping:
        frame[2] += 1
        return (*path, frame[2] - 1)
    if frame[3]:  # a key: the next value belongs to it
        frame[2], frame[3] = getattr(event, "value", "?"), False
        return (*path, frame[2])
    frame[3] = True
    return (*path, frame[2])


def _key_path(node: yaml.Node, line: int, col: int, path: tuple = ()) -> str:
    """The dotted path of the mapping key, or the value, at 1-based (line, col), or "" if there is none."""
    if isinstance(node, yaml.ScalarNode):
        return ".".join(map(str, path)) if (node.start_mark.line + 1, node.start_mark.column + 1) == (line, col) else ""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            here = (*path, k.value if isinstance(k, yaml.ScalarNode) else "?")
            if (k.start_mark.line + 1, k.start_mark.column + 1) == (line, col):
                return ".".join(map(str, here))
            found = _key_path(v, line, col, here)
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            found = _key_path(v, line, col, (*path, i))
            if found:
                return found
    return ""


def locate(node: yaml.Node | None, loc: tuple, *, key: bool = False) -> tuple[int, int]:
    """The 1-based (line, col) of the node a pydantic error ``loc`` names.

    Walks mappings by key and sequences by index; parts that match nothing (a discriminator tag
    pydantic puts into ``loc``) are skipped. With ``key=True`` a mapping entry reports its key
    (right for "unknown key"); a missing key reports its parent mapping.
    """
    if node is None:
        return 1, 1
    target, key_node = node, None
    for part in loc:
        if isinstance(target, yaml.MappingNode):
            match = next(((k, v) for k, v in target.value if k.value == str(part)), None)
            if match:
                key_node, target = match
        elif isinstance(target, yaml.SequenceNode) and isinstance(part, int) and part < len(target.value):
            key_node, target = None, target.value[part]
    mark = (key_node if key and key_node is not None else target).start_mark
    return mark.line + 1, mark.column + 1


def plain_scalars(node: yaml.Node | None, path: tuple = ()):
    """Yield (path, node) for every plain (unquoted) scalar value in the tree, in document order."""
    stack = [(path, node)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            stack.extend(((*path, k.value), v) for k, v in reversed(node.value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(node.value))))
        elif isinstance(node, yaml.ScalarNode) and not node.style:  # plain: None (PyYAML) or "" (libyaml)
            yield path, node


# --- canonical writing ------------------------------------------------------------------------

_PLAIN = re.compile(r"^[A-Za-z_][\w .,/()+'&\-]*$")
_RESERVED = {s.lower() for s in YAML11_BOOLEANS} | {"true", "false", "null", "~"}
_WIDTH = 100


def scalar(value: Any) -> str:
    """One scalar in canonical form: readable the same way by YAML 1.1 and 1.2 tools."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exp = text.split("e")
            text = f"{mantissa}.0e{exp}"  # 1e-05 → 1.0e-05: a float in YAML 1.1 too
        return text
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED and not text.endswith(" "):
        return text
    return json.dumps(text, ensure_ascii=False)


def dump(data: dict, *, header: str = MODELINE) -> str:
    """Write a mapping as canonical block YAML (key order kept, scalar lists in flow style)."""
    lines = [header] if header else []
    _emit_mapping(data, 0, lines)
    return "\n".join(lines) + "\n"


def _emit_mapping(data: dict, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for key, value in data.items():
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{key}:")
            _emit_mapping(value, indent + 2, lines)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines.append(f"{pad}{key}:")
            for item in value:
                sub: list[str] = []
                _emit_mapping(item, indent + 4, sub)
                lines.append(f"{pad}  - {sub[0].lstrip()}")
                lines.extend(sub[1:])
        elif isinstance(value, list):
            flow_lines(f"{pad}{key}: ", [scalar(v) for v in value], indent + 2, lines)
        else:
            lines.append(f"{pad}{key}: {'{}' if value == {} else scalar(value)}")


def flow_lines(prefix: str, items: list[str], indent: int, lines: list[str]) -> None:
    """Append a flow list ``prefix[a, b, ...]`` wrapped at 100 columns, continuation at ``indent``."""
    line = prefix + "["
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "]")
        if len(line) + len(piece) + 1 > _WIDTH and not line.endswith("["):
            lines.append(line)
            line = " " * indent + piece
        else:
            line += ("" if line.endswith("[") else " ") + piece
    lines.append(line if items else prefix + "[]")
