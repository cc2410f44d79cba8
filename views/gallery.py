"""Gallery page: every model as a card, with search, filters, sorting and a release timeline."""

import altair as alt
import pandas as pd
import streamlit as st

from gallery.catalog import SORTS, Filters, facets, select, sort
from gallery.compare import compact
from gallery.published import CONVENTIONS
from views.common import gallery_cards, lazy_tabs, literal

all_cards = gallery_cards()
options = facets(all_cards)

st.title("LLM Architecture Gallery")
st.caption("How open-weight language models are built, read from their config.json and the reference code "
           "in transformers. Every count equals what transformers builds, exactly.")

with st.container(border=True):
    c = st.columns([3, 2, 2, 2, 2])
    query = c[0].text_input("Search", key="q", bind="query-params", placeholder="name, family, organisation")
    families = c[1].multiselect("Family", options["families"], key="family", bind="query-params")
    orgs = c[2].multiselect("Organisation", options["organisations"], key="org", bind="query-params")
    attention = c[3].multiselect("Attention", options["attention"], key="attn", bind="query-params")
    how = c[4].selectbox("Sort", list(SORTS), key="sort", bind="query-params")
    c = st.columns([2, 3, 5])
    ffn = c[0].segmented_control("Feed-forward", ["dense", "MoE"], key="ffn", bind="query-params")
    sizes = [0, 0.5, 1, 2, 5, 10, 20, 50, 100, 300, 1000, "∞"]
    low, high = c[1].select_slider("Total parameters (B)", sizes, value=(sizes[0], sizes[-1]), key="size",
                                   bind="query-params", help=CONVENTIONS["total"])

chosen = sort(select(all_cards, Filters(
    query=query or "", families=tuple(families), organisations=tuple(orgs), attention=tuple(attention),
    moe=None if not ffn else ffn == "MoE",
    min_params=None if low == 0 else 10**18 if low == "∞" else int(low * 1e9),  # the ends mean "no limit"
    max_params=None if high == "∞" else int(high * 1e9))), how)


def timeline() -> None:
    """Release date against total parameters (log); a point opens its model."""
    frame = pd.DataFrame([{"slug": k.slug, "model": k.name, "family": k.family, "attention": k.attention,
                           "released": pd.Timestamp(k.release_date), "total": k.total_params,
                           "active": k.active_params, "size": compact(k.total_params)}
                          for k in chosen if k.release_date])
    if frame.empty:
        st.info("None of the chosen models has a release date.")
        return
    colour = st.radio("Colour timeline by", ["family", "attention"], horizontal=True, key="colour",
                      bind="query-params")
    pick = alt.selection_point(fields=["slug"], name="pick")
    chart = alt.Chart(frame).mark_circle(size=120, opacity=0.85).encode(
        x=alt.X("released:T", title="release date"),
        y=alt.Y("total:Q", scale=alt.Scale(type="log"), title="total parameters (log)"),
        color=alt.Color(f"{colour}:N"),
        tooltip=["model", "family", "attention", "size", alt.Tooltip("released:T", format="%Y-%m-%d")],
    ).add_params(pick)
    event = st.altair_chart(chart, width="stretch", on_select="rerun", selection_mode="pick", key="timeline")
    picked = (event or {}).get("selection", {}).get("pick") or []
    if picked and picked[0].get("slug"):
        st.switch_page("views/model.py", query_params={"model": picked[0]["slug"]})


def grid() -> None:
    """The chosen models as cards, PER_PAGE a page."""
    pages = max(1, -(-len(chosen) // PER_PAGE))
    number = st.pagination(pages, key="page", bind="query-params") if pages > 1 else 1
    number = min(number, pages)  # a shared URL may name a page the current filters no longer have
    columns = st.columns(3)
    for i, k in enumerate(chosen[(number - 1) * PER_PAGE:number * PER_PAGE]):
        with columns[i % 3].container(border=True):
            size = compact(k.total_params) + (f" total · {compact(k.active_params)} active" if k.moe else " params")
            published = f"  \n:gray[:small[Published: {literal(k.published)}]]" if k.published else ""
            st.markdown(f"**{literal(k.name)}**  \n{literal(k.organisation)} · {k.release_date or 'date unknown'}\n\n"
                        f"{size}  \n{k.attention} · {k.n_layers} layers · d_model {k.d_model:,}  \n"
                        f"_{k.pattern}_{published}")  # one element, not three: see PER_PAGE
            st.page_link("views/model.py", label="Open", query_params={"model": k.slug},
                         icon=":material/arrow_forward:")
            st.page_link("views/compare.py", label="Compare with…", query_params={"models": [k.slug]},
                         icon=":material/compare_arrows:")  # opens Compare with this model first


PER_PAGE = 12
# The browser's cost of a load grows with the elements drawn (measured, CDP renderer task time of a warm load of a
# scratch page: 30 cards 3.8 s, 12 cards 1.9 s, at load average 10); 12 cards are four rows of three. A card's text
# is one Markdown element, not three (name, facts, published figures): the Gallery's warm load 2.44× → 1.99× and
# 2.35× → 2.27× the floor in two pairs of 6 loads, cold 1.64× → 1.56× (python -m bench's readiness, one run).
# What the cards' counts mean, said once: a tooltip per card made 30 cards cost the browser about twice as much.
st.caption(f"{len(chosen)} of {len(all_cards)} models", help=f"Total: {CONVENTIONS['total']} "
           f"Active: {CONVENTIONS['active']} Published: {CONVENTIONS['published']}")
lazy_tabs({"Cards": grid, "Timeline": timeline}, key="view")  # the page loads no chart until asked
