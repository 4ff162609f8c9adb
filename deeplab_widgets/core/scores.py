"""Class scores at the resolution the network computes them, before its last bilinear upsampling.

DeepLab computes its logits on a coarse grid (33x33 at output stride 16 for a 257 or 513 input, 128x128 for the
v3+ decoder) and its graph upsamples them with a RESIZE_BILINEAR to the input size. Those coarse logits and the
resize's alignment flags describe the model-resolution probabilities completely, at a small fraction of their
size (33x33x21 values against 257x257x21 for the starter): `CoarseScores.probabilities()` upsamples them as the
graph does, and the browser viewer does the same for the pixel under the pointer and for its heat maps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .preprocess import softmax
from .size import Size


@dataclass(frozen=True)
class Upsampling:
    """TFLite's RESIZE_BILINEAR alignment flags, which fix where each output pixel samples its input.

    Attributes:
        align_corners: The first and last pixels of input and output coincide (scale (in - 1) / (out - 1)).
        half_pixel_centers: Output pixel x samples at (x + 0.5) * scale - 0.5 (otherwise at x * scale).
    """

    align_corners: bool = False
    half_pixel_centers: bool = False

    def axis(self, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Along one axis of `n_out` output pixels: the lower and upper input index and the upper one's weight.

        Computed in float32, as TFLite's reference kernel does.

        Args:
            n_in: Input pixels along the axis.
            n_out: Output pixels along the axis.
        """
        scale = (n_in - 1) / (n_out - 1) if self.align_corners and n_out > 1 else n_in / n_out
        dst = np.arange(n_out, dtype=np.float32)
        src = (dst + 0.5) * np.float32(scale) - 0.5 if self.half_pixel_centers else dst * np.float32(scale)
        lo = np.maximum(np.floor(src), 0).astype(np.intp)
        hi = np.minimum(np.ceil(src), n_in - 1).astype(np.intp)
        return lo, hi, (src - lo).astype(np.float32)


def resize_bilinear(values: np.ndarray, size: Size, upsampling: Upsampling, crop: Size | None = None) -> np.ndarray:
    """h x w x C values resized to `size` (float32) as TFLite's RESIZE_BILINEAR does with these flags.

    Args:
        values: h x w x C values (any real dtype).
        size: The output size.
        upsampling: The resize's alignment flags.
        crop: Compute only this top-left part of the output (default: all of it).
    """
    ch, cw = crop or size
    y0, y1, fy = (a[:ch] for a in upsampling.axis(values.shape[0], size.height))
    x0, x1, fx = (a[:cw] for a in upsampling.axis(values.shape[1], size.width))
    fx = fx[None, :, None]
    top, bottom = values[y0], values[y1]
    upper = top[:, x0] * (1 - fx) + top[:, x1] * fx
    lower = bottom[:, x0] * (1 - fx) + bottom[:, x1] * fx
    fy = fy[:, None, None]
    return np.asarray(upper * (1 - fy) + lower * fy, np.float32)


@dataclass(frozen=True, eq=False)
class CoarseScores:
    """A result's class scores as the network computes them, and how its graph upsamples them.

    `segment(image, scores="coarse")` returns them (`SegmentationResult.coarse`); they cost a copy of a small
    tensor instead of the model-resolution softmax.

    Attributes:
        logits: h x w x C logits as the model computes them (float32, or 8-bit with `quantization`).
        quantization: (scale, zero point) of 8-bit logits; (0.0, 0) for float logits.
        upsampling: The alignment flags of the graph's last RESIZE_BILINEAR.
        output_size: The size that resize writes (the model's input size).
        content: The part of the output that covers the photo, from its top left corner (`Placement.content`).
    """

    logits: np.ndarray = field(repr=False)
    quantization: tuple[float, int]
    upsampling: Upsampling
    output_size: Size
    content: Size

    def upsampled_logits(self) -> np.ndarray:
        """content height x width x C float32 logits at the model's resolution, as the graph's resize writes them.

        8-bit logits are interpolated as codes and rounded half up to 8 bits, as the graph's 8-bit kernel does,
        then dequantized: the same values the graph hands its ArgMax.
        """
        up = resize_bilinear(self.logits, self.output_size, self.upsampling, crop=self.content)
        scale, zero = self.quantization
        if not scale:
            return up
        info = np.iinfo(self.logits.dtype)
        codes = np.clip(np.floor(up + np.float32(0.5)), info.min, info.max)
        return (codes - np.float32(zero)) * np.float32(scale)

    def probabilities(self) -> np.ndarray:
        """content height x width x C float32 class probabilities at the model's resolution (computed once).

        The graph's bilinear upsampling, then the softmax: what `segment(scores=True)` returns.
        """
        return self._probabilities

    @cached_property
    def _probabilities(self) -> np.ndarray:
        probs = softmax(self.upsampled_logits())
        probs.setflags(write=False)
        return probs
