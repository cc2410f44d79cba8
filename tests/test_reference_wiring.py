"""What the reference code computes where a note describes it (issue 21): the scope of each QK-norm and
the wiring of Gemma 4's MoE block, read from transformers itself and pinned against the notes.

Each model is the bundled config with its widths shrunk (1 layer, 4 query heads of 8 over 2 KV heads,
d_model 32), built on the CPU with random weights; expected values come from the modules it builds and
from forward hooks, never from gallery code:

* QK-norm scope: which norm modules the attention holds and their weight shapes, and whether scaling one
  head's query changes the normalised queries of the other heads (statistics shared across heads).
* Gemma 4: which tensor each of the MoE block's norms, the router, the experts and the dense MLP read.
"""

from __future__ import annotations

import copy
import json
import warnings

import pytest
import torch

from .conftest import SPEC_DIR

HEADS, KV_HEADS, HEAD_DIM, D = 4, 2, 8, 32


def _tiny(slug: str, **overrides):
    """The bundled config of ``slug`` (its text config), shrunk, as a transformers model on the CPU."""
    import transformers
    from transformers.utils import logging

    logging.set_verbosity_error()
    warnings.filterwarnings("ignore")
    raw = json.loads((SPEC_DIR / "configs" / f"{slug}.json").read_text())
    raw = copy.deepcopy(raw.get("text_config", raw))
    sizes = {"hidden_size": D, "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS, "head_dim": HEAD_DIM,
             "num_hidden_layers": 1, "intermediate_size": 16, "moe_intermediate_size": 8, "vocab_size": 64,
             "num_local_experts": 4, "num_experts": 4, "num_experts_per_tok": 2, "top_k_experts": 2,
             "global_head_dim": HEAD_DIM, "num_global_key_value_heads": KV_HEADS, "layer_types": None,
             "max_position_embeddings": 64, "mlp_layer_types": None}
    raw.update({k: v for k, v in sizes.items() if k in raw or k in ("head_dim",)}, **overrides)
    raw = {k: v for k, v in raw.items() if v is not None or k not in ("layer_types", "mlp_layer_types")}
    config = transformers.CONFIG_MAPPING[raw["model_type"]].from_dict(raw)
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    return transformers.AutoModelForCausalLM.from_config(config).float().eval()


def _attention(model):
    return model.model.layers[0].self_attn


def _shared_across_heads(norm, layout: str) -> bool:
    """Whether scaling head 0's values ×10 changes the normalised values of the other heads. ``layout`` is the
    shape the attention hands the norm: "flat" [seq, heads × head_dim] (before the head split), "heads"
    [seq, heads, head_dim], or "heads-first" [heads, seq, head_dim] (StableLM)."""
    x = torch.randn(3, HEADS, HEAD_DIM)
    y = x.clone()
    y[:, 0] *= 10
    shape = {"flat": lambda t: t.reshape(3, HEADS * HEAD_DIM), "heads": lambda t: t,
             "heads-first": lambda t: t.transpose(0, 1).unsqueeze(0)}[layout]
    back = {"flat": lambda t: t.reshape(3, HEADS, HEAD_DIM), "heads": lambda t: t,
            "heads-first": lambda t: t.squeeze(0).transpose(0, 1)}[layout]
    others = back(norm(shape(x)))[:, 1:], back(norm(shape(y)))[:, 1:]
    return not torch.allclose(*others)


# (bundled spec, overrides that switch the QK-norm on, the query norm's name, the layout its attention hands it
#  (read from each attention's forward), expected: statistics shared across heads, weight shape; None: one norm per head)
QK = [
    ("olmo-2-1124-7b", {}, "q_norm", "flat", True, (HEADS * HEAD_DIM,)),
    ("minimax-m2.7", {}, "q_norm", "flat", True, (HEADS * HEAD_DIM,)),
    ("qwen3-0.6b", {}, "q_norm", "heads", False, (HEAD_DIM,)),
    ("aya-23-8b", {"use_qk_norm": True}, "q_norm", "heads", False, (HEADS, HEAD_DIM)),
    ("stablelm-2-zephyr-1-6b", {"qk_layernorm": True}, "q_layernorm", "heads-first", False, None),
]


