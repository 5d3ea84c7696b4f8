# Each target sets itself up on a fresh machine that has only Python 3.10+ and the package index.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Core (edge) install only: numpy, OpenCV, LiteRT, Typer, ReportLab. No TensorFlow.
$(VENV)/.core: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[train,app,dev]'
	touch $@ $(VENV)/.core

demo: $(VENV)/.core
	$(VENV)/bin/ecg-edge classify samples/

test: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache
