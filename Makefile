# Quick start: `make demo` serves the API on the demo data; `make test` runs every check.
# Each target sets up what it needs (.venv) on a fresh machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test check fuzz lint pytest serve clean bench bench-quick

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[intelligence]'
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,intelligence]'
	touch $@ $(VENV)/.runtime

## demo: create ./retailcore.db with demo data and a week of trading, forecast it and scan it for anomalies, print a finance and an admin token, then the back office's URL and demo login, and serve http://127.0.0.1:8000
demo: $(VENV)/.runtime
	$(BIN)/retailcore init --demo --api-url http://$(HOST):$(PORT)
	$(BIN)/retailcore simulate --company DEMO --stores 3 --days 7 --seed 1
	$(BIN)/retailcore forecast run --company DEMO --quiet
	$(BIN)/retailcore anomalies scan --company DEMO --quiet
	@echo "back office: http://$(HOST):$(PORT)/  web till: http://$(HOST):$(PORT)/pos  sign in as: demo  password: retailcore-demo"
	$(BIN)/retailcore serve --host $(HOST) --port $(PORT)

# Test processes: one per core (pytest-xdist); PYTEST_WORKERS=0 runs the suite in one process.
PYTEST_WORKERS ?= auto

## test: ruff, the whole suite on SQLite, then on PostgreSQL if RETAILCORE_TEST_DATABASE_URL is set, then a bounded schemathesis run on both at once
test: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	env -u RETAILCORE_TEST_DATABASE_URL $(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist worksteal
	@if [ -n "$$RETAILCORE_TEST_DATABASE_URL" ]; then \
		echo "== PostgreSQL: $$RETAILCORE_TEST_DATABASE_URL"; \
		$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist worksteal; \
	else \
		echo "RETAILCORE_TEST_DATABASE_URL not set: PostgreSQL run skipped"; \
	fi
	PYTHON=$(BIN)/python tests/fuzz/all.sh

## check: ruff and the fast tests (unit and property tests, on SQLite), in well under 2 minutes
check: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	env -u RETAILCORE_TEST_DATABASE_URL $(BIN)/pytest -q tests/unit tests/properties

## test-cluster: NATS cluster (3 nodes), 2 API nodes behind haproxy, a bounded POS load with a NATS node and an API node killed mid-run, then the checks (minutes; not part of test; CLUSTER_ARGS="--threads 4 --batches 40")
.PHONY: test-cluster
test-cluster: $(VENV)/.dev
	$(BIN)/python scripts/cluster/run.py $(CLUSTER_ARGS)

## fuzz: the bounded schemathesis run alone (SQLite; FUZZ_ARGS="--database-url URL --max-examples 50")
fuzz: $(VENV)/.dev
	$(BIN)/python tests/fuzz/run.py $(FUZZ_ARGS)

## bench: the benchmark suite, full volumes, SQLite then PostgreSQL at BENCH_POSTGRES (hours on 2 cores; see docs/benchmarks.md)
BENCH_POSTGRES ?= postgresql://postgres@127.0.0.1:5432/retailcore_bench
bench: $(VENV)/.dev
	$(BIN)/python benchmarks/run.py --backend both --postgres $(BENCH_POSTGRES)

## bench-quick: the same cases at small volumes (a smoke run; about 35 minutes at the speeds in docs/benchmarks.md)
bench-quick: $(VENV)/.dev
	$(BIN)/python benchmarks/run.py --backend both --quick --postgres $(BENCH_POSTGRES)

serve: $(VENV)/.runtime
	$(BIN)/retailcore serve --host $(HOST) --port $(PORT)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

## shell: a shell with .venv/bin first on PATH, so that `retailcore` runs as typed (`exit` leaves it)
.PHONY: shell
shell: $(VENV)/.runtime
	@echo "retailcore is on PATH in this shell; 'exit' leaves it"
	@PATH="$(CURDIR)/$(BIN):$$PATH" VIRTUAL_ENV="$(CURDIR)/$(VENV)" $${SHELL:-/bin/sh} -i
