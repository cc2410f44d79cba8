"""Step 3.5 Flash (``model_type`` step3p5), read as transformers 5.23 reads it: ``Step3p7TextConfig`` and
``Step3p7TextModel`` in ``models/step3p7`` (no causal-LM class: the text model plus the wrapper's untied head).

Its difference from MiMo-V2-Flash (full and sliding layers with their own head layout, sigmoid routing with a
correction bias):

- the sliding layers have more *query* heads (``num_sliding_attention_heads``, else the legacy
  ``attention_other_setting.num_attention_heads``; a saved config's ``per_layer_config``), the KV heads are shared;
- every layer has a per-head output gate (``g_proj``: d_model → n_heads) and QK-norm, no sinks;
- RoPE θ and the rotary fraction are per-layer lists of which transformers uses each layer type's first entry
  (the others are checked, not used); the llama3 ``rope_scaling`` applies to full layers only;
- MoE layers come from ``mlp_layer_types``, else ``moe_layers_enum``, else layers 3 on; one shared expert of
  ``share_expert_dim``; the routed output × ``moe_router_scaling_factor``;
- ``swiglu_limits`` (routed experts) and ``swiglu_limits_shared`` (shared expert, and the dense MLP) clamp SwiGLU on
  some layers, which get block kinds of their own ("full-moe-clamped");
- legacy per-layer lists carry ``num_nextn_predict_layers`` trailing MTP entries, which
  ``Step3p7TextConfig.__post_init__`` cuts off; a list of any other length is refused.

Keys of the Hub's remote code that transformers does not read are refused when they ask for something it does not
build (``sink: true``, ``use_head_wise_attn_gate: false``...): the count would not be the checkpoint's.
"""

from __future__ import annotations

from ...spec import attention_kind
from ..config import EXPECT, DerivationError, Read, shown
from ..family import (
    DROP, MLP_TYPES, SLIDING_OR_FULL, const, dense_only, is_moe, is_sliding, layer_kinds, moe_only, per_layer,
    rope_from, without,
)
from .mimo import MimoV2Flash

#: Remote-code keys transformers ignores → the value that says what it builds anyway.
_BUILT_ANYWAY = {
    "use_head_wise_attn_gate": True, "sink": False, "use_qk_norm": True, "use_moe_router_bias": True,
    "norm_expert_weight": True, "moe_router_activation": "sigmoid", "att_impl_type": "GQA",
    "yarn_only_types": ["full_attention"],
}


def _popped(c, key, fallback=None):
    """A key ``Step3p7TextConfig.__post_init__`` pops and reads itself (no attribute default), recorded as read."""
    present = key in c.raw
    value = c.raw[key] if present else fallback
    c.trail.append(Read(key, value, present))
    return value


def _padded(c, key, value, n):
    """``value`` cut to ``n`` entries when it carries the MTP layers' entries too; else as given."""
    if isinstance(value, list) and len(value) == n + (c.get("num_nextn_predict_layers") or 0) != n:
        return value[:n]
    if isinstance(value, list) and len(value) != n:
        raise DerivationError(f"{key}: {len(value)} entries for {n} layers (num_hidden_layers, plus "
                              "num_nextn_predict_layers MTP entries that are cut off); give one entry per layer")
    return value


def _checked(c):
    """Refuse a remote-code key whose value transformers would not build (see :data:`_BUILT_ANYWAY`)."""
    for key, built in _BUILT_ANYWAY.items():
        if key in c.raw and c.raw[key] != built:
            raise DerivationError(f"{key}: {shown(c.raw[key])}, but transformers (Step3p7TextModel) ignores it and "
                                  f"builds what {shown(built)} says, so its count would not be this checkpoint's")


def _moe_layers(c, n):
    """``moe_layers_enum``: MoE layer indices, a comma-separated string or a list; absent, layers 3 on."""
    value = _popped(c, "moe_layers_enum")
    if value is None:
        return ["dense" if i < 3 else "moe" for i in range(n)]
    items = value.split(",") if isinstance(value, str) else value
    padded = n + (c.get("num_nextn_predict_layers") or 0)
    if not isinstance(items, list):
        raise DerivationError(f"moe_layers_enum: {shown(value)}: expected layer indices, a comma-separated string "
                              "or a list of integers")
    chosen = set()
    for item in items:
        text = str(item).strip() if isinstance(item, (str, int)) and not isinstance(item, bool) else None
        if text == "":
            continue
        if text is None or not text.isdigit() or int(text) >= padded:
            raise DerivationError(f"moe_layers_enum: {shown(item)} is not a layer index; accepted: 0 to "
                                  f"{padded - 1} ({n} layers and the MTP layers)")
        chosen.add(int(text))
    return ["moe" if i in chosen else "dense" for i in range(n)]


def _layers(c, kind=None):
    return [name for name, _ in _named_layers(c)]


