"""Shared fixtures: the real models and photos of the project's development mirror, through the registry.

The mirror is the one tools/dev_mirror.py names (the variable the Makefile exports, set here when pytest runs
without make).
"""

from __future__ import annotations

import importlib.util
import runpy
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEV_MIRROR = runpy.run_path(str(ROOT / "tools" / "dev_mirror.py"))
DEV_MIRROR["setdefault"]()
SHARED: Path = DEV_MIRROR["SHARED"]

#: Executed notebooks of this session's fresh-clone docs build (tests/test_fresh_clone.py), by file name: the same
#: notebooks run on the same sources; `executed_notebook` reuses them instead of running them again.
FRESH_COPIES: dict[str, Path] = {}

PASCAL_MODELS = ["deeplabv3-starter", "deeplabv3-mnv2-dm05-voc", "deeplabv3-mnv2-voc"]
ALL_MODELS = [
    *PASCAL_MODELS,
    "deeplab-edgetpu-slim-cityscapes",
    "deeplabv3plus-mnv2-ade20k",
    "deeplabv3plus-mnv2-ade20k-int8",
]


@pytest.fixture(scope="session")
def shared() -> Path:
    """The ../shared folder (real models, photos, video and labelled pairs)."""
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} not found: the tests run on the real shared assets")
    return SHARED


@pytest.fixture(scope="session")
def voc():
    """The labelled PASCAL VOC pairs (15), through the registry (the dev mirror's eval folder)."""
    from deeplab_widgets import labelled_pairs

    return labelled_pairs("pascal_voc")


@pytest.fixture(scope="session")
def ade20k_32():
    """The 3 labelled ADE20K pairs, scored against the 32 classes of the zoo's v3+ models."""
    from deeplab_widgets import labelled_pairs

    return labelled_pairs("ade20k-32")


@pytest.fixture(scope="session")
def starter():
    """A Segmenter with the default starter model."""
    from deeplab_widgets import Segmenter

    return Segmenter("deeplabv3-starter")


@pytest.fixture(scope="session")
def segmenters():
    """One Segmenter per zoo model, built once."""
    from deeplab_widgets import Segmenter, list_models

    return {m.name: Segmenter(m.name) for m in list_models()}


@pytest.fixture(scope="session")
def docs_hooks() -> ModuleType:
    """docs/hooks.py, the MkDocs hook that executes the notebooks (or reuses their executed copies)."""
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def executed_notebook(docs_hooks: ModuleType) -> Callable[[Path], Path]:
    """Executes a notebook at most once per test session and returns its executed copy (build/notebooks/).

    The notebook tests and the docs build (which renders those copies) share the runs, in whichever order they
    come; a notebook that fails raises its error for each of them. A notebook the fresh-clone docs build of this
    session already executed (`FRESH_COPIES`) is copied from there instead of run again.
    """
    outcomes: dict[Path, Path | Exception] = {}

    def run(source: Path) -> Path:
        if source not in outcomes:
            target = docs_hooks.EXECUTED / source.name
            try:
                if source.name in FRESH_COPIES:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(FRESH_COPIES[source.name], target)
                else:
                    docs_hooks.execute(source, target)
                outcomes[source] = target
            except Exception as exc:
                outcomes[source] = exc
        outcome = outcomes[source]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return run
