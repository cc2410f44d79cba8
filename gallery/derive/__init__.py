"""config.json → spec: read a config the way its model type's reference implementation reads it.

``derive(config)`` picks the family of ``config["model_type"]`` (see ``families/``) and returns the
``arch`` mapping with per-field provenance; ``derive_arch`` validates it into an :class:`~gallery.spec.Arch`.
Whatever the input, both end in the arch or a :class:`DerivationError` whose lines name the config
key, its value and what is accepted (``explain`` turns a spec rule the numbers break into such lines).
"""

from __future__ import annotations

from pydantic import ValidationError

from ..spec import KIND_TAGS, Arch
from .config import MAX_LAYERS, DerivationError, Read, shown
from .family import Derived, Family
from .families import ALL

FAMILIES: dict[str, type[Family]] = {f.model_type: f for f in ALL}

#: Model types whose code lives only on the Hub (remote code): transformers implements none of them, so
#: there is no reference to read the config the way the model is built, and no count can be checked.
#: Each names the nearest model type the gallery reads (None: there is none); it is named, never used.
NO_REFERENCE: dict[str, str | None] = {
    "minimax_m3": "minimax_m2",  # MiniMax-M3: adds sparse attention, dense layers, shared experts, clamped SwiGLU
    "kimi_k3": None,  # Kimi K3: its text_config resembles kimi_linear (not read here) with fields of its own
    "nemotron-nas": "llama",  # DeciLM NAS (Llama-3.3-Nemotron-Super-49B): block_configs vary every layer
    "mimo": "qwen2",  # MiMo-7B: Qwen2 plus multi-token-prediction layers
}


def _no_reference(model_type: str) -> DerivationError:
    nearest = NO_REFERENCE[model_type]
    return DerivationError(
        f"model_type '{model_type}' has no implementation in transformers (remote code on the Hub): there is no "
        "reference implementation to read, so no exact count; "
        + (f"the nearest type the gallery reads is '{nearest}', which would be a guess, so none is shown"
           if nearest else "no type the gallery reads is close enough to name"))


def family_for(config: dict) -> type[Family]:
    """The family that reads ``config``; a clear error naming the supported types otherwise."""
    if not isinstance(config, dict):
        raise DerivationError("config.json must be a JSON object")
    model_type = config.get("model_type")
    if model_type is None:
        raise DerivationError("config.json has no 'model_type': is it a transformers config?")
    if isinstance(model_type, str) and model_type in NO_REFERENCE:
        raise _no_reference(model_type)
    if not isinstance(model_type, str) or model_type not in FAMILIES:
        raise DerivationError(
            f"model_type {shown(model_type)} is not supported yet; supported: {', '.join(sorted(FAMILIES))}"
        )
    return FAMILIES[model_type]


def derive(config: dict) -> Derived:
    """The architecture of ``config`` as a spec ``arch`` mapping, with provenance.

    A multimodal wrapper (Gemma 3, Llama 4, Kimi K2.5) is read through its ``text_config``: the
    language model is what is counted and drawn; the vision tower is left out. The output head is the
    wrapper's (``Qwen3VLForConditionalGeneration.lm_head``), tied as the wrapper's own ``tie_word_embeddings``
    says when it sets one (``PreTrainedModel.get_expanded_tied_weights_keys`` reads the wrapper's config); for
    a text config with no causal-LM class of its own (``Family.wrapper_head``) the wrapper's default, never
    the text config's, applies. A draft model (Gemma 4 assistants) is not a wrapper: its family reads its text_config
    and its own keys (``Family.text_type``).
    """
    text = config.get("text_config") if isinstance(config, dict) else None
    wrapper = config.get("model_type") if isinstance(config, dict) else None
    if isinstance(text, dict) and isinstance(wrapper, str) and wrapper in NO_REFERENCE:  # the wrapper is remote code
        raise _no_reference(wrapper)
    if isinstance(text, dict) and not (isinstance(wrapper, str) and wrapper in FAMILIES and FAMILIES[wrapper].text_type):
        if "model_type" not in text:
            raise DerivationError("text_config has no 'model_type': cannot tell how to read the language model")
        family = family_for(text)
        if "tie_word_embeddings" in config:  # the head is the wrapper's: its flag ties it (see below)
            text = text | {"tie_word_embeddings": config["tie_word_embeddings"]}
        elif family.wrapper_head:  # the wrapper class's default applies, not the text config's
            text = {k: v for k, v in text.items() if k != "tie_word_embeddings"}
        text = text | {k: config[k] for k in family.wrapper_keys if k in config}  # what its text reads of the wrapper
        derived = _derived(text)
        return Derived(derived.arch, derived.provenance, derived.family, text_config=True)
    return _derived(config)


