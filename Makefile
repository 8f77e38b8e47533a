# The two set-up commands: `make demo` and `make test`. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
EDGE_DENSITY := examples/room_scan/edge_density/edge_density
DEMO_CORPUS := .rainbow/corpus

.PHONY: demo test lint format schema system-deps clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[examples,postgres,dev]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# Graphviz's `dot` draws DAGs (`rainbow graph`); a C compiler builds the example command module;
# Chromium runs the admin's browser tests.
system-deps:
	@command -v dot >/dev/null && command -v cc >/dev/null && test -x /usr/bin/chromium || { \
		echo "installing graphviz, a C compiler and chromium (Debian packages)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq graphviz gcc chromium >/dev/null; }

$(EDGE_DENSITY): $(EDGE_DENSITY).c
	cc -O2 -std=c99 -Wall -Wextra -Werror -o $@ $<

demo: $(STAMP) system-deps $(EDGE_DENSITY)
	$(BIN)/rainbow migrate
	$(BIN)/python -m examples.room_scan.corpus $(DEMO_CORPUS) --count 8 --seed 7
	$(BIN)/rainbow run examples/room_scan/pipeline.py:room_scan --corpus $(DEMO_CORPUS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: $(STAMP) system-deps $(EDGE_DENSITY) lint
	$(BIN)/python -m pytest -q

schema: $(STAMP)
	$(BIN)/python -c "from rainbow.spec import schema; print(schema.write())"

bench: $(STAMP)
	$(BIN)/python bench/local_overhead.py

clean:
	rm -rf .rainbow $(EDGE_DENSITY) .pytest_cache .mypy_cache .ruff_cache
