"""Zamba2 (``models/zamba2``): Mamba-2 layers, and ``num_mem_blocks`` shared attention blocks the hybrid layers take
in turn, each use with LoRA adapters of its own.

Every layer is a ``Zamba2MambaDecoderLayer`` (pre-norm RMSNorm → ``Zamba2MambaMixer`` → residual, no feed-forward):
Bamba's Mamba-2 mixer read from ``n_mamba_heads`` (head width mamba_expand × hidden_size // heads), ``mamba_ngroups``,
``mamba_d_state``, ``mamba_d_conv``, ``chunk_size``, with a conv bias always (``use_conv_bias`` is not read),
``add_bias_linear`` on in_proj and out_proj, and the gated RMSNorm (gate first) over ``mamba_ngroups`` groups. A
"hybrid" entry of ``layers_block_type`` (alias ``layer_types``; by default ``Zamba2Config.__post_init__``'s pattern of
54 layers) first runs a shared ``Zamba2AttentionDecoderLayer`` on concat(hidden, input embeddings), 2 × hidden_size
wide: RMSNorm, attention (head_dim 2 × hidden_size // heads whatever ``attention_head_dim`` or its alias
``head_dim`` says; scale 1/√(head_dim/2); RoPE only with ``use_mem_rope``), RMSNorm, the MLP with its fused gate|up
(``add_bias_linear`` on gate_up_proj and down_proj), no residual; its own ``linear`` maps the result onto the Mamba
layer's input (``Zamba2HybridLayer``). ``Zamba2Model.get_layers`` builds block ``i % num_mem_blocks`` at hybrid layer
i (so min(num_mem_blocks, hybrid layers) blocks: ``arch.shared_blocks`` ``attention`` or ``attention_0``, …, taken
in turn) and ties later copies to the first of each only with ``tie_word_embeddings``. Inside each block, every use
has adapters of rank ``adapter_rank``: on the fused gate|up always, on q, k and v with
``use_shared_attention_adapter`` (``gallery.adapters``). ``use_long_context`` sets max_position_embeddings to 16384.
Defaults are ``Zamba2Config``'s.
"""

from __future__ import annotations

import copy

from ..config import DerivationError
from ..family import DROP, Derived, Family, activation, const, head_layout_kind, per_layer, rope
from .llama import Llama
from .zamba import _KINDS, only_with_hybrid


def _alias_only(c) -> bool:
    """The layers spelled ``layer_types`` (the attribute_map alias): PreTrainedConfig sets it after
    Zamba2Config.__post_init__ has taken hybrid_layer_ids from layers_block_type."""
    given, other = c.raw.get("layer_types"), c.raw.get("layers_block_type")
    return given is not None and (other is None or other is given)  # is: Config copied the alias over


def _layers(c) -> list[str]:
    """What Zamba2Model builds: ``layer_types`` where given (set last), else ``layers_block_type``, else
    Zamba2Config.__post_init__'s: 6 Mamba layers then a hybrid one, 7 times (the first Mamba layer one more), then
    4 + hybrid, 3 + hybrid, 2 Mamba layers. The hybrid layers must be the ``hybrid_layer_ids`` transformers keeps
    (:func:`_hybrid_ids`)."""
    n = c["num_hidden_layers"]
    key = "layer_types" if c.raw.get("layer_types") is not None else "layers_block_type"
    layers = per_layer(c, key, _KINDS, n) or _default_pattern(c)
    ids, source = _hybrid_ids(c)
    actual = [i for i, kind in enumerate(layers) if kind == "hybrid"]
    if ids != actual:
        raise DerivationError(f"hybrid_layer_ids {_short(ids)} ({source}) differ from the hybrid layers "
                              f"{_short(actual)}: Zamba2 sizes and maps each use's adapters by hybrid_layer_ids, "
                              "so transformers builds a model that cannot run; give hybrid_layer_ids as the hybrid "
                              "layers' indices, or spell the layers layers_block_type")
    return layers


def _short(ids: list) -> str:
    return str(ids) if len(ids) <= 8 else f"[{', '.join(map(str, ids[:8]))}, …]"


