"""Gemma 4 26B-A4B's MoE block, wired as ``Gemma4TextDecoderLayer.forward`` runs it (issue 21).

From the modeling code: only the dense MLP reads ``pre_feedforward_layernorm``; the router reads the residual
stream through its own weightless ``router.norm``; the experts read it through ``pre_feedforward_layernorm_2``;
the MLP's output goes through ``post_feedforward_layernorm_1``, the experts' through ``post_feedforward_layernorm_2``;
the two are added, then ``post_feedforward_layernorm`` and the residual add. The norm modules are read from the
layer transformers builds on the meta device; the order of the forward is written here by hand from the code.
"""

from __future__ import annotations

import re

from gallery.diagram import to_dot
from gallery.trace import trace

from .reference import reference_model

SLUG = "gemma-4-26b-a4b"


def _norms(layer) -> dict[str, int]:
    """Every norm module of the layer (name → its number of parameters)."""
    return {name: sum(p.numel() for p in m.parameters()) for name, m in layer.named_modules()
            if type(m).__name__.endswith("RMSNorm") and "self_attn" not in name}


def test_the_reference_layer_has_these_norms(bundled):
    _, config = bundled[SLUG]
    layer = reference_model(config).model.layers[0]
    d = config.get("text_config", config)["hidden_size"]
    assert _norms(layer) == {"input_layernorm": d, "post_attention_layernorm": d, "pre_feedforward_layernorm": d,
                             "post_feedforward_layernorm": d, "router.norm": 0, "post_feedforward_layernorm_1": d,
                             "post_feedforward_layernorm_2": d, "pre_feedforward_layernorm_2": d}


def test_diagram_wires_router_experts_and_mlp_as_the_code(bundled):
    spec, _ = bundled[SLUG]
    dot = to_dot(spec)
    # sliding and full layers differ in attention only, so they share one frame (merged frames, issue 16)
    framed = [kind for kind in spec.arch.blocks if f'subgraph "cluster_{kind}"' in dot]
    assert framed and all(kind in framed or f"{kind} block" in dot or f"/ {kind}" in dot for kind in spec.arch.blocks)
    for kind in framed:
        p = re.escape(kind + ".")
        edges = set(re.findall(rf'"({p}[\w.]+)" -> "({p}[\w.]+)"', dot))
        strip = {(a.removeprefix(kind + "."), b.removeprefix(kind + ".")) for a, b in edges}
        stream = "add1"  # the residual stream after attention
        # only the dense MLP reads pre_feedforward_layernorm (the block's pre-norm of the ffn)
        assert ("ffn_pre", "ffn") in strip and ("ffn", "dense") in strip
        assert ("ffn", "router") not in strip and ("ffn", "experts") not in strip
        # the router reads the stream (its own weightless norm, named on the edge), the experts through their norm
        assert (stream, "router") in strip and (stream, "experts_pre") in strip
        assert re.search(rf'"{p}add1" -> "{p}router" \[label="RMS norm, no weight"\]', dot)
        assert ("experts_pre", "experts") in strip and ("router", "experts") in strip
        # each branch normed, then added; then the block's post-norm and the residual add
        assert {("dense", "dense_post"), ("experts", "experts_post"), ("dense_post", "ffn_out"),
                ("experts_post", "ffn_out"), ("ffn_out", "ffn_post"), ("ffn_post", "add2")} <= strip
        # the norms drawn in the block: one node per weighted norm module of the layer (7), the router's inside it
        block = dot[dot.index(f'subgraph "cluster_{kind}"'):]
        norms = set(re.findall(rf'"({p}[\w.]+)" \[label="RMSNorm"', block))
        assert len(norms) == 7


def test_trace_runs_the_ffn_in_the_code_order(bundled):
    spec, _ = bundled[SLUG]
    ops = [s.op for s in trace(spec, 0, 4)]
    ffn = ops[ops.index("ffn norm (pre)"):]
    assert ffn == [
        "ffn norm (pre)",  # pre_feedforward_layernorm(residual)
        "gate_proj", "up_proj", "activation (gelu_tanh)", "a ⊙ u", "down_proj",  # self.mlp
        "mlp norm (post)",  # post_feedforward_layernorm_1
        "router norm", "router input scale", "router logits", "scores (softmax)", "top-k", "normalise top-k",
        "per-expert scale",  # self.router(residual): norm without weight, × scale × d^-0.5, proj, softmax, top-k
        "experts norm (pre)",  # pre_feedforward_layernorm_2(residual)
        "experts.gate_proj", "experts.up_proj", "activation (gelu_tanh)", "a ⊙ u", "experts.down_proj",
        "weighted sum of experts",  # self.experts
        "experts norm (post)",  # post_feedforward_layernorm_2
        "add mlp and experts",  # hidden_states_1 + hidden_states_2
        "ffn norm (post)", "residual add",  # post_feedforward_layernorm, residual + hidden_states
    ]
    steps = {s.op: s for s in trace(spec, 0, 4)}
    assert steps["router norm"].params == ()  # Gemma4RMSNorm(with_scale=False)
