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


#: For 07_quantization: an answer for each exercise cell (the right one, except a wrong one for exercise 3).
QUANTIZATION_ANSWERS = {
    "my_code = None": "my_code = int(np.rint((200 - 127.5) / 127.5 / scale + zero))",
    "my_channel = None": "my_channel = int(np.argmin(np.where(ranges > 0, ranges, np.inf)))",
    "my_weight = None": "my_weight = 0.95**4",
    "my_partitions = None": "my_partitions = kernel_plan(variants['dynamic-int8'], one).partitions",
    "my_share = None": "my_share = 3 / 8",
    "my_value = None": "my_value = legacy.scales[0] * (200 - legacy.zero_points[0])",
}


@pytest.mark.slow
def test_the_quantization_exercises_tell_right_from_wrong() -> None:
    path = ROOT / "notebooks" / "07_quantization.ipynb"
    nb = nbformat.read(path, as_version=4)
    answered = 0
    for cell in nb.cells:
        for blank, answer in QUANTIZATION_ANSWERS.items():
            if cell.cell_type == "code" and cell.source.startswith(blank):
                cell.source, answered = answer, answered + 1
    assert answered == len(QUANTIZATION_ANSWERS)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    said = [
        line
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.get("name") == "stdout"
        for line in out["text"].splitlines()
        if line.startswith("Exercise ")
    ]
    assert [line.split(".")[0] for line in said] == [
        "Exercise 1: right",
        "Exercise 2: right",
        "Exercise 3: not yet",
        "Exercise 4: right",
        "Exercise 5: right",
        "Exercise 6: right",
    ]
