"""The file registry: every model and sample has an official URL and a SHA-256.

`fetch()` looks in the offline mirror folders first, then in the cache, then downloads
with `pooch` (hash-verified, with a progress bar). A file whose hash is wrong is never
used and never silently replaced: the caller gets a `ChecksumError` naming it.

The mirror folders are the ones `$DEEPLAB_WIDGETS_MIRROR` names (none when it is unset or empty). A registry
`file` is a name or a relative path (`voc/images/x.png`): a mirror folder and the cache hold it at that path, so
one mirror folder can hold a data set's sub-folders.

Three sections: `models`, `samples` (one file each) and `eval`, the labelled pairs (an image and its class-id mask
each; `pairs()`). A file published in another form than the one the package reads (a VOC target saved as an RGB
colour map) records both hashes: `download_sha256` of the published file, `sha256` of the converted image's
decoded pixels (`pixels_sha256`: its mode, size and values, so that another PNG encoder's bytes for the same
class ids still match), which is what the mirror and the cache hold; `fetch` runs the conversion the caller
passes after the download.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from ..errors import ChecksumError, DatasetError, DownloadError, ModelNotFoundError, OptionsError, SampleNotFoundError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CACHE_ENV = "DEEPLAB_WIDGETS_CACHE"
MIRROR_ENV = "DEEPLAB_WIDGETS_MIRROR"
#: Where a download that is converted before use is kept, under the cache folder (the converted file sits at
#: its `file` path, like every other cached file).
DOWNLOADS = "downloads"
#: Writes the converted file (second path) from the downloaded one (first path); see `fetch`.
Converter = Callable[[Path, Path], None]


@dataclass(frozen=True)
class Asset:
    """One registry file: where it comes from, what it must hash to, and what it is.

    Attributes:
        name: The registry key (`deeplabv3-starter`, `cat`, ...).
        file: The file's name, or its path relative to a mirror folder and to the cache (`voc/images/x.png`).
        url: The official download URL.
        sha256: The hex SHA-256 every copy must have: of the file, or for a converted image (`convert` set) of its
            decoded pixels (`pixels_sha256`).
        description: One line for listings.
        license: The file's licence, as published by its source.
        convert: The conversion the published file needs before use (`"voc-colours"`), or empty.
        download_sha256: The published file's SHA-256 when it is converted, or empty.
        extra: The section-specific fields (a model's dataset and input size, a sample's kind, ...).
    """

    name: str
    file: str
    url: str
    sha256: str
    description: str = ""
    license: str = ""
    convert: str = ""
    download_sha256: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@cache
def _registry() -> dict[str, dict[str, Any]]:
    return tomllib.loads(files(__package__).joinpath("registry.toml").read_text("utf-8"))


_FIELDS = ("file", "url", "sha256", "description", "license", "convert", "download_sha256")


def _asset(name: str, raw: dict[str, Any]) -> Asset:
    known = {k: raw[k] for k in _FIELDS if k in raw}
    return Asset(name=name, extra={k: v for k, v in raw.items() if k not in known}, **known)


def assets(section: str) -> dict[str, Asset]:
    """All entries of one registry section of single files, by name, in registry order.

    Args:
        section: `"models"` or `"samples"`.

    Returns:
        A dict from registry name to `Asset`.
    """
    return {name: _asset(name, raw) for name, raw in _registry()[section].items()}


@dataclass(frozen=True)
class Pair:
    """One labelled pair of the `eval` section: a photo and its ground-truth mask, each a registry file.

    Attributes:
        name: The pair's name, the stem of both files (`vainf_val0_d1182fc`).
        dataset: `"voc"` (PASCAL VOC class ids, 255 = void) or `"ade20k"` (150 ADE20K classes, 0 = other).
        image: The photo.
        mask: The class-id mask.
    """

    name: str
    dataset: str
    image: Asset
    mask: Asset


def pairs(dataset: str) -> list[Pair]:
    """The labelled pairs of one data set, in registry order.

    Args:
        dataset: `"voc"` or `"ade20k"`.

    Raises:
        DatasetError: `dataset` has no pairs in the registry (the message lists the data sets that have).
    """
    table = _registry()["eval"]
    found = [
        Pair(
            name,
            raw["dataset"],
            _asset(f"{name} image", {"license": raw["license"], **raw["image"]}),
            _asset(f"{name} mask", {"license": raw["license"], **raw["mask"]}),
        )
        for name, raw in table.items()
        if raw["dataset"] == dataset
    ]
    if not found:
        known = sorted({raw["dataset"] for raw in table.values()})
        raise DatasetError(f"no labelled pairs of {dataset!r} in the registry; known: {', '.join(known)}")
    return found


def lookup(section: str, name: str) -> Asset:
    """One registry entry.

    Args:
        section: `"models"` or `"samples"`.
        name: The entry's registry name.

    Returns:
        The entry.

    Raises:
        ModelNotFoundError: `name` is not in the models section (`SampleNotFoundError` in the samples
            section); the message lists the known names.
    """
    table = assets(section)
    if name not in table:
        kind = section.rstrip("s")
        error = SampleNotFoundError if section == "samples" else ModelNotFoundError
        raise error(f"unknown {kind} {name!r}; known: {', '.join(table)}")
    return table[name]


def cache_dir() -> Path:
    """Where downloads are kept: `$DEEPLAB_WIDGETS_CACHE`, else the user cache folder.

    The user cache folder is `~/.cache/deeplab-widgets` on Linux (`platformdirs.user_cache_dir`).
    """
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path(platformdirs.user_cache_dir("deeplab-widgets"))


def mirror_dirs() -> list[Path]:
    """The offline mirror folders, in the order they are searched.

    `$DEEPLAB_WIDGETS_MIRROR` names them, separated by `os.pathsep`; folders need not exist. Unset or empty: none.
    """
    return [Path(p) for p in os.environ.get(MIRROR_ENV, "").split(os.pathsep) if p]


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def pixels_sha256(path: Path) -> str:
    """SHA-256 of an image's decoded content (its mode, size and pixel values), not of its encoded bytes.

    Raises:
        ChecksumError: The file is not an image Pillow can decode.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            h = hashlib.sha256(f"{image.mode} {image.width}x{image.height}\n".encode())
            h.update(image.tobytes())
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ChecksumError(f"{path} is not a readable image ({exc}); remove or replace it") from exc
    return h.hexdigest()