def _derived(config: dict) -> Derived:
    family = family_for(config)
    try:
        derived = family.derive(config)
    except DerivationError:
        raise
    except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as exc:
        # every key a rule reads is checked first (config.EXPECT); this is the net under a combination
        # of accepted values no rule foresaw: say which error, never a traceback
        raise DerivationError(f"the config's numbers cannot describe a model ({type(exc).__name__}: "
                              f"{shown(str(exc))}); check the head counts and widths") from None
    if len(derived.arch["layers"]) > MAX_LAYERS:
        raise DerivationError(f"the config gives {len(derived.arch['layers']):,} layers: "
                              f"a model here has at most {MAX_LAYERS:,}")
    return derived


def derive_arch(config: dict) -> Arch:
    """The validated architecture of ``config``; a :class:`DerivationError` naming the keys at fault otherwise."""
    derived = derive(config)
    try:
        return Arch.model_validate(derived.arch, strict=False)
    except ValidationError as exc:
        raise explain(exc, derived, ("arch",)) from None


def explain(exc: ValidationError, derived: Derived, prefix: tuple = ()) -> DerivationError:
    """A spec rule that derived values break, as lines naming the spec field and the config keys it came from.

    ``arch.blocks.full.mixer.n_kv_heads: n_heads (32) must be a multiple of n_kv_heads (5)
    (from num_key_value_heads 5)``.
    """
    lines = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in (*prefix, *err["loc"]) if p not in KIND_TAGS]  # no discriminator tags
        if err.get("ctx", {}).get("field"):
            loc.append(err["ctx"]["field"])
        field = ".".join(loc)
        reads = next((derived.provenance[p] for p in _prefixes(field) if p in derived.provenance), [])
        keys = ", ".join(f"{r.key} {shown(r.value)}" for r in reads if r.from_config)
        given = f" (from {keys})" if keys else "" if isinstance(err["input"], (dict, list)) else (
            f" (given {shown(err['input'])})")
        lines.append(f"{field}: {err['msg'].removeprefix('Value error, ')}{given}")
    return DerivationError(*lines)


__all__ = ["DerivationError", "Derived", "FAMILIES", "MAX_LAYERS", "NO_REFERENCE", "Read", "derive", "derive_arch",
           "explain", "family_for", "field_sources"]


def field_sources(config: dict) -> list[tuple[str, object, str]]:
    """Every derived architecture field with its value and the config key(s) it was read from.

    ``("arch.blocks.full.mixer.n_kv_heads", 8, "num_key_value_heads")``; a key the config leaves out
    reads ``"rope_theta (absent: transformers default 10000.0)"``; a field no key feeds (a constant of
    the model type, like RMSNorm for Llama) reads ``"fixed by model_type llama"``.
    """
    derived = derive(config)
    rows = []

    def walk(value, path):
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(v, f"{path}.{k}")
            return
        source = next((derived.provenance[p] for p in _prefixes(path) if p in derived.provenance), [])
        text = ", ".join(str(r) for r in source) or f"fixed by model_type {config.get('model_type')}"
        rows.append((path, value, text))

    walk(derived.arch, "arch")
    return rows


def _prefixes(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
