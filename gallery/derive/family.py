"""How a model type reads its config: a table of spec field → rule, written as a difference.

A :class:`Family` says, for one ``model_type``, which config key (or small function of keys) gives
each spec field, and which defaults transformers uses for absent keys. A child family copies its
parent's tables and overrides only what differs, the way transformers' modular files write
Qwen3 as Llama plus QK-norm::

    class Qwen3(Qwen2):
        model_type = "qwen3"
        block = Qwen2.block | {"mixer.qk_norm": const("per_head_shared"), "mixer.qkv_bias": "attention_bias"}

A rule is a config key (``"hidden_size"``), or a function ``(config, kind) -> value`` where
``kind`` is the block kind being built (``"sliding"``, ``"moe"``, ...). A rule may return
:data:`DROP` to leave its field out; a field whose parent is ``None`` (``mixer.rope`` of a NoPE
layer) is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Union

from ..spec import attention_kind
from .config import Config, DerivationError, Read

DROP = object()
Rule = Union[str, Callable[..., Any]]


def const(value: Any) -> Callable[..., Any]:
    """A rule that does not read the config."""
    return lambda c, kind=None: value


def either(*keys: str) -> Callable[..., Any]:
    """The first of ``keys`` that config.json sets; else the last key's transformers default."""

    def rule(c: Config, kind: str | None = None) -> Any:
        for key in keys:
            if c.has(key):
                return c[key]
        return c[keys[-1]]

    return rule


@dataclass(frozen=True)
class Derived:
    """The architecture read from one config, and where each field came from."""

    arch: dict
    provenance: dict[str, list[Read]]  # dotted spec field → config keys read for it
    family: "type[Family]"
    text_config: bool = False  # read from text_config of a multimodal wrapper


class Family:
    """The base family: a decoder-only pre-norm transformer read like ``LlamaConfig``."""

    model_type: ClassVar[str]
    transformers_class: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}
    aliases: ClassVar[dict[str, str]] = {}  # the config class's attribute_map
    reads_as: ClassVar[str | None] = None  # a remote-code model_type read as this transformers one
    wrapper_head: ClassVar[bool] = False  # no causal-LM class: the multimodal wrapper builds (and ties) the head
    wrapper_keys: ClassVar[tuple[str, ...]] = ()  # keys of the multimodal wrapper its text reads (Mllama: vision_config)
    # a model type whose class reads its text_config beside keys of its own (Gemma 4 assistants): the text config's
    # type, whose config class checks the keys (``Family.derive`` is given the two merged)
    text_type: ClassVar[str | None] = None
    arch: ClassVar[dict[str, Rule]] = {}
    layers: ClassVar[Rule]
    block: ClassVar[dict[str, Rule]] = {}

    @classmethod
    def derive(cls, raw: dict) -> Derived:
        """Read ``raw`` (a config.json mapping) into an ``arch`` dict with provenance."""
        c = Config(raw, cls.defaults, cls.text_type or cls.model_type, cls.aliases)
        provenance: dict[str, list[Read]] = {}
        arch: dict = {}
        _apply(cls.arch, c, None, arch, "arch.", provenance)
        layers = _evaluate(cls.layers, c, None)
        provenance["arch.layers"] = c.take_trail()
        arch["layers"] = layers
        arch["blocks"] = {}
        for kind in dict.fromkeys(layers):
            arch["blocks"][kind] = {}
            _apply(cls.block, c, kind, arch["blocks"][kind], f"arch.blocks.{kind}.", provenance)
        return Derived(arch, provenance, cls)


def _evaluate(rule: Rule, c: Config, kind: str | None) -> Any:
    if isinstance(rule, str):
        return c[rule]
    return rule(c, kind) if kind is not None else rule(c)


def _apply(rules: dict[str, Rule], c: Config, kind, out: dict, prefix: str, provenance: dict) -> None:
    for path, rule in rules.items():
        *parents, leaf = path.split(".")
        if _has_null_parent(out, parents):
            continue  # mixer.rope is null (NoPE): mixer.rope.theta has nowhere to go
        value = _evaluate(rule, c, kind)
        trail = c.take_trail()
        if value is DROP:
            continue
        target = out
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
        provenance[prefix + path] = trail


def _has_null_parent(out: dict, parents: list[str]) -> bool:
    target = out
    for part in parents:
        if part not in target:
            return False
        target = target[part]
        if target is None:
            return True
    return False


# --- shared rules -------------------------------------------------------------------------------

_ACTIVATIONS = {
    "silu": "silu",
    "swish": "silu",
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_fast": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_tanh": "gelu_tanh",
    "relu": "relu",
    "relu2": "relu2",
}


