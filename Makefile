# smallfish: `make demo` runs the pipeline on the built-in demo market; `make test` runs the test suite;
# `make check` is the quick loop (ruff, mypy, import contracts, the tests not marked slow).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export SMALLFISH_LAKE ?= $(CURDIR)/lake
export SMALLFISH_RAW ?= $(CURDIR)/raw
export GX_ANALYTICS_ENABLED := false
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba_cache
# One BLAS thread per process: the fits use small matrices, and BLAS threads stall when run workers share the cores.
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: setup services demo lint test test-fast check ui bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[pipeline,dev,reference,production]'
	touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: setup $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m pipelines.run demo

# Best effort, never fails: PostgreSQL and Redis for the needs_services tests (which skip without them).
services:
	@if command -v redis-server >/dev/null && { ls /usr/lib/postgresql/*/bin/initdb || command -v initdb; } >/dev/null 2>&1; then \
		echo "services: postgresql and redis-server are installed"; \
	elif ! command -v apt-get >/dev/null; then \
		echo "services: skipped, no apt-get: install PostgreSQL and Redis yourself or needs_services tests skip"; \
	elif [ "$$(id -u)" != 0 ]; then \
		echo "services: skipped, not root: sudo apt-get install postgresql redis-server, or needs_services tests skip"; \
	else \
		echo "services: apt-get install postgresql redis-server"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			postgresql redis-server >/dev/null; } || echo "services: apt-get failed; needs_services tests will skip"; \
	fi

# Style, types and the import contracts of pyproject.toml ([tool.ruff], [tool.mypy], [tool.importlinter]).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup services lint
	$(BIN)/python -m pytest

# The tests not marked slow (pyproject.toml markers: over ~1 s, Dagster runs, subprocesses, replays, Monte Carlo);
# the ten slowest are listed so that a test which outgrows the quick loop gets its marker.
test-fast: setup
	$(BIN)/python -m pytest -m "not slow" --durations=10

# The quick loop (about 2 min with warm caches: mypy, lint-imports and numba keep theirs between runs).
check: lint test-fast

ui: setup $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dg dev -w workspace.yaml -h 127.0.0.1 -p 3000

bench: setup
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf lake raw .dagster_home .numba_cache
