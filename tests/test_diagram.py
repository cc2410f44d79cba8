"""The block diagram is faithful to the spec: block kinds, head counts, norms where they sit, escaping."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

from gallery.diagram import THEMES, diff_components, to_dot
from gallery.kinds import ffn_kind
from gallery.spec import CompressedAttention, GatedDeltaNet, LatentAttention, SoftmaxAttention

from .conftest import SVG, spec_ids
from .dotgraph import Graph, parse

# Norm nodes inside one block, by wiring: written out from the definitions, not from the builder.
#   pre:      norm → mixer → +, norm → ffn → +                      2 norms
#   post:     mixer → norm → +, ffn → norm → +                      2 norms
#   sandwich: norm → mixer → norm → +, norm → ffn → norm → +        4 norms
#   parallel with one shared norm (GPT-J, Cohere): 1; with two (GPT-NeoX parallel): 2
#   a block with one sublayer only (Nemotron-H: a mixer or an ffn; Falcon-Mamba) has half: norm → sublayer → +
EXPECTED_NORMS = {("pre", False, False): 2, ("post", False, False): 2, ("sandwich", False, False): 4,
                  ("pre", True, True): 1, ("pre", True, False): 2}


def _frame(dot: Graph, kind: str) -> str:
    """The name of the frame that draws block kind ``kind``: its own, or one titled with several kinds ("sliding /
    full block × 62") named after the first."""
    for name, frame in dot.clusters.items():
        title = frame.attrs["label"].partition(" block × ")[0]
        if name == kind or kind in title.split(" / "):
            return name
    raise AssertionError(f"no frame draws {kind}")


def _cluster(dot: Graph, kind: str) -> Graph:
    """The frame that draws block kind ``kind``."""
    return dot.clusters[_frame(dot, kind)]


def _frames(dot: Graph) -> list[str]:
    """The block frames, in order (not the MoE insets inside them)."""
    return [k for k in dot.clusters if "." not in k]


def _labels(graph: Graph) -> list[str]:
    return graph.labels()


def _shared_frame(spec) -> bool:
    """Written from the spec's blocks: do its kinds differ in one sublayer only (all of them in the mixer, or all in
    the feed-forward, norms and wiring alike)? Then one frame draws them, that sublayer as alternatives."""
    dumps = [spec.arch.blocks[k].model_dump() for k in dict.fromkeys(spec.arch.layers)]
    without = lambda part: [{**b, part: b[part] is None} for b in dumps]  # noqa: E731 - keep whether it exists
    return len(dumps) > 1 and any(all(b == without(part)[0] for b in without(part)) for part in ("mixer", "ffn"))


@pytest.mark.parametrize("slug", spec_ids())
def test_one_frame_per_block_kind_with_its_repeat_count(bundled, slug):
    spec, config = bundled[slug]
    dot = parse(to_dot(spec))
    kinds = list(dict.fromkeys(spec.arch.layers))
    assert _frames(dot) == (kinds[:1] if _shared_frame(spec) else kinds)
    n_layers = config.get("num_hidden_layers", config.get("n_layer", config.get("num_blocks")))  # xLSTM: num_blocks
    shown = sum(int(n) for k in _frames(dot) for n in re.findall(r"block × (\d+)", dot.clusters[k].attrs["label"]))
    assert shown == n_layers  # every layer is in exactly one frame's count
    if _shared_frame(spec):  # each kind's alternative says its layers, as the pattern counts them
        edge_labels = {a.get("label") for _, _, a in dot.edges}
        for kind in kinds:
            assert f"{kind} × {spec.arch.layers.count(kind)}" in edge_labels


@pytest.mark.parametrize(("slug", "n_frames"), [("gemma-3-27b-it", 1), ("qwen3-next-80b-a3b-instruct", 1),
                                                ("deepseek-v3", 1), ("nvidia-nemotron-3-nano-30b-a3b", 3)])
def test_kinds_sharing_their_sublayers_share_a_frame(bundled, slug, n_frames):
    """Gemma 3's sliding and full layers differ only in window and RoPE base, Qwen3-Next's linear and full share their
    MoE, DeepSeek-V3's dense prefix shares its MLA: one frame each, the differing part as two alternatives side by
    side; Nemotron-H's Mamba, attention and MoE-only layers really differ: three frames."""
    spec, _ = bundled[slug]
    dot = to_dot(spec)
    assert len(_frames(parse(dot))) == n_frames
    assert dot.count("<TD BGCOLOR=") == spec.arch.n_layers  # the strip keeps the full pattern


@pytest.mark.parametrize("slug", spec_ids())
def test_attention_label_shows_the_head_layout_from_the_config(bundled, slug):
    spec, config = bundled[slug]
    heads = config.get("num_attention_heads", config.get("n_head"))
    sliding_heads = (config.get("attention_other_setting") or {}).get("num_attention_heads")  # Step 3.5's sliding
    dot = parse(to_dot(spec))
    for kind, block in spec.arch.blocks.items():
        label = " ".join(_labels(_cluster(dot, kind)))
        if isinstance(block.mixer, SoftmaxAttention):
            assert f"{sliding_heads if sliding_heads and block.mixer.window else heads} query heads" in label
            assert f"{block.mixer.n_kv_heads} KV heads" in label and f"head dim {block.mixer.head_dim}" in label
        elif isinstance(block.mixer, GatedDeltaNet):
            assert (f"{config['linear_num_key_heads']} query/key heads × {config['linear_key_head_dim']}" in label
                    and f"{config['linear_num_value_heads']} value heads × {config['linear_value_head_dim']}" in label)
        elif isinstance(block.mixer, CompressedAttention):  # DeepSeek-V4: one KV head, read as key and value
            assert f"{heads} query heads · 1 shared KV head (K = V) · head dim {config['head_dim']}" in label
        elif isinstance(block.mixer, LatentAttention):
            assert f"{heads} heads" in label and f"KV latent {config['kv_lora_rank']}" in label


@pytest.mark.parametrize("slug", spec_ids())
def test_norms_sit_where_the_spec_puts_them(bundled, slug):
    spec, _ = bundled[slug]
    dot = parse(to_dot(spec))
    norm = "RMSNorm" if spec.arch.norm.kind == "rmsnorm" else "LayerNorm"
    for kind, block in spec.arch.blocks.items():
        cluster = _cluster(dot, kind)
        norms = [lab for lab in _labels(cluster) if lab.startswith(norm)]
        both = block.mixer is not None and block.ffn is not None
        expected = EXPECTED_NORMS[(block.norm_placement, block.parallel, block.shared_norm)]
        # and the norms an ffn kind has of its own (Gemma 4's MoE beside a dense MLP: three, which the counts pin)
        extra = ffn_kind(block.ffn).extra_norms(block.ffn) if block.ffn is not None else 0
        assert len(norms) == (expected if both else expected // 2) + extra
        first = "mixer" if block.mixer is not None else "ffn"
        frame = _frame(dot, kind)  # a sublayer the frame's kinds share is drawn once, under the frame's name
        if block.norm_placement in ("pre", "sandwich") and not block.parallel:  # norm feeds the first sublayer
            assert {(f"{frame}.{first}_pre", f"{k}.{first}") for k in (kind, frame)} & set(_pairs(cluster))
        if block.norm_placement in ("post", "sandwich") and block.mixer is not None:  # attention output is normed
            assert {(f"{k}.mixer", f"{frame}.mixer_post") for k in (kind, frame)} & set(_pairs(cluster))
    assert any(lab.startswith("Final " + norm) for lab in _labels(dot)) == spec.arch.final_norm


def _pairs(graph: Graph) -> list[tuple[str, str]]:
    """The (tail, head) of each edge in ``graph``."""
    return [(t, h) for t, h, _ in graph.edges]


@pytest.mark.parametrize("slug", ["qwen3-8b", "olmo-2-1124-7b", "gemma-3-1b-it", "llama-2-7b-hf"])
def test_qk_norm_is_drawn_inside_attention(bundled, slug):
    spec, config = bundled[slug]
    label = " ".join(_labels(_cluster(parse(to_dot(spec)), spec.arch.layers[0])))
    # Qwen3, OLMo 2 and Gemma 3 apply a norm to queries and keys (q_norm/k_norm modules); Llama 2 does not.
    assert ("QK-norm" in label) == (config["model_type"] in ("qwen3", "olmo2", "gemma3_text"))


def test_moe_block_shows_router_experts_and_shared_expert(bundled):
    spec, config = bundled["deepseek-v2-lite-chat"]
    label = " ".join(_labels(_cluster(parse(to_dot(spec)), "moe")))
    assert f"top-{config['num_experts_per_tok']} of {config['n_routed_experts']}" in label
    assert f"{config['n_shared_experts']} shared experts" in label
    assert f"d_expert {config['moe_intermediate_size']:,}" in label


def test_hybrid_stack_shows_every_layer_in_a_strip(bundled):
    spec, config = bundled["gemma-3-1b-it"]
    dot = to_dot(spec)
    assert dot.count("<TD BGCOLOR=") == config["num_hidden_layers"]
    assert "(5 sliding : 1 full) ×4, 2 sliding" in dot  # 26 layers, every 6th global, by hand


def test_labels_from_data_are_escaped(bundled):
    spec, _ = bundled["gpt2"]
    hostile = spec.model_copy(update={"name": 'GPT "2" <script>alert(1)</script> \\ end', "organisation": "<b>x</b>"})
    dot = to_dot(hostile)
    assert 'GPT \\"2\\"' in dot and "\\\\ end" in dot
    proc = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert b"<script>" not in proc.stdout and b"&lt;script&gt;" in proc.stdout


def test_a_label_shaped_like_html_stays_text(bundled):
    """A title that starts with ``<`` and ends with ``>`` would be an HTML-like label if written bare: it is quoted,
    and drawn as the characters it has."""
    spec, _ = bundled["gpt2"]
    dot = to_dot(spec.model_copy(update={"name": "<B>bold", "organisation": "<I>it</I>"}))
    proc = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, check=True)
    texts = [e.text for e in ET.fromstring(proc.stdout).iter(f"{SVG}text")]
    assert "<B>bold · <I>it</I>" in texts


@pytest.mark.parametrize("theme", sorted(THEMES))
def test_themes_set_background_and_text(bundled, theme):
    dot = parse(to_dot(bundled["llama-2-7b-hf"][0], theme))
    assert (dot.attrs["bgcolor"], dot.attrs["fontcolor"]) == (THEMES[theme].background, THEMES[theme].text)
    assert {a["fontcolor"] for a in dot.nodes.values() if a["shape"] != "plaintext"} == {THEMES[theme].text}


def test_diff_marks_what_changed(bundled):
    llama, mistral = bundled["llama-2-7b-hf"][0], bundled["mistral-7b-v0.1"][0]
    assert diff_components(llama, llama) == set()
    changed = diff_components(llama, mistral)
    # Mistral 7B: 8 KV heads (Llama 2: 32) and a 4,096 window; SwiGLU 14,336 wide (11,008); same norms.
    assert {"mixer", "ffn"} <= changed and "norm" not in changed
    dot = parse(to_dot(mistral, highlight=changed))
    outline = (THEMES["light"].highlight, "3")
    outlined = [a for a in dot.nodes.values() if (a.get("color"), a.get("penwidth")) == outline]
    assert len(outlined) >= 2


def _mixer_node(dot: Graph, kind: str) -> dict:
    return dot.nodes[f"{kind}.mixer"]


@pytest.mark.parametrize("slug", ["qwen3-next-80b-a3b-instruct", "qwen3.5-27b", "qwen3.5-397b-a17b"])
def test_gated_deltanet_and_gated_attention_are_drawn(bundled, slug):
    spec, config = bundled[slug]
    dot = parse(to_dot(spec))
    # layer_types / full_attention_interval: 3 linear-attention layers per full-attention layer.
    types = config.get("layer_types") or ["linear_attention" if (i + 1) % config["full_attention_interval"]
                                          else "full_attention" for i in range(config["num_hidden_layers"])]
    # one frame (they share the MoE), the two mixers side by side, each with its layer count
    assert _frames(dot) == ["linear"]
    assert dot.clusters["linear"].attrs["label"] == f"linear / full block × {len(types)}"
    assert dot.edge("linear.mixer_pre", "linear.mixer")["label"] == f"linear × {types.count('linear_attention')}"
    assert dot.edge("linear.mixer_pre", "full.mixer")["label"] == f"full × {types.count('full_attention')}"
    linear = _mixer_node(dot, "linear")
    assert linear["fillcolor"] == THEMES["light"].fills["linear"]  # the fixed-state mixer fill
    linear = linear["label"]
    assert "Gated DeltaNet" in linear and f"kernel {config['linear_conv_kernel_dim']}" in linear
    assert (f"fixed state {config['linear_num_value_heads']} × {config['linear_key_head_dim']} × "
            f"{config['linear_value_head_dim']}") in linear
    # Qwen3-Next fuses q, k, v, z into in_proj_qkvz; Qwen3.5 has in_proj_qkv and in_proj_z (transformers modules).
    assert ("in_proj_qkvz" in linear) == (config["model_type"] == "qwen3_next")
    full = _mixer_node(dot, "full")
    assert full["fillcolor"] == THEMES["light"].fills["attention"]
    full = full["label"]
    assert "output gate" in full and f"{config['num_attention_heads']} query heads" in full
    assert f"on {(config.get('rope_parameters') or config)['partial_rotary_factor']:.0%} of dims" in full


def test_plain_attention_has_no_output_gate(bundled):
    dot = to_dot(bundled["qwen3-30b-a3b"][0])
    assert "output gate" not in dot and "Gated DeltaNet" not in dot


def test_deepseek_v4_compression_hash_routing_and_hyper_connections(bundled):
    spec, c = bundled["deepseek-v4-flash"]
    dot = parse(to_dot(spec))
    # compress_ratios per layer: 0 = window only, 4 = CSA (overlapping, indexer), 128 = HCA; the first
    # num_hash_layers layers route by hash.
    ratios, n_hash = c["compress_ratios"][:c["num_hidden_layers"]], c["num_hash_layers"]
    assert sorted(set(ratios)) == [0, 4, 128] and n_hash == 3
    expected = {("window" if r == 0 else f"csa{r}" if r == 4 else f"hca{r}") + ("-hash" if i < n_hash else "")
                for i, r in enumerate(ratios)}
    frames = set(_frames(dot))
    assert frames == expected == {"window-hash", "csa4-hash", "hca128", "csa4"}
    for kind in frames:
        label = " ".join(_labels(_cluster(dot, kind)))
        assert f"query latent {c['q_lora_rank']:,}" in label
        assert f"output: {c['o_groups']} head groups → {c['o_lora_rank']:,} each" in label
        assert f"the last {c['sliding_window']} tokens uncompressed" in label and "learned attention sinks" in label
        assert f"Hyper-connections (mHC)\\n{c['hc_mult']} residual streams" in label
        assert f"Sinkhorn {c['hc_sinkhorn_iters']} iters" in label
        assert ("Hash router" in label) == kind.endswith("-hash")
        assert f"top-{c['num_experts_per_tok']} of {c['n_routed_experts']}" in label
        if kind.startswith("csa"):
            assert "1 KV entry per 4 tokens (gated pooling over overlapping blocks of 2 × 4)" in label
            assert f"indexer ({c['index_n_heads']} × {c['index_head_dim']}) keeps top-{c['index_topk']}" in label
        elif kind.startswith("hca"):
            assert "1 KV entry per 128 tokens (gated pooling over blocks of 128)" in label and "indexer" not in label
        else:
            assert "Sliding-window attention (window only)" in label and "KV entry" not in label
    assert dot.nodes["hc_head"]["label"].startswith(f"Hyper-head\\n{c['hc_mult']} streams → 1")
    assert f"copied into {c['hc_mult']} residual streams" in dot.nodes["embed"]["label"]


def test_nemotron_h_one_sublayer_per_block_mamba2_drawn_apart(bundled):
    spec, config = bundled["nvidia-nemotron-3-nano-30b-a3b"]
    dot = parse(to_dot(spec))
    pattern = config["hybrid_override_pattern"]  # M = Mamba-2, E = MoE, * = attention
    for kind, letter in (("mamba", "M"), ("moe", "E"), ("attention", "*")):
        cluster = _cluster(dot, kind)
        assert cluster.attrs["label"] == f"{kind} block × {pattern.count(letter)}"
        assert _adds(cluster) == 1 and _residuals(cluster) == 1  # one add, one residual
    mamba = _cluster(dot, "mamba")
    label = " ".join(_labels(mamba))
    heads, head_dim, groups = config["mamba_num_heads"], config["mamba_head_dim"], config["n_groups"]
    assert f"{heads} heads × head dim {head_dim} · {groups} groups share B, C · state {config['ssm_state_size']}" in label
    conv_dim = heads * head_dim + 2 * groups * config["ssm_state_size"]  # x, B and C are convolved
    assert f"kernel {config['conv_kernel']} over x, B, C ({conv_dim:,} channels)" in label
    fills = {a.get("fillcolor") for a in mamba.nodes.values()}
    assert THEMES["light"].fills["linear"] in fills  # a fixed-state mixer, not attention
    assert THEMES["light"].fills["attention"] not in fills
    attention = " ".join(_labels(_cluster(dot, "attention")))
    assert f"{config['num_attention_heads']} query heads · {config['num_key_value_heads']} KV heads" in attention
    assert "NoPE" in attention
    moe = " ".join(_labels(_cluster(dot, "moe")))
    assert f"top-{config['num_experts_per_tok']} of {config['n_routed_experts']}" in moe and "ReLU² MLP" in moe
    assert "Mamba-2" not in attention + moe


def test_latent_experts_say_their_latent_width():
    from gallery.diagram import ffn_lines
    from gallery.spec import Moe

    moe = Moe(kind="moe", n_experts=8, top_k=2, d_expert=18, activation="relu2", gated=False, d_latent=1024)
    assert "in a 1,024 latent: projected down before, up after" in ffn_lines(moe)
    assert not any("latent" in line for line in ffn_lines(moe.model_copy(update={"d_latent": None})))


def _adds(graph: Graph) -> int:
    """How many residual "+" nodes ``graph`` has."""
    return sum(a["label"] == "+" for a in graph.nodes.values())


def _residuals(graph: Graph) -> int:
    """How many residual edges ``graph`` has."""
    return sum(a.get("label") == "residual" for _, _, a in graph.edges)


def test_falcon_mamba_block_is_one_norm_a_mamba_mixer_and_one_residual(bundled):
    spec, c = bundled["falcon-mamba-7b"]
    dot = parse(to_dot(spec))
    cluster = _cluster(dot, "mamba")
    label = " ".join(_labels(cluster))
    # From the config: intermediate_size 8,192 (it overrides expand × hidden_size), state_size 16,
    # time_step_rank 256, conv_kernel 4 with use_conv_bias; mixer_rms_eps norms of B, C and dt.
    assert f"d_inner {c['intermediate_size']:,} · state {c['state_size']} per channel" in label
    assert f"Δ rank {c['time_step_rank']}" in label
    assert f"causal conv {c['conv_kernel']} taps + bias" in label
    assert "B, C, Δ RMS-normed (eps 1e-06, no weights)" in label and "no KV cache" in label
    # FalconMambaBlock.forward: residual + mixer(norm(x)), no feed-forward: one norm, one "+", no MLP.
    assert [lab for lab in _labels(cluster) if lab.startswith("RMSNorm")] == ["RMSNorm"]
    assert _adds(cluster) == 1 and "mamba.ffn" not in cluster.nodes
    assert cluster.attrs["label"] == f"Mamba block × {c['num_hidden_layers']}"
    assert not any("Transformer block" in lab for lab in _labels(dot))
    assert dot.nodes["mamba.mixer"]["fillcolor"] == THEMES["light"].fills["linear"]
    # FalconMambaConfig has no max_position_embeddings
    assert dot.nodes["note_context"]["label"] == "no context limit in the config"


def test_lfm2_draws_short_conv_and_attention_blocks(bundled):
    spec, c = bundled["lfm2-1.2b"]
    dot = parse(to_dot(spec))
    conv = " ".join(_labels(_cluster(dot, "conv")))
    assert f"depthwise causal conv {c['conv_L_cache']} taps" in conv and "out_proj(C ⊙ conv(B ⊙ x))" in conv
    attention = " ".join(_labels(_cluster(dot, "attention")))
    head_dim = c["hidden_size"] // c["num_attention_heads"]  # 2,048 / 32 = 64
    assert (f"{c['num_attention_heads']} query heads · {c['num_key_value_heads']} KV heads · head dim {head_dim}"
            in attention)
    n_attention = len(c["full_attn_idxs"])  # layers 2, 5, 8, 10, 12, 14
    legend = dot.nodes["layers"]["label"]  # the strip's legend: each kind's layer count
    assert f"conv × {c['num_hidden_layers'] - n_attention}" in legend and f"attention × {n_attention}" in legend
    assert dot.nodes["conv.mixer"]["fillcolor"] == THEMES["light"].fills["linear"]
    assert dot.nodes["attention.mixer"]["fillcolor"] == THEMES["light"].fills["attention"]


def test_mla_without_rope_does_not_call_its_shared_key_dims_rope(bundled):
    """Kimi Linear's MLA rotates nothing (KimiLinearAttention applies no rotary embedding): the 64 dims named
    qk_rope_head_dim are an unrotated key part shared by all heads, and the label says so, never "RoPE" beside "NoPE"
    (the issue 21 audit found "64 RoPE (shared key)")."""
    import inspect

    from transformers.models.kimi_linear import modeling_kimi_linear

    assert "rotary" not in inspect.getsource(modeling_kimi_linear.KimiLinearAttention)
    spec, config = bundled["kimi-linear-48b-a3b-instruct"]
    label = next(lab for lab in _labels(parse(to_dot(spec))) if "Multi-head latent attention" in lab)
    assert f"+ {config['qk_rope_head_dim']} unrotated (shared key)" in label and "RoPE" not in label
    deepseek = next(lab for lab in _labels(parse(to_dot(bundled["deepseek-v3"][0]))) if "latent attention" in lab)
    assert f"+ {bundled['deepseek-v3'][1]['qk_rope_head_dim']} RoPE (shared key)" in deepseek
