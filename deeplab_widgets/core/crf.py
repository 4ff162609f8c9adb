"""DeepLab v1/v2's boundary refinement: a fully connected CRF over the model's probabilities and the photo.

The CRF (Krähenbühl & Koltun, NIPS 2011) links every pair of pixels. Its energy favours equal labels for
pixels that are close (a Gaussian kernel on position, weight w2, width θγ) and for pixels that are close
*and* alike in colour (a bilateral kernel on position and RGB, weight w1, widths θα and θβ), so labels snap
to the photo's edges. Mean-field inference needs, per iteration, each pixel's kernel-weighted sum of every
other pixel's label distribution: a Gaussian filter in a 2-D (position) and a 5-D (position, colour)
feature space. Both are computed here with a permutohedral lattice (Adams, Baek & Davis, Eurographics
2010), the approximation Krähenbühl's own code uses, in NumPy.

Why NumPy: no maintained dense-CRF package installs from a wheel on both Linux and macOS (pydensecrf,
pydensecrf2 and SimpleCRF publish source distributions that need a C++ compiler and Cython; the only
wheels, SimpleCRF-binaries', are for Windows), so this module has no dependency beyond NumPy.

Defaults: DeepLab's fixed Gaussian kernel (w2 = 3, θγ = 3 px), 10 mean-field iterations, and for the
bilateral kernel w1 = 4, θα = 67 px, θβ = 3 (the VOC values of deeplab-pytorch's reproduction of DeepLab
v2, inside the papers' cross-validation ranges w1 3-6, θα 30-100 px, θβ 3-6). Those widths are in pixels
of a photo about 500 px across, so the CRF runs on the photo scaled to at most `max_side` px.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import OptionsError
from .size import Size


@dataclass(frozen=True)
class CrfOptions:
    """The fully connected CRF's parameters (see the module docstring for where the defaults come from).

    Attributes:
        iterations: Mean-field iterations.
        bilateral_weight: w1, the weight of the appearance (position and colour) kernel.
        bilateral_xy: θα, its width in pixels.
        bilateral_rgb: θβ, its width in RGB levels (0-255).
        gaussian_weight: w2, the weight of the smoothness (position only) kernel.
        gaussian_xy: θγ, its width in pixels.
        max_side: The CRF runs on the photo scaled so its longer side is at most this many pixels.
        min_probability: Classes below this probability at every pixel are left out of the mean field (with
            Potts messages a class gains only where its neighbours already hold it; on VOC photos leaving out the
            classes below 1% changed 0.003% of the refined pixels and halved the time).

    Raises:
        OptionsError: A negative weight, a width or iteration count below 1, or `max_side` below 16.
    """

    iterations: int = 10
    bilateral_weight: float = 4.0
    bilateral_xy: float = 67.0
    bilateral_rgb: float = 3.0
    gaussian_weight: float = 3.0
    gaussian_xy: float = 3.0
    max_side: int = 513
    min_probability: float = 0.01

    def __post_init__(self) -> None:
        if self.iterations < 1 or int(self.iterations) != self.iterations:
            raise OptionsError(f"CRF iterations must be a whole number >= 1, not {self.iterations!r}")
        if min(self.bilateral_weight, self.gaussian_weight) < 0:
            raise OptionsError("CRF kernel weights must be >= 0")
        if min(self.bilateral_xy, self.bilateral_rgb, self.gaussian_xy) <= 0:
            raise OptionsError("CRF kernel widths must be > 0")
        if self.max_side < 16:
            raise OptionsError(f"the CRF's max_side must be at least 16 px, not {self.max_side}")


class PermutohedralLattice:
    """Gaussian filtering of values attached to points in a d-dimensional feature space, in O(N d^2).

    Each point is splatted onto the d + 1 vertices of the lattice simplex around it (barycentric weights),
    the lattice is blurred with [1 2 1] along each of its d + 1 axes, and the result is sliced back at the
    points. Features are divided by the kernel's widths beforehand, so the kernel is exp(-|f_i - f_j|^2 / 2).
    """

    def __init__(self, features: np.ndarray) -> None:
        f = np.asarray(features, np.float64)
        n, d = f.shape
        self.n, self.d = n, d
        scale = math.sqrt(2 / 3) * (d + 1) / np.sqrt((np.arange(d) + 1.0) * (np.arange(d) + 2.0))
        cf = f * scale
        # Elevate onto the hyperplane sum(x) = 0 of R^(d+1).
        elevated = np.empty((n, d + 1))
        tail = np.zeros(n)
        for j in range(d, 0, -1):
            elevated[:, j] = tail - j * cf[:, j - 1]
            tail += cf[:, j - 1]
        elevated[:, 0] = tail
        # The nearest remainder-0 lattice point, and the order (rank) of the differences to it.
        down = np.floor(elevated / (d + 1)) * (d + 1)
        up = down + (d + 1)
        rem0 = np.where(up - elevated < elevated - down, up, down)
        total = np.rint(rem0.sum(axis=1) / (d + 1)).astype(np.int64)
        diff = elevated - rem0
        # rank[i]: how many coordinates lie above coordinate i (ties broken by position, so ranks are distinct).
        larger = diff[:, :, None] < diff[:, None, :]
        after = np.triu(np.ones((d + 1, d + 1), bool), 1)
        rank = (larger & after).sum(axis=2) + (~larger & after).sum(axis=1)
        rank += total[:, None]
        low, high = rank < 0, rank > d
        rank[low] += d + 1
        rem0[low] += d + 1
        rank[high] -= d + 1
        rem0[high] -= d + 1
        # Barycentric weights of the simplex's d + 1 vertices.
        bary = np.zeros((n, d + 2))
        v = (elevated - rem0) / (d + 1)
        rows = np.arange(n)
        for i in range(d + 1):  # one entry per row at a time, so plain fancy-index addition is exact
            bary[rows, d - rank[:, i]] += v[:, i]
            bary[rows, d - rank[:, i] + 1] -= v[:, i]
        bary[:, 0] += 1 + bary[:, d + 1]
        self.weights = bary[:, : d + 1].astype(np.float32)
        # The vertices: remainder k's key is rem0 + k, wrapped by d + 1 for the k largest coordinates.
        rem0 = rem0.astype(np.int64)
        keys = np.stack(
            [rem0[:, :d] + np.where(rank[:, :d] <= d - k, k, k - (d + 1)) for k in range(d + 1)], axis=1
        ).reshape(-1, d)
        self._lo = keys.min(axis=0) - (d + 1)
        span = keys.max(axis=0) + (d + 1) - self._lo + 1
        if np.sum(np.log2(span.astype(np.float64))) > 62:
            raise OptionsError("the CRF's feature space is too large for its lattice; use wider kernels")
        self._radix = np.concatenate([np.cumprod(span[::-1])[::-1][1:], [1]]).astype(np.int64)
        packed = self._pack(keys)
        self.vertices, inverse = np.unique(packed, return_inverse=True)
        self.offsets = inverse.reshape(n, d + 1) + 1  # row 0 of the lattice values stays zero (missing neighbours)
        self._flat_offsets = self.offsets.ravel()
        self._flat_weights = self.weights.ravel()
        self.offsets = np.ascontiguousarray(self.offsets.T).T  # column k contiguous for the slice gathers
        # Each vertex's two neighbours along each of the d + 1 lattice axes: moving by a step in key space moves
        # the packed key by the step's packed value (the key range was padded by d + 1, so nothing wraps).
        self.neighbours = []
        for j in range(d + 1):
            step = np.full(d, -1, np.int64)
            if j < d:
                step[j] = d
            delta = int((step * self._radix).sum())
            minus, plus = self._find(self.vertices + delta), self._find(self.vertices - delta)
            self.neighbours.append((np.r_[0, minus], np.r_[0, plus]))

    def _pack(self, keys: np.ndarray) -> np.ndarray:
        return ((keys - self._lo) * self._radix).sum(axis=1)

    def _find(self, packed: np.ndarray) -> np.ndarray:
        """Row (1-based) of each packed key's vertex in the lattice values, 0 where the lattice has no such vertex."""
        at = np.minimum(np.searchsorted(self.vertices, packed), len(self.vertices) - 1)
        return np.where(self.vertices[at] == packed, at + 1, 0)

    def filter(self, values: np.ndarray) -> np.ndarray:
        """Sum over every point j of exp(-|f_i - f_j|^2 / 2) x values[j], approximately, for each point i.

        `values` is N x C. The work is done channel by channel on contiguous rows (gathers of single floats
        are several times faster than gathers of short rows).
        """
        values = np.asarray(values, np.float32)
        rows = len(self.vertices) + 1
        out = np.empty_like(values)
        alpha = np.float32(1 / (1 + 2.0**-self.d))
        for c in range(values.shape[1]):
            # splat: each point adds its value to its d + 1 vertices, barycentrically weighted
            lattice = np.bincount(
                self._flat_offsets, weights=self._flat_weights * np.repeat(values[:, c], self.d + 1), minlength=rows
            ).astype(np.float32)
            lattice[0] = 0
            for minus, plus in self.neighbours:  # blur: [1 2 1] / 2 along each lattice axis
                blurred = lattice.take(minus)
                blurred += lattice.take(plus)
                blurred *= 0.5
                blurred += lattice
                blurred[0] = 0
                lattice = blurred
            # slice: read the blurred values back at each point, barycentrically weighted
            sliced = self.weights[:, 0] * lattice.take(self.offsets[:, 0])
            for k in range(1, self.d + 1):
                sliced += self.weights[:, k] * lattice.take(self.offsets[:, k])
            out[:, c] = sliced * alpha
        return out


