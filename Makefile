# Quick start:  make run   (site with demo data on SQLite, http://localhost:8000)
#               make test  (every check and test; CI runs this through .ci/run)
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

# Debian and Ubuntu packages: Node.js builds the design system; WeasyPrint needs
# Pango and HarfBuzz's subsetter; browser tests drive Debian's Chromium.
RUN_DEBS := nodejs npm libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
TEST_DEBS := $(RUN_DEBS) chromium
# The benchmarks' load generator.
BENCH_DEBS := $(RUN_DEBS) wrk

.PHONY: help
help:
	@echo "make run     install, migrate, load demo data, serve on http://localhost:$(PORT) with a task worker"
	@echo "make test    install and run every check and test (lint, format, checks, migrations, pytest)"
	@echo "make worker  run the background task worker"
	@echo "make assets  rebuild the design system's CSS and JS into static/dist"
	@echo "make bench   seed 10,000 and 100,000 members on PostgreSQL, load-test with wrk, write docs/benchmarks.md"

.PHONY: system-deps-run system-deps-test
system-deps-run:
	@./bin/system-deps $(RUN_DEBS)
system-deps-test:
	@./bin/system-deps $(TEST_DEBS)

$(PY): pyproject.toml
	@py=$$(./bin/find-python) && echo "Using $$py" && $$py -m venv --clear $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(PY)

.PHONY: venv
venv: $(PY)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

static/dist/main.css: node_modules/.package-lock.json $(wildcard assets/scss/*.scss)
	npm run --silent build

.PHONY: assets
assets: static/dist/main.css

.PHONY: run
run: system-deps-run venv assets
	$(PY) manage.py migrate --noinput
	$(PY) manage.py credentials_key
	$(PY) manage.py seed_demo
	@trap 'kill 0' EXIT; \
	  $(PY) manage.py db_worker --queue-name '*' & \
	  $(PY) manage.py runserver $(PORT)

.PHONY: worker
worker: venv
	$(PY) manage.py db_worker --queue-name '*'

.PHONY: test
test: system-deps-test venv assets
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Needs a PostgreSQL server: BENCH_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/benchdata) is dropped and recreated.
# BENCH_ARGS="--members 2000 --duration 3" gives a quick rehearsal.
.PHONY: bench system-deps-bench
system-deps-bench:
	@./bin/system-deps $(BENCH_DEBS)
bench: system-deps-bench venv assets
	$(PY) bench/run.py $(BENCH_ARGS)
	$(PY) bench/report.py
