"""The documentation site: `mkdocs build --strict` succeeds (a broken link, a missing page or a failing notebook
fails it), the notebooks are rendered with their outputs, and the API reference documents every public name.

The notebooks are executed through the `executed_notebook` fixture (tests/conftest.py) before the build: once per
test session, shared with tests/test_notebooks.py whichever runs first, so the build renders their copies."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docs

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "site"
EXECUTED = ROOT / "build" / "notebooks"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def build_log(executed_notebook) -> str:
    """Build the site from this session's executed notebooks; returns the build's log."""
    for source in NOTEBOOKS:
        executed_notebook(source)
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(SITE)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stdout[-4000:]}\n{build.stderr[-8000:]}"
    return build.stderr


@pytest.fixture(scope="module")
def site(build_log) -> Path:
    return SITE


def figure_outputs(notebook: Path) -> tuple[int, int]:
    """How many outputs of an executed notebook are pictures, and how many are widgets."""
    cells = json.loads(notebook.read_text())["cells"]
    outputs = [o for c in cells if c["cell_type"] == "code" for o in c["outputs"]]
    widgets = sum(WIDGET_VIEW in o.get("data", {}) for o in outputs)
    pictures = sum(
        WIDGET_VIEW not in o.get("data", {})
        and (
            any(k.startswith("image/") for k in o.get("data", {}))
            or '<img src="data:image/' in "".join(o.get("data", {}).get("text/html", ""))  # a described figure
        )
        for o in outputs
    )
    return pictures, widgets


def test_docs_build_renders_the_executed_copies_without_running_a_notebook_again(build_log) -> None:
    assert re.findall(r"executing notebooks/(\S+\.ipynb)", build_log) == []


def test_site_has_a_home_page_and_the_measured_results(site: Path) -> None:
    assert "deeplab-widgets" in (site / "index.html").read_text()
    results = (site / "results" / "index.html").read_text()
    assert "Measured results" in results and "batch_throughput.py" in results and "AMD EPYC" in results


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_page_shows_every_figure_of_the_executed_notebook(site: Path, path: Path) -> None:
    page = (site / "notebooks" / path.stem / "index.html").read_text()
    pictures, widgets = figure_outputs(EXECUTED / path.name)
    embedded = len(re.findall(r'<img[^>]+src="data:image/(?:png|jpeg)', page))
    assert embedded >= pictures, f"{path.name}: {pictures} figures in the notebook, {embedded} images on the page"
    assert pictures + widgets > 0, f"{path.name} shows nothing"
    if widgets:
        # Widget outputs render from the saved widget state (the image widgets' pictures are inside it).
        assert "application/vnd.jupyter.widget-state+json" in page
    assert "Traceback" not in page


def test_teaching_notebooks_show_their_figures_as_images_with_alt_text(site: Path) -> None:
    for stem in ("01_architecture", "02_inference", "03_timing", "04_evaluation", "05_batch", "06_video"):
        page = (site / "notebooks" / stem / "index.html").read_text()
        images = [tag for tag in re.findall(r"<img[^>]+>", page) if 'src="data:image/png' in tag]
        described = [tag for tag in images if re.search(r'alt="[^"]{20,}"', tag)]
        assert described, f"{stem}: no figure with a description"
        assert "No description has been provided for this image" not in page, f"{stem}: a figure lacks alt text"


def test_notebook_pages_have_numbered_titles_a_wide_column_and_working_links_to_each_other(site: Path) -> None:
    pages = {p.stem: (site / "notebooks" / p.stem / "index.html").read_text() for p in NOTEBOOKS}
    for stem, page in pages.items():
        number = stem[:2]
        assert re.search(rf"<title>{number} · [^<]+</title>", page), f"{stem}: the page title has no number"
        assert 'href="../../stylesheets/notebooks.css"' in page, f"{stem}: not the wide notebook layout"
        assert not re.search(r'href="[^"]*\.ipynb"', page), f"{stem}: a link still points at a .ipynb file"
    nav = re.findall(r'md-ellipsis">\s*(\d\d · [^<]+?)\s*<', pages["02_inference"])
    assert sorted({t[:2] for t in nav}) == [p.stem[:2] for p in NOTEBOOKS]  # every notebook numbered in the nav
    assert 'href="../04_evaluation/"' in pages["02_inference"]  # "notebook 04 scores both": a link to its page
    assert ".md-main:has(.jupyter-wrapper) .md-grid" in (site / "stylesheets" / "notebooks.css").read_text()


def test_the_screenshot_script_is_not_published(site: Path) -> None:
    assert not list(site.rglob("screenshot_workbench*"))


def test_api_reference_documents_every_public_name_with_its_docstring(site: Path) -> None:
    import deeplab_widgets

    index = (site / "reference" / "index.html").read_text()
    for name in deeplab_widgets.__all__:
        assert f"<code>{name}</code></a>" in index, f"{name} is not linked from the API reference"
    core = (site / "reference" / "core" / "index.html").read_text()
    assert 'id="deeplab_widgets.core.segmenter.Segmenter"' in core
    assert "Segments images with one DeepLab TFLite model." in core


def test_links_between_notebooks_lead_to_their_pages(site: Path) -> None:
    for path in NOTEBOOKS:
        page = site / "notebooks" / path.stem / "index.html"
        html = page.read_text()
        assert not re.search(r'href="\d\d_\w+\.ipynb', html), f"{path.name} links to a notebook file, not its page"
        for href in re.findall(r'href="(\.\./\d\d_\w+/)(?:#[^"]*)?"', html):
            assert (page.parent / href / "index.html").resolve().is_file(), (path.name, href)
    assert 'href="../04_evaluation/"' in (site / "notebooks" / "01_architecture" / "index.html").read_text()
    assert 'href="../01_architecture/"' in (site / "notebooks" / "04_evaluation" / "index.html").read_text()