def _hybrid_ids(c) -> tuple[list[int], str]:
    """Zamba2Config.hybrid_layer_ids: as config.json gives it (a key the class sets in __post_init__, overridden by
    the stored value), else the "hybrid" entries of layers_block_type (its default pattern when only the alias
    layer_types is given)."""
    if c.raw.get("hybrid_layer_ids") is not None:
        return c.get("hybrid_layer_ids"), "as config.json gives them"
    listed = None if _alias_only(c) else per_layer(c, "layers_block_type", _KINDS, c["num_hidden_layers"])
    source = "from layers_block_type" if listed else "from Zamba2Config's default pattern" + (
        ", as layer_types is set after it is read" if _alias_only(c) else "")
    layers = listed or _DEFAULT
    return [i for i, kind in enumerate(layers) if kind == "hybrid"], source


_DEFAULT = ["mamba"] + (["mamba"] * 5 + ["hybrid"]) * 7 + ["mamba"] * 4 + ["hybrid"] + ["mamba"] * 3 + ["hybrid"] + [
    "mamba"] * 2


def _default_pattern(c) -> list[str]:
    if c["num_hidden_layers"] != len(_DEFAULT):
        raise DerivationError(f"num_hidden_layers {c['num_hidden_layers']}: without layers_block_type Zamba2Config "
                              f"lists its own {len(_DEFAULT)} layers; give layers_block_type with one entry per layer")
    return _DEFAULT


def _blocks(c) -> list[str]:
    """The shared blocks built: min(num_mem_blocks, hybrid layers), block_id = hybrid layers before % num_mem_blocks."""
    n, hybrid = c["num_mem_blocks"], _layers(c).count("hybrid")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise DerivationError(f"num_mem_blocks {n!r} must be a positive integer (Zamba2Model takes hybrid layer i's "
                              "block as i % num_mem_blocks)")
    count = min(n, hybrid)
    return ["attention"] if count == 1 else [f"attention_{i}" for i in range(count)]


def _mamba_head_dim(c, kind=None) -> int:
    """``mamba_headdim``: mamba_expand × hidden_size // n_mamba_heads, or config.json's (a key __post_init__ sets,
    overridden by the stored value); the mixer's reshape needs heads × it to be the inner width exactly."""
    heads, inner = c["n_mamba_heads"], c["mamba_expand"] * c["hidden_size"]
    if c.raw.get("mamba_headdim") is not None:
        head_dim = c.get("mamba_headdim")
        if head_dim * heads != inner:
            raise DerivationError(f"mamba_headdim {head_dim} × n_mamba_heads {heads} must equal mamba_expand × "
                                  f"hidden_size = {inner} (Zamba2MambaMixer's inner width), or leave mamba_headdim out")
        return head_dim
    if not isinstance(heads, int) or isinstance(heads, bool) or heads < 1 or inner % heads:
        raise DerivationError(f"n_mamba_heads {heads!r} must divide mamba_expand × hidden_size = {inner!r} "
                              "(Zamba2MambaMixer splits the inner width into heads of mamba_headdim)")
    return inner // heads


def _head_dim(c) -> int:
    """``attention_head_dim`` (alias ``head_dim``) as config.json gives it (__post_init__ sets it, the stored value
    overrides), else 2 × hidden_size // num_attention_heads."""
    return c.get("attention_head_dim") or 2 * c["hidden_size"] // c["num_attention_heads"]


def _d_in(c) -> int:
    """``attention_hidden_size``: 2 × hidden_size, what concat(hidden, embeddings) is; another stored value builds
    a block that cannot read it."""
    width = c.get("attention_hidden_size")
    if width is not None and width != 2 * c["hidden_size"]:
        raise DerivationError(f"attention_hidden_size {width} must be 2 × hidden_size = {2 * c['hidden_size']}: the "
                              "shared block reads concat(hidden, input embeddings); or leave it out")
    return 2 * c["hidden_size"]


def _attention_adapters(c) -> bool:
    """use_shared_attention_adapter: Zamba2Attention adds a 2 × hidden_size wide adapter to q, k and v, so it runs
    only when each is that wide (every head a query head, heads × head_dim = 2 × hidden_size)."""
    on = c["use_shared_attention_adapter"]
    heads, kv = c["num_attention_heads"], c["num_key_value_heads"] or c["num_attention_heads"]
    if on and (kv != heads or heads * _head_dim(c) != _d_in(c)):
        raise DerivationError(f"use_shared_attention_adapter with {heads} heads and {kv} KV heads of "
                              f"{_head_dim(c)}: its adapters are 2 × hidden_size = {2 * c['hidden_size']} wide and "
                              "are added to q, k and v, which transformers builds but cannot run; use as many KV heads "
                              "as heads, and heads that divide 2 × hidden_size")
    return bool(on)


_shared = only_with_hybrid(_layers)


