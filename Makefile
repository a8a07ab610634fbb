# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= out/demo

.PHONY: demo test test-all bench report lint clean venv

venv: $(STAMP)

# (Re)install when the venv is missing or pyproject.toml changed.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## Run the default scenario on the shipped synthetic NW-Syria data: CSV + sidecar + fan charts in $(OUT)
demo: $(STAMP)
	$(VENV)/bin/displacement-forecast validate data/synthetic_nw_syria/observations.csv --regions data/synthetic_nw_syria/regions.csv
	$(VENV)/bin/displacement-forecast describe data/synthetic_nw_syria/observations.csv
	$(PY) experiments/idlib_question.py --out $(OUT)

## Default test suite (tests marked `slow` are left out; `make test-all` runs them)
test: $(STAMP)
	$(PY) -m pytest -m "not slow" -n 2 --dist loadfile

test-all: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile

## Benchmarks: ratios against references measured in the same run
bench: $(STAMP)
	$(PY) experiments/benchmarks/run_all.py

## Render planner notebooks to HTML (with figures) into reports/
report: $(STAMP)
	$(PY) -m displacement_forecast.report notebooks reports

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests experiments

clean:
	rm -rf $(VENV) out reports .pytest_cache
