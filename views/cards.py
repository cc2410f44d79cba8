"""The Gallery's model cards, as one HTML element: a grid of cards, each with its facts and two links.

As Streamlit elements a card was a bordered container, a Markdown element and two page links, so a page of 12
cards was 48 elements for the browser to draw, and the page link's element type one more to load (issue 17). As one
piece of markup built here (every text HTML-escaped), in headless Chromium against the floor app, 5 loads each in
one run with the filter panel closed: the Gallery 1.35× → 1.32× the floor cold, 1.63× → 1.38× warm (a scratch
copy; with the panel closed too, against the page before both, 1.56× → 1.29× cold and 2.24× → 1.46× warm, 7 loads).

The links are plain links to the page's URL (``model?model=SLUG``, ``compare?models=SLUG``: ``markup.link``), as
the family tree's are. A click loads that page in the same tab (a new session, the server's caches shared); a
middle click or "copy link" works as on any link.
"""

from __future__ import annotations

from gallery.catalog import Card
from gallery.compare import compact
from views import markup
from views.markup import QUIET, link, text

GRID = "display:grid;grid-template-columns:repeat(auto-fill,minmax(17rem,1fr));gap:1rem;margin-bottom:1rem;"
CARD = ("border:1px solid color-mix(in srgb,currentColor 20%,transparent);border-radius:0.5rem;"
        "padding:0.75rem 1rem;line-height:1.6;")  # the look of st.container(border=True), in either theme
PATTERN = "opacity:0.8;"  # the layer pattern, set apart without italics: no page but this one needs the italic font
# (138 KB more to fetch on a cold load)


def card(k: Card) -> str:
    """One model's card: name, organisation and date; size; attention, depth and width; layer pattern; the
    publisher's figures when known; links to its page and to Compare with it chosen first."""
    size = compact(k.total_params) + (f" total · {compact(k.active_params)} active" if k.moe else " params")
    published = f'<br/><span style="{QUIET}">Published&#58; {text(k.published)}</span>' if k.published else ""
    return (f'<div style="{CARD}"><strong>{text(k.name)}</strong><br/>'
            f'{text(k.organisation)} · {text(k.release_date or "date unknown")}'
            f'<p style="margin:0.5rem 0 0">{text(size)}<br/>{text(k.attention)} · {k.n_layers} layers · '
            f'd_model {k.d_model:,}<br/><span style="{PATTERN}">{text(k.pattern)}</span>{published}</p>'
            f'<p style="margin:0.5rem 0 0">{link("Open →", "model", model=k.slug)} &#160;·&#160; '
            f'{link("Compare with…", "compare", models=k.slug)}</p></div>')


def grid(items: list[Card]) -> str:
    """The cards, as many to a row as the page's width takes (three at the app's wide layout), on one line (a
    blank line would end Markdown's HTML block), well-formed XML (so a test reads it with a parser)."""
    return f'<div class="gallery-cards" style="{GRID}">' + "".join(card(k) for k in items) + "</div>"


def show(items: list[Card]) -> None:
    """The cards of ``items`` in the page."""
    markup.show(grid(items))