def _digest(path: Path, asset: Asset) -> tuple[str, str]:
    """What the registry's `sha256` of `asset` is computed over, and its value for `path`."""
    return ("pixel SHA-256", pixels_sha256(path)) if asset.convert else ("SHA-256", sha256_of(path))


def _verified(path: Path, asset: Asset, where: str) -> Path:
    kind, digest = _digest(path, asset)
    if digest != asset.sha256:
        raise ChecksumError(
            f"{where} file {path} has {kind} {digest[:12]}..., expected {asset.sha256[:12]}... "
            f"for {asset.name!r}; remove or replace it"
        )
    return path


def _reason(exc: Exception, url: str) -> str:
    """Why a download failed, short: no connection (the usual offline case), else the error's first line."""
    if any(c.__name__ in ("ConnectionError", "Timeout") for c in type(exc).__mro__):  # requests' and the builtin
        return f"no connection to {urlsplit(url).hostname}"
    reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return reason if len(reason) < 100 else reason[:97] + "..."


def fetch(asset: Asset, progress: bool = True, convert: Converter | None = None) -> Path:
    """The local path of a verified copy of `asset`: mirror first, then cache, then download.

    Every copy is checked against the registry's SHA-256 before it is returned; a wrong copy is never used and
    never silently replaced. A file the registry marks for conversion (`asset.convert`) is downloaded to the
    cache's `downloads/` folder and verified against `asset.download_sha256`; `convert` then writes the converted
    file, whose pixels must have `asset.sha256` before it takes its place in the cache.

    Args:
        asset: The registry entry to fetch (from `lookup` or `pairs`).
        progress: Show a download progress bar (only when a download happens).
        convert: For an asset with `convert` set: writes the converted file (second path) from the downloaded
            one (first path). Used only when a download happens.

    Returns:
        The path of the verified file: in a mirror folder or in `cache_dir()`.

    Raises:
        ChecksumError: A mirror or cached copy, the downloaded file or its conversion has the wrong SHA-256.
        DownloadError: The file is in no mirror and not cached, and the download failed (the message says how
            to work offline).
        OptionsError: `asset` needs a conversion and `convert` is None.
    """
    for folder in mirror_dirs():
        candidate = folder / asset.file
        if candidate.is_file():
            return _verified(candidate, asset, "mirror")
    cached = cache_dir() / asset.file
    if cached.is_file():
        return _verified(cached, asset, "cached")
    if not asset.convert:
        return _download(asset, cached, asset.sha256, progress)
    if convert is None:
        raise OptionsError(f"{asset.name!r} is published as {asset.convert!r} and needs its conversion: pass convert")
    downloaded = _download(asset, cache_dir() / DOWNLOADS / asset.file, asset.download_sha256, progress)
    part = cached.with_name(f".{cached.name}.part")
    cached.parent.mkdir(parents=True, exist_ok=True)
    try:
        convert(downloaded, part)
        kind, digest = _digest(part, asset)
        if digest != asset.sha256:
            raise ChecksumError(
                f"the {asset.convert} conversion of {downloaded} has {kind} {digest[:12]}..., expected "
                f"{asset.sha256[:12]}... for {asset.name!r}; put the converted {asset.file} in a folder named by "
                f"${MIRROR_ENV}"
            )
        os.replace(part, cached)
    finally:
        part.unlink(missing_ok=True)
    return cached


def _download(asset: Asset, target: Path, sha256: str, progress: bool) -> Path:
    """Download `asset.url` to `target` with pooch, verified against `sha256`."""
    # Imported only to download: pooch imports tqdm.auto, which in a Jupyter kernel loads ipywidgets.
    import pooch

    # pooch logs "Downloading data from ..." at INFO level to stderr; the progress bar and, on failure, this
    # module's one-line DownloadError say what happens.
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        path = pooch.retrieve(
            asset.url,
            known_hash=f"sha256:{sha256}",
            fname=target.name,
            path=target.parent,
            progressbar=progress,
        )
    except ValueError as exc:  # pooch's hash mismatch after download
        raise ChecksumError(f"download of {asset.name!r} from {asset.url} failed verification: {exc}") from exc
    except Exception as exc:  # network errors come in many types (requests, OSError, ...)
        raise DownloadError(
            f"could not download {asset.name!r} from {asset.url} ({_reason(exc, asset.url)}); to work offline, "
            f"put {asset.file} in a folder named by ${MIRROR_ENV}"
        ) from exc
    finally:
        logger.setLevel(level)
    return Path(path)
