# The two set-up commands (README): `make up` runs the system on embedded infrastructure and
# follows one initiative through all four services; `make test` runs the test suite.
# Both create .venv and install the project into it first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml contracts/pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: up test install bench contracts browser

$(STAMP): pyproject.toml contracts/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

up: $(STAMP)
	$(BIN)/thidua up --demo

test: $(STAMP) browser
	$(BIN)/ruff check --quiet .
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/python -m pytest -q

# The demo report's test opens it in a real headless Chromium, from the OS packages: installed
# here when missing and we are root on Debian; elsewhere the test skips (fails under CI=true).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || \
	      { apt-get update -qq >/dev/null && \
	        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; }; } || \
	  echo "chromium is missing and could not be installed: the report's browser test will skip"

bench: $(STAMP)
	$(BIN)/python -m benchmarks.consumer_throughput
	$(BIN)/python -m benchmarks.relay_throughput
	$(BIN)/python -m benchmarks.command_throughput
	$(BIN)/python -m benchmarks.flow_latency
	$(BIN)/python -m benchmarks.directory_checks
	$(BIN)/python -m benchmarks.directory_import
	$(BIN)/python -m benchmarks.scoring_throughput
	$(BIN)/python -m benchmarks.scoring_latency
	$(BIN)/python -m benchmarks.scoring_phase_close
	$(BIN)/python -m benchmarks.award_proposals
	$(BIN)/python -m benchmarks.notify_fanout
	$(BIN)/python -m benchmarks.system

contracts: $(STAMP)
	$(BIN)/python -m contracts.generate