def activation(key: str) -> Callable[..., str]:
    """The activation named by ``key``, in the spec's vocabulary (gelu_new → gelu_tanh)."""

    def rule(c: Config, kind: str | None = None) -> str:
        name = c[key]
        if name not in _ACTIVATIONS:
            raise DerivationError(f"{key}: activation '{name}' is not known; known: {', '.join(_ACTIVATIONS)}")
        return _ACTIVATIONS[name]

    return rule


def required(key: str, part: str) -> Callable[..., Any]:
    """``config[key]``, which the config class lets be null but the model's ``part`` cannot be built without."""

    def rule(c: Config, kind: str | None = None) -> Any:
        value = c[key]
        if value is None:
            raise DerivationError(f"{key} is null: {c.model_type}'s {part} cannot be built without it; set it in "
                                  "config.json")
        return value

    return rule


def without(defaults: dict, *keys: str) -> dict:
    """A copy of a parent's defaults without keys the child's config class does not have."""
    return {k: v for k, v in defaults.items() if k not in keys}


def head_dim(c: Config, kind: str | None = None) -> int:
    """``getattr(config, "head_dim", None) or hidden_size // num_attention_heads``."""
    return c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]


def whole_heads(why: str) -> Callable[..., int]:
    """hidden_size // num_attention_heads, where heads that do not divide hidden_size are refused: transformers may
    build such a config, but its attention cannot run (``why`` says what cannot split or norm the heads)."""

    def rule(c: Config, kind: str | None = None) -> int:
        hidden, heads = c["hidden_size"], c["num_attention_heads"]
        if hidden % heads:
            raise DerivationError(f"num_attention_heads: {heads} heads do not divide hidden_size {hidden}: {why}; "
                                  "accepted: a divisor")
        return hidden // heads

    return rule


def head_layout_kind(c: Config, kind: str | None = None) -> str:
    """mha/gqa/mqa from the head counts the block's own rules read."""
    n_heads = c["num_attention_heads"]
    return attention_kind(n_heads, c["num_key_value_heads"] or n_heads)


_SCALED_ROPE = ("llama3", "yarn", "longrope")


def rope_from(params: dict, c: Config, partial: float = 1.0) -> dict:
    """A spec ``rope`` mapping from one transformers ``rope_parameters`` dict (or legacy rope_scaling)."""
    theta = params.get("rope_theta")
    if theta is None:
        theta = c["rope_theta"]
    rope: dict[str, Any] = {"theta": float(theta), "partial": float(params.get("partial_rotary_factor", partial))}
    rope_type = params.get("rope_type", params.get("type", "default"))
    if rope_type != "default":
        scaling: dict[str, Any] = {"type": rope_type}
        if params.get("factor") is not None:
            scaling["factor"] = float(params["factor"])
        if rope_type in _SCALED_ROPE:
            original = params.get("original_max_position_embeddings")
            scaling["original_context"] = original or c.get("original_max_position_embeddings") or c[
                "max_position_embeddings"
            ]
        rope["scaling"] = scaling
    return rope


def rope(c: Config, kind: str | None = None) -> dict:
    """RoPE as ``LlamaConfig`` reads it: rope_parameters, legacy rope_scaling, rope_theta."""
    params = dict(c.get("rope_parameters") or c.get("rope_scaling") or {})
    partial = c.get("partial_rotary_factor") or 1.0
    return rope_from(params, c, partial)


# --- per-layer kinds of hybrid stacks --------------------------------------------------------

# configuration_utils._LEGACY_LAYER_TYPE_REMAP: PreTrainedConfig.__post_init__ renames these old names in every
# config's ``layer_types`` attribute (remap_legacy_layer_types) before the config class validates the list.
LEGACY_LAYER_TYPES = {
    "mamba": "linear_attention", "attention": "full_attention",
    "deepseek_sparse_attention": "indexed_attention", "qwen_sparse_attention": "indexed_attention",
}


