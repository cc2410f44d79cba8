"""LLM Architecture Gallery core: specs, derivation from config.json, exact counts, lint, diagrams.

Pure functions only; this package never imports Streamlit (the app lives in gallery_app.py and views/).
"""
