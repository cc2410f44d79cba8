"""HRM-Text (``hrm_text``, issue 15): two stacks of layers run in cycles (:mod:`gallery.recurrent_stacks`).

Its default config and variants that change every size it has (layers per stack, cycles, widths, heads, head_dim,
vocab, tying, biases), written in both orders a config carries its layer count (first construction: the per-stack
count in num_hidden_layers; saved: num_hidden_layers rewritten to the cache slots beside num_layers_per_stack),
counted exactly against the model transformers builds on the meta device; the configs it refuses, refused in one
line; ``new`` and the Try page; the cycles' toy against ``HrmTextModel`` in float64; the cache (also read from a tiny
model's ``DynamicCache``) and the FLOPs derived by hand; the diagram's stacks and loops.
"""

from __future__ import annotations

import numpy as np
import pytest

from gallery.counts import active_params, total_params
from gallery.derive import FAMILIES, DerivationError, derive
from gallery.flops import attention_flops, matmul_flops
from gallery.memory import kv_bytes_per_token, layer_caches
from gallery.recurrent_stacks import runs, toy
from gallery.trace import cycle_trace, trace

from .reference import reference_param_count
from .test_model_types import _arch, drafts_a_clean_spec, the_try_page_counts_it

# every width distinct, so a width read into the wrong place shows
SMALL = {"model_type": "hrm_text", "vocab_size": 500, "hidden_size": 96, "intermediate_size": 160,
         "num_hidden_layers": 3, "num_attention_heads": 6, "head_dim": 16, "H_cycles": 2, "L_cycles": 3}
