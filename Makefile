# Two commands do all the set-up: `make demo` and `make test` (each creates .venv if missing).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# On a machine with ../shared (the project's development and CI machines), use it as an offline mirror.
SHARED := $(wildcard ../shared/models ../shared/images)
empty :=
space := $(empty) $(empty)
export DEEPLAB_WIDGETS_MIRROR ?= $(subst $(space),:,$(abspath $(SHARED)))

.PHONY: demo test lint app bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/deeplab-widgets segment --sample cat --overlay --out out/demo
	@echo "overlay written to out/demo/cat_overlay.png"

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest
	bash .ci/tflite-runtime-tests

app: $(VENV)/.installed
	$(BIN)/voila notebooks/00_workbench.ipynb

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/segment_overhead.py

clean:
	rm -rf $(VENV) .venv-tflite-runtime out
