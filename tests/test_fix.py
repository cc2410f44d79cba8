"""lint --fix: canonical form, comments kept, idempotent, and the result lints clean."""

from __future__ import annotations

import pytest

from gallery.fix import fix_text
from gallery.loader import load_text

from .conftest import SPEC_FILES

MESSY = """slug: toy   # the id
name: Toy
source:
  model_type: llama
  hf_repo: org/toy
  config: configs/toy.json
  transformers_class: LlamaForCausalLM
organisation: Org
family: Llama
arch:
  n_layers: 2
  d_model: 8
  vocab_size: 10
  context_length: 16
  norm: {eps: 1e-6, kind: rmsnorm}
  embedding:
    tied: yes   # tied!
  layers: "full*2"
  blocks:
    full:
      ffn: {kind: mlp, d_ff: 16, activation: silu, gated: on}
      mixer:
        rope: {theta: 10000}
        n_kv_heads: 2
        head_dim: 4
        n_heads: 4
        kind: gqa
"""


@pytest.mark.parametrize("path", SPEC_FILES, ids=[p.stem for p in SPEC_FILES])
def test_bundled_specs_are_already_canonical(path):
    text = path.read_text()
    assert fix_text(text) == text


def test_fix_orders_keys_normalises_values_and_keeps_comments():
    fixed = fix_text(MESSY)
    lines = fixed.splitlines()
    assert lines[0].startswith("# yaml-language-server: $schema=")
    assert "slug: toy   # the id" in lines
    top = [ln.split(":")[0] for ln in lines if ln and not ln.startswith((" ", "#"))]
    assert top == ["slug", "name", "family", "organisation", "source", "arch"]
    assert "    tied: true  # tied!" in lines
    assert "  norm: {kind: rmsnorm, eps: 1.0e-06}" in lines
    assert "  layers: [full, full]" in lines
    assert "gated: true" in fixed and "theta: 10000.0" in fixed
    block = fixed[fixed.index("    full:"):]
    assert block.index("mixer:") < block.index("ffn:")
    mixer = block[block.index("mixer:"):]
    assert mixer.index("kind: gqa") < mixer.index("n_heads: 4") < mixer.index("rope:")
    loaded = load_text(fixed)
    assert loaded.spec is not None, loaded.problems
    assert fix_text(fixed) == fixed


@pytest.mark.parametrize("path", [p for p in SPEC_FILES if p.stem in ("deepseek-v3.2", "gemma-4-26b-a4b")],
                         ids=lambda p: p.stem)
def test_fix_rewrites_keys_of_older_specs_to_todays_names(path):
    """Specs written before the vocabulary was unified (``indexer.topk``, ``ffn.dense_mlp``) lint clean after
    --fix, with the same values under ``top_k`` and ``d_dense``: the migration others re-run on their specs."""
    today = path.read_text()
    older = today.replace("\n          top_k: ", "\n          topk: ").replace("\n        d_dense: ", "\n        dense_mlp: ")
    assert older != today and load_text(older).spec is None  # the old names are unknown keys now
    fixed = fix_text(older)
    assert fixed == today
    assert load_text(fixed).spec is not None
