# banli: `make run` sets everything up and starts the system; `make test` sets up and runs every test.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export BANLI_CHROMIUM ?= $(shell command -v chromium 2>/dev/null || echo /usr/bin/chromium)

.PHONY: run test install system-deps translations assets charts demo bench clean lint-bpmn

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) translations assets

# Front-end packages (bpmn-js modeler and viewer) from the npm registry, pinned by package-lock.json, bundled
# by esbuild into web/static/vendor/ (git-ignored: no third-party bundle is committed).
NODE_STAMP := node_modules/.installed
VENDOR := web/static/vendor/modeler.js

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

$(VENDOR): $(NODE_STAMP) $(wildcard web/static/js/*)
	npm run --silent build

# ECharts for the statistics page: the npm package's prebuilt dist file (pinned in package.json), copied
# beside the bundles.
ECHARTS := web/static/vendor/echarts.min.js

$(ECHARTS): $(NODE_STAMP)
	mkdir -p $(@D) && cp node_modules/echarts/dist/echarts.min.js $@

charts: $(ECHARTS)

# The REST API's reference page (/api/v1/docs): swagger-ui-dist's prebuilt files (pinned), served locally.
SWAGGER := web/static/vendor/swagger-ui/swagger-ui-bundle.js

$(SWAGGER): $(NODE_STAMP)
	mkdir -p $(@D) && cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css \
	  node_modules/swagger-ui-dist/swagger-ui-standalone-preset.js $(@D)/

assets: $(VENDOR) $(ECHARTS) $(SWAGGER)

# Debian packages: Chromium for the browser tests (never `playwright install`), a CJK font for its pages.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@missing=""; command -v chromium >/dev/null 2>&1 || missing="chromium"; \
	  dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing="$$missing fonts-noto-cjk"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  fi

translations: $(STAMP)
	$(BIN)/pybabel -q compile -d web/translations -f

demo: install
	$(BIN)/banli demo

# The web server and, beside it, the one scheduler process that fires deadlines; Ctrl-C stops both.
run: install demo
	@echo "banli on http://127.0.0.1:5000  (demo logins in README.md; password banli2026)"
	@trap 'kill $$SCHED 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/banli scheduler & SCHED=$$!; \
	  $(BIN)/banli serve --host 127.0.0.1 --port 5000

# The whole suite twice: on SQLite, then on PostgreSQL (BANLI_TEST_PG_URL, default the local server's
# `test` database). Without a reachable server the second run says SKIPPED, unless CI is set: then it fails.
test: install system-deps lint-bpmn
	@sqlite=0; postgres=0; \
	echo "== the suite on SQLite"; $(BIN)/python -m pytest -q || sqlite=$$?; \
	echo "== the suite on PostgreSQL"; BANLI_TEST_DB=postgres $(BIN)/python -m pytest -q || postgres=$$?; \
	echo "== SQLite run: $$( [ $$sqlite = 0 ] && echo passed || echo FAILED ), PostgreSQL run: $$( [ $$postgres = 0 ] && echo passed or skipped || echo FAILED )"; \
	[ $$sqlite = 0 ] && [ $$postgres = 0 ]

# processes/*.bpmn against bpmnlint's recommended rules (.bpmnlintrc), with the npm package pinned in package.json.
lint-bpmn: $(NODE_STAMP)
	node_modules/.bin/bpmnlint processes/*.bpmn

# Engine against raw SpiffWorkflow, queries at 1k vs 100k items, bytes per item, workers on PostgreSQL.
bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance node_modules web/static/vendor
