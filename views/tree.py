"""Family tree page: every model under its nearest earlier relative, each edge labelled with the change.

Shown like every diagram (``views.diagrams``: drawn server-side by Graphviz's ``dot``, text kept as text, so names
can be searched and nodes link to their model and edges to the pair in Compare; laid out by the browser where
``dot`` is missing); its theme and downloads are chosen in the diagrams' panel (``views.diagrams.themed``).
"""

import streamlit as st

from gallery.lineage import lineage, tree
from views import diagrams
from views.common import lazy_panel, rejected, relatives, say_rejected, slugs_or_stop, spec_index, version

index = spec_index()
slugs_or_stop(index)

st.title("Family tree")
st.caption("Each model hangs under the bundled model released before it whose architecture is closest (sizes "
           "ignored); an edge says what changed in the architecture. Click a model to open it, an edge to "
           "compare the pair.")
groups = sorted({lineage(s) for s in index.specs.values()})
panel = lazy_panel("Lineages", "lineages", ":material/filter_list:", ["lineage"])  # every lineage while closed
if panel:
    say_rejected(rejected(lineage=groups.__contains__), "left out of the lineages shown")
chosen = panel.multiselect("Lineages", groups, key="lineage", bind="query-params", placeholder="every lineage",
                           label_visibility="collapsed") if panel else []


@st.cache_resource(show_spinner="Drawing the family tree…", max_entries=16)
def _tree(folder: str, fingerprint: str, chosen: tuple[str, ...], theme: str) -> str:
    """The tree's DOT for the lineages chosen (every one when none), once per version of the spec folder (a rerun
    with 1,000 specs then costs no drawing)."""
    found = relatives().all()
    keep = {s.slug for s in index.specs.values() if not chosen or lineage(s) in chosen}
    parents = {found[s].slug for s in keep if found[s].slug} - keep  # drawn too, so every edge has both ends
    return tree([s for s in index.specs.values() if s.slug in keep | parents], theme,
                {s: r for s, r in found.items() if s in keep}).source


dot = diagrams.themed("tree_theme", "family-tree", lambda theme: _tree(*version(), tuple(chosen), theme))
diagrams.show(dot, "Family tree")
