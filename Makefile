# Developer and operator commands. Needs only Python 3.11+ (`python3`); everything else goes into .venv.
#   make run     serve the app on http://127.0.0.1:$(PORT) (SQLite db.sqlite3 unless DATABASE_URL is set)
#   make test    lint, then the whole test suite (SQLite, or PostgreSQL when DATABASE_URL names one)
# See README.md for the rest.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
WEB_WORKERS ?= 2
WEB_THREADS ?= 2
PYTEST_ARGS ?=
BENCH_ARGS ?=

MANAGE := $(BIN)/python manage.py
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
# `make run` is a development server: DEBUG on unless the caller says otherwise.
RUN_ENV := DEBUG=$(or $(DEBUG),1) FHIR_BASE_URL=$(or $(FHIR_BASE_URL),http://$(HOST):$(PORT)/fhir)

.DEFAULT_GOAL := help
.PHONY: help venv dev run migrate test pytest lint fmt worker beat bench clean

help:
	@echo "make run      install, migrate, load demo data once, serve on http://$(HOST):$(PORT)/fhir"
	@echo "make test     lint, then pytest (PostgreSQL when DATABASE_URL is set, else SQLite)"
	@echo "make pytest   tests only, no lint (PYTEST_ARGS='-k name -x' to narrow)"
	@echo "make lint     ruff format --check, ruff check, mypy, lint-imports, migrations check"
	@echo "make fmt      ruff format and ruff check --fix"
	@echo "make worker   Celery worker (needs REDIS_URL)"
	@echo "make beat     Celery beat scheduler (needs REDIS_URL)"
	@echo "make bench    benchmarks (bench/run; BENCH_ARGS passed through)"
	@echo "make venv     create .venv and install runtime requirements"

# --- virtualenv: rebuilt on demand, re-installed when a requirements file changes -----------------

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11 or newer is needed ($(PYTHON) is older); try PYTHON=python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@ $(RUNTIME_STAMP)

venv: $(RUNTIME_STAMP)

dev: $(DEV_STAMP)

# --- running ----------------------------------------------------------------------------------------

migrate: venv
	$(RUN_ENV) $(MANAGE) migrate --noinput

# load_demo is idempotent: it loads the demo patients on the first run and does nothing after.
run: migrate
	@if $(RUN_ENV) $(MANAGE) help load_demo >/dev/null 2>&1; then \
		$(RUN_ENV) $(MANAGE) load_demo && $(RUN_ENV) $(MANAGE) create_demo_logins >/dev/null; \
	else \
		echo "(no load_demo command yet: starting without demo data)"; \
	fi
	@echo
	@echo "  FHIR base URL:  http://$(HOST):$(PORT)/fhir"
	@echo "  Capability:     http://$(HOST):$(PORT)/fhir/metadata"
	@echo "  Database:       $(or $(DATABASE_URL),sqlite db.sqlite3)"
	@echo "  Demo logins:    README.md, section \"Demo logins\""
	@echo
	$(RUN_ENV) WEB_WORKERS=$(WEB_WORKERS) WEB_THREADS=$(WEB_THREADS) \
		exec $(BIN)/python -m backend.serve --host $(HOST) --port $(PORT)

worker: venv
	$(BIN)/celery -A backend worker --loglevel INFO

beat: venv
	@mkdir -p var
	$(BIN)/celery -A backend beat --loglevel INFO --schedule var/celerybeat-schedule

# --- quality ------------------------------------------------------------------------------------------

# Runs every checker even when an earlier one fails, so one run shows everything to fix.
lint: dev
	@status=0; \
	echo "== ruff format --check"; $(BIN)/ruff format --check . || status=1; \
	echo "== ruff check"; $(BIN)/ruff check . || status=1; \
	echo "== mypy"; $(BIN)/mypy . || status=1; \
	echo "== lint-imports"; $(BIN)/lint-imports || status=1; \
	echo "== migrations match the models"; \
	DJANGO_SETTINGS_MODULE=backend.settings_test $(MANAGE) makemigrations --check --dry-run \
		|| { echo "run makemigrations and commit the migrations"; status=1; }; \
	exit $$status

fmt: dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

pytest: dev
	@echo "== pytest on $(if $(DATABASE_URL),$(DATABASE_URL),SQLite)"
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint pytest

bench: dev
	@test -f bench/run || { echo "bench/run does not exist yet"; exit 1; }
	PATH="$(CURDIR)/$(BIN):$$PATH" $(if $(shell test -x bench/run && echo x),,bash) bench/run $(BENCH_ARGS)

clean:
	rm -rf .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
