# The two commands of the Quick start: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.yolocls-installed

.PHONY: setup demo test test-fast lint bench-prepare docker-test browser-deps clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	@bash scripts/demo.sh

test: $(STAMP)
	$(PY) -m pytest -q

# The unit layer only (no studio, browser, training or server subprocesses): under a minute, while developing.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not integration"

lint: $(STAMP)
	$(VENV)/bin/ruff check yolocls tests bench scripts
	$(VENV)/bin/mypy yolocls
	$(VENV)/bin/lint-imports

# Chromium for the browser tests (skipped with a message when it is missing); Debian/Ubuntu, as root.
browser-deps:
	apt-get install -y chromium chromium-driver

docker-test:
	@bash scripts/docker-test.sh

clean:
	rm -rf runs/* datasets/sample-prepared .pytest_cache
