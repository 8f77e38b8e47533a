# The two set-up commands: `make demo` and `make test`. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# uv installs exactly the tested dependencies from uv.lock; it lives in its own small venv so that
# syncing the project's environment never removes it. It never downloads a Python of its own.
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
export UV_PYTHON_DOWNLOADS := never
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml uv.lock | sha1sum | cut -c1-12)
EDGE_DENSITY := examples/room_scan/edge_density/edge_density
DEMO_CORPUS := .rainbow/corpus

.PHONY: demo test lint format schema system-deps clean bench lock

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --python $(PYTHON) --quiet
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# Graphviz's `dot` draws DAGs (`rainbow graph`); C and C++ compilers build the command modules
# (the example's, a new module project's); Chromium runs the admin's browser tests; exiftool
# writes EXIF orientations in tests/helpers; git is what `rainbow release` reads.
system-deps:
	@command -v dot >/dev/null && command -v cc >/dev/null && command -v c++ >/dev/null \
		&& test -x /usr/bin/chromium && command -v exiftool >/dev/null \
		&& command -v git >/dev/null || { \
		echo "installing graphviz, C and C++ compilers, chromium, exiftool and git (Debian packages)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq graphviz gcc g++ chromium libimage-exiftool-perl git >/dev/null; }

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

# Most tests wait on processes and services, so two pytest workers halve the suite even on two
# cores; each test file runs whole on one worker (its module fixtures built once).
TEST_WORKERS ?= 2

test: $(STAMP) system-deps $(EDGE_DENSITY) lint
	$(BIN)/python -m pytest -q --numprocesses=$(TEST_WORKERS) --dist=loadfile --durations=15

schema: $(STAMP)
	$(BIN)/python -c "from rainbow.spec import schema; print(schema.write())"

bench: $(STAMP)
	$(BIN)/python bench/local_overhead.py

# After changing dependencies in pyproject.toml: resolve them again and commit uv.lock.
lock: $(UV)
	$(UV) lock --python $(PYTHON)

clean:
	rm -rf .rainbow $(EDGE_DENSITY) .pytest_cache .mypy_cache .ruff_cache
