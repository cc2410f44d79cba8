"""Gemma 4 assistants: the draft models of Gemma 4's speculative decoding (``models/gemma4_assistant``,
``models/gemma4_unified_assistant``).

``Gemma4AssistantForCausalLM`` is a Gemma 4 text stack (``text_config``, a ``gemma4_text`` config; the unified
assistant's is ``gemma4_unified_text``) between ``pre_projection`` (2 × ``backbone_hidden_size`` → hidden_size) and
``post_projection`` (hidden_size → ``backbone_hidden_size``), with an output head tied to its token table as the
assistant's own ``tie_word_embeddings`` says (the text config's flag is not read) and, with
``use_ordered_embeddings``, a centroid layer of ``num_centroids`` (:mod:`gallery.draft_head`). Its
``__post_init__`` makes every layer KV-shared when ``num_kv_shared_layers`` is 0: each reads the target model's K
and V. ``Gemma4AssistantConfig.validate_architecture`` refuses per-layer inputs, the MoE block, the double-wide MLP and
any layer with K/V of its own; the unified assistant's class checks none of these.

transformers 5.23 builds no real assistant: a layer's ``Gemma4TextAttention`` reads ``kv_sharing_modes``, which
refuses a config where no layer keeps K/V of its own ("The set of layer types producing a cache is different than
the set of layer types using them"). The gallery reads such a config as the modeling code would build it (every
layer without k_proj, v_proj and k_norm); ``tests/test_gemma4_assistant.py`` counts it by hand.
"""

from __future__ import annotations

from ..config import DerivationError, shown
from ..family import DROP, Derived, Family
from .gemma import SHARED, Gemma4Text, gemma4_types, kv_shared
from .gemma4_unified import Gemma4UnifiedText

#: the assistant config class's own keys (the rest are its text_config's)
OWN = ("backbone_hidden_size", "use_ordered_embeddings", "num_centroids", "centroid_intermediate_top_k",
       "tie_word_embeddings")
_OWN_DEFAULTS = {"use_ordered_embeddings": False, "num_centroids": 2048, "centroid_intermediate_top_k": 32,
                 "tie_word_embeddings": True}
#: ``Gemma4AssistantConfig.validate_architecture``: text_config keys that must be off
_MUST_BE_OFF = ("hidden_size_per_layer_input", "enable_moe_block", "use_double_wide_mlp", "vocab_size_per_layer_input")


def merged(raw: dict, model_type: str, text_type: str) -> dict:
    """The assistant's text_config and its own keys as one mapping (the assistant's tie_word_embeddings, never the
    text config's); a missing or null text_config is the text type's defaults."""
    text = raw.get("text_config")
    if text is None:
        text = {}
    if not isinstance(text, dict):
        raise DerivationError(f"text_config is {shown(text)}: expected an object (a {text_type} config) or null")
    if text.get("model_type", text_type) != text_type:
        raise DerivationError(f"text_config.model_type is {shown(text['model_type'])}: the text_config of a "
                              f"{model_type} config is a {text_type} config")
    own = {k: raw[k] for k in OWN if k in raw}
    return {k: v for k, v in text.items() if k != "tie_word_embeddings"} | own | {"model_type": text_type}


def _layers(check: bool):
    """Each layer's type, every one KV-shared when num_kv_shared_layers is 0 or all layers (``__post_init__``): it
    reads the target model's K and V. Fewer shared layers: the last ones reuse the draft's own (``kv_shared``), which
    the unified assistant builds and ``Gemma4AssistantConfig.validate_architecture`` (``check``) refuses."""
    def rule(c, kind=None):
        types = gemma4_types(c)
        if check:
            for key in _MUST_BE_OFF:
                if c[key]:
                    raise DerivationError(f"{key} is {shown(c[key])}: a gemma4_assistant's text_config must set it "
                                          "to 0 or false (Gemma4AssistantConfig.validate_architecture)")
        shared = c["num_kv_shared_layers"]
        if shared in (0, len(types)):
            return [t + SHARED for t in types]
        if check:
            raise DerivationError(f"num_kv_shared_layers is {shared}: every layer of a gemma4_assistant reuses the "
                                  f"target's K/V, so it is 0 or num_hidden_layers ({len(types)})")
        if shared > len(types):
            raise DerivationError(f"num_kv_shared_layers is {shared}: more than the {len(types)} layers; accepted: "
                                  f"0 or num_hidden_layers (every layer reads the target's K/V), or fewer")
        return kv_shared(c, types)
    return rule


def _draft(field):
    """A rule of the centroid head, read when use_ordered_embeddings."""
    return lambda c: c[field] if c["use_ordered_embeddings"] else DROP


_ARCH = {"draft_head.backbone_d_model": "backbone_hidden_size",
         "draft_head.centroids": _draft("num_centroids"),
         "draft_head.centroid_top_k": _draft("centroid_intermediate_top_k")}

_BLOCK = {"mixer.kv_shared": lambda c, k: k.endswith(SHARED)}  # num_kv_shared_layers 0 is every layer here


def _assistant(text: type[Family], model_type: str, backbone: int, check: bool, doc: str) -> type[Family]:
    """The family of an assistant around the ``text`` stack: its tables and defaults with the assistant's own keys
    (``backbone_hidden_size`` defaults to ``backbone``), the layers' rule (``check``: refuse what
    ``validate_architecture`` refuses) and a ``derive`` that reads the text_config beside the assistant's keys."""
    def derive(cls, raw: dict) -> Derived:
        return Family.derive.__func__(cls, merged(raw, cls.model_type, cls.text_type))

    name = "".join(part.capitalize() for part in model_type.split("_"))
    return type(name, (text,), {
        "__doc__": doc, "__module__": __name__, "model_type": model_type, "text_type": text.model_type,
        "transformers_class": name + "ForCausalLM",
        "defaults": text.defaults | _OWN_DEFAULTS | {"backbone_hidden_size": backbone}, "arch": text.arch | _ARCH,
        "layers": staticmethod(_layers(check)), "block": text.block | _BLOCK, "derive": classmethod(derive)})


Gemma4Assistant = _assistant(Gemma4Text, "gemma4_assistant", 1536, True, "``Gemma4AssistantConfig``: a gemma4_text "
                             "stack whose layers read the target's K/V, between the projections.")
Gemma4UnifiedAssistant = _assistant(
    Gemma4UnifiedText, "gemma4_unified_assistant", 3840, False, "``Gemma4UnifiedAssistantConfig``: the same around a "
    "gemma4_unified_text stack; its class checks nothing, so layers of their own K/V build (the later KV-shared layers "
    "then reuse those).")


__all__ = ["Gemma4Assistant", "Gemma4UnifiedAssistant"]
