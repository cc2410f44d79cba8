# The two commands of the README. Each installs what it needs first (idempotent).
PY ?= python3
# Debian's packages the tests need: dot for exports, a real Chromium for the browser tests, the font
# the exports embed. Installed with apt-get (through sudo when not root) when any is missing.
APT_PACKAGES = graphviz chromium fonts-dejavu-core
SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: app test setup-runtime setup-dev

app: setup-runtime
	$(PY) -m streamlit run gallery_server.py

# One pytest-xdist worker per CPU; each test file runs whole on one worker, so a module's shared builds (the
# transformers models on meta, a Streamlit server) are made once. xdist starts the files with the most tests first;
# starting them in collection order (--no-loadscope-reorder, the browser tests first) measured no faster in CI
# (686.6 s, against 657.8 and 685.5 s with the default). The 20-browser load test is the longest file; the
# reference models skip torch's weight initialisers (tests/reference.py). Fresh clones' runs took 488, 547, 567,
# 557, 514 and 480 s for 6,982-6,994 tests on the 2-core machine (issue 15's limit: 10 minutes), 343, 325, 320 and
# 368 s for 6,997-7,011 on a later, idle one, 365 s for 7,051 with the deep-link tests, 335, 327, 312 and 302 s for 7,052-7,075; their last ~90 s ran the last two tests (the load test, whose file xdist
# starts late because it holds few tests, is the longest).
test: setup-dev
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -n auto --dist loadfile

setup-runtime:
	$(PY) -m pip install -q -r requirements.txt

setup-dev:
	@dpkg -s $(APT_PACKAGES) >/dev/null 2>&1 || { $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $(APT_PACKAGES); }
	$(PY) -m pip install -q -r requirements-dev.txt
