# Handover — 课后服务安全交接
#
#   make demo    run the service on the embedded SQLite store with a demo school (screens at /app/)
#   make web     build the screens (web/dist) with npm: needs Node 20.19+ and the npm registry
#   make lint    ruff and mypy --strict over service/, tests/ and tools/ (versions pinned in the test extras)
#   make test    the whole test suite on every core (PostgreSQL required; see scripts/ensure-postgres.sh)
#   make bench   release throughput and latency over HTTP (SQLite and PostgreSQL)
#   make bench-verify   the offline evidence verifier over a million records, against a raw chain
#   make clean   remove the virtualenv, caches and the demo data
#
# Variables: PY (the Python that creates .venv), ARGS (passed to `handover demo` / `handover bench`),
# PYTEST_ARGS (passed to pytest), PYTEST_WORKERS (pytest-xdist workers for `make test`: a number,
# `auto` for one per core, 0 for a single process).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=
PYTEST_ARGS ?=
PYTEST_WORKERS ?= auto

.PHONY: help venv install demo web lint test bench bench-verify clean

help:
	@echo "make demo    run the service with a demo school on the SQLite store (data/demo)"
	@echo "make web     build the screens served at /app/ (npm ci + npm run build in web/)"
	@echo "make lint    check style and types (ruff, mypy --strict)"
	@echo "make test    run the whole test suite (PostgreSQL required)"
	@echo "make bench   measure release throughput and latency"
	@echo "make bench-verify   time the evidence verifier over a million records"
	@echo "make venv    create .venv and install the project with its test extras"
	@echo "make clean   remove .venv, caches and data/demo"

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Re-install whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -e ".[test]"
	touch $@

venv install: $(STAMP)

# The screens: npm ci when the lock file changes, a build when the sources or the API change
# (the typed client is generated from the OpenAPI document the service writes).
WEB_SRC := $(shell find web/src web/public -type f ! -name schema.d.ts 2>/dev/null) \
	web/index.html web/vite.config.ts web/tsconfig.json
API_SRC := $(shell find service -name '*.py' 2>/dev/null)

web/node_modules/.installed: web/package-lock.json web/package.json
	cd web && npm ci --no-audit --no-fund
	touch $@

web/openapi.json: $(API_SRC) scripts/dump-openapi.py | $(STAMP)
	$(BIN)/python scripts/dump-openapi.py
	touch $@

web/dist/index.html: web/node_modules/.installed web/openapi.json $(WEB_SRC)
	cd web && npm run build

web: web/dist/index.html

demo: $(STAMP) web
	$(BIN)/handover demo $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check service tests tools
	$(BIN)/mypy --strict service tests tools

test: $(STAMP) web
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-browser.sh
	bash scripts/ensure-bench.sh
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist load $(PYTEST_ARGS)

bench: $(STAMP)
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-bench.sh
	$(BIN)/handover bench $(ARGS)

bench-verify: $(STAMP)
	$(BIN)/python tools/bench_verify.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis data/demo
	rm -rf web/node_modules web/dist web/openapi.json web/src/api/schema.d.ts tests/browser/artifacts
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
