"""Sample photos as images: a registry sample's verified file through the core's image reader."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from ..assets import registry
from ..assets.samples import sample_path
from ..core.images import ImageInput, load_image


def load_sample(name: str) -> Image.Image:
    """Sample `name` decoded to an RGB image (EXIF orientation applied); masks: `PIL.Image.open(sample_path(name))`.

    Raises:
        SampleNotFoundError: `name` is not a registered sample.
        ChecksumError: A copy has the wrong SHA-256.
        DownloadError: The file is not available offline and could not be downloaded.
    """
    return load_image(sample_path(name))


def resolve_image(image: ImageInput) -> ImageInput:
    """The one rule for naming a sample where an image is expected: a string that is not an existing file
    but is a photo sample's name (`cat`, `bird`, ...) becomes that sample's verified path; anything else
    is returned unchanged for `load_image` (which reports a missing file as `ImageNotFoundError`)."""
    photos = registry.assets("samples")
    if (
        isinstance(image, str)
        and image in photos
        and photos[image].extra["kind"] == "photo"
        and not Path(image).exists()
    ):
        return sample_path(image)
    return image
