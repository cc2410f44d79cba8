"""dots3 (rednote's dots.llm3, ``models/dots3_note``): DeepSeek-V3.2's latent attention and experts, with widths of
their own on the sliding-window layers.

``Dots3NoteTextConfig`` and ``Dots3NoteTextAttention`` differ from DeepSeek-V3.2 in:

- layer types: ``indexed_attention`` (latent attention with GLM-5's indexer, interleaved RoPE), ``full_attention``
  (no indexer: ``use_dsa: false``, which turns every indexed layer full, or a saved ``layer_types``) and
  ``sliding_attention`` (a window of ``sliding_window``, else the popped ``sliding_window_size``, 512); without
  ``layer_types``, every layer slides except layers i < 2 and i % 4 == 1 (``use_sliding_window: false``: none);
- per-layer widths: the sliding layers read ``swa_num_attention_heads``, ``swa_q_lora_rank``, ``swa_kv_lora_rank``,
  ``swa_head_dim``, ``swa_qk_nope_head_dim``, ``swa_v_head_dim`` (and ``swa_qk_rope_head_dim``, else head_dim − nope)
  into ``per_layer_config``; a config saved by transformers carries ``per_layer_config`` itself (then the swa_* keys
  are not read), which transformers builds only when every layer of a type has the same overrides;
- in every layer: the query latent and the normed KV latent × √(hidden_size / rank) (the query's before q_b_proj,
  so the indexer reads it scaled), an RMS norm on the shared RoPE key (``k_rope_only_layernorm``), a per-head sigmoid
  gate ``g_proj`` (hidden_size → heads) before o_proj, the plain 1/√(nope + rope) scale (no YaRN mscale), and all
  latent norms at ``rms_norm_eps``;
- RoPE per layer type: ``rope_theta`` (80,000,000) on indexed and full layers, ``swa_rope_theta`` (50,000) on sliding
  ones, unless ``rope_parameters`` (or the legacy ``rope_scaling``) says otherwise;
- dense layers below ``first_k_dense_replace`` (1) and where ``moe_layer_freq`` says so, unless ``mlp_layer_types``
  is given; shared experts of ``shared_experts_intermediate_size`` (or ``moe_shared_expert_intermediate_size``) each.

``dots3_note`` (the multimodal wrapper) is read through its ``text_config``, or, when it has none, from its top-level
keys as ``Dots3NoteConfig`` does; the vision and audio towers are left out.
"""

from __future__ import annotations

from ..config import EXPECT, DerivationError, shown
from ..family import DROP, MLP_TYPES, const, layer_kinds, moe_only, per_layer, rope_from
from .deepseek import DeepseekV32

#: layer_types → the attention word of the block kind
_ATTENTION = {"indexed_attention": "indexed", "full_attention": "full", "sliding_attention": "sliding"}
_TYPE = {word: name for name, word in _ATTENTION.items()}
#: Dots3NoteTextConfig.__post_init__: the swa_* keys' defaults (swa_qk_rope_head_dim: head_dim − qk_nope_head_dim)
_SWA = {"num_attention_heads": 64, "num_key_value_heads": 64, "q_lora_rank": 1024, "kv_lora_rank": 1024,
        "head_dim": 256, "qk_nope_head_dim": 192, "v_head_dim": 128}
_WIDTHS = (*_SWA, "qk_rope_head_dim")


def _attention_types(c) -> list[str]:
    """Each layer's attention word: ``layer_types`` (or the default schedule), then ``use_dsa`` turns full layers
    indexed (true; its default unless the config carries ``per_layer_config``) or indexed layers full (false)."""
    n = c["num_hidden_layers"]
    use_dsa = c.get("use_dsa", None if "per_layer_config" in c.raw else True)
    given = c["layer_types"]
    if given is None:
        first = "full_attention" if use_dsa is False else "indexed_attention"
        sliding = c.get("use_sliding_window", True)
        given = [first if not sliding or i < 2 or i % 4 == 1 else "sliding_attention" for i in range(n)]
    if use_dsa is not None and isinstance(given, list):  # before the legacy names are renamed, as transformers does
        old, new = ("full_attention", "indexed_attention") if use_dsa else ("indexed_attention", "full_attention")
        given = [new if t == old else t for t in given]
    return per_layer(c, "layer_types", _ATTENTION, n, entries=given)


