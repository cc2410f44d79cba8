"""HRM-Text (Sapient, ``models/hrm_text``): two stacks of Llama-style layers run in cycles.

``HrmTextModel`` builds ``L_module`` and ``H_module`` (``num_layers_per_stack`` layers each, then a weightless
``final_norm``) and the frozen start state ``z_L_init``, and runs them ``H_cycles`` × (``L_cycles`` + 1) times a
token (:mod:`gallery.recurrent_stacks`). Its layers: weightless RMS norms (``HrmTextRMSNorm``), MHA (k and v of
num_attention_heads × head_dim) with RoPE and a sigmoid output gate from ``gate_proj`` (heads × head_dim; every
projection with a bias when ``attention_bias``), a SwiGLU MLP. The embeddings are multiplied by ``embedding_scale``
(null: 1 / initializer_range). The config's ``num_hidden_layers`` is the per-stack count on first construction;
``HrmTextConfig.__post_init__`` keeps it as ``num_layers_per_stack`` and rewrites ``num_hidden_layers`` to the cache
slots, ``num_layers_per_stack`` × H_cycles × (L_cycles + 1), so a saved config carries both: a set
``num_layers_per_stack`` wins. Defaults are the config class's (checked by tests/test_derive.py).
"""

from __future__ import annotations

from ...spec import MAX_LAYERS
from ..config import DerivationError
from ..family import const, whole_heads, without
from .llama import Llama

LOW, HIGH = "L_module", "H_module"


def per_stack(c, kind=None) -> int:
    """Layers of each stack: ``num_layers_per_stack``, or on first construction ``num_hidden_layers``; the cache slots
    (num_layers_per_stack × H_cycles × (L_cycles + 1)) bounded like any num_hidden_layers, and a saved config's
    num_hidden_layers at least that many (``DynamicCache(config=...)`` allocates one slot per layer it says; fewer
    fail the first cached forward)."""
    given, slots_per_layer = c["num_layers_per_stack"], c["H_cycles"] * (c["L_cycles"] + 1)
    n = c["num_hidden_layers"] if given is None else given
    if n * slots_per_layer > MAX_LAYERS:
        raise DerivationError(f"num_layers_per_stack × H_cycles × (L_cycles + 1) = {n} × {slots_per_layer} = "
                              f"{n * slots_per_layer:,} layer runs (HrmTextConfig's num_hidden_layers); accepted: up "
                              f"to {MAX_LAYERS:,}")
    if given is not None and c["num_hidden_layers"] < n * slots_per_layer:
        raise DerivationError(f"num_hidden_layers is {c['num_hidden_layers']}: with num_layers_per_stack set it is "
                              f"the cache's slots, and the cycles need {n} × {slots_per_layer} = "
                              f"{n * slots_per_layer}; accepted: at least that, or num_layers_per_stack null")
    return n


def _multiplier(c, kind=None) -> float:
    """``embedding_scale``, or 1 / initializer_range when it is null."""
    scale = c["embedding_scale"]
    if scale is not None:
        return float(scale)
    if c["initializer_range"] == 0:
        raise DerivationError("initializer_range is 0 and embedding_scale null: HrmTextConfig divides 1 by it; "
                              "accepted: a number above 0, or an embedding_scale")
    return 1.0 / c["initializer_range"]


_whole_heads = whole_heads("HrmTextConfig.validate_architecture refuses them")


def _heads(c, kind=None) -> int:
    """num_attention_heads, which must divide hidden_size (HrmTextConfig.validate_architecture)."""
    _whole_heads(c, kind)
    return c["num_attention_heads"]


class HrmText(Llama):
    """``models/hrm_text``: two stacks in cycles; MHA with a sigmoid output gate, weightless RMS norms."""

    model_type = "hrm_text"
    transformers_class = "HrmTextForCausalLM"
    defaults = without(Llama.defaults, "num_key_value_heads") | {
        "vocab_size": 151808, "hidden_size": 1536, "intermediate_size": 4096, "num_hidden_layers": 16,
        "num_attention_heads": 12, "head_dim": 128, "initializer_range": 0.02, "H_cycles": 2, "L_cycles": 3,
        "embedding_scale": None, "num_layers_per_stack": None,
    }
    arch = Llama.arch | {
        "n_layers": lambda c: 2 * per_stack(c),
        "norm.weights": const(False),  # HrmTextRMSNorm: no weight
        "embedding.multiplier": _multiplier,
        "final_norm": const(False),  # the H stack's own final_norm is the last: drawn with the stacks
        "recurrent_stacks.h_cycles": "H_cycles",
        "recurrent_stacks.l_cycles": "L_cycles",
    }
    layers = staticmethod(lambda c: [LOW] * per_stack(c) + [HIGH] * per_stack(c))
    block = Llama.block | {
        "mixer.kind": const("mha"),  # HrmTextAttention: num_key_value_groups = 1
        "mixer.n_heads": _heads,
        "mixer.n_kv_heads": _heads,
        "mixer.head_dim": "head_dim",  # getattr(config, "head_dim", …): the class always has it
        "mixer.gate.activation": const("sigmoid"),
        "mixer.gate.per": const("element"),
        "mixer.gate.proj_bias": "attention_bias",
    }


__all__ = ["HrmText"]
