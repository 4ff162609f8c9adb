# Two commands do all the set-up: `make demo` and `make test` (each creates .venv if missing).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The offline mirror of the project's development and CI machines: the ../shared folders tools/dev_mirror.py names
# (models, photos, video and the labelled pairs). A variable already set (even empty) is kept.
ifeq ($(origin DEEPLAB_WIDGETS_MIRROR),undefined)
export DEEPLAB_WIDGETS_MIRROR := $(shell $(PYTHON) tools/dev_mirror.py)
endif
# The same mirror for kernels of the venv's Jupyter (`.venv/bin/jupyter lab notebooks/` works offline).
JUPYTER_CONFIG := $(VENV)/etc/jupyter/jupyter_server_config.py

.PHONY: demo test check lint lab app docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Each target installs what it uses: `make demo` the core alone; `make app` and `make lab` the app extra (Voila,
# JupyterLab and the widgets); `make docs` the docs extra (with the app extra: the reference documents deeplab_widgets.app), Dask (05_batch runs it) and the quantizer
# (07_quantization runs it); `make lint`, `make check`, `make test` and `make bench` every extra the tests cover.
# One stamp per set; a larger set stamps those it includes.
$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-app: pyproject.toml | $(BIN)/python $(JUPYTER_CONFIG)
	$(BIN)/pip install -q -e '.[app]'
	touch $@ $(VENV)/.installed-base

$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[docs,dask,quantize]'
	touch $@ $(VENV)/.installed-base

$(VENV)/.installed: pyproject.toml | $(BIN)/python $(JUPYTER_CONFIG)
	$(BIN)/pip install -q -e '.[dev,app,docs,dask,coco,quantize]'
	touch $@ $(VENV)/.installed-base $(VENV)/.installed-app $(VENV)/.installed-docs

$(JUPYTER_CONFIG): | $(BIN)/python
	mkdir -p $(@D)
	ln -sf $(CURDIR)/tools/jupyter_server_config.py $@

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

# The static checks and the fast tests, for a developer between two changes, one pytest worker per core
# (pytest-xdist); `make test` (CI) runs everything.
FAST_TESTS := not browser and not notebooks and not docs and not slow
check: lint
	$(BIN)/python -m pytest -q -n auto -m "$(FAST_TESTS)"

# The site goes to site/; the notebooks are executed (or fresh executed copies in build/notebooks/ reused, see
# docs/hooks.py) and rendered with their outputs. `make test` builds it too (tests/test_site.py), with --strict.
docs: $(VENV)/.installed-docs
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
app: $(VENV)/.installed-app
	$(BIN)/voila notebooks/00_workbench.ipynb $(VOILA_APP_FLAGS)

# JupyterLab on the notebooks, with the mirror above.
lab: $(VENV)/.installed-app
	$(BIN)/jupyter lab notebooks/

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/segment_overhead.py
	$(BIN)/python benchmarks/display_latency.py
	$(BIN)/python benchmarks/resize_modes.py
	$(BIN)/python benchmarks/batch_throughput.py
	$(BIN)/python benchmarks/video_throughput.py

clean:
	rm -rf $(VENV) .venv-tflite-runtime out build site
