"""Shared fixtures: the real models and photos of the project's development mirror, through the registry.

The mirror is the one tools/dev_mirror.py names (the variable the Makefile exports, set here when pytest runs
without make).
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

DEV_MIRROR = runpy.run_path(str(Path(__file__).resolve().parents[1] / "tools" / "dev_mirror.py"))
DEV_MIRROR["setdefault"]()
SHARED: Path = DEV_MIRROR["SHARED"]

PASCAL_MODELS = ["deeplabv3-starter", "deeplabv3-mnv2-dm05-voc", "deeplabv3-mnv2-voc"]
ALL_MODELS = [
    *PASCAL_MODELS,
    "deeplab-edgetpu-slim-cityscapes",
    "deeplabv3plus-mnv2-ade20k",
    "deeplabv3plus-mnv2-ade20k-int8",
]


@pytest.fixture(scope="session")
def shared() -> Path:
    """The ../shared folder (real models, photos and labelled eval data)."""
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} not found: the tests run on the real shared assets")
    return SHARED


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
