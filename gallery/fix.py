"""Rewrite a spec file into canonical form without losing comments: ``python -m gallery lint --fix``.

Canonical form (what ``python -m gallery new`` writes): the modeline first; keys in the order the
schema declares them (unknown keys kept, at the end, for lint to report); 2-space indentation;
lists of scalars in flow style; ``null`` spelt out; floats with a dot so YAML 1.1 tools read a float
(``1e-5`` → ``1.0e-05``); ``yes``/``no``/``on``/``off`` in boolean fields turned into ``true``/``false``; keys
a model has renamed (its ``renamed`` table: ``indexer.topk`` → ``top_k``, ``ffn.dense_mlp`` → ``d_dense``) written
with today's names.
Round-trips through ruamel.yaml, which keeps comments (mdn/browser-compat-data's fixer works the same
way).
"""

from __future__ import annotations

import io
import re
import typing
from typing import Any

from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .spec import Spec, expand_layers
from .yamlio import MODELINE, flow_lines

_FLOW_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[\w.\-]+): \[(?P<items>.*)\](?P<comment>\s+#.*)?$")

_TRUE, _FALSE = {"yes", "Yes", "YES", "on", "On", "ON", "y", "Y"}, {"no", "No", "NO", "off", "Off", "OFF", "n", "N"}


def _yaml() -> YAML:
    y = YAML()
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096  # long flow lists are wrapped the way yamlio.dump wraps them, below
    y.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    y.representer.add_representer(float, lambda r, v: r.represent_scalar("tag:yaml.org,2002:float", _float(v)))
    return y


def _float(value: float) -> str:
    text = repr(float(value))
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exp = text.split("e")
        text = f"{mantissa}.0e{exp}"
    return text


def fix_text(text: str) -> str:
    """The canonical text of a spec; raises ruamel's errors on YAML it cannot parse."""
    y = _yaml()
    data = y.load(text)
    if isinstance(data, CommentedMap):
        _canonical(data, Spec)
    out = io.StringIO()
    y.dump(data, out)
    lines = []
    for line in out.getvalue().splitlines():
        m = _FLOW_LINE.match(line)
        if m and len(line) > 100 and not m["comment"]:
            items = [i.strip() for i in m["items"].split(",")]
            flow_lines(f"{m['indent']}{m['key']}: ", items, len(m["indent"]) + 2, lines)
        else:
            lines.append(line.rstrip())
    if not lines or lines[0] != MODELINE:
        lines = [MODELINE] + [ln for ln in lines if not ln.startswith("# yaml-language-server:")]
    return "\n".join(lines) + "\n"


def _canonical(node: CommentedMap, model: type[BaseModel] | None) -> None:
    fields = model.model_fields if model else {}
    for old, new in (getattr(model, "renamed", None) or {}).items():  # keys of older specs → today's names
        if old in node and new not in node:
            node[new] = node.pop(old)
    order = [k for k in fields if k in node] + [k for k in node if k not in fields]
    for key in order:  # pop and re-insert: comments stay attached to their keys
        node[key] = node.pop(key)
    for key, value in node.items():
        annotation = fields[key].annotation if key in fields else None
        node[key] = _value(value, annotation, key)


def _value(value: Any, annotation: Any, key: str = "") -> Any:
    if key == "layers" and isinstance(value, str):  # compact input form → the explicit list
        try:
            value = CommentedSeq(expand_layers(value))
        except ValueError:
            return value
    if _accepts(annotation, bool) and isinstance(value, str) and value in _TRUE | _FALSE:
        return value in _TRUE
    if isinstance(value, float) or (type(value) is int and _accepts(annotation, float)
                                    and not _accepts(annotation, int)):
        return float(value)
    if isinstance(value, CommentedMap) and _dict_values(annotation) is not None:
        for k in value:
            value[k] = _value(value[k], _dict_values(annotation))
    elif isinstance(value, CommentedMap):
        _canonical(value, _model_of(annotation, value))
    elif isinstance(value, CommentedSeq):
        item_type = _item_type(annotation)
        for i, item in enumerate(value):
            value[i] = _value(item, item_type)
        if all(not isinstance(v, (dict, list)) for v in value):
            value.fa.set_flow_style()
    return value


def _model_of(annotation: Any, value: CommentedMap) -> type[BaseModel] | None:
    """The pydantic model a mapping validates against (by its ``kind`` in a discriminated union)."""
    for candidate in _flatten(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            kind = candidate.model_fields.get("kind")
            if kind is None or value.get("kind") in typing.get_args(kind.annotation):
                return candidate
    return None


def _dict_values(annotation: Any) -> Any:
    """X of a ``dict[str, X]`` annotation, else None."""
    for candidate in _flatten(annotation):
        if typing.get_origin(candidate) is dict:
            return typing.get_args(candidate)[1]
    return None


def _item_type(annotation: Any) -> Any:
    for candidate in _flatten(annotation):
        args = typing.get_args(candidate)
        if typing.get_origin(candidate) is list and args:
            return args[-1]
    return None


def _flatten(annotation: Any) -> list[Any]:
    """The types inside Optional/Union/Annotated, outermost first."""
    if annotation is None:
        return []
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _flatten(typing.get_args(annotation)[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out += _flatten(arg)
        return out
    return [annotation]


def _accepts(annotation: Any, kind: type) -> bool:
    return kind in _flatten(annotation)
