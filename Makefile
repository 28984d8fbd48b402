# Two commands: `make run` (set up, index dataset/, serve) and `make test` (set up, run every test).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup ocr-deps browser-deps load-deps attack-deps run index serve test bench dataset screenshots clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

setup: $(VENV)/.installed

# Debian packages: tesseract for OCR, Chromium for the browser tests, wrk for the load test; installed
# once, when missing.
APT_INSTALL = $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq
ocr-deps:
	@command -v tesseract >/dev/null || { $(APT_INSTALL) tesseract-ocr; }

browser-deps:
	@command -v chromium >/dev/null || { $(APT_INSTALL) chromium chromium-driver; }

attack-deps:  # Ghostscript: the hostile-image tests show no EPS ever reaches it
	@command -v gs >/dev/null || { $(APT_INSTALL) ghostscript; }

load-deps:  # wrk: the load test's HTTP load generator
	@command -v wrk >/dev/null || { $(APT_INSTALL) wrk; }

run: setup ocr-deps
	$(PY) main.py run --host $(HOST) --port $(PORT)

index: setup ocr-deps
	$(PY) main.py index

serve: setup
	$(PY) main.py serve --host $(HOST) --port $(PORT)

test: setup ocr-deps browser-deps load-deps attack-deps
	$(PY) -m pytest -q

# Every speed benchmark in one run, printing ratios; results in benchmarks/results/bench.md (~15 min).
bench: setup ocr-deps
	$(PY) benchmarks/run_all.py

# Regenerate the bundled sample images and labels (deterministic).
dataset: setup
	$(PY) tools/make_dataset.py

# README screenshots, taken in headless Chromium.
screenshots: setup browser-deps
	$(PY) tools/screenshots.py

clean:
	rm -rf qdrant_data .cache
