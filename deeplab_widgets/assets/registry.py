"""The file registry: every model and sample has an official URL and a SHA-256.

`fetch()` looks in the offline mirror folders first, then in the cache, then downloads
with `pooch` (hash-verified, with a progress bar). A file whose hash is wrong is never
used and never silently replaced: the caller gets a `ChecksumError` naming it.

The mirror folders are the ones `$DEEPLAB_WIDGETS_MIRROR` names; when that variable is unset and the
package runs from a source checkout of the project, the checkout's sibling `../shared/{models,images,video}`
folders (the project's development mirror) are used, so a notebook opened in JupyterLab finds the files
without any set-up. Set the variable to an empty string to use no mirror at all.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from ..errors import ChecksumError, DownloadError, ModelNotFoundError, SampleNotFoundError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CACHE_ENV = "DEEPLAB_WIDGETS_CACHE"
MIRROR_ENV = "DEEPLAB_WIDGETS_MIRROR"
#: The folder of labelled evaluation data (`voc/images`, `voc/masks`, `ade20k/...`).
EVAL_ENV = "DEEPLAB_WIDGETS_EVAL"
#: The folders of `../shared` (next to a source checkout) that hold registry files under their names.
SHARED_FOLDERS = ("models", "images", "video")


@dataclass(frozen=True)
class Asset:
    """One registry file: where it comes from, what it must hash to, and what it is.

    Attributes:
        name: The registry key (`deeplabv3-starter`, `cat`, ...).
        file: The file name in the cache and in mirror folders.
        url: The official download URL.
        sha256: The hex SHA-256 every copy must have.
        description: One line for listings.
        license: The file's licence, as published by its source.
        extra: The section-specific fields (a model's dataset and input size, a sample's kind, ...).
    """

    name: str
    file: str
    url: str
    sha256: str
    description: str = ""
    license: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@cache
def _registry() -> dict[str, dict[str, Any]]:
    return tomllib.loads(files(__package__).joinpath("registry.toml").read_text("utf-8"))


def assets(section: str) -> dict[str, Asset]:
    """All entries of one registry section, by name, in registry order.

    Args:
        section: `"models"` or `"samples"`.

    Returns:
        A dict from registry name to `Asset`.
    """
    out = {}
    for name, raw in _registry()[section].items():
        known = {k: raw[k] for k in ("file", "url", "sha256", "description", "license") if k in raw}
        extra = {k: v for k, v in raw.items() if k not in known}
        out[name] = Asset(name=name, extra=extra, **known)
    return out


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


@cache
def source_checkout() -> Path | None:
    """The root of the project's source checkout this package runs from, or None.

    The package runs from a checkout when it is imported from the repository itself (`pip install -e .`, or the
    repository on `sys.path`): the folder above `deeplab_widgets/` then holds the project's `pyproject.toml`. An
    installed wheel has no such file beside it.
    """
    root = Path(__file__).resolve().parents[2]
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text("utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return root if project.get("name") == "deeplab-widgets" else None


def default_mirror_dirs() -> list[Path]:
    """The project's own mirror: the existing `../shared/{models,images,video}` folders beside a source checkout.

    Empty when the package is not a source checkout or no such folder exists.
    """
    root = source_checkout()
    if root is None:
        return []
    return [folder for name in SHARED_FOLDERS if (folder := root.parent / "shared" / name).is_dir()]


def eval_dir() -> Path | None:
    """The labelled evaluation data: `$DEEPLAB_WIDGETS_EVAL`, else `../shared/eval` beside a source checkout.

    None when neither exists (an installed package without the project's labelled data).
    """
    value = os.environ.get(EVAL_ENV)
    if value:
        return Path(value)
    root = source_checkout()
    folder = root.parent / "shared" / "eval" if root is not None else None
    return folder if folder is not None and folder.is_dir() else None


def mirror_dirs() -> list[Path]:
    """The offline mirror folders, in the order they are searched.

    `$DEEPLAB_WIDGETS_MIRROR` names them (separated by `os.pathsep`; folders need not exist). When the variable is
    unset, `default_mirror_dirs()` (the `../shared` folders beside a source checkout); when it is set but empty,
    none.
    """
    value = os.environ.get(MIRROR_ENV)
    if value is None:
        return default_mirror_dirs()
    return [Path(p) for p in value.split(os.pathsep) if p]


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verified(path: Path, asset: Asset, where: str) -> Path:
    digest = sha256_of(path)
    if digest != asset.sha256:
        raise ChecksumError(
            f"{where} file {path} has SHA-256 {digest[:12]}..., expected {asset.sha256[:12]}... "
            f"for {asset.name!r}; remove or replace it"
        )
    return path


def _reason(exc: Exception, url: str) -> str:
    """Why a download failed, short: no connection (the usual offline case), else the error's first line."""
    if any(c.__name__ in ("ConnectionError", "Timeout") for c in type(exc).__mro__):  # requests' and the builtin
        return f"no connection to {urlsplit(url).hostname}"
    reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return reason if len(reason) < 100 else reason[:97] + "..."


def fetch(asset: Asset, progress: bool = True) -> Path:
    """The local path of a verified copy of `asset`: mirror first, then cache, then download.

    Every copy is checked against the registry's SHA-256 before it is returned; a wrong copy is never used and
    never silently replaced.

    Args:
        asset: The registry entry to fetch (from `lookup`).
        progress: Show a download progress bar (only when a download happens).

    Returns:
        The path of the verified file: in a mirror folder or in `cache_dir()`.

    Raises:
        ChecksumError: A mirror or cached copy, or the downloaded file, has the wrong SHA-256.
        DownloadError: The file is in no mirror and not cached, and the download failed (the message says how
            to work offline).
    """
    for folder in mirror_dirs():
        candidate = folder / asset.file
        if candidate.is_file():
            return _verified(candidate, asset, "mirror")
    cached = cache_dir() / asset.file
    if cached.is_file():
        return _verified(cached, asset, "cached")
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
            known_hash=f"sha256:{asset.sha256}",
            fname=asset.file,
            path=cache_dir(),
            progressbar=progress,
        )
    except ValueError as exc:  # pooch's hash mismatch after download
        raise ChecksumError(f"download of {asset.name!r} from {asset.url} failed verification: {exc}") from exc
    except Exception as exc:  # network errors come in many types (requests, OSError, ...)
        raise DownloadError(
            f"could not download {asset.name!r} from {asset.url} ({_reason(exc, asset.url)}); to work offline, "
            f"put {asset.file} in a folder named by ${MIRROR_ENV} (a source checkout uses its "
            f"../shared/{{{','.join(SHARED_FOLDERS)}}} folders when the variable is unset)"
        ) from exc
    finally:
        logger.setLevel(level)
    return Path(path)
