"""What the browser viewer receives once per result: photo, class map, colours, names and scores.

Everything the viewer draws afterwards (alpha, modes, palettes, class toggles, zoom, hover) is computed in the
browser from these bytes, so a display-only change never costs a kernel round trip. Each part is as small and as
cheap to make as the result allows (benchmarks/RESULTS.md, "Click to painted result"):

- the class map of a `scores="coarse"` result at the model's resolution when the browser's nearest-neighbour
  upsampling gives exactly the photo-size map (`restore`'s rule, see `nearest_table`), as raw bytes (at most
  513x513: decoding a PNG costs the browser more than the bytes cost the wire); of other results, at the photo's
  size, a palette PNG at zlib level 1;
- the scores of a `scores="coarse"` result as the model's coarse logits (a few kB to 0.5 MB, sent as they are:
  the browser upsamples them for the pointer's readout and its heat maps); of a `scores=True` result, top-3
  classes and the entropy per pixel;
- the photo as JPEG, which a caller encodes once per photo (`photo_jpeg`) and passes again for a new result of
  the same photo.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from ..core.export import mask_image
from ..core.imaging import colors_of, image_first
from ..core.scores import CoarseScores
from ..core.segmenter import SegmentationResult, class_name
from ..viz.confidence import heat_palette
from ..viz.masks import as_photo

#: JPEG quality of the photo sent to the browser (it is drawn under the class map, never re-encoded).
PHOTO_QUALITY = 90
#: Classes with probabilities per pixel sent to the browser for a `scores=True` result (the readout shows 3).
TOP_K = 3
#: zlib level of the class map PNG: level 1 encodes several times faster than Pillow's default for a few more
#: bytes (benchmarks/RESULTS.md, "Batch").
MASK_PNG_LEVEL = 1


@dataclass(frozen=True)
class ViewerPayload:
    """The bytes for one result.

    The class map is either `labels`, one byte per pixel of `labels_shape` (h, w): the model's resolution, or the
    photo's size when that is smaller (a `scores="coarse"` result); or `mask_png`, a palette PNG (pixel value =
    class id, the dataset's colours) at the photo's size (other results). `colormap` is the dataset's colours and
    `contrast_colormap` the contrast palette's, with `clear` the classes that palette leaves uncoloured over the
    photo. `scores` is zlib-deflated uint8 at model resolution: top-3 class ids (h*w*3), their probabilities x 255
    (h*w*3), then the entropy over all classes divided by log(C), x 255 (h*w); empty without `result.scores`.
    `coarse` is the raw bytes of `result.coarse.logits`, described by `coarse_info` (see `coarse_info`).
    """

    photo: bytes
    mask_png: bytes
    labels: bytes
    labels_shape: tuple[int, int]  # (h, w) of `labels`; (0, 0) with `mask_png`
    colormap: bytes
    contrast_colormap: bytes
    clear: tuple[int, ...]
    class_names: tuple[str, ...]
    scores: bytes
    score_shape: tuple[int, int, int]  # (h, w, C), (0, 0, 0) without scores
    coarse: bytes
    coarse_info: dict[str, Any] = field(default_factory=dict)
    heat_palette: bytes = b""


def photo_jpeg(photo: Image.Image, quality: int = PHOTO_QUALITY) -> bytes:
    """The photo as JPEG bytes.

    Args:
        photo: The RGB photo.
        quality: JPEG quality.
    """
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def mask_png(result: SegmentationResult) -> bytes:
    """The class map as the palette PNG `save_mask` (and `segment --out`) writes: the same bytes.

    Args:
        result: The segmentation.
    """
    buffer = io.BytesIO()
    mask_image(result.labels, result.colormap).save(buffer, format="PNG")
    return buffer.getvalue()


def _png(labels: np.ndarray, colormap: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    mask_image(labels, colormap).save(buffer, format="PNG", compress_level=MASK_PNG_LEVEL)
    return buffer.getvalue()


@lru_cache(maxsize=64)
def nearest_table(n_in: int, n_out: int) -> np.ndarray:
    """The source index of each of `n_out` pixels in a nearest-neighbour resize from `n_in` (Pillow's, `restore`'s).

    Args:
        n_in: Source pixels along the axis.
        n_out: Resized pixels along the axis.
    """
    ramp = np.arange(n_in, dtype=np.int32)[None, :]
    table = np.asarray(Image.fromarray(ramp, "I").resize((n_out, 1), Image.Resampling.NEAREST))[0]
    table.setflags(write=False)
    return table


@lru_cache(maxsize=64)
def browser_table(n_in: int, n_out: int) -> np.ndarray:
    """The same table as the browser viewer computes it (`nearestTable` in viewer.js): the sample point starts at
    half a step and advances by n_in / n_out per pixel, in double precision, truncated to an index.

    Args:
        n_in: Source pixels along the axis.
        n_out: Resized pixels along the axis.
    """
    step = n_in / n_out
    points = np.full(n_out, step)
    points[0] = step * 0.5
    table = np.minimum(np.add.accumulate(points).astype(np.int64), n_in - 1)
    table.setflags(write=False)
    return table


def upsamples_exactly(n_in: int, n_out: int) -> bool:
    """True when the browser's nearest-neighbour upsampling from `n_in` to `n_out` pixels is `restore`'s and uses
    every source pixel (so the model-resolution map can be read back from the photo-size one).

    Args:
        n_in: Source pixels along the axis.
        n_out: Resized pixels along the axis.
    """
    table = nearest_table(n_in, n_out)
    return n_out >= n_in and np.array_equal(table, browser_table(n_in, n_out)) and int(table[-1]) == n_in - 1


def model_resolution_labels(result: SegmentationResult) -> np.ndarray | None:
    """The class map at the model's resolution (the photo's part of it) when the browser can upsample it exactly to
    `result.labels`, else None.

    Needs `result.coarse` (a `scores="coarse"` result): its `content` is that resolution, and its labels are
    `restore`'s nearest-neighbour upsampling of the map at it.

    Args:
        result: The segmentation.
    """
    if result.coarse is None:
        return None
    (ch, cw), (h, w) = result.coarse.content, result.labels.shape
    if (ch, cw) == (h, w) or not (upsamples_exactly(ch, h) and upsamples_exactly(cw, w)):
        return None
    rows = np.searchsorted(nearest_table(ch, h), np.arange(ch))
    cols = np.searchsorted(nearest_table(cw, w), np.arange(cw))
    return np.ascontiguousarray(result.labels[rows][:, cols])


@lru_cache(maxsize=16)
def names_of_ids(class_names: tuple[str, ...]) -> tuple[str, ...]:
    """A name for each of the 256 class ids (`class N` beyond the model's classes), as the browser looks them up.

    Args:
        class_names: The model's class names.
    """
    return tuple(class_name(class_names, i) for i in range(256))


def quantized_scores(scores: np.ndarray, k: int = TOP_K) -> bytes:
    """h x w x C probabilities -> deflated uint8 top-k ids, top-k probabilities and normalised entropy.

    Args:
        scores: h x w x C class probabilities.
        k: How many top classes per pixel.
    """
    h, w, c = scores.shape
    k = min(k, c)
    top = np.argpartition(-scores, k - 1, axis=-1)[..., :k] if k < c else np.broadcast_to(np.arange(c), (h, w, c))
    probs = np.take_along_axis(scores, top, axis=-1)
    order = np.argsort(-probs, axis=-1, kind="stable")
    top = np.take_along_axis(top, order, axis=-1)
    probs = np.take_along_axis(probs, order, axis=-1)
    if k < TOP_K:  # pad so the browser always reads three per pixel
        top = np.concatenate([top, np.zeros((h, w, TOP_K - k), top.dtype)], axis=-1)
        probs = np.concatenate([probs, np.zeros((h, w, TOP_K - k), probs.dtype)], axis=-1)
    entropy = -(scores * np.log(np.clip(scores, 1e-12, 1.0))).sum(axis=-1) / max(np.log(c), 1e-12)
    parts = (
        top.astype(np.uint8),
        np.clip(probs * 255 + 0.5, 0, 255).astype(np.uint8),
        np.clip(entropy * 255 + 0.5, 0, 255).astype(np.uint8),
    )
    return zlib.compress(b"".join(np.ascontiguousarray(p).tobytes() for p in parts), 1)


def coarse_info(coarse: CoarseScores) -> dict[str, Any]:
    """How the browser reads `coarse.logits`' bytes and upsamples them (`CoarseScores`, `core.scores`).

    Keys: `shape` (h, w, C), `dtype` (`float32`, `uint8` or `int8`), `scale` and `zero` (0 and 0 for float),
    `output` (the resize's output size, h and w), `content` (the photo's part of it), `align_corners`,
    `half_pixel_centers`.

    Args:
        coarse: A result's coarse scores.
    """
    scale, zero = coarse.quantization
    return {
        "shape": list(coarse.logits.shape),
        "dtype": coarse.logits.dtype.name,
        "scale": scale,
        "zero": zero,
        "output": list(coarse.output_size),
        "content": list(coarse.content),
        "align_corners": coarse.upsampling.align_corners,
        "half_pixel_centers": coarse.upsampling.half_pixel_centers,
    }


def viewer_payload(
    image: Image.Image | np.ndarray, result: SegmentationResult, *, photo: bytes | None = None
) -> ViewerPayload:
    """Encode `result` over `image` for the browser viewer.

    Args:
        image: The photo the result was made from.
        result: The segmentation (its scores or coarse scores, if any, become the readout's top 3 and the heat maps).
        photo: `photo_jpeg(image)` made earlier for this photo (a new result of the same photo reuses it).

    Raises:
        SizeMismatchError: The image and the class map differ in size.
    """
    image, result = image_first(image, result, "viewer_payload")
    picture = as_photo(image, result.labels)
    scores, coarse = result.scores, result.coarse
    raw = model_resolution_labels(result) if coarse is not None else None
    if raw is None and coarse is not None and result.labels.size <= coarse.content.height * coarse.content.width:
        raw = result.labels  # a photo smaller than the model's resolution: its own map is the smaller one
    contrast = colors_of(result, "contrast")
    return ViewerPayload(
        photo=photo if photo is not None else photo_jpeg(picture),
        mask_png=_png(result.labels, result.colormap) if raw is None else b"",
        labels=np.ascontiguousarray(raw, np.uint8).tobytes() if raw is not None else b"",
        labels_shape=(raw.shape[0], raw.shape[1]) if raw is not None else (0, 0),
        colormap=np.asarray(result.colormap, np.uint8).tobytes(),
        contrast_colormap=contrast.colormap.tobytes(),
        clear=tuple(sorted(contrast.clear)),
        class_names=names_of_ids(result.class_names),
        scores=quantized_scores(scores) if scores is not None else b"",
        score_shape=(scores.shape[0], scores.shape[1], scores.shape[2]) if scores is not None else (0, 0, 0),
        coarse=np.ascontiguousarray(coarse.logits).tobytes() if coarse is not None and scores is None else b"",
        coarse_info=coarse_info(coarse) if coarse is not None and scores is None else {},
        heat_palette=heat_palette("magma"),
    )
