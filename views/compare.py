"""Compare page: 2–6 models side by side — the changes in words, then tabs: the comparison figure
(``gallery.comparefig``, the first four models) with its exports, the table with differences marked, each model's
diagram, charts."""

import altair as alt
import pandas as pd
import streamlit as st

from gallery import compare
from gallery.changes import changes
from gallery.comparefig import MAX_MODELS, compare_dot
from gallery.diagram import diff_components, to_dot
from gallery.published import CONVENTIONS
from gallery.memory import UNLIMITED_SHOWN, context_grid
from views import diagrams
from views.common import (controls, lazy_panel, lazy_tabs, literal, load_index, rejected, say_rejected, spec_index,
                          version)
from views.lineage import changes_markdown


@st.cache_resource(show_spinner=False, max_entries=256)
def _changes(folder: str, fingerprint: str, a: str, b: str) -> tuple:
    """What changed from model ``a`` to ``b`` (slugs) at one version of the spec folder: the page's list and the
    figure's marks, computed once per pair (a rerun that adds a model computes only the new pair's)."""
    specs = load_index(folder, fingerprint).specs
    return tuple(changes(specs[a], specs[b]))


@st.cache_resource(show_spinner=False, max_entries=64)
def _figure(folder: str, fingerprint: str, slugs: tuple[str, ...], theme: str) -> str:
    """The comparison figure's DOT for a selection and theme (a toggle elsewhere on the page reruns without
    drawing it again)."""
    specs = load_index(folder, fingerprint).specs
    return compare_dot([specs[s] for s in slugs], theme,
                       [_changes(folder, fingerprint, slugs[0], s) for s in slugs[1:]])


index = spec_index()
slugs = list(index.specs)
lost = rejected(models=index.specs.__contains__)
MOST = 6  # models a comparison takes
CHOOSE = f"Choose the models (2–{MOST})"  # the button that opens the chooser
over = [s for s in dict.fromkeys(st.query_params.get_all("models")) if s in index.specs][MOST:]  # the widget keeps MOST
with controls(CHOOSE, ":material/swap_horiz:"):
    chosen = st.multiselect(f"Models to compare (2–{MOST})", slugs, default=slugs[:2] if len(slugs) >= 2 else slugs,
                            max_selections=MOST, key="models", bind="query-params",
                            help="Slugs of the specs; the URL keeps your choice.")
say_rejected(lost, "left out of the comparison")
if over:
    st.warning(f"A comparison takes {MOST} models at most; this link's others are left out: "
               f"{literal(', '.join(over))}.",
               icon=":material/link_off:")
stories = lazy_panel("Stories: comparisons worth opening first", "stories", opened=len(chosen) < 2)
if stories:  # drawn once opened: closed, its links and captions still cost each page load (issue 17)
    with stories:
        for story in compare.stories(set(slugs)):
            st.page_link("views/compare.py", label=story.title, query_params={"models": list(story.slugs)},
                         icon=":material/auto_stories:")
            st.caption(story.look_at)
if len(chosen) < 2:
    st.info(f"Choose at least two models: **{CHOOSE}**, above.", icon=":material/swap_horiz:")
    st.stop()
specs = [index.specs[s] for s in dict.fromkeys(chosen)]  # a hand-edited URL may repeat a model

st.title(" vs ".join(literal(s.name) for s in specs))
top = st.container()  # the changes in words: drawn below, while `dot` lays out the figure
_later: list = []  # what draws the figure once it is laid out, at the end of the script


def changes_said() -> None:
    """What changed from the first model to each other one, in words."""
    st.subheader("What changed")
    st.caption(f"From {literal(specs[0].name)} to each other model, by stage; counts and cache sizes that follow from "
               "a change are not said again (they are in the table).")
    for col, other in zip(st.columns(len(specs) - 1), specs[1:]):
        found = _changes(*version(), specs[0].slug, other.slug)  # heading and list in one Markdown element
        col.container(border=True).markdown(f"**{literal(specs[0].name)} → {literal(other.name)}**: {len(found)} "
                                            f"change(s)\n\n{changes_markdown(found)}")


