"""Streamlit glue for the changes in words and where a model comes from (used by the Compare and Model pages).

Everything computed here comes from ``gallery.changes`` and ``gallery.lineage``; this module only lays it out.
"""

from __future__ import annotations

import streamlit as st

from gallery.changes import Change
from gallery.spec import Spec
from views.common import Index, literal, relatives


def changes_markdown(found: list[Change] | tuple[Change, ...]) -> str:
    """The changes as one Markdown line per stage: "**token mixer**: QK-norm added (head) · …"; their words are
    values a spec or config wrote (names, activations), shown as written (``literal``)."""
    stages: dict[str, list[str]] = {}
    for c in found:
        stages.setdefault(literal(c.stage), []).append(literal(c.phrase))
    return "\n".join(f"- **{stage}**: {' · '.join(phrases)}" for stage, phrases in stages.items()) or "- no changes"


def compare_link(a: Spec, b: Spec, label: str) -> None:
    """A link that opens the pair in Compare."""
    st.page_link("views/compare.py", label=label, query_params={"models": [a.slug, b.slug]},
                 icon=":material/compare_arrows:")


def where_it_comes_from(index: Index, spec: Spec) -> None:
    """The Model page's section: the nearest earlier relative with the changes from it, and the closest of all."""
    found = relatives()
    rel, closest = found.nearest(spec.slug), found.nearest(spec.slug, earlier=False)
    if rel.slug is None:
        st.markdown(f"No bundled model was released before {literal(spec.name)}: it is a root of the family tree.")
    else:
        parent = index.specs[rel.slug]
        headline = [literal(c.phrase) for c in rel.headline]
        st.markdown(f"Nearest earlier relative: **{literal(parent.name)}** ({parent.release_date}): "
                    + ("; ".join(headline) if headline else "the same architecture at another scale") + ".")
        with st.expander(f"All {len(rel.changes)} changes from {literal(parent.name)}, sizes included"):
            st.markdown(changes_markdown(rel.changes))
        compare_link(parent, spec, f"Compare {literal(parent.name)} with {literal(spec.name)}")
    if closest.slug and closest.slug != rel.slug:
        other = index.specs[closest.slug]
        st.caption(f"Closest of all bundled models: {literal(other.name)} ({other.release_date or 'date unknown'}), "
                   f"{closest.distance} architecture fact(s) apart.")
        compare_link(spec, other, f"Compare {literal(spec.name)} with {literal(other.name)}")
    st.page_link("views/tree.py", label="The family tree of every model", icon=":material/account_tree:")