def _layers(c, kind=None) -> list[str]:
    """Block kinds from the attention types and the MLP types (``mlp_layer_types``, else first_k_dense_replace and
    moe_layer_freq, an interval or one flag per layer)."""
    n, attention = c["num_hidden_layers"], _attention_types(c)
    ffn = per_layer(c, "mlp_layer_types", MLP_TYPES, n)
    if ffn is None:
        first, freq = c.get("first_k_dense_replace", 1), c.get("moe_layer_freq", 1)
        if isinstance(freq, list) and len(freq) < n:
            raise DerivationError(f"moe_layer_freq: {len(freq)} entries for {n} layers (num_hidden_layers); give one "
                                  "flag per layer, or an interval")
        ffn = ["moe" if i >= first and (bool(freq[i]) if isinstance(freq, list) else i % freq == 0) else "dense"
               for i in range(n)]
    return layer_kinds(attention, ffn)


def _word(kind: str) -> str:
    """The attention word of a block kind ("indexed" where :func:`layer_kinds` left it out: all indexed)."""
    return next((w for w in kind.split("-") if w in _TYPE), "indexed")


def _saved(c) -> dict[str, dict]:
    """``per_layer_config`` as overrides per layer type (each layer of a type must have the same ones)."""
    saved, types = c.raw["per_layer_config"], _attention_types(c)
    if saved is None:
        return {}
    if not isinstance(saved, dict):
        raise DerivationError(f"per_layer_config: {shown(saved)}: expected an object of layer overrides")
    by_layer = [{}] * len(types)
    for layer, entry in saved.items():
        i = int(layer) if str(layer).isdigit() else -1
        if not 0 <= i < len(types) or not isinstance(entry, dict) or set(entry) - set(_WIDTHS):
            raise DerivationError(f"per_layer_config: {shown({layer: entry})}: the gallery reads an entry per layer "
                                  f"index (0 to {len(types) - 1}) overriding {', '.join(_WIDTHS)}")
        by_layer[i] = entry
    out: dict[str, dict] = {}
    for i, word in enumerate(types):
        if out.setdefault(word, by_layer[i]) != by_layer[i]:
            raise DerivationError(f"per_layer_config: layer {i} ({_TYPE[word]}) has other overrides than the first "
                                  f"layer of its type; Dots3NoteTextAttention reads one set per layer type")
    return out


def _width(key: str):
    """A width of a layer type: its override (per_layer_config, else the swa_* keys on sliding layers), else the
    config's."""
    def rule(c, kind):
        word = _word(kind)
        if "per_layer_config" in c.raw:
            entry = _saved(c).get(word, {})
            value = entry[key] if key in entry else c[key]
            where = f"per_layer_config ({_TYPE[word]} layers) {key}" if key in entry else key
        elif word == "sliding":
            swa = {k: c.get(f"swa_{k}", v) for k, v in _SWA.items()}
            swa["qk_rope_head_dim"] = c.get("swa_qk_rope_head_dim", swa["head_dim"] - swa["qk_nope_head_dim"])
            value, where = swa[key], f"swa_{key}"
        else:
            value, where = c[key], key
        problem = EXPECT[key].problem(where, value, c.model_type)
        if problem or value is None:  # null: a query latent is required (Dots3NoteTextConfig.validate_architecture)
            raise DerivationError(problem or f"{where} is null: Dots3NoteTextConfig requires a query latent rank")
        return value
    return rule


