# Nurture: the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed

export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export GX_ANALYTICS_ENABLED := False

.PHONY: setup demo test test-all airflow screenshot lint lock clean postgres redis java docs

# Idempotent: reinstalls only when the lock file or pyproject.toml changed.
setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --compile-bytecode -p $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --compile-bytecode -p $(BIN)/python --no-deps -e .
	@$(BIN)/uv pip check -p $(BIN)/python
	@touch $(STAMP)

demo: setup
	$(BIN)/python scripts/demo.py

# Test modules run on TEST_WORKERS processes (pytest-xdist), a whole module per worker
# at a time (its fixtures built once), slowest modules first (tests/conftest.py).
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: setup postgres redis java
	$(BIN)/python -m pytest $(XDIST)

# Includes the slow scale tests kept out of CI.
test-all: setup postgres redis java
	$(BIN)/python -m pytest $(XDIST) -m ""

# The local PostgreSQL warehouse for the dbt `postgres` target (installs it if
# missing, creates .pg/ once; a no-op when it already runs). See the script.
postgres:
	scripts/postgres.sh start

# redis-server for the CeleryExecutor test, which starts a private broker of its own
# (installs Debian's package if missing; a no-op when it is there). See the script.
redis:
	scripts/redis.sh install

# Java 17 for the dbt `spark` target's local session (checks; installs it as root on Debian).
java:
	scripts/java.sh

airflow: setup
	$(BIN)/python scripts/airflow_standalone.py

# Pictures for the README: the DAG grid and the retention report (run `make demo`
# first; needs chromium).
screenshot: setup
	$(BIN)/python scripts/airflow_standalone.py --screenshot docs/airflow-grid.png
	$(BIN)/python scripts/report_screenshot.py --out docs/report.png

# The documentation site from docs/ (mkdocs.yml) into site/; --strict fails on a broken link.
docs: setup
	$(BIN)/mkdocs build --strict --site-dir site

# Style (ruff) and the package's layers (import-linter, contracts in .importlinter).
lint: setup
	$(BIN)/ruff check nurture dags scripts tests
	$(BIN)/ruff format --check nurture dags scripts tests
	$(BIN)/lint-imports

# Re-resolve the pinned dependency set (needs the package registry).
lock: setup
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf data .airflow dbt_project/target dbt_project/logs
