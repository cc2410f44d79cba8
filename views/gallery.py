"""Gallery page: every model as a card, a panel to search, filter and sort (drawn when open), a release timeline."""

import altair as alt
import pandas as pd
import streamlit as st

from gallery.catalog import SORTS, Filters, facets, select, sort
from gallery.compare import compact
from gallery.published import CONVENTIONS
from views import cards
from views.common import gallery_cards, lazy_panel, lazy_tabs, rejected, say_rejected, whole

all_cards = gallery_cards()
options = facets(all_cards)

st.title("LLM Architecture Gallery")
st.caption("How open-weight language models are built, read from their config.json and the reference code "
           "in transformers. Every count equals what transformers builds, exactly.")

FILTERS = ("q", "family", "org", "attn", "sort", "ffn", "size")  # the URL parameters of the panel's widgets
SIZES = [0, 0.5, 1, 2, 5, 10, 20, 50, 100, 300, 1000, "∞"]  # billions; the ends mean "no limit"


def narrowed() -> tuple[Filters, str]:
    """What the filter panel narrows the gallery to, and the order; every model, newest first, while it is closed
    (``lazy_panel``: its search box, comboboxes, segmented control and range slider were most of the Gallery's
    cost above the floor)."""
    panel = lazy_panel("Search, filter and sort", "filters", ":material/filter_list:", FILTERS)
    if panel is None:
        return Filters(), next(iter(SORTS))
    with panel:
        ends = len(st.query_params.get_all("size")) == 2  # a range: two of SIZES
        say_rejected(rejected(family=options["families"].__contains__, org=options["organisations"].__contains__,
                              attn=options["attention"].__contains__, sort=SORTS.__contains__,
                              ffn=("dense", "MoE").__contains__,
                              size=lambda v: ends and v in {str(x) for x in SIZES}), "left out of the filters")
        c = st.columns([3, 2, 2, 2, 2])
        query = c[0].text_input("Search", key="q", bind="query-params", placeholder="name, family, organisation")
        families = c[1].multiselect("Family", options["families"], key="family", bind="query-params")
        orgs = c[2].multiselect("Organisation", options["organisations"], key="org", bind="query-params")
        attention = c[3].multiselect("Attention", options["attention"], key="attn", bind="query-params")
        how = c[4].selectbox("Sort", list(SORTS), key="sort", bind="query-params")
        c = st.columns([2, 3, 5])
        ffn = c[0].segmented_control("Feed-forward", ["dense", "MoE"], key="ffn", bind="query-params")
        low, high = c[1].select_slider("Total parameters (B)", SIZES, value=(SIZES[0], SIZES[-1]), key="size",
                                       bind="query-params", help=CONVENTIONS["total"])
    return Filters(query=query or "", families=tuple(families), organisations=tuple(orgs), attention=tuple(attention),
                   moe=None if not ffn else ffn == "MoE",
                   min_params=None if low == 0 else 10**18 if low == "∞" else int(low * 1e9),
                   max_params=None if high == "∞" else int(high * 1e9)), how


where, how = narrowed()
chosen = sort(select(all_cards, where), how)


def timeline() -> None:
    """Release date against total parameters (log); a point opens its model."""
    frame = pd.DataFrame([{"slug": k.slug, "model": k.name, "family": k.family, "attention": k.attention,
                           "released": pd.Timestamp(k.release_date), "total": k.total_params,
                           "active": k.active_params, "size": compact(k.total_params)}
                          for k in chosen if k.release_date])
    if frame.empty:
        st.info("None of the chosen models has a release date.")
        return
    lost = rejected(colour=("family", "attention").__contains__)
    colour = st.radio("Colour timeline by", ["family", "attention"], horizontal=True, key="colour",
                      bind="query-params")
    say_rejected(lost, f"coloured by {colour}")
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
    lost = rejected(page=whole(1, pages))
    number = st.pagination(pages, key="page", bind="query-params") if pages > 1 else 1
    number = min(number, pages)  # a shared URL may name a page the current filters no longer have
    say_rejected(lost, f"showing page {number} of {pages}")
    cards.show(chosen[(number - 1) * PER_PAGE:number * PER_PAGE])


PER_PAGE = 12
# The browser's cost of a load grows with the elements drawn; 12 cards are four rows of three at the wide layout, and
# one HTML element (views/cards.py). What the cards' counts mean is said once, on the count below: a tooltip per card
# made 30 cards cost the browser about twice as much (CDP renderer task time of a warm load, a scratch page).
st.caption(f"{len(chosen)} of {len(all_cards)} models", help=f"Total: {CONVENTIONS['total']} "
           f"Active: {CONVENTIONS['active']} Published: {CONVENTIONS['published']}")
lazy_tabs({"Cards": grid, "Timeline": timeline}, key="view")  # the page loads no chart until asked
