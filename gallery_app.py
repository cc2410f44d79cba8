"""The LLM Architecture Gallery app: the frame (page config, navigation, shared sidebar).

Served by ``gallery_server.py`` (``make app``: ``streamlit run gallery_server.py``), which adds one middleware to
Streamlit's server so that a page opened by its own URL connects at once; ``streamlit run gallery_app.py`` serves
the same app without it. Pages live in ``views/`` and stay thin: they pick inputs,
call the core package (``gallery/``) and cache. (Not ``pages/``: with that folder Streamlit serves a
deep link opened first on a fresh server in its legacy multipage mode, without this frame.) Specs
are read from ``arch_specs/`` or from the folder named by the ``GALLERY_SPECS`` environment variable.
"""

import streamlit as st

from views import heap
from views.common import literal, spec_index, version

st.set_page_config(page_title="LLM Architecture Gallery", page_icon=":material/account_tree:", layout="wide")

PAGES = [
    st.Page("views/gallery.py", title="Gallery", icon=":material/grid_view:", default=True),  # served at /
    st.Page("views/model.py", title="Model", icon=":material/account_tree:", url_path="model"),
    st.Page("views/trace.py", title="Trace", icon=":material/calculate:", url_path="trace"),
    st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    st.Page("views/try.py", title="Try your config", icon=":material/science:", url_path="try"),
    st.Page("views/tree.py", title="Family tree", icon=":material/family_history:", url_path="tree"),
]
page = st.navigation(PAGES)

index = spec_index(fresh=True)  # the folder is listed once a run, here
with st.sidebar:
    st.caption(f"{len(index.specs)} models from {literal(index.folder)}")
    if index.problems:
        with st.expander(f"{len(index.problems)} spec file(s) could not be loaded", icon=":material/warning:"):
            for path, problems in index.problems.items():
                st.markdown(f"**{literal(path)}**")
                st.code("\n".join(str(p) for p in problems), language="text")
            st.caption("Fix them with `python -m gallery lint` — the other models are unaffected.")

try:
    page.run()
finally:  # st.stop and page switches end a run by raising
    heap.settle(version())  # what this run imported or loaded for good, out of the collector's walks
