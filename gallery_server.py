"""The app's server: ``streamlit run gallery_server.py`` (``make app``).

Streamlit's own server (``st.App``, found in this file by ``streamlit run``) running the app's frame,
``gallery_app.py``, with one middleware: :class:`views.deep_links.DeepLinks`, so that a page opened by its own
URL connects at once instead of after a failed guess and a 100 ms wait. ``streamlit run gallery_app.py`` serves
the same app without it.
"""

import streamlit as st
from starlette.middleware import Middleware

from views.deep_links import DeepLinks

app = st.App("gallery_app.py", middleware=[Middleware(DeepLinks)])
