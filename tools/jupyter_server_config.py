"""Jupyter server config for this checkout: kernels get the project's development mirror.

`make .venv/.installed` links this file into .venv/etc/jupyter, so `.venv/bin/jupyter lab notebooks/` finds the
models and photos of ../shared offline, as `make lab` does; an existing DEEPLAB_WIDGETS_MIRROR is kept.
"""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().with_name("dev_mirror.py")))["setdefault"]()
