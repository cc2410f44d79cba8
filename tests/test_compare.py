"""The compare table: values from the configs, differences marked, compact units, CSV."""

from __future__ import annotations

import csv
import io

import pytest

from gallery.compare import breakdown_frame, compact, differs, frame, kv_curve, rows, to_csv

from .conftest import spec_ids
from .reference import reference_param_count


@pytest.mark.parametrize(("n", "text"), [
    (8_030_261_248, "8.03B"), (124_439_808, "124M"), (1_644_515_328, "1.64B"), (999_885_952, "1.00B"),
    (46_702_792_704, "46.7B"), (0, "0"), (131_072, "131K"), (12_879_925_248, "12.9B"), (999, "999"),
])
def test_compact_units(n, text):
    assert compact(n) == text


def _row(table, field):
    return next(r for r in table if r.field == field)


@pytest.mark.parametrize("slug", spec_ids())
def test_rows_carry_the_config_values(bundled, slug):
    spec, config = bundled[slug]
    table = rows([spec])
    assert _row(table, "total").values[0] == reference_param_count(config)
    assert _row(table, "vocab").values[0] == config["vocab_size"]
    heads = config.get("num_attention_heads", config.get("n_head"))
    assert str(heads) in _row(table, "query heads").exact[0]
    assert not any(r.differs for r in table)  # one model never differs from itself


def test_llama_2_vs_mistral_differs_where_the_configs_do(bundled):
    (llama, lc), (mistral, mc) = bundled["llama-2-7b-hf"], bundled["mistral-7b-v0.1"]
    table = rows([llama, mistral])
    kv = _row(table, "KV heads")
    assert kv.values == (lc["num_key_value_heads"], mc["num_key_value_heads"]) == (32, 8) and kv.differs
    assert _row(table, "vocab").differs is False  # both 32,000
    assert _row(table, "sliding window").exact == ("—", "4,096")
    assert differs([llama, mistral])[("Attention", "KV heads")]


def test_per_kind_values_are_spelled_out(bundled):
    spec, config = bundled["gemma-3-1b-it"]
    theta = _row(rows([spec]), "RoPE θ").exact[0]
    # local layers: rope_local_base_freq 10,000; global: rope_theta 1,000,000
    assert f"{config['rope_local_base_freq']:,}" in theta and f"{config['rope_theta']:,}" in theta


def test_frame_csv_and_charts(bundled):
    specs = [bundled[s][0] for s in ("gpt2", "gpt-j-6b", "qwen3-30b-a3b")]
    table = frame(specs)
    assert list(table.columns) == [s.name for s in specs]
    assert table.loc[("Parameters", "total"), "GPT-2 (124M)"] == "124M"
    parsed = list(csv.reader(io.StringIO(to_csv(specs))))
    assert parsed[0] == ["group", "field", *[s.name for s in specs]]
    assert all(len(r) == 2 + len(specs) for r in parsed)
    total = next(r for r in parsed if r[1] == "total")
    assert total[2] == f"{reference_param_count(bundled['gpt2'][1]):,}"
    curve = kv_curve(specs, [1024, 4096])
    gpt2 = curve[(curve.model == "GPT-2 (124M)") & (curve.context == 1024)].kv_bytes.item()
    assert gpt2 == 12 * 2 * 12 * 64 * 2 * 1024  # layers × K,V × heads × head dim × bf16 × tokens
    parts = breakdown_frame(specs)
    assert set(parts.model) == {s.name for s in specs} and (parts.params > 0).all()
