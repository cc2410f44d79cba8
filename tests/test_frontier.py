"""The 2026 frontier bundle: Qwen3-VL's text part, and quantized releases, against transformers.

Every bundled spec is already counted exactly in ``test_counts.py``; these tests check what is particular
to the new ones: Qwen3-VL's text configs have no causal-LM class (the text model plus the wrapper's head is
counted, tied as the wrapper says), its 235B text part is Qwen3-235B-A22B, and a ``quantization_config``
changes nothing transformers builds on the meta device.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gallery.counts import breakdown, total_params
from gallery.derive import derive
from gallery.spec import Arch

from .conftest import ROOT, SPEC_DIR
from .reference import reference_model, reference_param_count


def _vendored(slug: str) -> dict:
    return json.loads((SPEC_DIR / "configs" / f"{slug}.json").read_text())


def _count(config: dict) -> int:
    return total_params(Arch.model_validate(derive(config).arch, strict=False))


def test_qwen3_vl_235b_text_part_is_qwen3_235b(bundled):
    vl, qwen3 = bundled["qwen3-vl-235b-a22b-instruct"][0], bundled["qwen3-235b-a22b"][0]
    assert breakdown(vl.arch) == breakdown(qwen3.arch)
    # independently: the two models transformers builds have the same parameters
    assert reference_param_count(_vendored("qwen3-vl-235b-a22b-instruct")) == reference_param_count(
        _vendored("qwen3-235b-a22b")) == 235_093_634_560
    # the layers are the same but for the rotary embedding (interleaved M-RoPE, θ 5,000,000 vs 1,000,000)
    strip = {"rope"}
    assert ({k: v for k, v in vl.arch.blocks["moe"].mixer.model_dump().items() if k not in strip}
            == {k: v for k, v in qwen3.arch.blocks["moe"].mixer.model_dump().items() if k not in strip})


_VL_TEXT = {"model_type": "qwen3_vl_text", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 100}
_VL_MOE_TEXT = {"model_type": "qwen3_vl_moe_text", "hidden_size": 64, "intermediate_size": 96,
                "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100,
                "moe_intermediate_size": 24, "num_experts": 6, "num_experts_per_tok": 2, "mlp_only_layers": [1]}


@pytest.mark.parametrize("wrapper", [
    {"model_type": "qwen3_vl", "text_config": _VL_TEXT},  # tie_word_embeddings absent: Qwen3VLConfig's false
    {"model_type": "qwen3_vl", "text_config": _VL_TEXT, "tie_word_embeddings": True},
    {"model_type": "qwen3_vl_moe", "text_config": _VL_MOE_TEXT},  # the text class says tied (true); the wrapper not
    {"model_type": "qwen3_vl_moe", "text_config": _VL_MOE_TEXT | {"tie_word_embeddings": True}},
    {"model_type": "qwen3_vl_moe", "text_config": _VL_MOE_TEXT | {"decoder_sparse_step": 2, "mlp_only_layers": []},
     "tie_word_embeddings": True},
    {"model_type": "qwen3_vl_moe", "text_config": {"model_type": "qwen3_vl_moe_text", "num_hidden_layers": 1}},
])
def test_qwen3_vl_text_model_and_head_are_exact(wrapper):
    """The wrapper's own flag ties the head (Qwen3VLForConditionalGeneration), whatever the text config says."""
    model = reference_model(wrapper)
    tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert derive(wrapper).arch["embedding"]["tied"] == tied == wrapper.get("tie_word_embeddings", False)
    assert _count(wrapper) == reference_param_count(wrapper)


def test_qwen3_vl_moe_layers_follow_mlp_only_layers_and_the_sparse_step():
    config = {"model_type": "qwen3_vl", "text_config": _VL_MOE_TEXT | {"num_hidden_layers": 4,
                                                                        "decoder_sparse_step": 2}}
    config["model_type"] = "qwen3_vl_moe"
    built = ["moe" if hasattr(layer.mlp, "experts") else "dense" for layer in reference_model(config).model.layers]
    assert derive(config).arch["layers"] == built == ["dense", "dense", "dense", "moe"]


@pytest.mark.parametrize("slug", ["kimi-k2.6", "qwen3.6-27b", "qwen3.6-35b-a3b", "gemma-4-31b-it"])
def test_quantization_config_changes_storage_not_the_architecture(slug):
    """from_config ignores quantization_config (only from_pretrained builds a quantizer): same modules, same count."""
    import torch

    config = _vendored(slug)
    plain = {k: v for k, v in config.items() if k != "quantization_config"}
    assert "quantization_config" in config
    assert derive(config).arch == derive(plain).arch
    model = reference_model(config)
    assert reference_param_count(config) == reference_param_count(plain) == _count(config)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(type(m) is torch.nn.Linear for m in linears)  # no quantized replacement modules
    assert all(p.dtype in (torch.float32, torch.bfloat16) for p in model.parameters())


# --- configs of model types transformers does not implement -------------------------------------------------

NO_REFERENCE = sorted((Path(__file__).parent / "fixtures" / "no-reference").glob("*.json"))


@pytest.mark.parametrize("path", NO_REFERENCE, ids=[p.stem for p in NO_REFERENCE])
def test_no_reference_model_types_are_said_in_one_line(path):
    import transformers

    from gallery.derive import FAMILIES, NO_REFERENCE as TABLE, DerivationError

    config = json.loads(path.read_text())
    model_type = config["model_type"]
    assert model_type not in transformers.CONFIG_MAPPING  # the independent fact: no reference implementation
    with pytest.raises(DerivationError) as err:
        derive(config)
    line = str(err.value)
    assert "\n" not in line and f"'{model_type}'" in line
    assert "no reference implementation to read, so no exact count" in line
    nearest = TABLE[model_type]
    assert nearest is None or (nearest in FAMILIES and f"nearest type the gallery reads is '{nearest}'" in line)


@pytest.mark.parametrize("command", ["stats", "new"])
def test_cli_says_so_and_writes_nothing(command, tmp_path):
    path = next(p for p in NO_REFERENCE if "MiMo" in p.name)
    args = [str(path)] + (["--hf-repo", "XiaomiMiMo/MiMo-7B-Base", "-o", str(tmp_path / "mimo-7b.yaml")]
                          if command == "new" else [])
    proc = subprocess.run([sys.executable, "-m", "gallery", command, *args], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 2 and proc.stdout == "" and not list(tmp_path.iterdir())
    assert proc.stderr.count("\n") == 1 and "'mimo' has no implementation in transformers" in proc.stderr
    assert "no exact count" in proc.stderr and "'qwen2'" in proc.stderr and "Traceback" not in proc.stderr


def test_try_page_says_so():
    from .test_app import _app

    path = next(p for p in NO_REFERENCE if "Kimi-K3" in p.name)
    at = _app("views/try.py", mode="paste or upload")
    at.text_area(key="pasted").set_value(path.read_text()).run()
    assert not at.exception
    from views.common import literal  # the page shows a stranger's text literally (Markdown escaped)

    assert [e.value for e in at.error if "kimi" in e.value] == [literal(
        "model_type 'kimi_k3' has no implementation in transformers (remote code on the Hub): there is no reference "
        "implementation to read, so no exact count; no type the gallery reads is close enough to name")]
