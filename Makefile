# The two commands a newcomer needs: `make demo` and `make test`. Each sets itself up.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS := postgres,mysql,async,logfire,api,dev

# The full logfire SDK is installed for the tests; unconfigured, it must stay silent.
export LOGFIRE_IGNORE_NO_CONFIG := 1

.PHONY: install lint test demo bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check src tests migrations scripts
	$(BIN)/ruff format --check src tests migrations scripts
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

demo: install
	$(BIN)/python scripts/demo.py

# Benchmarks (not part of `make test`: pyproject's norecursedirs skips tests/perf, so the
# path is given explicitly). Prints the table and writes tests/perf/results.json.
bench: install
	$(BIN)/pytest tests/perf -q -s --durations=5

clean:
	rm -rf $(VENV) .demo dist build