def _named_layers(c):
    """(block kind, its clamps) per layer: kinds by attention and feed-forward, then a kind of their own for the
    layers whose SwiGLU is clamped ("sliding-moe-clamped"; a number after it when one kind has several)."""
    _checked(c)
    n = c["num_hidden_layers"]
    types = per_layer(c, "layer_types", SLIDING_OR_FULL, n, entries=_padded(c, "layer_types", c["layer_types"], n))
    mlp = c["mlp_layer_types"]
    mlp = (per_layer(c, "mlp_layer_types", MLP_TYPES, n, entries=_padded(c, "mlp_layer_types", mlp, n))
           if mlp is not None else _moe_layers(c, n))
    names: dict[tuple, str] = {}
    out = []
    for base, (routed, shared) in zip(layer_kinds(types or ["full"] * n, mlp), _swiglu_limits(c)):
        clamps = (routed, shared) if is_moe(base) else (None, shared)  # Step3p7MLP reads swiglu_limits_shared
        if clamps == (None, None):
            out.append((base, clamps))
            continue
        if (base, clamps) not in names:
            same = sum(b == base for b, _ in names)
            names[base, clamps] = f"{base}-clamped" + (str(same + 1) if same else "")
        out.append((names[base, clamps], clamps))
    return out


def _clamp(which):
    """The routed (0) or shared (1) clamp of the kind's layers; left out when there is none."""
    def rule(c, kind):
        value = dict(_named_layers(c))[kind][which]
        return DROP if value is None else value
    return rule


def _types(c):
    """The attention type of every layer, as transformers names them."""
    n = c["num_hidden_layers"]
    return _padded(c, "layer_types", c["layer_types"], n) or ["full_attention"] * n


def _per_type(c, key, value, kind, check):
    """Entry of a per-layer list for ``kind``'s layer type: its first layer's, the one transformers uses for every
    layer of the type (``Step3p7TextConfig.__post_init__``; every entry must still be of the accepted kind)."""
    name = "sliding_attention" if is_sliding(kind) else "full_attention"
    if not isinstance(value, list):
        return check(key, value)
    value = _padded(c, key, value, c["num_hidden_layers"])
    for i, v in enumerate(value):
        check(f"{key}[{i}]", v)
    return value[_types(c).index(name)]


