# The two commands a newcomer needs: `make demo` and `make test`. Each sets itself up.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS := postgres,mysql,async,logfire,api,dev
# pyproject promises every Python from 3.11 and every dependency from its lower bound:
# `make test` runs the library's own tests again on SQLite under the newest Python this
# machine has (empty: none newer than 3.11 here), and with each dependency at its bound.
NEWEST_PYTHON ?= $(shell scripts/newest-python)
NEWEST_VENV := .venv-newest
LOWEST_VENV := .venv-lowest
# What differs between versions is theirs (json, sqlite3, asyncio; the ORM, the schemas,
# autogenerate; pysqlite's transactions, which the SQLite migrations take over) and reaches
# the library through these: a minute or so each. The CLI, wheel and worker-process tests
# are left to the main run.
AGAIN := tests/db tests/test_layers.py tests/migrations/test_migrations.py \
    tests/migrations/test_upgrades_keep_runs.py
# At the lowest bounds, also the extras: on the servers the tests where psycopg, PyMySQL and
# asyncpg meet the library, and the API and `agentical serve` (FastAPI, uvicorn) on SQLite,
# a third job so that the two cores share the three about equally. The schema fuzz (20 s)
# is left to the main run.
LOWEST_API := tests/api tests/cli/test_serve.py --ignore=tests/api/test_schema_fuzz.py
DRIVERS := tests/db/test_aio.py tests/db/test_session.py tests/concurrency/test_hot_path.py \
	tests/concurrency/test_claiming.py tests/migrations/test_migrations.py

# The full logfire SDK is installed for the tests; unconfigured, it must stay silent.
export LOGFIRE_IGNORE_NO_CONFIG := 1

.PHONY: install lint test demo bench clean newest-venv test-newest-python \
	test-lowest-dependencies test-lowest-api

$(STAMP) $(LOWEST_VENV)/.installed-stamp: INTERPRETER := $(PYTHON)
$(NEWEST_VENV)/.installed-stamp: INTERPRETER = $(NEWEST_PYTHON)
$(LOWEST_VENV)/.installed-stamp: PINS := -c $(LOWEST_VENV)/lowest.txt
$(LOWEST_VENV)/.installed-stamp: scripts/lowest_constraints.py
%/.installed-stamp: pyproject.toml
	test -x $*/bin/python || $(INTERPRETER) -m venv $*
	$*/bin/python -m pip install --quiet --upgrade pip
	$(if $(PINS),$*/bin/python scripts/lowest_constraints.py > $*/lowest.txt)
	$*/bin/python -m pip install --quiet $(PINS) -e ".[$(EXTRAS)]"
	touch $@

install: $(STAMP)

lint: install
	$(BIN)/ruff check src tests migrations scripts
	$(BIN)/ruff format --check src tests migrations scripts
	$(BIN)/mypy

# The extra passes' venvs are built beside lint (installs and static checks, no tests), so
# that after the main run only their tests are left.
test: install
	$(MAKE) --no-print-directory -j3 --output-sync=target lint $(LOWEST_VENV)/.installed-stamp \
	    newest-venv
	$(BIN)/pytest
	$(MAKE) --no-print-directory -j2 --output-sync=target \
	    test-lowest-dependencies test-newest-python test-lowest-api

# Old releases beside today's versions of what they use warn of deprecations: not ours.
LOWEST_PYTEST := $(LOWEST_VENV)/bin/pytest -q -W default::DeprecationWarning

test-lowest-dependencies: $(LOWEST_VENV)/.installed-stamp
	AGENTICAL_TEST_DATABASES=sqlite $(LOWEST_PYTEST) $(AGAIN)
	AGENTICAL_TEST_DATABASES=$${AGENTICAL_TEST_DATABASES:-postgresql,mariadb} \
	    $(LOWEST_PYTEST) $(DRIVERS)

test-lowest-api: $(LOWEST_VENV)/.installed-stamp
	AGENTICAL_TEST_DATABASES=sqlite $(LOWEST_PYTEST) $(LOWEST_API)

# NEWEST_PYTHON is looked for here only, not by every make command (0.2 s with pyenv).
newest-venv:
	@python="$(NEWEST_PYTHON)"; if [ -n "$$python" ]; then \
	    $(MAKE) --no-print-directory NEWEST_PYTHON="$$python" $(NEWEST_VENV)/.installed-stamp; \
	elif [ -n "$$CI" ]; then echo "CI needs a Python newer than 3.11" >&2; exit 1; \
	else echo "newest-venv: skipped, no Python newer than 3.11 on this machine"; fi

test-newest-python: newest-venv
	@if [ -x $(NEWEST_VENV)/bin/pytest ]; then \
	    AGENTICAL_TEST_DATABASES=sqlite $(NEWEST_VENV)/bin/pytest -q $(AGAIN); fi

demo: install
	$(BIN)/python scripts/demo.py

# Benchmarks (not part of `make test`: pyproject's norecursedirs skips tests/perf, so the
# path is given explicitly). Prints the table and writes tests/perf/results.json.
bench: install
	$(BIN)/pytest tests/perf -q -s --durations=5

clean:
	rm -rf $(VENV) $(NEWEST_VENV) $(LOWEST_VENV) .demo dist build
