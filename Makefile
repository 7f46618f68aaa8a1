PY ?= python

.PHONY: install test test-fast lint format bench demo

install:
	$(PY) -m pip install -e ".[test]"

test:            ## the README's test command
	$(PY) -m pytest -q

test-fast:       ## skip end-to-end runs
	$(PY) -m pytest -q -m "not slow and not distributed"

lint:
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

format:
	$(PY) -m ruff format src tests benchmarks
	$(PY) -m ruff check --fix src tests benchmarks

bench:           ## CPU benchmarks; results go to benchmarks/RESULTS.md by hand, with the command
	$(PY) benchmarks/inference.py
	$(PY) benchmarks/train_step.py

demo:
	deit demo