_ATTENTION = {
    "embeddings_input": const(True),  # Zamba2AttentionDecoderLayer: concat(hidden, original_hidden_states)
    "tied": "tie_word_embeddings",  # PreTrainedModel ties _tied_weights_keys (later copies) only with it
    "mixer.kind": head_layout_kind,
    "mixer.n_heads": "num_attention_heads",
    "mixer.n_kv_heads": lambda c: c["num_key_value_heads"] or c["num_attention_heads"],
    "mixer.head_dim": _head_dim,
    "mixer.d_in": _d_in,
    "mixer.rope": lambda c: rope(c) if c["use_mem_rope"] else None,  # Zamba2Attention: RoPE with use_mem_rope
    "mixer.scale": lambda c: (_head_dim(c) / 2) ** -0.5,  # ZambaAttention.scaling
    "ffn.kind": const("mlp"),
    "ffn.d_ff": lambda c: c["intermediate_size"] or 4 * c["hidden_size"],
    "ffn.activation": activation("hidden_act"),
    "ffn.gated": const(True),
    "ffn.bias": "add_bias_linear",  # Zamba2MLP: gate_up_proj and down_proj
    "adapters.rank": "adapter_rank",
    "adapters.attention": _attention_adapters,
    "adapters.ffn": const(True),  # Zamba2MLP.gate_up_proj_adapter_list, always
}

#: Zamba2MambaMixer: BambaMixer read from Zamba2's keys, a conv bias always
_MAMBA2 = {
    "mixer.kind": const("mamba2"),
    "mixer.n_heads": "n_mamba_heads",
    "mixer.head_dim": _mamba_head_dim,
    "mixer.n_groups": "mamba_ngroups",
    "mixer.d_state": "mamba_d_state",
    "mixer.conv_kernel": "mamba_d_conv",
    "mixer.conv_bias": const(True),  # nn.Conv1d(bias=True): use_conv_bias is not read
    "mixer.bias": "add_bias_linear",  # in_proj and out_proj
    "mixer.chunk_size": "chunk_size",
}


class Zamba2(Family):
    """``models/zamba2``: Mamba-2 layers; the hybrid ones first run one of the shared attention blocks, in turn."""

    model_type = "zamba2"
    transformers_class = "Zamba2ForCausalLM"
    defaults = {
        "vocab_size": 32000, "max_position_embeddings": 4096, "hidden_size": 2560, "num_hidden_layers": 54,
        "layers_block_type": None, "mamba_d_state": 64, "mamba_d_conv": 4, "mamba_expand": 2, "mamba_ngroups": 1,
        "n_mamba_heads": 8, "chunk_size": 256, "add_bias_linear": False, "intermediate_size": None,
        "hidden_act": "gelu", "num_attention_heads": 32, "num_key_value_heads": None, "num_mem_blocks": 1,
        "use_shared_attention_adapter": False, "adapter_rank": 128, "use_mem_rope": False, "rope_parameters": None,
        "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "use_long_context": False, "tie_word_embeddings": True,
    }
    aliases = {"layer_types": "layers_block_type", "head_dim": "attention_head_dim"}
    arch = Llama.arch | {
        "context_length": lambda c: 16384 if c["use_long_context"] else c["max_position_embeddings"],
    } | {f"shared_blocks.attention.{key}": _shared(rule) for key, rule in _ATTENTION.items()}
    layers = staticmethod(_layers)
    block = _MAMBA2 | {
        "shared.block": lambda c, k: (lambda names: names[0] if len(names) == 1 else names)(_blocks(c))
        if k == "hybrid" else DROP,
        "shared.linear": lambda c, k: True if k == "hybrid" else DROP,
    }

    @classmethod
    def derive(cls, raw: dict) -> Derived:
        """The family's rules read one shared block, ``attention``; with several, each is a copy of it by its name
        (they are alike), with the same provenance."""
        out = super().derive(raw)
        names = out.arch["blocks"].get("hybrid", {}).get("shared", {}).get("block")
        if not isinstance(names, list):
            return out
        one = out.arch["shared_blocks"].pop("attention")
        out.arch["shared_blocks"] = {name: copy.deepcopy(one) for name in names}
        prefix = "arch.shared_blocks.attention."
        for key in [k for k in out.provenance if k.startswith(prefix)]:
            trail = out.provenance.pop(key)
            for name in names:
                out.provenance[f"arch.shared_blocks.{name}.{key[len(prefix):]}"] = trail
        return out


__all__ = ["Zamba2"]
