# The two set-up commands (README): `make up` runs the system on embedded infrastructure and
# follows one initiative through all four services; `make test` runs the test suite.
# Both create .venv and install the project into it first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml contracts/pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: up test install bench contracts

$(STAMP): pyproject.toml contracts/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

up: $(STAMP)
	$(BIN)/thidua up --demo

test: $(STAMP)
	$(BIN)/ruff check --quiet .
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks.consumer_throughput
	$(BIN)/python -m benchmarks.relay_throughput
	$(BIN)/python -m benchmarks.command_throughput
	$(BIN)/python -m benchmarks.flow_latency
	$(BIN)/python -m benchmarks.directory_checks
	$(BIN)/python -m benchmarks.notify_fanout

contracts: $(STAMP)
	$(BIN)/python -m contracts.generate
