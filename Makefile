# The one command surface: every CI step is a target here, so CI failures reproduce locally.
# `make help` lists the targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Use uv from PATH; without one, bootstrap it into .tools/ from PyPI (no root, no curl).
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PYTHON ?= python3
RUN := $(UV) run --locked
PYTEST_ARGS ?=
export DVC_NO_ANALYTICS := 1

.PHONY: help install data run repro show test test-fast lint format bench plots clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.tools/bin/uv:
	@echo "uv not found: installing it into .tools/ (a private virtual environment)"
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

install: $(if $(findstring .tools/bin/uv,$(UV)),.tools/bin/uv) ## Create .venv with the locked packages (uv.lock)
	$(UV) sync --locked

data: install ## Get the raw data data.dvc pins (dvc pull, or the embedded copy, verified)
	$(RUN) mlops fetch

repro: data ## Reproduce the DVC pipeline (only stages whose inputs changed)
	$(RUN) dvc repro

run: repro ## Main job: set up, get data, run the pipeline, print metrics and plot paths
	@$(RUN) mlops show

show: ## Print the metrics table and where the plots are
	@$(RUN) mlops show

test: data ## Run every test (code, data, model, pipeline); slow ones included
	$(RUN) pytest $(PYTEST_ARGS)

test-fast: data ## Quick loop: the tests not marked slow
	$(RUN) pytest -m "not slow" $(PYTEST_ARGS)

lint: install ## Check formatting and lint (ruff)
	$(RUN) ruff format --check .
	$(RUN) ruff check .

format: install ## Format and fix what ruff can
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

bench: data ## Benchmark the pipeline (full and no-op dvc repro) -> benchmarks/results.json
	$(RUN) python benchmarks/pipeline.py

plots: repro ## Render the DVC plots to dvc_plots/index.html
	$(RUN) dvc plots show

clean: ## Remove pipeline outputs (not the data, not the DVC cache)
	rm -rf artifacts/dataset.parquet artifacts/split models/model.skops reports/figures
