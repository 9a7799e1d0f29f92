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
EDITOR_STAMP := static/index.html
EDITOR_SRC := $(shell find editor -type f -not -path 'editor/.vitest/*' -not -path 'editor/node_modules/*' 2>/dev/null)
CHROMIUM := /usr/bin/chromium
# Root installs Debian packages directly; anyone else goes through sudo.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

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

$(EDITOR_STAMP): $(NPM_STAMP) $(EDITOR_SRC)
	npm run --silent build
	test -f $@ && touch $@

# The browser tests drive Debian's Chromium (TOOLCHAIN.md); Playwright's own browser download is not used.
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

install: $(PY_STAMP) $(NPM_STAMP) $(EDITOR_STAMP)

db: install
	$(BIN)/wasmflow --instance $(INSTANCE) db upgrade

run: install db
	$(BIN)/wasmflow --instance $(INSTANCE) serve --host $(HOST) --port $(PORT)

lint: $(PY_STAMP) $(NPM_STAMP)
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	npm run --silent typecheck

test: install $(CHROMIUM) lint
	npm run --silent test:unit
	WASMFLOW_TEST_CACHE=build/test-cache $(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) node_modules build static .pytest_cache