def table() -> None:
    """Every fact of the models side by side, the differing rows marked, with its CSV."""
    c1, c2 = st.columns(2)
    only_diff = c1.toggle("Only rows that differ", key="diff", bind="query-params")
    exact_counts = c2.toggle("Exact parameter counts", key="exact", bind="query-params",
                             help=f"Total: {CONVENTIONS['total']} Active: {CONVENTIONS['active']} "
                                  f"Published: {CONVENTIONS['published']}")
    shown, mask = compare.marked_frame(specs, exact_counts)
    if only_diff:
        shown, mask = shown[mask], mask[mask]
    st.dataframe(shown.style.apply(_highlight, mask=mask, axis=None), width="stretch",
                 height=min(38 * (len(shown) + 1), 900))
    st.caption("Highlighted rows differ across the chosen models. \"none\": a setting the model does without; "
               "\"—\": the fact does not apply. Counts equal what transformers builds, to the parameter; the "
               "published rows give the publisher's figures and what they count differently.")
    st.download_button("Download table (CSV)", data=lambda: compare.to_csv(specs), file_name="compare.csv",
                       mime="text/csv", on_click="ignore", icon=":material/download:")


def _highlight(shown: pd.DataFrame, mask: pd.Series) -> pd.DataFrame:
    """The differing rows' background, for the whole table at once (a function per row cost 20 ms a rerun)."""
    return pd.DataFrame([["background-color: rgba(255, 196, 0, 0.25)" if m else ""] * shown.shape[1] for m in mask],
                        index=shown.index, columns=shown.columns)


def figure() -> None:
    """The comparison figure at its natural size (the box scrolls), with its slide exports."""
    shown = specs[:MAX_MODELS]
    st.caption(f"One drawing at one scale, rows aligned: {literal(specs[0].name)} is the reference; in the others, "
               "what is the same is faded and what changed is outlined, with the change written beside it."
               + (f" The figure shows the first {MAX_MODELS} models." if len(specs) > MAX_MODELS else ""))
    dot = diagrams.themed("fig_theme", "compare-" + "-vs-".join(s.slug for s in shown),
                          lambda theme: _figure(*version(), tuple(s.slug for s in shown), theme))
    _later.append(diagrams.start_row([(dot, "Comparison figure of " + " vs ".join(s.name for s in shown))]))


def diagrams_side_by_side() -> None:
    """Every model's diagram at one scale, what differs from the first outlined."""
    st.caption(f"Outlined in red: what differs from {literal(specs[0].name)}. Side by side at full size; scroll sideways.")
    _later.append(diagrams.start_row([(to_dot(s, highlight=diff_components(specs[0], s)), f"Block diagram of {s.name}")
                                      for s in specs]))


def parameters_chart() -> None:
    """Parameters by component, a bar per model."""
    parts = compare.breakdown_frame(specs)
    st.altair_chart(alt.Chart(parts).mark_bar().encode(
        x=alt.X("params:Q", title="parameters"), y=alt.Y("model:N", title=None), color="component:N",
        tooltip=["model", "component", alt.Tooltip("params:Q", format=",")]), width="stretch")


def cache_chart() -> None:
    """The cache of each model over context."""
    st.caption("KV per token where layers attend (windows, chunks and compression applied) plus the fixed "
               "state of linear-attention, state-space and convolution layers, which does not grow. bf16, batch 1.")
    curve = compare.kv_curve(specs, context_grid(max(s.arch.context_length or UNLIMITED_SHOWN for s in specs)))
    curve["GiB"] = curve["kv_bytes"] / 2**30
    st.altair_chart(alt.Chart(curve).mark_line(point=True).encode(
        x=alt.X("context:Q", scale=alt.Scale(type="log", base=2), title="context (tokens)"),
        y=alt.Y("GiB:Q", title="cache (GiB)"), color="model:N",
        tooltip=["model", alt.Tooltip("context:Q", format=","), alt.Tooltip("GiB:Q", format=".2f")]),
        width="stretch")


# only the open tab is drawn: the table is one (its data grid is the largest JavaScript a page fetches, ~1.2 MB
# cold, and styling its rows the largest part of a rerun's server time), one click or `part=Table` away
lazy_tabs({"Figure": figure, "Table": table, "Diagrams": diagrams_side_by_side,
           "Parameters by component": parameters_chart, "Cache against context": cache_chart}, key="part")
with top:
    changes_said()
for draw in _later:
    draw()
