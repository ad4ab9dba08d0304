# The two commands a newcomer needs: `make demo` and `make test`. Each sets itself up.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS := postgres,mysql,async,logfire,api,dev
# pyproject promises every Python from 3.11: `make test` also runs the SQLite suite under
# the newest one this machine has (empty: none newer than 3.11 here).
NEWEST_PYTHON ?= $(shell scripts/newest-python)
NEWEST_VENV := .venv-newest

# The full logfire SDK is installed for the tests; unconfigured, it must stay silent.
export LOGFIRE_IGNORE_NO_CONFIG := 1

.PHONY: install lint test test-newest-python demo bench clean

$(STAMP): INTERPRETER := $(PYTHON)
$(NEWEST_VENV)/.installed-stamp: INTERPRETER := $(NEWEST_PYTHON)
%/.installed-stamp: pyproject.toml
	test -x $*/bin/python || $(INTERPRETER) -m venv $*
	$*/bin/python -m pip install --quiet --upgrade pip
	$*/bin/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

install: $(STAMP)

lint: install
	$(BIN)/ruff check src tests migrations scripts
	$(BIN)/ruff format --check src tests migrations scripts
	$(BIN)/mypy

test: lint
	$(BIN)/pytest
	$(MAKE) --no-print-directory test-newest-python

# What differs between Python versions is Python's own (json, sqlite3, asyncio, datetime)
# and reaches the library through tests/db: those, on SQLite, in about a minute. The CLI,
# the API, the migrations, the wheel and the worker processes are left to the main run.
ifeq ($(NEWEST_PYTHON),)
test-newest-python:
	@if [ -n "$$CI" ]; then echo "CI needs a Python newer than 3.11" >&2; exit 1; fi
	@echo "test-newest-python: skipped, no Python newer than 3.11 on this machine"
else
test-newest-python: $(NEWEST_VENV)/.installed-stamp
	AGENTICAL_TEST_DATABASES=sqlite $(NEWEST_VENV)/bin/pytest -q tests/db tests/test_layers.py
endif

demo: install
	$(BIN)/python scripts/demo.py

# Benchmarks (not part of `make test`: pyproject's norecursedirs skips tests/perf, so the
# path is given explicitly). Prints the table and writes tests/perf/results.json.
bench: install
	$(BIN)/pytest tests/perf -q -s --durations=5

clean:
	rm -rf $(VENV) $(NEWEST_VENV) .demo dist build
