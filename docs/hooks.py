"""MkDocs hooks: the executed notebooks become pages, and the API reference follows the package's layout.

Notebooks.

Executed copies of the notebooks live in `build/notebooks/`. This hook reuses a copy when it is newer than the
notebook and every file of the package, and executes (with nbclient, in `notebooks/` as the working directory)
the notebooks whose copy is missing or stale, so `make docs` works on its own. The tests run each notebook once
per session with `execute` below (tests/conftest.py, `executed_notebook`) before the docs build renders them. The copies are then added to the site as
`notebooks/<name>.ipynb`, which mkdocs-jupyter renders with their outputs (`execute: false`). A cell that
raises fails the build.

A notebook's links to another notebook (`[notebook 04](04_evaluation.ipynb)`, right in Jupyter and on GitHub) are
rewritten to that notebook's page; a link to a notebook the site does not have fails the build.

API reference. A reference page holds a marker instead of a list of modules, expanded when the site is built:
`<!-- modules: deeplab_widgets.core -->` becomes one mkdocstrings directive per module of that subpackage
(recursively; a package that has submodules shows its docstring only, so names it re-exports are documented
once, where they are defined), and `<!-- public-names -->` becomes a table of `deeplab_widgets.__all__`, each
name linked to where it is documented. Moving or adding a module therefore needs no edit of the reference pages.
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import re
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = ROOT / "build" / "notebooks"
#: A notebook's outputs depend on the notebook and on the package (code and registry).
DEPENDENCIES = ("deeplab_widgets/**/*.py", "deeplab_widgets/**/*.toml")

log = logging.getLogger("mkdocs.hooks.notebooks")


def newest_dependency() -> float:
    """The latest modification time among the package's files."""
    return max(p.stat().st_mtime for pattern in DEPENDENCIES for p in ROOT.glob(pattern))


def execute(source: Path, target: Path) -> None:
    """Run `source` top to bottom in `notebooks/` and write it, with its outputs, to `target` (atomically)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(source, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.part")
    nbformat.write(nb, part)
    os.replace(part, target)


def executed_notebooks() -> list[Path]:
    """The executed copy of every notebook, executing those that are missing or older than their inputs."""
    package = newest_dependency()
    copies = []
    for source in sorted(NOTEBOOKS.glob("*.ipynb")):
        target = EXECUTED / source.name
        if not target.exists() or target.stat().st_mtime < max(source.stat().st_mtime, package):
            log.info("executing %s", source.relative_to(ROOT))
            execute(source, target)
        copies.append(target)
    return copies


@event_priority(100)  # before mkdocs-jupyter's on_files, which turns .ipynb files into pages
def on_files(files: Files, config) -> Files:
    for path in executed_notebooks():
        files.append(
            File(
                f"notebooks/{path.name}",
                src_dir=str(EXECUTED.parent),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files


#: A link from one notebook to another as written in the notebook (it works in Jupyter and on GitHub).
NOTEBOOK_LINK = re.compile(r'href="(?:\./)?(\d\d_\w+)\.ipynb(#[^"]*)?"')


def on_page_content(html: str, page, config, files) -> str:
    """A notebook's links to other notebooks point at their pages: `04_evaluation.ipynb` is `../04_evaluation/`."""
    if not page.file.src_uri.endswith(".ipynb"):
        return html
    known = {Path(f.src_uri).stem for f in files if f.src_uri.startswith("notebooks/") and f.src_uri.endswith(".ipynb")}

    def link(match: re.Match[str]) -> str:
        stem, anchor = match.group(1), match.group(2) or ""
        if stem not in known:
            raise ValueError(f"{page.file.src_uri} links to {stem}.ipynb, which is not a notebook of the site")
        target = f"../{stem}/" if config["use_directory_urls"] else f"{stem}.html"
        return f'href="{target}{anchor}"'

    return NOTEBOOK_LINK.sub(link, html)


MODULES_MARKER = re.compile(r"<!-- modules: ([\w.]+) -->")
NAMES_MARKER = "<!-- public-names -->"


def module_directives(package: str) -> str:
    """One `::: module` directive per module under `package`, in name order; packages show their docstring only."""
    root = importlib.import_module(package)
    blocks = []
    for info in sorted(pkgutil.walk_packages(root.__path__, f"{package}."), key=lambda i: i.name):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        options = "\n    options:\n      members: false" if info.ispkg else ""
        blocks.append(f"::: {info.name}{options}")
    return "\n\n".join(blocks)


def public_names_table() -> str:
    """The top-level names with their one-line summary, each linked (autorefs) to its documentation."""
    import deeplab_widgets

    rows = ["| name | what it is |", "|---|---|"]
    for name in sorted(deeplab_widgets.__all__, key=str.lower):
        obj = getattr(deeplab_widgets, name)
        summary = (obj.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ").replace("|", "\\|")
        rows.append(f"| [`{name}`][{obj.__module__}.{obj.__qualname__}] | {summary} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page, config, files) -> str:
    markdown = MODULES_MARKER.sub(lambda m: module_directives(m.group(1)), markdown)
    if NAMES_MARKER in markdown:
        markdown = markdown.replace(NAMES_MARKER, public_names_table())
    return markdown
