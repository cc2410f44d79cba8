"""Trace page: every operation of one layer with shapes, parameters, FLOPs and formula, and a toy's real numbers."""

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from gallery.pattern import summary
from gallery.toy import toy_trace
from gallery.trace import trace
from views.common import literal, slugs_or_stop, spec_index

TOY_TOKENS = 6

index = spec_index()
slugs = slugs_or_stop(index)

c1, c2, c3 = st.columns([3, 1, 1])
slug = c1.selectbox("Model", slugs, key="slug", bind="query-params", help="The spec's slug; the URL keeps the view.")
arch = index.specs[slug].arch
layer = c2.selectbox("Layer", list(range(arch.n_layers)), key="layer", bind="query-params",
                     help=f"0-based; {summary(arch.layers)}") or 0
seq = int(c3.number_input("Sequence length T", 1, 1_000_000, 8, key="seq", bind="query-params"))
kind = arch.layers[layer]

st.title(f"Trace: {literal(index.specs[slug].name)}, layer {layer}")
st.caption(f"Block kind **{kind}**, {seq:,} tokens. Each row is one operation in the order the reference "
           "implementation runs it; weights are written (in, out) as y = x · W. FLOPs: 2 × T × weights for a "
           "product with weights (routed experts: the top-k a token uses), 2 × heads × T² × dim for QKᵀ and "
           "weights × V (the eager code computes the whole matrix, then masks), about one per element per "
           "elementwise operation.")
steps = trace(arch, layer, seq)
table = pd.DataFrame([{
    "#": i, "op": s.op, "part": s.part, "in": str(s.in_shape), "out": str(s.out_shape), "params": s.n_params,
    "param shapes": ", ".join(f"{p.name} {p.shape}" for p in s.params), "FLOPs": s.flops, "formula": s.formula,
} for i, s in enumerate(steps)])
m1, m2, m3 = st.columns(3)
m1.metric("Operations", len(steps))
m2.metric("Parameters in this layer", f"{table['params'].sum():,}")
m3.metric(f"FLOPs at T = {seq:,}", f"{table['FLOPs'].sum():,}")
st.dataframe(table, hide_index=True, width="stretch", height=min(36 * (len(table) + 1), 720),
             column_config={"params": st.column_config.NumberColumn(format="localized"),
                            "FLOPs": st.column_config.NumberColumn(format="localized")})
st.download_button("Download steps (CSV)", data=table.to_csv(index=False), file_name=f"{slug}-layer{layer}-T{seq}.csv",
                   mime="text/csv", on_click="ignore", icon=":material/download:")

st.subheader("Real numbers on a toy of the same shape")
toy = toy_trace(arch, layer, min(seq, TOY_TOKENS))
block = toy.arch.blocks[kind]
st.caption(f"The same block at d_model {toy.arch.d_model} (the toy block below), run on {toy.x.shape[0]} random token "
           "vectors with weights drawn from a fixed seed (NumPy). tests/test_toy.py builds such toy layers in "
           "transformers with the same weights and checks that the outputs agree.")
st.json(block.model_dump(exclude_defaults=True), expanded=False)