def _checked(key: str):
    """A width after ``Dots3NoteTextConfig.validate_architecture``'s checks of its layer type."""
    read = _width(key)

    def rule(c, kind):
        word, value = _word(kind), read(c, kind)
        heads, kv = _width("num_attention_heads")(c, kind), _width("num_key_value_heads")(c, kind)
        if (kv or heads) != heads:
            raise DerivationError(f"num_key_value_heads is {kv} on the {_TYPE[word]} layers: Dots3NoteTextConfig "
                                  f"needs it equal to num_attention_heads ({heads})")
        rope = _width("qk_rope_head_dim")(c, kind)
        if word == "indexed" and rope > c["index_head_dim"]:
            raise DerivationError(f"qk_rope_head_dim is {rope}: the indexer turns that many of its index_head_dim "
                                  f"({c['index_head_dim']}) dims; accepted: at most index_head_dim")
        nope, head = _width("qk_nope_head_dim")(c, kind), _width("head_dim")(c, kind)
        if word == "sliding" and head != nope + rope:
            raise DerivationError(f"swa_head_dim is {head}: Dots3NoteTextConfig needs the sliding layers' head_dim "
                                  f"= qk_nope_head_dim + qk_rope_head_dim = {nope} + {rope}")
        return value
    return rule


def _rope(c, kind):
    """RoPE of the layer's type: rope_parameters (one entry per layer type, or one for all), else the legacy
    rope_scaling for all, else rope_theta (indexed and full layers) or swa_rope_theta (sliding layers)."""
    name = _TYPE[_word(kind)]
    params = c["rope_parameters"] or c.get("rope_scaling")
    if params is None:
        theta = c.get("swa_rope_theta", 50_000.0) if name == "sliding_attention" else c["rope_theta"]
        params = {"rope_type": "default", "rope_theta": theta}
    elif any(key in _ATTENTION for key in params):  # nested by layer type
        params = params.get(name) or {}
    return rope_from({k: v for k, v in dict(params).items() if k != "partial_rotary_factor"}, c)


def _shared_width(c, kind):
    """Dots3NoteTextMoE: one MLP of n_shared_experts × shared_experts_intermediate_size (or its older spelling)."""
    shared = c["n_shared_experts"]
    if not shared:
        raise DerivationError(f"n_shared_experts is {shown(shared)}: Dots3NoteTextConfig requires at least one "
                              "shared expert")
    width = c.get("moe_shared_expert_intermediate_size") if "moe_shared_expert_intermediate_size" in c.raw else \
        c["shared_experts_intermediate_size"]
    return shared * width


def _groups(key):
    """n_group and topk_group as Dots3NoteTextConfig.validate_architecture accepts them."""
    def rule(c, kind):
        experts, groups, top = c["n_routed_experts"], c["n_group"], c["topk_group"]
        if experts % groups or experts // groups < 2 or not 1 <= top <= groups:
            raise DerivationError(f"n_group {groups}, topk_group {top} for {experts} experts: Dots3NoteTextConfig "
                                  "needs n_group to divide n_routed_experts into groups of at least 2 experts, and "
                                  "1 ≤ topk_group ≤ n_group")
        return c[key]
    return rule


def _indexed(rule):
    """``rule`` on indexed layers (the indexer's fields); left out of full and sliding ones."""
    return lambda c, kind: (c[rule] if isinstance(rule, str) else rule(c, kind)) if _word(kind) == "indexed" else DROP


def _adapters(c):
    """hidden_size, after ``Dots3NoteConfig.validate_architecture``: the vision and audio adapters' output widths
    (``vision_config.adapter_out_dim``, ``audio_config.adapter_out_dim`` or its older spellings; 5120) must equal it."""
    d = c["hidden_size"]
    for tower, spellings in (("vision_config", ("adapter_out_dim",)),
                             ("audio_config", ("adapter_out_dim", "whisper_adapter_out_dim", "adapter_output_size"))):
        entry = c.raw.get(tower) or {}
        if not isinstance(entry, dict):
            raise DerivationError(f"{tower}: {shown(entry)}: expected an object")
        width = next((entry[key] for key in spellings if key in entry), 5120)
        if width != d:
            raise DerivationError(f"{tower}.adapter_out_dim is {shown(width)}: Dots3NoteConfig needs the {tower[:5]} "
                                  f"adapter's output width equal to hidden_size ({d})")
    return d


