"""Sample photographs (and reference masks) served through the same verified registry.

Files only: `deeplab_widgets.workflows.samples.load_sample` decodes a sample with the core's image reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from ..errors import OptionsError
from . import registry

#: A sample is a photo to segment or a reference mask.
SampleKind = Literal["photo", "mask"]


@dataclass(frozen=True)
class Sample:
    """A registered sample image: a photo to segment or a reference mask.

    Attributes:
        name: The registry name (`cat`, `pets`, `kite_and_cold`, ...).
        file: The file name in the cache and in mirror folders.
        description: One line for listings.
        license: The image's licence.
        kind: `"photo"` or `"mask"`.
        shows: The main class in the photo; `""` for masks.
    """

    name: str
    file: str
    description: str
    license: str
    kind: SampleKind
    shows: str  # the main class in the photo, "" for masks

    def path(self, progress: bool = False) -> Path:
        """A verified local copy of the file."""
        return registry.fetch(registry.lookup("samples", self.name), progress=progress)


def list_samples(kind: SampleKind | None = "photo") -> list[Sample]:
    """Registered samples, in registry order.

    Args:
        kind: `"photo"` (the default) or `"mask"` to keep one kind, `None` for all.
    """
    if kind not in (None, *get_args(SampleKind)):
        raise OptionsError(f"unknown sample kind {kind!r}; choose one of: {', '.join(get_args(SampleKind))} or None")
    out = [sample(name) for name in registry.assets("samples")]
    return [s for s in out if kind is None or s.kind == kind]


def sample(name: str) -> Sample:
    """One sample by name (`cat`, `pets`, `bird`, ...), without fetching its file.

    Raises:
        SampleNotFoundError: `name` is not a registered sample. the message lists the known ones.
    """
    asset = registry.lookup("samples", name)
    return Sample(
        asset.name, asset.file, asset.description, asset.license, asset.extra["kind"], asset.extra.get("shows", "")
    )


def sample_path(name: str) -> Path:
    """A verified local path of sample `name`, downloading it if no mirror or cache holds it.

    Raises:
        SampleNotFoundError: `name` is not a registered sample.
        ChecksumError: A copy has the wrong SHA-256.
        DownloadError: The file is not available offline and could not be downloaded.
    """
    return sample(name).path()
