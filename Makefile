# genmedia: `make run` starts the whole stack, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run demo test test-unit test-integration test-e2e protos monitoring lint bench bench-compare clean install prometheus chromium

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# The base install is the CLI and client only: the stack needs the server extra and the dev tools.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[server,tools]'
	touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(PIP) install --quiet -e '.[server,tools,test]'
	touch $@

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/genmedia-stack

demo: $(STAMP)
	$(VENV)/bin/genmedia-stack --demo

test: $(TEST_STAMP) prometheus chromium
	$(PY) -m pytest -q

# promtool and the Prometheus server for tests/deploy and the end-to-end metrics test: Debian's package.
prometheus:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }

# The console's browser tests drive Debian's chromium through Playwright (no browser download).
chromium:
	@command -v chromium >/dev/null || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

test-unit: $(TEST_STAMP)
	$(PY) -m pytest -q tests/unit

test-integration: $(TEST_STAMP)
	$(PY) -m pytest -q tests/integration

test-e2e: $(TEST_STAMP) prometheus chromium
	$(PY) -m pytest -q tests/e2e

protos: $(STAMP)
	$(PY) -m genmedia.protogen .

monitoring: $(STAMP)
	$(PY) deploy/monitoring/wrap_rules.py

lint: $(TEST_STAMP)
	$(PIP) install --quiet ruff==0.17.5
	$(VENV)/bin/ruff check genmedia services tests benchmarks deploy

bench: $(TEST_STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf var .pytest_cache
