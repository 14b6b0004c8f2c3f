# One entry point for humans and CI: `make test` builds .venv and runs every check.
# The environment comes from the lock file (exact versions, with hashes), never from the day's
# releases; pyproject.toml keeps the version ranges that users' installs resolve.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LOCK   := requirements/dev.txt
UV     := uv==0.13.9

.PHONY: test test-long lint typecheck pytest pytest-long demo docs snapshots bench lock clean

$(BIN)/.installed: $(LOCK) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; \
	  echo "$(LOCK) does not satisfy pyproject.toml: run 'make lock'"; exit 1; }
	touch $@

# Regenerate the lock after changing a dependency in pyproject.toml (or to take new
# releases on purpose: `make lock UPGRADE=1`); commit requirements/dev.txt with the change that needed it.
lock:
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q '$(UV)'
	.venv-lock/bin/uv pip compile pyproject.toml requirements/build.in --extra dev \
	  --universal --python-version 3.11 --generate-hashes \
	  --custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade) -o $(LOCK)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy --strict grammar compiler

# The suite a change must pass (under 20 minutes on 2 cores); the `long` variants
# (fuzzing, load, old MCP clients, the Spark cluster and corpus parity) run with
# `make test-long`, which CI runs after `make test`.
pytest: $(BIN)/.installed
	$(BIN)/pytest -q -m "not long" --durations=15

pytest-long: $(BIN)/.installed
	$(BIN)/pytest -q -m long --durations=15

test: lint typecheck pytest

test-long: pytest-long

demo: $(BIN)/.installed
	cd examples && ../$(BIN)/osiris run pipelines/quickstart.yaml

docs: $(BIN)/.installed
	$(BIN)/python tests/docs/diagnostics_catalog.py

snapshots: $(BIN)/.installed
	$(BIN)/pytest -q tests/snapshots tests/mcp --snapshot-update

bench: $(BIN)/.installed
	$(BIN)/python bench/all.py

clean:
	rm -rf $(VENV) .venv-lock build run_logs .osiris .pytest_cache .mypy_cache .ruff_cache
