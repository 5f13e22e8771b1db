# at-gateway developer entry points. Everything installs into .venv from pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench chaos image base-image compose-up compose-down clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel 'setuptools>=77'
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

## run: one node on ./at.yaml (SQLite at ./at.db, the built-in mock provider)
run: $(STAMP)
	$(BIN)/atgw serve

## test: the whole test suite (unit, integration, multi-process cluster); not the chaos suite
test: $(STAMP)
	@$(BIN)/python -m pytest -q -m "not chaos" $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

## lint: mypy --strict and ruff
lint: $(STAMP)
	$(BIN)/mypy
	$(BIN)/ruff check node providers store cluster tests
	$(BIN)/python tests/size_budget.py

## bench: gateway vs direct against a fast fake upstream (nginx); prints a table
bench: $(STAMP)
	$(BIN)/python -m tests.bench.run $(BENCH_ARGS)

## measure: election, rotate-key and change-notice latency of a 3-node cluster; prints a table
measure: $(STAMP)
	$(BIN)/python -m tests.integration.measure $(MEASURE_ARGS)

## image: build the container image with no registry (local base image + host wheels)
image: $(STAMP)
	compose/build.sh

base-image:
	compose/base-image.sh

## compose-up / compose-down: the three-node cluster with Postgres and a fake upstream
compose-up: image
	docker-compose -f compose/docker-compose.yml up -d

compose-down:
	docker-compose -f compose/docker-compose.yml down -v -t 20

## chaos: the docker compose chaos suite (needs a Docker engine)
chaos: $(STAMP)
	compose/build.sh
	@$(BIN)/python -m pytest -q -s -p no:cacheprovider -m chaos tests/chaos $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make chaos: pytest collected no tests" >&2; exit 1; fi; exit $$rc

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
