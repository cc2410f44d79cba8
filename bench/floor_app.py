"""The floor the benchmark measures against: the smallest Streamlit app, served and loaded the same way."""

import streamlit as st

st.write("floor")
