"""Shared fixtures: the real models and photos from ../shared, through the project's registry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

if "DEEPLAB_WIDGETS_MIRROR" not in os.environ or not os.environ["DEEPLAB_WIDGETS_MIRROR"]:
    folders = [SHARED / "models", SHARED / "images", SHARED / "video"]
    if all(f.is_dir() for f in folders):
        os.environ["DEEPLAB_WIDGETS_MIRROR"] = os.pathsep.join(str(f) for f in folders)

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
