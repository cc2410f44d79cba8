"""Trace page: every operation of one layer with shapes, parameters, FLOPs and formula, and a toy's real numbers."""

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from gallery.compare import compact
from gallery.kinds import ffn_kind, mixer_kind
from gallery.kinds.contract import Heatmap, Side, Table
from gallery.pattern import summary
from gallery.recurrent_stacks import runs
from gallery.recurrent_stacks import toy as cycles_toy
from gallery.sharedblock import used_mixers
from gallery.steps import Step
from gallery.toy import toy_trace
from gallery.trace import cycle_trace, trace
from views import facts, markup
from views.common import controls, lazy_panel, literal, rejected, say_rejected, slugs_or_stop, spec_index, whole

TOY_TOKENS = 6


def steps_frame(steps: list[Step]) -> pd.DataFrame:
    """One row per step, in the reference's order: what the table shows and the CSV holds."""
    return pd.DataFrame([{
        "#": i, "op": s.op, "part": s.part, "in": str(s.in_shape), "out": str(s.out_shape), "params": s.n_params,
        "param shapes": ", ".join(f"{p.name} {p.shape}" for p in s.params), "FLOPs": s.flops, "formula": s.formula,
    } for i, s in enumerate(steps)])


def steps_table(frame: pd.DataFrame) -> None:
    """The steps as a static table (``views/markup.py``): read in order, every formula whole. (A data grid cut the
    formulas short and cost the page's first view 0.2× the floor, issue 17.)"""
    markup.table(frame, index=False, one_line=["part", "in", "out"])


index = spec_index()
slugs = slugs_or_stop(index)

MAX_SEQ = 1_000_000
CHOOSE = "Choose the model, layer and T"  # the button that opens the choosers
lost = rejected(slug=index.specs.__contains__, seq=whole(1, MAX_SEQ))
with controls(CHOOSE):
    slug = st.selectbox("Model", slugs, key="slug", bind="query-params",
                        help="The spec's slug; the URL keeps the view.")
    arch = index.specs[slug].arch
    lost += rejected(layer=whole(0, arch.n_layers - 1))
    layer = st.selectbox("Layer", list(range(arch.n_layers)), key="layer", bind="query-params",
                         help=f"0-based; {summary(arch.layers)}") or 0
    seq = int(st.number_input("Sequence length T", 1, MAX_SEQ, 8, key="seq", bind="query-params"))
say_rejected(lost, f"showing {literal(index.specs[slug].name)}, layer {layer} (of 0-{arch.n_layers - 1}), T = {seq:,}; "
                   f"**{CHOOSE}** changes them")
kind = arch.layers[layer]

st.title(f"Trace: {literal(index.specs[slug].name)}, layer {layer}")
st.caption(f"Block kind **{kind}**, {seq:,} tokens. Each row is one operation in the order the reference "
           "implementation runs it; weights are written (in, out) as y = x · W. FLOPs: 2 × T × weights for a "
           "product with weights (routed experts: the top-k a token uses), 2 × heads × T² × dim for QKᵀ and "
           "weights × V (the eager code computes the whole matrix, then masks), about one per element per "
           "elementwise operation.")
try:
    steps = trace(arch, layer, seq)
except ValueError as exc:  # an MoE layer whose top_k the config leaves unset cannot route a token
    st.error(str(exc), icon=":material/block:")
    st.stop()
table = steps_frame(steps)
params, flops = int(table["params"].sum()), int(table["FLOPs"].sum())
markup.show(facts.row([
    facts.Fact("Operations", str(len(steps)), "rows below", "One row per operation, in the reference's order."),
    facts.Fact("Parameters in this layer", compact(params), f"{params:,}", "The sum of the rows' parameters."),
    facts.Fact(f"FLOPs at T = {seq:,}", compact(flops), f"{flops:,}", "The sum of the rows' FLOPs (the caption above "
               "says how each is counted)."),
]))
steps_table(table)
st.download_button("Download steps (CSV)", data=lambda: table.to_csv(index=False),
                   file_name=f"{slug}-layer{layer}-T{seq}.csv", mime="text/csv", on_click="ignore",
                   icon=":material/download:")
if arch.recurrent_stacks:  # HRM: the layers run in cycles, traced apart, a row per stack run
    st.subheader("The cycles")
    st.caption(f"This layer runs {runs(arch, kind)} times a token, each run with a K/V cache slot of its own: each "
               "stack run below reads the sum of the two states, runs its layers (their FLOPs; their weights are "
               "counted once, in the layers) and ends with its final norm.")
    steps_table(steps_frame(cycle_trace(arch, seq)))