class Dots3NoteText(DeepseekV32):
    """``models/dots3_note`` (Dots3NoteForCausalLM): latent attention with per-layer-type widths, latent scales, a
    RoPE-key norm and a per-head gate; DeepSeek-V3.2's routing and shared experts."""

    model_type = "dots3_note_text"
    transformers_class = "Dots3NoteForCausalLM"
    defaults = {k: v for k, v in DeepseekV32.defaults.items() if k not in ("first_k_dense_replace",)} | {
        "vocab_size": 152064, "hidden_size": 5120, "intermediate_size": 13824, "moe_intermediate_size": 1536,
        "num_hidden_layers": 46, "num_attention_heads": 128, "num_key_value_heads": 128, "n_shared_experts": 1,
        "n_routed_experts": 256, "routed_scaling_factor": 1.0, "kv_lora_rank": 512, "q_lora_rank": 1024,
        "n_group": 1, "topk_group": 1, "max_position_embeddings": 524288, "rms_norm_eps": 1e-5,
        "rope_theta": 80_000_000.0, "head_dim": 256, "layer_types": None, "sliding_window": None,
        "shared_experts_intermediate_size": 1536,
    }
    aliases = {"num_local_experts": "n_routed_experts"}
    layers = staticmethod(_layers)
    block = {k: v for k, v in DeepseekV32.block.items() if not k.startswith("mixer.indexer.")} | {
        "mixer.n_heads": _checked("num_attention_heads"),
        "mixer.q_lora_rank": _width("q_lora_rank"),
        "mixer.kv_lora_rank": _width("kv_lora_rank"),
        "mixer.qk_nope_head_dim": _width("qk_nope_head_dim"),
        "mixer.qk_rope_head_dim": _width("qk_rope_head_dim"),
        "mixer.v_head_dim": _width("v_head_dim"),
        "mixer.rope": _rope,
        "mixer.scale": const(None),  # Dots3NoteTextAttention: qk_head_dim ** -0.5, no mscale
        "mixer.window": lambda c, k: (c["sliding_window"] or c.get("sliding_window_size", 512))
        if _word(k) == "sliding" else DROP,
        "mixer.latent_scales": const("query_latent"),
        "mixer.rope_key_norm": const(True),
        "mixer.latent_norm_eps": "rms_norm_eps",  # Dots3NoteRMSNorm(rank, eps=config.rms_norm_eps)
        "mixer.gate.activation": const("sigmoid"),
        "mixer.gate.per": const("head"),
        "mixer.indexer.n_heads": _indexed("index_n_heads"),
        "mixer.indexer.head_dim": _indexed("index_head_dim"),
        "mixer.indexer.top_k": _indexed("index_topk"),
        "mixer.indexer.rope_pairs": _indexed(const(True)),  # Dots3NoteTextIndexer is GlmMoeDsaIndexer
        "ffn.d_shared": moe_only(_shared_width),
        "ffn.router.n_groups": moe_only(_groups("n_group")),
        "ffn.router.topk_groups": moe_only(_groups("topk_group")),
    }


class Dots3Note(Dots3NoteText):
    """``Dots3NoteConfig`` without a ``text_config``: the published layout, its text model's keys at the top level
    (a config with one is read through it, as every wrapper is)."""

    model_type = "dots3_note"
    reads_as = "dots3_note_text"  # its top-level keys are the text config's
    arch = Dots3NoteText.arch | {"d_model": _adapters}


__all__ = ["Dots3NoteText", "Dots3Note"]
