# hanzo-ml-lab — the front door. `make help` lists the targets.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .make-stamps
export HANZO_ML_HOME ?= $(HOME)/.hanzo-ml
export PIP_DISABLE_PIP_VERSION_CHECK := 1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help install install-torch run serve test test-fast lint crds bench clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMPS)/install: $(BIN)/python pyproject.toml | $(STAMPS)
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

# PyTorch is only for the distributed example and its test; from the registry it brings the
# CUDA wheels too (several GB), so it is its own cached step.
$(STAMPS)/torch: $(BIN)/python | $(STAMPS)
	$(BIN)/pip install -q torch
	@touch $@

# Chromium from Debian for the real-browser UI tests (tests/ui drive it with Playwright, which
# never downloads a browser of its own). Installed once; the stamp caches the check.
$(STAMPS)/chromium: | $(STAMPS)
	command -v chromium >/dev/null || ( $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium )
	@touch $@

$(STAMPS):
	mkdir -p $@

install: $(STAMPS)/install ## create .venv and install the package with its test dependencies

install-torch: $(STAMPS)/torch ## install PyTorch (for the DDP example)

run: install ## run the main job: JupyterLab with the extension, the embedded control plane and the examples
	$(BIN)/jupyter lab --allow-root --no-browser --ip=127.0.0.1 --port=$${PORT:-8888} \
		--ServerApp.root_dir=notebooks/examples

serve: install ## only the embedded control plane (API + controller) on 127.0.0.1:8787
	$(BIN)/hanzo-ml serve

test: install install-torch $(STAMPS)/chromium ## run the whole test suite
	$(BIN)/python -m pytest

test-fast: install ## the suite without slow tests
	$(BIN)/python -m pytest -m "not slow"

crds: install ## regenerate controller/crds/ from the API models
	$(BIN)/hanzo-ml crds --out controller/crds

lint: install ## ruff and the import-layering contracts
	$(BIN)/pip install -q ruff
	$(BIN)/ruff check hanzo_ml_lab magics controller tests
	$(BIN)/lint-imports

bench: install ## benchmarks against peers, ~5 min (the peers go into their own .venv-bench)
	bash benchmarks/run.sh

clean: ## remove the virtualenv and build output
	rm -rf $(VENV) $(STAMPS) build dist