def _frame(a: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(np.atleast_2d(a)).round(4)


def _show(name: str, a: np.ndarray, first: str = "head") -> None:
    if a.ndim > 3:  # (T, heads, …): a state after every token; the one after the last
        _show(f"{name}, after the last token", a[-1], first)
        return
    if a.ndim <= 2:
        st.caption(name)
        markup.table(_frame(a))
        return
    for h in range(min(a.shape[0], 2)):  # (heads, T, …) or (T, channels, state): the first two
        st.caption(f"{name}, {first} {h} of {a.shape[0]}")
        markup.table(_frame(a[h]))


def _chart(h: Heatmap) -> alt.Chart:
    """A heatmap item as coloured squares; one panel per value of its facet, each with its own colour scale unless
    the item shares one."""
    scale = alt.Scale(scheme="redblue", domainMid=0) if h.diverging else alt.Scale(scheme="viridis")
    chart = alt.Chart(h.cells, title=h.title or alt.Undefined).mark_rect().encode(
        x=alt.X(f"{h.x}:O"), y=alt.Y(f"{h.y}:O"), color=alt.Color("value:Q", scale=scale),
        tooltip=[h.x, h.y, alt.Tooltip("value:Q", format=".4f")])
    if h.facet is None:
        chart = chart.properties(height=h.size)
        return chart.properties(width=h.width) if h.width else chart
    chart = chart.properties(width=h.size, height=h.size).facet(column=alt.Column(f"{h.facet}:N", sort=None, title=None))
    return chart.resolve_scale(color="independent") if h.independent else chart


def _choose(label: str, options: list, key: str, bound: bool = True, index: int = 0):
    """A widget the kind's picture asks for (a head, a token); bound to the URL unless said otherwise."""
    lost = rejected(**{key: {str(o) for o in options}.__contains__}) if bound else []
    chosen = st.selectbox(label, options, index=index, key=key, **({"bind": "query-params"} if bound else {}))
    say_rejected(lost, f"showing {literal(chosen)}")
    return chosen


def toy_section() -> None:
    """The same layer at toy width with real numbers: every step's values, then the kind's picture."""
    toy = toy_trace(arch, layer, min(seq, TOY_TOKENS))
    block = toy.arch.blocks[kind]
    st.caption(f"The same block at d_model {toy.arch.d_model} (the toy block below), run on {toy.x.shape[0]} random "
               "token vectors with weights drawn from a fixed seed (NumPy). tests/test_toy.py builds such toy layers "
               "in transformers with the same weights and checks that the outputs agree.")
    st.json(block.model_dump(exclude_defaults=True), expanded=False)

    mixer = mixer_kind(block.mixer) if block.mixer is not None else None
    first = mixer.axis0 if mixer else "head"  # what the first axis of the kind's 3-D values is
    for i, (step, values) in enumerate(zip(trace(toy.arch, 0, toy.x.shape[0]), toy.steps)):
        with st.expander(f"{i}. {step.op} → {values.value.shape}"):
            st.markdown(f"`{step.formula}`")
            _show("output", values.value, first)
            for name, a in values.details.items():
                _show(name, a, first)

    if arch.recurrent_stacks:  # HRM: the cycles at toy width, two layers a stack
        cycles = cycles_toy(arch, toy.x.shape[0])
        st.caption(f"The cycles at toy width: {cycles.arch.n_layers // 2} layers a stack, each drawn with a seed of "
                   "its own; tests/test_hrm.py runs the same cycles in transformers.")
        for i, values in enumerate(cycles.steps):
            with st.expander(f"cycles {i}. {values.op} → {values.value.shape}"):
                _show("output", values.value)

    # the picture each kind draws of its toy: score heatmaps, a state, conv taps (chosen by the kind, not by op names)
    mixers = block.mixers + used_mixers(toy.arch, toy.arch.layers[0])  # Zamba: the shared block's attention too
    for item in [*(i for m in mixers for i in mixer_kind(m).picture(toy.steps, _choose)),
                 *(ffn_kind(block.ffn).picture(toy.steps, _choose) if block.ffn is not None else [])]:
        if isinstance(item, Heatmap):
            st.altair_chart(_chart(item))
        elif isinstance(item, Side):
            st.altair_chart(alt.hconcat(*map(_chart, item.maps)).resolve_scale(color="independent"))
        elif isinstance(item, Table):
            markup.table(item.frame, index=False)
        else:
            st.caption(item.text)


st.subheader("Real numbers on a toy of the same shape")
# Below the fold and the heaviest part of the page (a grid per step, heatmaps): drawn once asked for (issue 17); a
# URL that names a head of its pictures opens it too
toy = lazy_panel("Run the layer on a toy and show every value", "toy", ":material/science:", ["head"],
                 bound=True)
if toy:
    with toy:
        toy_section()
