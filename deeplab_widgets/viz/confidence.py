"""Confidence and entropy heat maps from a result's per-class probabilities (`segment(..., scores=True)`)."""

from __future__ import annotations

from functools import cache
from typing import Literal, get_args

import numpy as np
from PIL import Image

from ..core.segmenter import SegmentationResult
from ..core.size import Size, as_size
from ..errors import NoScoresError, OptionsError

#: The two heat maps: the top class's probability, and the normalised entropy (uncertainty).
HeatKind = Literal["confidence", "entropy"]
HEAT_KINDS: tuple[HeatKind, ...] = get_args(HeatKind)


def no_scores_message(result: SegmentationResult) -> str:
    """Why a result has no scores, in one plain sentence: it was segmented without `scores=True`.

    Args:
        result: The result without scores.
    """
    return (
        f"No scores in this result of {result.model}: segment with scores=True for confidence and entropy "
        "(every zoo model has scores; a user's model has none only if its logits could not be found)."
    )


def heat_values(result: SegmentationResult, kind: HeatKind = "confidence") -> np.ndarray:
    """h x w float32 in [0, 1] at model resolution: top-class probability, or entropy / log(C).

    Args:
        result: A result with scores (`segment(..., scores=True)` or `scores="coarse"`).
        kind: `"confidence"` or `"entropy"`.
    """
    if kind not in HEAT_KINDS:
        raise OptionsError(f"unknown heat map {kind!r}; choose one of: {', '.join(HEAT_KINDS)}")
    probs = result.probabilities()
    if probs is None:
        raise NoScoresError(no_scores_message(result))
    if kind == "confidence":
        return probs.max(axis=-1).astype(np.float32)
    entropy = -(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum(axis=-1)
    return (entropy / np.log(probs.shape[-1])).astype(np.float32)


@cache
def heat_palette(cmap: str = "magma") -> bytes:
    """A 256-entry RGB palette sampled from a matplotlib colour map.

    Args:
        cmap: A matplotlib colour map name.
    """
    from matplotlib import colormaps

    table = colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3]
    return (table * 255 + 0.5).astype(np.uint8).tobytes()


def heat_image(
    result: SegmentationResult, kind: HeatKind = "confidence", cmap: str = "magma", size: Size | None = None
) -> Image.Image:
    """The heat map as an RGB image, bright = high: the colours at the model's resolution, resized bilinearly (as
    the browser viewer draws them).

    Args:
        result: A result with scores (`segment(..., scores=True)`).
        kind: `"confidence"` (the top class's probability) or `"entropy"` (uncertainty, 0-1).
        cmap: A matplotlib colour map name.
        size: The picture's size (default: the result's class map size).

    Raises:
        NoScoresError: The result has no scores.
        OptionsError: An unknown `kind`.
    """
    values = heat_values(result, kind)
    small = Image.fromarray(np.clip(values * 255 + 0.5, 0, 255).astype(np.uint8), "P")
    small.putpalette(heat_palette(cmap))
    size = as_size(size, "heat_image(size=...)") if size is not None else Size.of(result.labels)
    return small.convert("RGB").resize(size.pil, Image.Resampling.BILINEAR)
