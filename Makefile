# Same commands locally and in CI. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint format bench bench-run bench-steps clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

demo: setup
	$(BIN)/spotify-analytics demo

test: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: setup
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: setup
	$(BIN)/python benchmarks/bench_demo.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

bench-run: setup
	$(BIN)/python benchmarks/bench_run.py

bench-steps: setup  # make bench-steps LAKE=DIR [ARGS=--incremental]
	$(BIN)/python benchmarks/bench_steps.py --lake $(LAKE) $(ARGS)
