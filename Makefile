# One entry point for humans and CI: `make test` builds .venv and runs every check.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: test lint typecheck pytest demo docs snapshots bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy --strict grammar compiler

pytest: $(BIN)/.installed
	$(BIN)/pytest -q

test: lint typecheck pytest

demo: $(BIN)/.installed
	cd examples && ../$(BIN)/osiris run pipelines/quickstart.yaml

docs: $(BIN)/.installed
	$(BIN)/python tests/docs/diagnostics_catalog.py

snapshots: $(BIN)/.installed
	$(BIN)/pytest -q tests/snapshots tests/mcp --snapshot-update

bench: $(BIN)/.installed
	$(BIN)/python bench/all.py

clean:
	rm -rf $(VENV) build run_logs .osiris .pytest_cache .mypy_cache .ruff_cache
