""""Try your own config": an untrusted config.json (pasted, uploaded or edited) → a spec, or messages.

The input is size-limited and parsed as JSON only; every failure (not JSON, unknown model type, a
missing key, impossible numbers) becomes a :class:`TrialError` whose lines are shown in the page,
never a traceback. The spec that comes out is built by the same derivation as bundled specs, and
its diagram goes through the same escaping DOT builder, so nothing from the input reaches Graphviz
raw. :func:`edit_config` changes a few numbers of a config in the spec's vocabulary (``n_kv_heads``)
and writes them to whichever key the config uses (``num_key_value_heads``).
"""

from __future__ import annotations

import json

from .derive import DerivationError
from .draft import draft

MAX_BYTES = 512 * 1024  # real config.json files are a few KB; the largest multimodal ones ~50 KB
MAX_DEPTH = 32  # real configs nest 4 levels (text_config → rope_parameters → ...)

#: Spec field → the config keys that may hold it, most common first.
EDITABLE = {
    "n_layers": ("num_hidden_layers", "n_layer"),
    "d_model": ("hidden_size", "n_embd"),
    "n_heads": ("num_attention_heads", "n_head"),
    "n_kv_heads": ("num_key_value_heads",),
    "d_ff": ("intermediate_size", "n_inner"),
    "vocab_size": ("vocab_size",),
}


class TrialError(ValueError):
    """The config cannot be shown; ``lines`` say why, one problem each."""

    def __init__(self, *lines: str):
        super().__init__("; ".join(lines))
        self.lines = list(lines)


def parse_config(data: bytes | str) -> dict:
    """A config.json from pasted text or uploaded bytes: size-limited, JSON only, an object."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_BYTES:
        raise TrialError(f"the file is {len(raw):,} bytes; a config.json is at most {MAX_BYTES:,} bytes here")
    try:
        config = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise TrialError("the file is not UTF-8 text: upload the model's config.json") from None
    except json.JSONDecodeError as exc:
        raise TrialError(f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise TrialError(f"the JSON nests too deeply: a config.json nests at most {MAX_DEPTH} levels") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise TrialError(f"not valid JSON: {exc}".split(";")[0]) from None
    if not isinstance(config, dict):
        raise TrialError("a config.json is a JSON object ({...}), not a " + type(config).__name__)
    if _depth(config) > MAX_DEPTH:
        raise TrialError(f"the JSON nests too deeply: a config.json nests at most {MAX_DEPTH} levels")
    return config


def _depth(value) -> int:
    """How deeply objects and lists nest in ``value`` (1 for a flat object), without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            todo.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def spec_from_config(config: dict, hf_repo: str = "your-org/your-model", revision: str | None = None):
    """The spec derived from ``config`` (of ``hf_repo`` at commit ``revision``), or a :class:`TrialError`
    naming every problem."""
    try:
        return draft(config, hf_repo=hf_repo, revision=revision)
    except DerivationError as exc:
        raise TrialError(*exc.lines) from None


def edit_config(config: dict, **changes: int) -> dict:
    """A copy of ``config`` with some numbers changed, named in spec vocabulary (``n_kv_heads=4``).

    Each value goes to the key this config already uses (``n_layer`` in GPT-2, else the first of
    :data:`EDITABLE`). Changing the layer count drops an explicit ``layer_types`` list, so the
    model type's own pattern (alternating local/global, ...) is regenerated for the new depth.
    """
    out = dict(config)
    for name, value in changes.items():
        keys = EDITABLE[name]
        key = next((k for k in keys if k in config), keys[0])
        out[key] = value
        if name == "n_layers" and value != config.get(key):
            out.pop("layer_types", None)
    return out


def ignored_edits(spec, **changes: int) -> list[str]:
    """The edits the model type does not read, each said as a problem (Nemotron-H takes its depth from
    ``hybrid_override_pattern``, so a new ``num_hidden_layers`` changes nothing)."""
    arch = spec.arch
    shown = {"n_layers": arch.n_layers, "d_model": arch.d_model, "vocab_size": arch.vocab_size}
    return [f"{name} {value:,} has no effect: model_type {spec.source.model_type} does not read it from "
            f"{EDITABLE[name][0]} (the model keeps {shown[name]:,}); paste a config to change it"
            for name, value in changes.items() if name in shown and shown[name] != value]