def _number(maximum=None):
    def check(key, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or (
                maximum and value > maximum):
            raise DerivationError(f"{key}: {shown(value)} is not a number above 0"
                                  + (f" up to {maximum}" if maximum else ""))
        return value
    return check


def _rope(c, kind):
    """``Step3p7TextConfig.__post_init__``: per layer type, θ and the rotary fraction of the type's first layer;
    ``rope_scaling`` (llama3) on full layers; a saved ``rope_parameters`` per type is kept as it is."""
    name = "sliding_attention" if is_sliding(kind) else "full_attention"
    saved = c.get("rope_parameters") or {}
    types = set(_types(c))
    if isinstance(saved, dict) and all(isinstance(saved.get(t), dict) for t in types):
        return rope_from(dict(saved[name]), c)
    theta = _per_type(c, "rope_theta", _popped(c, "rope_theta", c.defaults["rope_theta"]), kind, _number())
    partial = _popped(c, "partial_rotary_factors")
    params = {"rope_type": "default", "rope_theta": theta}
    if partial:
        params["partial_rotary_factor"] = _per_type(c, "partial_rotary_factors", partial, kind, _number(1))
    scaling = _popped(c, "rope_scaling")
    if scaling and name == "full_attention":
        problem = EXPECT["rope_scaling"].problem("rope_scaling", scaling, c.model_type)
        if problem:
            raise DerivationError(problem)
        params |= scaling
    return rope_from(params, c)


def _heads(c, kind):
    """Full layers: ``num_attention_heads``; sliding: ``num_sliding_attention_heads``, else the legacy
    ``attention_other_setting.num_attention_heads`` (its other entries are not read: they must agree)."""
    saved = _popped(c, "per_layer_config") if "per_layer_config" in c.raw else None
    if saved is not None:
        name = "sliding_attention" if is_sliding(kind) else "full_attention"
        heads = {h for h, t in zip(_saved_heads(c, saved), _types(c)) if t == name}
        if len(heads) > 1:  # transformers builds them; one block kind cannot show them
            raise DerivationError(f"per_layer_config: the {name} layers have {len(heads)} different head counts "
                                  f"({', '.join(map(str, sorted(heads)))}); the gallery reads one per layer type")
        return heads.pop()
    if not is_sliding(kind):
        return c["num_attention_heads"]
    if c.get("num_sliding_attention_heads") is not None:
        return c["num_sliding_attention_heads"]
    other = _popped(c, "attention_other_setting") or {}
    if not isinstance(other, dict):
        raise DerivationError(f"attention_other_setting: {shown(other)}: expected an object")
    for key, ours in (("num_attention_groups", c["num_key_value_heads"]), ("head_dim", c["head_dim"]),
                      ("true_head_dim", c["head_dim"])):
        if key in other and other[key] != ours:
            raise DerivationError(f"attention_other_setting.{key}: {shown(other[key])} differs from the model's "
                                  f"{ours}; transformers reads only its num_attention_heads")
    heads = other.get("num_attention_heads", c["num_attention_heads"])
    return _number()("attention_other_setting.num_attention_heads", heads) if not isinstance(heads, int) else heads


def _scale(c, kind=None):
    """``query_pre_attn_scalar ** -0.5`` (default head_dim); null when that is the usual 1/√head_dim."""
    scalar = c.get("query_pre_attn_scalar")
    return None if scalar in (None, c["head_dim"]) else scalar**-0.5


def _saved_heads(c, saved):
    """A config saved by transformers: ``per_layer_config`` {layer: {"num_attention_heads": n}} (sliding layers)."""
    if not isinstance(saved, dict):
        raise DerivationError(f"per_layer_config: {shown(saved)}: expected an object of layer overrides")
    heads = [c["num_attention_heads"]] * c["num_hidden_layers"]
    for layer, entry in saved.items():
        i = int(layer) if str(layer).isdigit() else -1
        if not 0 <= i < len(heads) or not isinstance(entry, dict) or set(entry) - {"num_attention_heads"}:
            raise DerivationError(f"per_layer_config: {shown({layer: entry})}: the gallery reads an entry per layer "
                                  f"index (0 to {len(heads) - 1}) overriding num_attention_heads only")
        heads[i] = entry.get("num_attention_heads", heads[i])
    return heads


def _swiglu_limits(c):
    """(routed, shared) clamp per layer from ``swiglu_limits`` and ``swiglu_limits_shared``; 0 or null: none."""
    n = c["num_hidden_layers"]
    lists = []
    for key in ("swiglu_limits", "swiglu_limits_shared"):
        value = _padded(c, key, _popped(c, key), n) or [None] * n
        for i, v in enumerate(value):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
                raise DerivationError(f"{key}[{i}]: {shown(v)} at layer {i} is not a limit; accepted: a number of "
                                      "at least 0 (0 = no clamp) or null")
        lists.append([float(v) if v else None for v in value])
    return list(zip(*lists))


class Step3p5(MimoV2Flash):
    """``models/step3p7`` (Step3p7TextModel + lm_head): Step3p7DecoderLayer (gated GQA, MLP or sigmoid MoE)."""

    model_type = "step3p5"
    transformers_class = "Step3p7TextModel"
    wrapper_head = True
    defaults = {
        "vocab_size": 128815, "hidden_size": 4096, "intermediate_size": 11264, "num_hidden_layers": 45,
        "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 128000,
        "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "num_experts_per_tok": 8, "rope_parameters": None,
        "mlp_layer_types": None, "layer_types": None, "moe_intermediate_size": 1280, "n_routed_experts": 288,
        "share_expert_dim": 1280, "sliding_window": None, "num_sliding_attention_heads": None,
        "attention_bias": False, "moe_router_scaling_factor": 1.0, "mlp_bias": False, "rope_theta": 10000.0,
    }
    aliases = {"num_local_experts": "n_routed_experts", "num_attention_groups": "num_key_value_heads",
               "moe_num_experts": "n_routed_experts", "moe_top_k": "num_experts_per_tok",
               "share_expert_dims": "share_expert_dim", "num_mtp_layers": "num_nextn_predict_layers"}
    layers = staticmethod(_layers)
    block = without(MimoV2Flash.block, "mixer.v_head_dim", "mixer.sinks", "ffn.router.n_groups",
                    "ffn.router.topk_groups") | {
        "mixer.kind": lambda c, k: attention_kind(_heads(c, k), c["num_key_value_heads"]),
        "mixer.n_heads": _heads,
        "mixer.n_kv_heads": "num_key_value_heads",
        "mixer.out_bias": "attention_bias",
        "mixer.qk_norm": const("per_head_shared"),  # Step3p7RMSNorm(head_dim), x · (1 + w)
        "mixer.gate.activation": const("sigmoid"),  # Step3p7Attention.g_proj, per head (gating = True)
        "mixer.gate.per": const("head"),
        "mixer.scale": _scale,
        "mixer.rope": _rope,
        "mixer.window": lambda c, k: c["sliding_window"] if is_sliding(k) else None,
        "ffn.activation": const("silu"),  # __post_init__ sets hidden_act to silu whatever the config says
        "ffn.bias": dense_only("mlp_bias"),
        "ffn.n_shared_experts": moe_only(const(1)),
        "ffn.d_shared": moe_only("share_expert_dim"),
        "ffn.shared_bias": moe_only("mlp_bias"),
        "ffn.router.normalize_topk": moe_only(const(True)),
        "ffn.router.weight_scale": moe_only("moe_router_scaling_factor"),
        "ffn.clamp": lambda c, k: _clamp(0 if is_moe(k) else 1)(c, k),
        "ffn.shared_clamp": moe_only(_clamp(1)),
    }


__all__ = ["Step3p5"]
