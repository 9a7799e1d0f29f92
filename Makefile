# wasmflow: two commands on a fresh machine, `make run` and `make test`. Both are idempotent: each step
# is a stamp file that is remade only when its inputs change.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
INSTANCE ?= instance

PY_STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed

.PHONY: run test lint install db clean help

help:
	@echo "make run   install everything needed and start the server on http://$(HOST):$(PORT)"
	@echo "make test  install everything needed and run the whole test suite"

$(PY_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(NPM_STAMP): package.json $(wildcard package-lock.json)
	# `npm ci` rejects a lock without other platforms' optional packages; `npm install` follows the lock too.
	npm install --no-audit --no-fund --loglevel=error
	touch $@

install: $(PY_STAMP) $(NPM_STAMP)

db: install
	$(BIN)/wasmflow --instance $(INSTANCE) db upgrade

run: install db
	$(BIN)/wasmflow --instance $(INSTANCE) serve --host $(HOST) --port $(PORT)

lint: $(PY_STAMP)
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench

test: install lint
	WASMFLOW_TEST_CACHE=build/test-cache $(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) node_modules build .pytest_cache