@pytest.mark.parametrize(("slug", "overrides", "name", "layout", "shared", "shape"), QK, ids=[q[0] for q in QK])
def test_qk_norm_scope_is_what_the_reference_computes(slug, overrides, name, layout, shared, shape):
    norm = getattr(_attention(_tiny(slug, **overrides)), name)
    if shape is None:  # StableLM: one LayerNorm of head_dim per head, each with its own weight
        assert len(norm.norms) == HEADS and all(tuple(n.weight.shape) == (HEAD_DIM,) for n in norm.norms)
    else:
        assert tuple(norm.weight.shape) == shape
    assert _shared_across_heads(norm, layout) == shared


def test_qk_norm_notes_say_the_scope_the_reference_computes():
    from gallery.loader import load_spec

    notes = {slug: " ".join(n.text for n in load_spec(SPEC_DIR / f"{slug}.yaml").spec.notes)
             for slug in ("olmo-2-1124-7b", "olmo-2-0325-32b", "minimax-m2.7", "qwen3-0.6b")}
    for slug in ("olmo-2-1124-7b", "olmo-2-0325-32b", "minimax-m2.7"):  # statistics shared across heads
        assert "whole" in notes[slug] and "per head" not in notes[slug].replace("not per head", ""), slug
    assert "each head's 128 dims (one weight vector shared by all heads)" in notes["qwen3-0.6b"]


def test_gemma4_moe_block_reads_what_the_notes_say():
    model = _tiny("gemma-4-26b-a4b")
    layer = model.model.layers[0]
    seen: dict[str, tuple] = {}

    def hook(name):
        def record(module, args, output):
            seen[name] = (args[0].detach().reshape(-1, D), (output[0] if isinstance(output, tuple) else output)
                          .detach().reshape(-1, D) if name != "router" else None)
        return record

    for name in ("pre_feedforward_layernorm", "pre_feedforward_layernorm_2", "mlp", "router", "experts",
                 "post_feedforward_layernorm_1", "post_feedforward_layernorm_2", "post_feedforward_layernorm"):
        getattr(layer, name).register_forward_hook(hook(name))
    with torch.no_grad():
        model(torch.randint(0, 64, (1, 5)))
    residual = seen["pre_feedforward_layernorm"][0]  # the residual stream after attention
    assert torch.equal(seen["router"][0], residual)  # not a pre-norm's output
    assert torch.equal(seen["pre_feedforward_layernorm_2"][0], residual)
    assert torch.equal(seen["mlp"][0], seen["pre_feedforward_layernorm"][1])
    assert torch.equal(seen["experts"][0], seen["pre_feedforward_layernorm_2"][1])
    assert torch.equal(seen["post_feedforward_layernorm_1"][0], seen["mlp"][1])
    assert torch.equal(seen["post_feedforward_layernorm_2"][0], seen["experts"][1])
    summed = seen["post_feedforward_layernorm_1"][1] + seen["post_feedforward_layernorm_2"][1]
    assert torch.allclose(seen["post_feedforward_layernorm"][0], summed)
    assert not list(layer.router.norm.parameters())  # the router's own norm has no weight
    assert {n for n, _ in layer.router.named_parameters()} == {"proj.weight", "scale", "per_expert_scale"}

    from gallery.loader import load_spec

    wiring, router = (n.text for n in load_spec(SPEC_DIR / "gemma-4-26b-a4b.yaml").spec.notes[:2])
    for words in ("MLP reads pre_feedforward_layernorm", "experts read pre_feedforward_layernorm_2",
                  "post_feedforward_layernorm_1 and _2, summed", "normed again (post_feedforward_layernorm)"):
        assert words in wiring, words
    assert "reads the residual stream" in router and "weightless RMSNorm" in router
