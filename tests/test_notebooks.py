"""Every notebook in notebooks/ runs top to bottom headless, and is committed without outputs.

Notebooks run through the `executed_notebook` fixture (tests/conftest.py): once per session, their executed copies
in build/notebooks/, where the docs build (docs/hooks.py, tests/test_site.py) renders them."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; strip them before committing"


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path: Path, executed_notebook) -> None:
    copy = executed_notebook(path)
    cells = nbformat.read(copy, as_version=4).cells
    assert all(c.execution_count for c in cells if c.cell_type == "code"), f"{path.name}: a cell did not run"


def test_importing_the_package_in_a_kernel_loads_neither_ipywidgets_nor_matplotlib() -> None:
    # In a kernel tqdm.auto picks the ipywidgets bar, so an eager `import pooch` (which imports it) would load them.
    code = "import deeplab_widgets, sys; print('ipywidgets' in sys.modules, 'matplotlib' in sys.modules)"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    assert nb.cells[0].outputs[0]["text"] == "False False\n"