def _frame(a: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(np.atleast_2d(a)).round(4)


def _show(name: str, a: np.ndarray, first: str = "head") -> None:
    if a.ndim > 3:  # (T, heads, …): a state after every token; the one after the last
        _show(f"{name}, after the last token", a[-1], first)
        return
    if a.ndim <= 2:
        st.caption(name)
        st.dataframe(_frame(a), width="stretch")
        return
    for h in range(min(a.shape[0], 2)):  # (heads, T, …) or (T, channels, state): the first two
        st.caption(f"{name}, {first} {h} of {a.shape[0]}")
        st.dataframe(_frame(a[h]), width="stretch")


for i, (step, values) in enumerate(zip(trace(toy.arch, 0, toy.x.shape[0]), toy.steps)):
    first = "token" if step.part == "mamba" else "head"  # Mamba's 3-D values are (T, d_inner, d_state)
    with st.expander(f"{i}. {step.op} → {values.value.shape}"):
        st.markdown(f"`{step.formula}`")
        _show("output", values.value, first)
        for name, a in values.details.items():
            _show(name, a, first)



def _cells(a: np.ndarray, rows: str, cols: str) -> pd.DataFrame:
    """A 2-D array as long-form cells (row, column, value) for :func:`_heatmap`."""
    return pd.DataFrame([(i, j, float(a[i, j])) for i in range(a.shape[0]) for j in range(a.shape[1])],
                        columns=[rows, cols, "value"])


def _heatmap(cells: pd.DataFrame, x: str, y: str, facet: str | None = None, title: str | None = None,
             scale: alt.Scale | None = None, size: int = 180, independent: bool = True) -> alt.Chart:
    """Cells (x, y, value) as coloured squares; one panel per value of ``facet``, each with its own colour scale
    unless ``independent`` is false."""
    chart = alt.Chart(cells, title=title or alt.Undefined).mark_rect().encode(
        x=alt.X(f"{x}:O"), y=alt.Y(f"{y}:O"), color=alt.Color("value:Q", scale=scale or alt.Scale(scheme="viridis")),
        tooltip=[x, y, alt.Tooltip("value:Q", format=".4f")])
    if facet is None:
        return chart.properties(height=size)
    chart = chart.properties(width=size, height=size).facet(column=alt.Column(f"{facet}:N", sort=None, title=None))
    return chart.resolve_scale(color="independent") if independent else chart


steps_by_op = {s.op: s for s in toy.steps}
if "softmax" in steps_by_op:
    n_heads = steps_by_op["softmax"].value.shape[0]
    head = st.selectbox("Head", list(range(n_heads)), key="head", bind="query-params") or 0
    T = toy.x.shape[0]
    grid = [(name, i, j, float(v[head, i, j]))
            for name, v in (("scores before the mask", steps_by_op["mask"].details["before"]),
                            ("after the mask", steps_by_op["mask"].value),
                            ("softmax weights", steps_by_op["softmax"].value))
            for i in range(T) for j in range(v.shape[-1])]  # keys: the tokens, then any compressed entries
    cells = pd.DataFrame(grid, columns=["matrix", "query", "key", "value"])
    cells["value"] = cells["value"].where(np.isfinite(cells["value"]))  # −∞ (masked) drawn empty
    st.altair_chart(_heatmap(cells, "key", "query", "matrix"))
    keys = steps_by_op["softmax"].value.shape[-1]
    st.caption("Empty cells are masked (−∞ before the softmax, weight 0 after)." + (
        f" Keys {T}–{keys - 1} are the compressed entries (one per complete block of tokens)." if keys > T else ""))
elif "write state" in steps_by_op:  # Gated DeltaNet: a fixed-size state per value head instead of a T × T matrix
    states = steps_by_op["write state"].details["state after each token"]  # (T, n_v_heads, k_head_dim, v_head_dim)
    T, n_heads, dk, dv = states.shape
    head = st.selectbox("Value head", list(range(n_heads)), key="head", bind="query-params") or 0
    grid = [(f"after token {t}", i, j, float(states[t, head, i, j])) for t in range(T) for i in range(dk)
            for j in range(dv)]
    cells = pd.DataFrame(grid, columns=["state", "key dim", "value dim", "value"])
    st.altair_chart(_heatmap(cells, "value dim", "key dim", "state", scale=alt.Scale(scheme="redblue", domainMid=0),
                             size=110, independent=False))
    gates = pd.DataFrame({"token": range(T),
                          "decay exp(g)": steps_by_op["g = −exp(A_log) · softplus(a + dt_bias)"].details[
                              "decay factor exp(g)"][:, head],
                          "write strength β": steps_by_op["β = σ(b)"].value[:, head]})
    st.dataframe(gates.round(4), hide_index=True)
    st.caption(f"The state S of value head {head} ({dk} × {dv}) after each token: each token first scales it by its "
               "decay exp(g), then writes β · (v − Sᵀk) along its key k (the delta rule). S keeps its size at any "
               "length: the layer keeps it instead of a KV cache.")


# fixed-state mixers have no score matrix: show what they keep and how they step instead
if "selective scan" in steps_by_op:  # Mamba-1
    dt, states = steps_by_op["softplus"].value, steps_by_op["selective scan"].value  # (T, d_inner), (T, d_inner, n)
    st.altair_chart(alt.hconcat(
        _heatmap(_cells(dt, "token", "channel"), "channel", "token", title="Δ: step size per token and channel"),
        _heatmap(_cells(states[-1].T, "state dim", "channel"), "channel", "state dim",
                 title="state h after the last token")).resolve_scale(color="independent"))
    st.caption("A large Δ lets a channel forget its state and take in the token; a small one keeps the state. "
               "The state (d_inner × d_state) is all the layer carries from one token to the next.")
conv = next((s for s in toy.steps if "taps" in s.details), None)  # a causal convolution's weights
if conv is not None:
    taps = conv.details["taps"]  # (taps, channels); the last tap multiplies the current token
    st.altair_chart(_heatmap(_cells(taps, "tap", "channel"), "channel", "tap",
                             title=f"convolution taps: tap {taps.shape[0] - 1} is the current token"))
    st.caption(f"The causal convolution mixes each channel over the current and {taps.shape[0] - 1} previous tokens; "
               "between tokens the layer keeps only that window of inputs.")

if "Δ = softplus(dt + dt_bias)" in steps_by_op:  # a Mamba-2 layer: its time steps and a head's state
    delta, decay = steps_by_op["Δ = softplus(dt + dt_bias)"].value, steps_by_op["decay exp(Δ·A)"].value  # (T, H)
    cells = pd.DataFrame([(name, t, h, float(v[t, h])) for name, v in (("Δ (time step)", delta),
                                                                       ("decay exp(Δ·A)", decay))
                          for t in range(v.shape[0]) for h in range(v.shape[1])],
                         columns=["matrix", "token", "head", "value"])
    st.altair_chart(_heatmap(cells, "head", "token", "matrix"))
    st.caption("Per token and head: a large Δ writes more of the token into the state, and decays more of what "
               "it held (the decay is exp(Δ·A) with A < 0 per head).")
    states = steps_by_op["state update"].value  # (T, H, head_dim, d_state)
    c1, c2 = st.columns(2)
    head = c1.selectbox("SSM head", list(range(states.shape[1])), key="ssm_head") or 0
    token = c2.selectbox("After token", list(range(states.shape[0])), index=states.shape[0] - 1, key="ssm_token")
    st.altair_chart(_heatmap(_cells(states[token or 0, head], "channel", "state"), "state", "channel")
                    .properties(width=220))
    st.caption(f"Head {head}'s state (head_dim × d_state) after token {token}: all the layer remembers of the "
               "sequence so far, whatever its length.")
