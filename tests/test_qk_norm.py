"""The scope of QK-norm, pinned against the modules transformers builds (issue 21).

Expected values come from the reference models built on the meta device: which norm module the attention has
(``q_norm``, ``q_layernorm``, ``qk_norm``) and the shapes of its weights. One weight of ``n_heads × head_dim`` is a
norm over the whole projection (OLMo 2, MiniMax-M2: ``Olmo2RMSNorm(num_attention_heads * head_dim)``), one of
``head_dim`` is a per-head norm with a shared weight (Qwen3, Gemma 3/4, LFM2, GLM-4.5), a ``(n_heads, head_dim)``
weight or one ``head_dim`` norm per head is a per-head norm with weights of its own (``CohereLayerNorm((heads,
head_dim))``, ``StableLmLayerNormPerHead``), a module without weights is Llama 4's weightless norm.
"""

from __future__ import annotations

import pytest

from gallery.derive import derive
from gallery.spec import Arch, SoftmaxAttention

from .reference import reference_model

NORM_MODULES = ("q_norm", "q_layernorm", "qk_norm")


def _scope(attn, n_heads: int, head_dim: int) -> str:
    """The scope of the query norm of a transformers attention module, read from its weight shapes."""
    norm = next((getattr(attn, n) for n in NORM_MODULES if getattr(attn, n, None) is not None), None)
    if norm is None:
        return "none"
    shapes = [tuple(p.shape) for p in norm.parameters()]
    return {(): "per_head_weightless", ((n_heads * head_dim,),): "whole_projection",
            ((head_dim,),): "per_head_shared", ((n_heads, head_dim),): "per_head",
            ((head_dim,),) * n_heads: "per_head"}[tuple(shapes)]


CASES = {  # slug → config keys that switch an optional QK-norm on (the bundled configs leave it off)
    "qwen3-8b": {}, "qwen3-30b-a3b": {}, "qwen3-next-80b-a3b-instruct": {}, "gemma-3-1b-it": {},
    "gemma-4-26b-a4b": {}, "lfm2-1.2b": {}, "olmo-2-1124-7b": {}, "minimax-m2.7": {},
    "llama-4-scout-17b-16e-instruct": {}, "llama-3.1-8b-instruct": {},
    "glm-4.5-air": {"use_qk_norm": True}, "aya-23-8b": {"use_qk_norm": True},
    "stablelm-2-zephyr-1-6b": {"qk_layernorm": True},
}
EXPECTED = {  # what the scope is, by model, as the modeling code builds it
    "qwen3-8b": "per_head_shared", "qwen3-30b-a3b": "per_head_shared", "qwen3-next-80b-a3b-instruct":
    "per_head_shared", "gemma-3-1b-it": "per_head_shared", "gemma-4-26b-a4b": "per_head_shared",
    "lfm2-1.2b": "per_head_shared", "olmo-2-1124-7b": "whole_projection", "minimax-m2.7": "whole_projection",
    "llama-4-scout-17b-16e-instruct": "per_head_weightless", "llama-3.1-8b-instruct": "none",
    "glm-4.5-air": "per_head_shared", "aya-23-8b": "per_head", "stablelm-2-zephyr-1-6b": "per_head",
}


@pytest.mark.parametrize("slug", CASES)
def test_qk_norm_scope_is_the_module_transformers_builds(bundled, slug):
    _, config = bundled[slug]
    config = {**config, **CASES[slug]}
    arch = Arch.model_validate(derive(config).arch, strict=False)
    model = reference_model(config)
    seen = set()
    for i, layer in enumerate(model.model.layers):
        mixer = arch.blocks[arch.layers[i]].mixer
        if not isinstance(mixer, SoftmaxAttention):
            continue
        attn = next(getattr(layer, n) for n in ("self_attn", "attention") if hasattr(layer, n))
        scope = _scope(attn, mixer.n_heads, mixer.head_dim)
        assert mixer.qk_norm == scope, (i, mixer.qk_norm, scope)
        seen.add(scope)
    assert EXPECTED[slug] in seen  # Llama 4's NoPE layers have none: "none" is there too


@pytest.mark.parametrize("scope", ["per_head_shared", "per_head", "whole_projection", "per_head_weightless"])
def test_each_scope_has_its_own_label_and_compare_value(scope):
    from gallery.kinds.softmax import KIND

    m = SoftmaxAttention(kind="gqa", n_heads=4, n_kv_heads=2, head_dim=8, rope=None, qk_norm=scope)
    others = [SoftmaxAttention(kind="gqa", n_heads=4, n_kv_heads=2, head_dim=8, rope=None, qk_norm=s)
              for s in ("per_head_shared", "per_head", "whole_projection", "per_head_weightless") if s != scope]
    line = next(x for x in KIND.lines(m) if x.startswith("QK-norm"))
    assert all(line not in KIND.lines(o) for o in others)
    fact = next(f for f in KIND.facts if f.field == "QK-norm")
    assert all(fact.get(m) != fact.get(o) for o in others)
