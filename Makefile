PY ?= python

.PHONY: install test test-fast lint format bench gpu-check demo

install:
	$(PY) -m pip install -e ".[test]"

test:            ## the README's test command
	$(PY) -m pytest -q

test-fast:       ## skip end-to-end runs
	$(PY) -m pytest -q -m "not slow and not distributed"

lint:
	$(PY) -m ruff check src tests benchmarks
	lint-imports
	$(PY) -m ruff format --check src tests benchmarks

format:
	$(PY) -m ruff format src tests benchmarks
	$(PY) -m ruff check --fix src tests benchmarks

bench:           ## CPU benchmarks; results go to benchmarks/RESULTS.md by hand, with the command
	$(PY) benchmarks/inference.py
	$(PY) benchmarks/train_step.py
	$(PY) benchmarks/data_path.py

gpu-check:       ## one-shot device check (<= 8 min on one H100/H200); results in DIR/gpu_check.md
	$(PY) benchmarks/gpu_check.py --out runs/gpu_check

demo:
	deit demo
