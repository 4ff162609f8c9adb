# Two commands do all the set-up: `make demo` and `make test` (each creates .venv if missing).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# On a machine with ../shared (the project's development and CI machines), use it as an offline mirror.
SHARED := $(wildcard ../shared/models ../shared/images ../shared/video)
empty :=
space := $(empty) $(empty)
export DEEPLAB_WIDGETS_MIRROR ?= $(subst $(space),:,$(abspath $(SHARED)))

.PHONY: demo test lint app docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# `make demo` installs the package; `make test` adds the dev tools, the docs tools and the optional extras it tests.
$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,dask,coco,docs]'
	touch $@ $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	$(BIN)/deeplab-widgets segment --sample cat --overlay --out out/demo
	@echo "overlay written to out/demo/cat_overlay.png"

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest
	bash .ci/tflite-runtime-tests

# The site goes to site/; the notebooks are executed (or their executed copies from the notebook tests reused,
# see docs/hooks.py) and rendered with their outputs. `make test` builds it too (tests/test_site.py), with --strict.
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# App mode (see docs/guide/workbench.md, "The app"): deeplab_widgets.app.AppKernelManager caps the kernels
# (DEEPLAB_WIDGETS_MAX_VISITORS, default sized to the memory; over it a "workbench is full" page) and lets a closing
# page shut its kernel down; kernels without a page (crashed tab, lost network, curl, a page still loading) are
# culled after 180 s idle (at 60 s, 8 of 15 pages opened at once lost their kernel before their browser connected).
# V1KernelWebsocketConnection refuses kernel websockets without the v1 protocol (they can stall Voila 0.5). A busy
# server waits up to 300 s for a cell's trailing output instead of dropping it (with 30 s it dropped the output of
# 7 of 10 pages opened at once on the 2-core machine). Set DEEPLAB_WIDGETS_APP_FOLDER to let visitors open files
# from one folder; otherwise they can only upload.
VOILA_APP_FLAGS := --VoilaConfiguration.multi_kernel_manager_class=deeplab_widgets.app.AppKernelManager --Voila.kernel_websocket_connection_class=deeplab_widgets.app.V1KernelWebsocketConnection --MappingKernelManager.cull_interval=10 --MappingKernelManager.cull_idle_timeout=180 --MappingKernelManager.cull_connected=False --VoilaExecutor.iopub_timeout=300
app: $(VENV)/.installed-base
	$(BIN)/voila notebooks/00_workbench.ipynb $(VOILA_APP_FLAGS)

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/segment_overhead.py
	$(BIN)/python benchmarks/display_latency.py
	$(BIN)/python benchmarks/resize_modes.py
	$(BIN)/python benchmarks/batch_throughput.py
	$(BIN)/python benchmarks/video_throughput.py

clean:
	rm -rf $(VENV) .venv-tflite-runtime out build site
