# banli: `make run` sets everything up and starts the system; `make test` sets up and runs every test.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export BANLI_CHROMIUM ?= $(shell command -v chromium 2>/dev/null || echo /usr/bin/chromium)

.PHONY: run test install system-deps translations demo bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) translations

# Debian packages: Chromium for the browser tests (never `playwright install`).
system-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq || sudo apt-get update -qq) && \
	  (apt-get install -y -qq chromium fonts-noto-cjk || sudo apt-get install -y -qq chromium fonts-noto-cjk); \
	fi

translations: $(STAMP)
	$(BIN)/pybabel compile -q -d web/translations -f

demo: install
	$(BIN)/banli demo

run: install demo
	@echo "banli on http://127.0.0.1:5000  (demo logins in README.md; password banli2026)"
	$(BIN)/banli serve --host 127.0.0.1 --port 5000

test: install system-deps
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) instance
