# The two commands of the README. Each installs what it needs first (idempotent).
PY ?= python3
APT_PACKAGES = graphviz chromium fonts-dejavu-core

.PHONY: app test setup-runtime setup-dev

app: setup-runtime
	$(PY) -m streamlit run gallery_app.py

test: setup-dev
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

setup-runtime:
	$(PY) -m pip install -q -r requirements.txt

setup-dev:
	@command -v dot >/dev/null && command -v chromium >/dev/null || \
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(APT_PACKAGES); }
	$(PY) -m pip install -q -r requirements-dev.txt
