# Two commands: `make run` (set up, index dataset/, serve) and `make test` (set up, run every test).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup setup-dev ocr-deps browser-deps load-deps attack-deps run index serve lint test test-fast bench bench-scale evaluate-ads-sample ads-sample-report compare-ads-sample dataset screenshots eda-notebook clean

# The runtime set for `make run`; the development set (tests, linters, tools) for `make test`. The project
# itself is installed editable, which gives the `adsearch` command beside `python main.py`.
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

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

# ruff (style, imports, likely bugs), mypy (types), import-linter (the pipeline's imports run one way).
lint: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# Everything, lint first. A missing tesseract, Chromium or wrk fails its tests here instead of skipping them.
test: setup-dev ocr-deps browser-deps load-deps attack-deps lint
	ADSEARCH_REQUIRE_TOOLS=1 $(PY) -m pytest -q

# The loop while working: unit tests and the integration tests that need no browser, load, crash or fault
# trials, fuzzing or notebook, on both cores (about 100 s on two cores).
test-fast: setup-dev ocr-deps
	$(PY) -m pytest -q -n 2 --dist worksteal -m "not slow"

# Every speed benchmark in one run, printing ratios; results in benchmarks/results/bench.md (~15 min).
bench: setup-dev ocr-deps
	$(PY) benchmarks/run_all.py

# One million ads on this machine: bulk load, graph build, the serving app's memory, store and end-to-end
# latency, int8 copies in RAM and the originals on disk; results in benchmarks/results/scale_1m.md.
bench-scale: setup-dev
	$(PY) benchmarks/scale.py --size 1000000 $(SCALE_ARGS) --out benchmarks/results/scale_1m.md

# Search quality on the 60 labelled real ads in ../shared (read in place): index them into a scratch
# store under .cache/ads-sample (its OCR cache makes reruns quick), then evaluate
# evaluation/ads_sample.yaml. OCR_ENGINES=tesseract make evaluate-ads-sample measures one engine alone.
ADS_SAMPLE ?= ../shared/ads-sample
ADS_SCRATCH ?= .cache/ads-sample
evaluate-ads-sample:
	@if [ -d "$(ADS_SAMPLE)/images" ]; then $(MAKE) --no-print-directory ads-sample-report; else \
		echo "skipped: no labelled real ads at $(ADS_SAMPLE)/images (set ADS_SAMPLE=DIR to where ads-sample is)"; fi

ads-sample-report: setup ocr-deps
	export DATASET_DIR="$(ADS_SAMPLE)/images" QDRANT_PATH="$(ADS_SCRATCH)/qdrant" TEXT_DIR="$(ADS_SCRATCH)/text" \
		COLLECTION=ads_sample; \
	$(PY) main.py index --no-progress && \
	$(PY) -m evaluation --queries evaluation/ads_sample.yaml --labels "$(ADS_SAMPLE)/labels.csv" \
		--out "$(ADS_SCRATCH)/report"

# Before and after in one run on the same 60 real ads: the code this work started from (767da34, extracted
# with git archive into .cache/ads-compare/) and this checkout, each indexing and searching (text mode,
# words only); the table goes to benchmarks/results/ads_sample_compare.md. Skips where the ads are absent.
compare-ads-sample: setup ocr-deps
	$(PY) benchmarks/ads_sample_compare.py --ads "$(ADS_SAMPLE)" --out benchmarks/results/ads_sample_compare.md

# Regenerate the bundled sample images and labels (deterministic).
dataset: setup-dev
	$(PY) tools/make_dataset.py

# EDA.ipynb executed again in place, its numbers and figures saved in it, on the collection the settings
# point at (index it first: make index).
eda-notebook: setup-dev
	$(VENV)/bin/jupyter-execute --inplace --timeout=600 EDA.ipynb

# README screenshots, taken in headless Chromium.
screenshots: setup-dev browser-deps
	$(PY) tools/screenshots.py

clean:
	rm -rf qdrant_data .cache