def per_layer(c: Config, key: str, accepted: dict[Any, Any], n: int | None = None,
              entries: list | None = None, cut: bool = False) -> list | None:
    """``config[key]`` read as one entry per layer and mapped through ``accepted``; None when it is null.

    The way transformers reads such a list: the legacy names above are renamed first when ``key`` is the
    config's ``layer_types`` attribute (or its attribute_map alias, Nemotron-H's ``layers_block_type``);
    with ``n`` (num_hidden_layers) the list must have exactly one entry per layer (validate_layer_type).
    An entry ``accepted`` does not list (a name the modeling code does not build, or a value of the wrong
    type) is a one-line error naming the key, the layer and what is accepted; never read as a default.
    ``entries`` are the list when the config spells it otherwise (a pattern string, one letter a layer);
    ``cut``: a longer list is cut to ``n`` entries (DeepSeek-V4 configs pad theirs with the MTP layers).
    """
    value = c[key] if entries is None else entries
    if value is None:
        return None
    if not isinstance(value, list):
        raise DerivationError(f"{key}: expected a list with one entry per layer, got {type(value).__name__} "
                              f"{_short(value)}; accepted entries: {_names(accepted, {})}")
    if cut and n is not None:
        value = value[:n]
    if n is not None and len(value) != n:
        raise DerivationError(f"{key}: {len(value)} entries for {n} layers (num_hidden_layers); "
                              "give exactly one entry per layer")
    renames = LEGACY_LAYER_TYPES if key in ("layer_types", c.aliases.get("layer_types")) else {}
    out = []
    for i, entry in enumerate(value):
        name = renames.get(entry, entry) if isinstance(entry, str) else entry
        # bool is an int in Python: True must not pass for 1, nor "1" for 1
        if not any(type(name) is type(k) and name == k for k in accepted):
            raise DerivationError(f"{key}[{i}]: {_short(entry)} at layer {i} is not a layer type {c.model_type} "
                                  f"builds; accepted: {_names(accepted, renames)}")
        out.append(accepted[name])
    return out


#: ``layer_types`` of models with sliding-window and full attention layers, as block-kind words.
SLIDING_OR_FULL = {"full_attention": "full", "sliding_attention": "sliding"}
#: ``mlp_layer_types`` (DeepSeek-V3.2, GLM-5, MiMo-V2-Flash): "sparse" builds the MoE, "dense" the MLP.
MLP_TYPES = {"dense": "dense", "sparse": "moe"}


def _names(accepted: dict, renames: dict) -> str:
    olds = {new: old for old, new in renames.items() if new in accepted}
    return ", ".join(repr(k) + (f" (or {olds[k]!r})" if k in olds else "") for k in accepted)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."



def layer_kinds(attention: list[str], ffn: list[str]) -> list[str]:
    """Block-kind names from per-layer attention (full/sliding/chunked/nope/linear) and feed-forward (dense/moe) kinds.

    A part is named only where it tells layers apart: Mixtral's layers are all ``moe``,
    DeepSeek-V2's ``dense`` then ``moe``, gpt-oss's ``sliding`` and ``full`` (both MoE), and a model
    that varies in both gets ``sliding-moe``-style names. :func:`is_moe` and :func:`is_sliding`
    read a name back.
    """
    show_attention = any(a != "full" for a in attention)
    show_ffn = "dense" in ffn or not show_attention
    return ["-".join(([a] if show_attention else []) + ([f] if show_ffn else [])) for a, f in zip(attention, ffn)]


def is_moe(kind: str) -> bool:
    """A block kind named by :func:`layer_kinds` has a mixture-of-experts feed-forward."""
    return "dense" not in kind.split("-")


def is_sliding(kind: str) -> bool:
    """A block kind named by :func:`layer_kinds` attends within a sliding window."""
    return "sliding" in kind.split("-")


def _only(test: Callable[[str], bool], rule: Rule) -> Callable[..., Any]:
    """``rule`` in the blocks whose kind passes ``test``; the field is left out of the others."""
    return lambda c, kind: _evaluate(rule, c, kind) if test(kind) else DROP


def moe_only(rule: Rule) -> Callable[..., Any]:
    """``rule`` in MoE blocks; the field is left out of dense ones."""
    return _only(is_moe, rule)


def dense_only(rule: Rule) -> Callable[..., Any]:
    """``rule`` in dense blocks; the field is left out of MoE ones."""
    return _only(lambda kind: not is_moe(kind), rule)


def is_linear(kind: str) -> bool:
    """A block kind named by :func:`layer_kinds` mixes tokens by linear attention (Gated DeltaNet)."""
    return "linear" in kind.split("-")


def linear_only(rule: Rule) -> Callable[..., Any]:
    """``rule`` in linear-attention blocks; the field is left out of softmax-attention ones."""
    return _only(is_linear, rule)


def attention_only(rule: Rule) -> Callable[..., Any]:
    """``rule`` in softmax-attention blocks; the field is left out of linear-attention ones."""
    return _only(lambda kind: not is_linear(kind), rule)


def by_mixer(linear: Rule | None, attention: Rule | None) -> Callable[..., Any]:
    """``linear`` in linear-attention blocks, ``attention`` in the others; None leaves the field out there."""
    def rule(c: Config, kind: str) -> Any:
        chosen = linear if is_linear(kind) else attention
        return DROP if chosen is None else _evaluate(chosen, c, kind)

    return rule