VARIANTS = {
    "default": {"model_type": "hrm_text"},
    "small": SMALL,
    "5 layers a stack": SMALL | {"num_hidden_layers": 5},
    "saved (both keys)": SMALL | {"num_hidden_layers": 24, "num_layers_per_stack": 3},
    "saved, more slots than needed": SMALL | {"num_hidden_layers": 30, "num_layers_per_stack": 2},
    "per-stack null": SMALL | {"num_layers_per_stack": None},
    "cycles": SMALL | {"H_cycles": 4, "L_cycles": 1},
    "width": SMALL | {"hidden_size": 120, "intermediate_size": 56},
    "heads": SMALL | {"num_attention_heads": 12, "head_dim": 10},
    "head_dim 24": SMALL | {"head_dim": 24},
    "vocab": SMALL | {"vocab_size": 777},
    "tied": SMALL | {"tie_word_embeddings": True},
    "biases": SMALL | {"attention_bias": True, "mlp_bias": True},
    "activation": SMALL | {"hidden_act": "gelu"},
    "embedding_scale": SMALL | {"embedding_scale": 8.0, "initializer_range": 0.5},
    "rope_parameters": SMALL | {"rope_parameters": {"rope_type": "default", "rope_theta": 5e5}},
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_configs_are_exact(variant):
    config = VARIANTS[variant]
    assert total_params(_arch(config)) == reference_param_count(config)


def test_the_config_class_has_no_aliases():
    from transformers import HrmTextConfig

    assert HrmTextConfig.attribute_map == {} and FAMILIES["hrm_text"].aliases == {}


def test_a_saved_config_reads_as_the_config_it_was_saved_from():
    """HrmTextConfig.__post_init__ rewrites num_hidden_layers to the slots and keeps the per-stack count beside it:
    derive reads the saved file (both keys) as the first-construction config (one key)."""
    from transformers import HrmTextConfig

    saved = HrmTextConfig(**{k: v for k, v in SMALL.items() if k != "model_type"}).to_dict()
    assert (saved["num_hidden_layers"], saved["num_layers_per_stack"]) == (3 * 2 * 4, 3)
    assert derive(saved).arch == derive(SMALL).arch
    arch = _arch(SMALL)
    assert arch.layers == ["L_module"] * 3 + ["H_module"] * 3 and not arch.final_norm and not arch.norm.weights
    assert arch.embedding.multiplier == 50.0  # 1 / initializer_range
    gate = arch.blocks["L_module"].mixer.gate
    assert (gate.activation, gate.per, gate.proj_bias) == ("sigmoid", "element", False)


def test_z_l_init_is_counted_and_each_stack_once():
    """A hand count of the small config: embeddings, 2 stacks × 3 layers (q, k, v, o, gate_proj of 6 × 16 and the
    SwiGLU MLP; weightless norms), z_L_init, the untied head; the cycles multiply no parameter."""
    d, hd, ff, v = 96, 6 * 16, 160, 500
    layer = 5 * d * hd + 3 * d * ff
    assert total_params(_arch(SMALL)) == v * d + 2 * 3 * layer + d + d * v
    assert total_params(_arch(VARIANTS["cycles"])) == total_params(_arch(SMALL))
    assert active_params(_arch(SMALL)) == total_params(_arch(SMALL))


@pytest.mark.parametrize(("change", "why"), [
    ({"num_hidden_layers": 20, "num_layers_per_stack": 3}, "num_hidden_layers is 20"),
    ({"num_attention_heads": 7}, "num_attention_heads"),
    ({"H_cycles": 0}, "H_cycles"),
    ({"L_cycles": "3"}, "L_cycles"),
    ({"L_cycles": 2.0}, "L_cycles"),
    ({"num_layers_per_stack": 0}, "num_layers_per_stack"),
    ({"initializer_range": 0.0}, "initializer_range"),
    ({"initializer_range": 2.0}, "initializer_range"),
    ({"embedding_scale": 0.0}, "embedding_scale"),
    ({"head_dim": None}, "head_dim"),
    ({"H_cycles": 10**6}, "H_cycles"),
    ({"num_hidden_layers": 200}, "layer runs"),
])
def test_bad_configs_are_refused_in_one_line(change, why):
    from gallery.trial import spec_from_config

    with pytest.raises((DerivationError, ValueError), match=why) as refused:
        spec_from_config(SMALL | change)
    assert "\n" not in str(refused.value)


def test_new_drafts_a_spec_that_lints_clean_and_the_try_page_reads_it(tmp_path, capsys):
    drafts_a_clean_spec(tmp_path, {"model_type": "hrm_text"}, capsys)
    the_try_page_counts_it({"model_type": "hrm_text"})


# --- cache and FLOPs by hand ---------------------------------------------------------------------------------------


def test_default_cache_has_a_slot_per_run():
    """16 layers a stack; per token an L layer runs H_cycles × L_cycles = 6 times, an H layer H_cycles = 2 times, each
    run caching K and V of 12 heads × 128: 16 × (6 + 2) × 2 × 12 × 128 elements, 2 bytes each."""
    arch = _arch(VARIANTS["default"])
    assert (runs(arch, "L_module"), runs(arch, "H_module")) == (6, 2)
    by_kind = {c.kind: c for c in layer_caches(arch)}
    assert by_kind["L_module"].elements_per_token == 6 * 2 * 12 * 128
    assert by_kind["H_module"].elements_per_token == 2 * 2 * 12 * 128
    assert "6 runs" in by_kind["L_module"].formula
    assert kv_bytes_per_token(arch) == 16 * 8 * 2 * 12 * 128 * 2


def test_the_cache_is_what_a_tiny_models_dynamic_cache_holds():
    import torch
    import transformers

    config = SMALL | {"H_cycles": 2, "L_cycles": 2, "num_hidden_layers": 2, "hidden_size": 24, "num_attention_heads": 2,
                      "head_dim": 4, "intermediate_size": 8, "vocab_size": 40}
    model = transformers.HrmTextForCausalLM(transformers.HrmTextConfig(
        **{k: v for k, v in config.items() if k != "model_type"})).eval()
    with torch.no_grad():
        cache = model(torch.tensor([[1, 2, 3, 4, 5]]), use_cache=True).past_key_values
    held = sum(layer.keys[0, :, 0].numel() + layer.values[0, :, 0].numel() for layer in cache.layers)
    assert len(cache.layers) == 2 * 2 * 3  # a slot per layer run
    assert held == sum(c.n_layers * c.elements_per_token for c in layer_caches(_arch(config)))


def test_default_flops_by_hand():
    """Each layer's weights multiply at each run: q, k, v, o and gate_proj (1,536 × 1,536 each) and the SwiGLU MLP
    (3 × 1,536 × 4,096), 16 × (6 + 2) runs, plus the head; attention over C tokens, 2 × 12 × (128 + 128) × C a run."""
    arch = _arch(VARIANTS["default"])
    layer = 5 * 1536 * 1536 + 3 * 1536 * 4096
    assert matmul_flops(arch) == 2 * (16 * 8 * layer + 1536 * 151808)
    assert attention_flops(arch, 1000) == 16 * 8 * 2 * 12 * 256 * 1000


def test_layer_traces_times_their_runs_are_the_flops_and_the_cycles_chain():
    arch = _arch(SMALL | {"attention_bias": True})
    per_layer = {kind: sum(s.flops for s in trace(arch, i, 1) if s.matmul) for i, kind in enumerate(arch.layers)}
    total = sum(runs(arch, kind) * per_layer[kind] for kind in arch.layers)
    assert total + 2 * 96 * 500 == matmul_flops(arch)
    steps = cycle_trace(arch, 7)
    assert len(steps) == 1 + 2 * (3 + 1) * 3 and all(s.in_shape == s.out_shape == (7, 96) for s in steps)
    stack = sum(s.flops for kind in arch.layers[:3] for s in trace(arch, arch.layers.index(kind), 7))
    assert steps[2].op == "L stack (1.1)" and steps[2].flops == stack
    assert [s.op for s in steps[-3:]] == ["H stack input (2)", "H stack (2)", "H stack final norm (2)"]


# --- the cycles' toy against HrmTextModel ----------------------------------------------------------------------

SEQ = 6
HF = {"q_proj": "self_attn.q_proj", "k_proj": "self_attn.k_proj", "v_proj": "self_attn.v_proj",
      "o_proj": "self_attn.o_proj", "g_proj": "self_attn.gate_proj", "gate_proj": "mlp.gate_proj",
      "up_proj": "mlp.up_proj", "down_proj": "mlp.down_proj"}


@pytest.mark.parametrize("change", [{}, {"attention_bias": True, "mlp_bias": True, "H_cycles": 3, "L_cycles": 1},
                                    {"num_hidden_layers": 1, "L_cycles": 2}], ids=["default", "biases", "1 layer"])
def test_toy_cycles_equal_transformers(change):
    """Every stack run's output and the last z_H, with the toy's weights copied into HrmTextModel (float64; its
    RMS norms compute in float32, so within 1e-6)."""
    import torch
    import transformers
    from transformers.utils import logging

    logging.set_verbosity_error()
    t = toy(_arch(SMALL | change), SEQ, seed=3)
    a, k = t.arch, t.arch.n_layers // 2
    m, f = a.blocks["L_module"].mixer, a.blocks["L_module"].ffn
    cfg = transformers.HrmTextConfig(
        vocab_size=32, hidden_size=a.d_model, intermediate_size=f.d_ff, num_hidden_layers=k, num_attention_heads=m.n_heads,
        head_dim=m.head_dim, H_cycles=a.recurrent_stacks.h_cycles, L_cycles=a.recurrent_stacks.l_cycles,
        rms_norm_eps=a.norm.eps, attention_bias=m.qkv_bias, mlp_bias=f.bias, embedding_scale=1.0, hidden_act="silu",
        rope_parameters={"rope_type": "default", "rope_theta": m.rope.theta})
    cfg._attn_implementation = "eager"
    model = transformers.HrmTextModel(cfg).double().eval()
    state = {"z_L_init": torch.from_numpy(t.weights["z_L_init"])}
    for i, w in enumerate(t.layer_weights):
        for name, value in w.items():
            base, kind = name.rsplit(".", 1)
            key = f"{'L' if i < k else 'H'}_module.layers.{i % k}.{HF[base]}.{kind}"
            state[key] = torch.from_numpy(value.T if value.ndim == 2 else value)
    assert model.load_state_dict(state, strict=False).missing_keys == ["embed_tokens.weight"]
    seen = []
    for stack in (model.L_module, model.H_module):
        stack.register_forward_hook(lambda module, args, out: seen.append(out[0].numpy()))
    with torch.no_grad():
        out = model(inputs_embeds=torch.from_numpy(t.x)[None]).last_hidden_state[0].numpy()
    ours = [s.value for s in t.steps if "final norm" in s.op]
    assert len(seen) == len(ours) == a.recurrent_stacks.h_cycles * (a.recurrent_stacks.l_cycles + 1)
    for theirs, mine in zip(seen, ours):
        np.testing.assert_allclose(mine, theirs, atol=1e-6)
    np.testing.assert_allclose(t.steps[-1].value, out, atol=1e-6)


# --- the diagram --------------------------------------------------------------------------------------------------


def test_the_diagram_draws_each_stack_once_and_the_cycles_as_loops():
    from gallery.diagram import to_dot
    from gallery.render import render
    from gallery.trial import spec_from_config

    spec = spec_from_config({"model_type": "hrm_text"})
    dot = to_dot(spec)
    assert dot.count("L_module block × 16") == 1 and dot.count("H_module block × 16") == 1
    assert "L stack × 3 per H cycle" in dot and "H cycle × 2" in dot and "× 50" in dot
    assert "8 stack runs × 16 layers = 128 layer runs," in dot
    assert "layers:" not in dot  # no layer strip: the stacks say it
    assert render(dot, "svg").startswith(b"<?xml") or b"<svg" in render(dot, "svg")


@pytest.mark.parametrize(("layers", "extra"), [
    (["L_module"] * 3 + ["H_module"] * 2, {}),
    (["L_module"] * 3 + ["L_module"] * 3, {}),
    (["L_module"] * 3 + ["H_module"] * 3, {"laurel": {"rank": 4}}),
], ids=["odd", "one kind in both stacks", "with laurel"])
def test_stacks_that_cannot_be_split_are_refused_as_block_wiring(layers, extra):
    from pydantic import ValidationError

    from gallery.codes import code_for
    from gallery.spec import Arch

    data = derive(SMALL).arch | extra | {"layers": layers, "n_layers": len(layers)}
    data["blocks"] = {k: data["blocks"]["L_module"] for k in dict.fromkeys(layers)}
    with pytest.raises(ValidationError) as err:
        Arch.model_validate(data, strict=False)
    assert code_for(err.value.errors()[0]["type"]) == "C006"


def test_the_trace_page_shows_the_cycles(tmp_path, monkeypatch):
    """A drafted HRM spec served alone: the Trace page lists the cycles a row per stack run and runs their toy."""
    import json

    from streamlit.testing.v1 import AppTest

    from gallery.cli import main

    from .conftest import ROOT, page_tables

    config = tmp_path / "config.json"
    config.write_text(json.dumps(SMALL | {"num_hidden_layers": 2, "L_cycles": 2}))
    assert main(["new", str(config), "--hf-repo", "org/hrm-tiny", "-o", str(tmp_path / "specs" / "hrm-tiny.yaml")]) == 0
    monkeypatch.setenv("GALLERY_SPECS", str(tmp_path / "specs"))
    at = AppTest.from_file(str(ROOT / "gallery_app.py"), default_timeout=60)
    at.query_params.update(slug="hrm-tiny", layer="1", seq="5", toy="true")
    at.switch_page("views/trace.py")
    at.run()
    assert not at.exception
    cycles = page_tables(at)[1]  # the layer's steps, then the cycles
    assert list(cycles["op"][:3]) == ["z_L = z_L_init", "L stack input (1.1)", "L stack (1.1)"]
    assert len(cycles) == 1 + 2 * 3 * 3
    assert any(e.label.startswith("cycles 18. H stack final norm (2)") for e in at.expander)
