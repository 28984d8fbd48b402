# Two commands: `make run` (set up, index dataset/, serve) and `make test` (set up, run every test).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup system-deps run index serve test dataset screenshots clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

setup: $(VENV)/.installed

# Debian packages: Chromium for the browser tests, tesseract for OCR.
system-deps:
	@command -v chromium >/dev/null && command -v tesseract >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver tesseract-ocr; }

run: setup
	$(PY) main.py run --host $(HOST) --port $(PORT)

index: setup
	$(PY) main.py index

serve: setup
	$(PY) main.py serve --host $(HOST) --port $(PORT)

test: setup system-deps
	$(PY) -m pytest -q

# Regenerate the bundled sample images and labels (deterministic).
dataset: setup
	$(PY) tools/make_dataset.py

# README screenshots, taken in headless Chromium.
screenshots: setup system-deps
	$(PY) tools/screenshots.py

clean:
	rm -rf qdrant_data .cache