def mean_field(unary_probs: np.ndarray, rgb: np.ndarray, options: CrfOptions = CrfOptions()) -> np.ndarray:
    """Mean-field inference of the fully connected CRF: refined probabilities, H x W x C.

    `unary_probs` are the model's class probabilities (H x W x C) and `rgb` the photo (H x W x 3, uint8) at
    the same size. Q starts at the probabilities; each iteration sets Q = softmax(log P + w1 K_bilateral Q +
    w2 K_gaussian Q), each kernel normalised per pixel (Krähenbühl's code does the same).
    """
    probs = np.asarray(unary_probs, np.float32)
    h, w, classes = probs.shape
    if rgb.shape[:2] != (h, w):
        raise OptionsError(f"the CRF's photo {rgb.shape[:2]} and probabilities {(h, w)} differ in size")
    keep = np.flatnonzero(probs.reshape(-1, classes).max(axis=0) >= options.min_probability)
    if len(keep) < 2:
        return probs
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    position = np.stack([xs.ravel(), ys.ravel()], axis=1)
    colour = np.asarray(rgb, np.float32).reshape(-1, 3)
    kernels = []
    for weight, features in (
        (options.bilateral_weight, np.hstack([position / options.bilateral_xy, colour / options.bilateral_rgb])),
        (options.gaussian_weight, position / options.gaussian_xy),
    ):
        if weight > 0:
            lattice = PermutohedralLattice(features)
            norm = 1 / (lattice.filter(np.ones((h * w, 1), np.float32)) + 1e-20)
            kernels.append((np.float32(weight), lattice, norm))
    unary = np.log(np.clip(probs.reshape(-1, classes)[:, keep], 1e-8, 1))
    q = _softmax(unary)
    for _ in range(options.iterations):
        energy = unary.copy()
        for weight, lattice, norm in kernels:
            energy += weight * norm * lattice.filter(q)
        q = _softmax(energy)
    out = np.zeros((h * w, classes), np.float32)
    out[:, keep] = q
    return out.reshape(h, w, classes)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def crf_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """(width, height) the CRF runs at for a photo of `size` (width, height): longer side at most `max_side`."""
    scale = min(1.0, max_side / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def refine(
    photo: Image.Image, probs: np.ndarray, options: CrfOptions = CrfOptions(), size: Size | None = None
) -> np.ndarray:
    """Class ids after the CRF over the model's probabilities and the photo, at `size` (default the photo's) as an
    H x W uint8 array.

    `probs` (h x w x C) cover the photo at the model's resolution; they are resized bilinearly to the CRF's
    working size (`crf_size`), refined there with the photo's colours, and the labels scaled to `size`.

    Args:
        photo: The photo (possibly decoded at reduced scale).
        probs: The model's class probabilities over the photo.
        options: The CRF's parameters.
        size: The size of the class map to return (the photo's full size when `photo` is a reduced decode).
    """
    size = size or Size.of(photo)
    width, height = crf_size(photo.size, options.max_side)
    rgb = np.asarray(photo.convert("RGB").resize((width, height), Image.Resampling.BILINEAR))
    scaled = np.empty((height, width, probs.shape[-1]), np.float32)
    for c in range(probs.shape[-1]):
        channel = Image.fromarray(np.ascontiguousarray(probs[..., c], np.float32))
        scaled[..., c] = np.asarray(channel.resize((width, height), Image.Resampling.BILINEAR))
    labels = mean_field(scaled, rgb, options).argmax(axis=-1).astype(np.uint8)
    if Size(height, width) == size:
        return labels
    return np.asarray(Image.fromarray(labels).resize(size.pil, Image.Resampling.NEAREST))
