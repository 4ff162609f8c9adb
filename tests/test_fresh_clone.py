"""A fresh clone runs `make docs` to the end with nothing beside it: no sibling ../shared, only the mirror variable.

The checkout's files (tracked, and untracked ones not ignored: what a commit of the working tree holds) are copied
into a temporary folder with no `shared` folder beside it; DEEPLAB_WIDGETS_MIRROR names the development mirror's
four folders (models, images, video, eval) by absolute path, and the registry cache is empty. `make docs` creates
the clone's own venv (pip's cache makes that quick), executes every notebook and builds the site with --strict:
a notebook that reads a file by a relative ../shared path fails the build. Nothing is downloaded: every registry
file comes from the mirror.

The executed notebooks are handed to the `executed_notebook` fixture (conftest.FRESH_COPIES): the notebook and site
tests of the same session reuse them instead of running the same notebooks on the same sources again.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FRESH_COPIES, ROOT

from deeplab_widgets.assets import registry

pytestmark = [pytest.mark.docs, pytest.mark.slow]

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MIRROR_FOLDERS = ("models", "images", "video", "eval")


def checkout_files() -> list[str]:
    """The checkout's files as a commit of the working tree would hold them (deleted ones left out)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({name for name in listed.split("\0") if name and (ROOT / name).is_file()})


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, shared) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """(the clone, its `make docs` run); the executed notebooks are registered in conftest.FRESH_COPIES."""
    home = tmp_path_factory.mktemp("fresh")
    clone, cache = home / "clone", home / "cache"
    for name in checkout_files():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, clone / name)
    assert not (clone.parent / "shared").exists()
    drop = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "VIRTUAL_ENV", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("DEEPLAB_WIDGETS_")}
    env[registry.MIRROR_ENV] = os.pathsep.join(str(shared.resolve() / name) for name in MIRROR_FOLDERS)
    env[registry.CACHE_ENV] = str(cache)
    build = subprocess.run(["make", "docs"], cwd=clone, env=env, capture_output=True, text=True, timeout=3600)
    if build.returncode == 0:
        for source in NOTEBOOKS:
            copy = clone / "build" / "notebooks" / source.name
            if copy.is_file() and (clone / "notebooks" / source.name).read_bytes() == source.read_bytes():
                FRESH_COPIES[source.name] = copy
    return clone, build


def test_a_fresh_clone_builds_the_docs_with_only_the_mirror_variable(fresh) -> None:
    clone, build = fresh
    assert build.returncode == 0, f"make docs failed in a fresh clone:\n{build.stdout[-3000:]}\n{build.stderr[-6000:]}"
    executed = re.findall(r"executing notebooks/(\S+\.ipynb)", build.stderr)
    assert executed == [p.name for p in NOTEBOOKS]  # every notebook ran in the clone, none was reused
    assert (clone / ".venv" / "bin" / "mkdocs").is_file()  # make docs built its own venv
    for source in NOTEBOOKS:
        assert (clone / "site" / "notebooks" / source.stem / "index.html").is_file(), source.name


def test_a_fresh_clone_downloads_nothing_the_mirror_holds(fresh) -> None:
    clone, build = fresh
    assert build.returncode == 0
    cache = clone.parent / "cache"
    files = [a.file for section in ("models", "samples") for a in registry.assets(section).values()]
    files += [f.file for kind in ("voc", "ade20k") for p in registry.pairs(kind) for f in (p.image, p.mask)]
    assert [f for f in files if (cache / f).exists()] == []
    assert not (cache / registry.DOWNLOADS).exists()
