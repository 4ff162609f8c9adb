"""DeepLab's ideas in small numpy functions, for teaching: atrous convolution, receptive fields,
gridding, ASPP, the image-level feature, output stride vs cost, and coarse-logit upsampling error.

Everything here is plain numpy so each idea can be checked numerically (e.g. atrous convolution
equals ordinary convolution with a zero-inserted kernel) and computed on the real models' layer
tables and activations rather than on invented numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..core.size import Size
from ..errors import OptionsError
from ..tflite.graph import CONV_OPS, UPSAMPLE_OPS, Layer
from .deeplab import ModelGraph

# ---------------------------------------------------------------- atrous convolution


def _check_rate(rate: int) -> int:
    if int(rate) != rate or rate < 1:
        raise OptionsError(f"the atrous rate must be a whole number >= 1, not {rate!r}")
    return int(rate)


def effective_kernel_size(kernel: int, rate: int) -> int:
    """Span of a k-tap filter at rate r: r * (k - 1) + 1 (a 3-tap filter at rate 2 spans 5).

    Args:
        kernel: Taps along one axis (k).
        rate: The atrous rate (r).
    """
    return _check_rate(rate) * (kernel - 1) + 1


def input_extent(kernel: int, rate: int, output_stride: int = 1) -> int:
    """Span in input pixels of a k-tap filter at rate r running on a feature map of output stride s:
    r * (k - 1) * s + 1. A 3x3 filter at rate 6 spans 13 cells of the map, 193 px of the input at stride 16.

    Args:
        kernel: Taps along one axis (k).
        rate: The atrous rate (r), in cells of the feature map.
        output_stride: Input pixels per cell of the feature map (s).
    """
    if int(output_stride) != output_stride or output_stride < 1:
        raise OptionsError(f"the output stride must be a whole number >= 1, not {output_stride!r}")
    return (effective_kernel_size(kernel, rate) - 1) * int(output_stride) + 1


def zero_insert(kernel: np.ndarray, rate: int) -> np.ndarray:
    """The kernel with rate - 1 zeros inserted between its taps along every axis ("holes", à trous).

    Args:
        kernel: A 1-D or 2-D filter.
        rate: The atrous rate.
    """
    rate = _check_rate(rate)
    kernel = np.asarray(kernel)
    out = np.zeros(tuple(effective_kernel_size(n, rate) for n in kernel.shape), kernel.dtype)
    out[tuple(slice(None, None, rate) for _ in kernel.shape)] = kernel
    return out


def conv(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Ordinary 'valid' cross-correlation (as in CNNs) of a 1-D or 2-D signal, via sliding windows.

    Args:
        x: A 1-D or 2-D signal.
        kernel: A filter of the same number of dimensions.
    """
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    if x.ndim != kernel.ndim or x.ndim not in (1, 2):
        raise OptionsError("conv takes a 1-D signal with a 1-D kernel or a 2-D image with a 2-D kernel")
    if any(k > n for k, n in zip(kernel.shape, x.shape, strict=True)):
        raise OptionsError(f"kernel {kernel.shape} is larger than the input {x.shape}")
    windows = sliding_window_view(x, kernel.shape)
    return np.tensordot(windows, kernel, axes=kernel.ndim)


def atrous_conv(x: np.ndarray, kernel: np.ndarray, rate: int) -> np.ndarray:
    """Atrous ('valid') convolution computed directly: out[i] = sum_k w[k] * x[i + r * k].

    Implemented as a sum of shifted copies of the input, one per tap, so it shares no code with
    `conv` and the identity atrous_conv(x, w, r) == conv(x, zero_insert(w, r)) is a real check.

    Args:
        x: A 1-D or 2-D signal.
        kernel: A filter of the same number of dimensions.
        rate: The atrous rate.
    """
    rate = _check_rate(rate)
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    if x.ndim != kernel.ndim or x.ndim not in (1, 2):
        raise OptionsError("atrous_conv takes a 1-D signal with a 1-D kernel or a 2-D image with a 2-D kernel")
    span = [effective_kernel_size(k, rate) for k in kernel.shape]
    out_shape = [n - s + 1 for n, s in zip(x.shape, span, strict=True)]
    if min(out_shape) < 1:
        raise OptionsError(f"a {kernel.shape} kernel at rate {rate} spans {span}, more than the input {x.shape}")
    out = np.zeros(out_shape)
    for tap in np.ndindex(*kernel.shape):
        start = [rate * t for t in tap]
        region = tuple(slice(s, s + n) for s, n in zip(start, out_shape, strict=True))
        out += kernel[tap] * x[region]
    return out


def tap_offsets(kernel: int, rate: int) -> np.ndarray:
    """Offsets from the centre of a k-tap filter's taps at rate r, e.g. k=3, r=2 -> [-2, 0, 2].

    Args:
        kernel: Taps along one axis.
        rate: The atrous rate.
    """
    rate = _check_rate(rate)
    if kernel < 1:
        raise OptionsError(f"kernel size must be >= 1, not {kernel}")
    return (np.arange(kernel) - (kernel - 1) / 2) * rate


def tap_grid(kernel: int, rate: int, center: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """(k*k, 2) (row, col) positions a k x k filter at rate r samples around `center`.

    Args:
        kernel: Taps along each axis.
        rate: The atrous rate.
        center: The output's (row, col).
    """
    off = tap_offsets(kernel, rate)
    rows, cols = np.meshgrid(off + center[0], off + center[1], indexing="ij")
    return np.stack([rows.ravel(), cols.ravel()], axis=1)


# ---------------------------------------------------------------- receptive field


@dataclass(frozen=True)
class ConvSpec:
    """One layer of a toy stack: kernel size, stride and atrous rate."""

    kernel: int = 3
    stride: int = 1
    rate: int = 1


@dataclass(frozen=True)
class RFStep:
    """Receptive field after a layer of the stack, and the distance between its outputs (jump)."""

    layer: int
    spec: ConvSpec
    receptive_field: int
    jump: int


def receptive_field(stack: Sequence[ConvSpec]) -> tuple[RFStep, ...]:
    """Theoretical receptive field layer by layer: rf += (r * (k - 1)) * jump; jump *= stride.

    Args:
        stack: The layers, first first: kernel, stride and rate of each.
    """
    rf, jump, out = 1, 1, []
    for i, spec in enumerate(stack):
        rf += (effective_kernel_size(spec.kernel, spec.rate) - 1) * jump
        jump *= spec.stride
        out.append(RFStep(i, spec, rf, jump))
    return tuple(out)


def gridding_map(rates: Sequence[int], kernel: int = 3) -> np.ndarray:
    """How many paths link each input pixel to one output of a stride-1 stack with these rates (2-D).

    Zeros inside the receptive field are the 'gridding' holes: e.g. rates (2, 2, 2) never look at
    odd offsets, while (1, 2, 5) (hybrid dilated convolution) covers every pixel.

    Args:
        rates: The stack's atrous rates, first layer first.
        kernel: Taps along each axis of every layer.
    """
    line = np.ones(1)
    for r in rates:
        line = np.convolve(line, zero_insert(np.ones(kernel), r))
    return np.outer(line, line).astype(np.int64)


def coverage(rates: Sequence[int], kernel: int = 3) -> float:
    """Fraction of the receptive field's pixels that reach the output at all (1.0 = no gridding).

    Args:
        rates: The stack's atrous rates, first layer first.
        kernel: Taps along each axis of every layer.
    """
    grid = gridding_map(rates, kernel)
    return float(np.count_nonzero(grid) / grid.size)


# ---------------------------------------------------------------- ASPP and the image-level feature


@dataclass(frozen=True)
class ValidTaps:
    """For a k x k filter at rate r on an n x n map with zero padding: how many taps land inside."""

    rate: int
    mean_fraction: float  # mean over positions of (taps inside / k*k)
    center_only: float  # fraction of positions where only the centre tap is inside


def valid_taps(feature_size: int, rate: int, kernel: int = 3) -> ValidTaps:
    """DeepLab v3's argument for the image-level feature: at large rates a 3x3 filter degenerates to 1x1.

    Args:
        feature_size: The side of the feature map (e.g. 33 for a 513 input at output stride 16).
        rate: The atrous rate.
        kernel: Taps along each axis.
    """
    off = tap_offsets(kernel, rate).astype(int)
    pos = np.arange(feature_size)
    inside_1d = ((pos[:, None] + off[None, :]) >= 0) & ((pos[:, None] + off[None, :]) < feature_size)
    per_axis = inside_1d.sum(axis=1)  # taps inside along one axis, per position
    counts = np.outer(per_axis, per_axis)
    return ValidTaps(rate, float(counts.mean() / kernel**2), float(np.mean(counts == 1)))


def aspp_sampling(rates: Sequence[int], kernel: int = 3, size: int | None = None) -> np.ndarray:
    """A map of which ASPP branch samples each offset around one output (0 = none, i+1 = rates[i]).

    Later (larger) rates win where branches share an offset (only the centre for 3x3 filters).

    Args:
        rates: The branches' atrous rates.
        kernel: Taps along each axis.
        size: The map's side (default: just wide enough for the largest rate).
    """
    reach = max(int(tap_offsets(kernel, r).max()) for r in rates)
    n = size or 2 * reach + 1
    grid = np.zeros((n, n), np.int64)
    c = n // 2
    for i, r in enumerate(rates):
        for row, col in tap_grid(kernel, r, (c, c)).astype(int):
            if 0 <= row < n and 0 <= col < n:
                grid[row, col] = i + 1
    return grid


def image_level_feature(features: np.ndarray) -> np.ndarray:
    """The image-level feature of a h x w x C map: its global average, broadcast back to h x w.

    Args:
        features: An h x w x C feature map.
    """
    features = np.asarray(features, np.float32)
    return np.broadcast_to(features.mean(axis=(0, 1), keepdims=True), features.shape)


# ---------------------------------------------------------------- output stride and cost


def output_stride(input_size: int, feature_size: int) -> float:
    """DeepLab's output stride: (input - 1) / (feature - 1), e.g. (257 - 1) / (33 - 1) = 8.

    DeepLab samples with aligned corners: a feature map of f cells spans the input's first to last
    pixel, so f - 1 steps cover input - 1 pixels (which is why its input sizes are k * stride + 1).
    Raises `OptionsError` for a feature map smaller than 2 cells.

    Args:
        input_size: The model input's side in pixels.
        feature_size: The feature map's side in cells.
    """
    if feature_size < 2:
        raise OptionsError(f"a {feature_size}-cell feature map has no stride; it needs at least 2 cells")
    return (input_size - 1) / (feature_size - 1)


def macs_by_role(graph: ModelGraph) -> dict[str, int]:
    """Multiply-accumulates of a real graph per layer role (backbone, atrous, aspp, decoder, logits, other).

    E.g. how much of a v3+ model's compute its decoder takes. Roles without MACs are left out.

    Args:
        graph: The model's graph (`read_graph`).
    """
    out: dict[str, int] = {}
    for ly in graph.layers:
        if ly.macs:
            out[ly.role] = out.get(ly.role, 0) + int(ly.macs)
    return out


def separable_convolutions(graph: ModelGraph, *, atrous_or_decoder: bool = True) -> tuple[tuple[Layer, Layer], ...]:
    """The depthwise separable convolutions of a real graph: (depthwise k x k, the 1x1 convolution reading it).

    DeepLab v3+'s *atrous separable convolution* is such a pair with an atrous rate on the depthwise half;
    MobileNetV2's blocks are built of them (expand 1x1, depthwise 3x3, project 1x1).

    Args:
        graph: The model's graph (`read_graph`).
        atrous_or_decoder: Keep only the pairs whose depthwise layer is atrous (rate > 1) or in the decoder.
    """
    pairs = []
    for pointwise in graph.layers:
        if pointwise.op != "CONV_2D" or pointwise.kernel != (1, 1) or not pointwise.inputs:
            continue
        depthwise = graph.producer(pointwise.inputs[0])
        if depthwise is None or depthwise.op != "DEPTHWISE_CONV_2D":
            continue
        if not atrous_or_decoder or depthwise.rate > 1 or depthwise.role == "decoder":
            pairs.append((depthwise, pointwise))
    return tuple(pairs)


@dataclass(frozen=True)
class StrideCost:
    """A model rebuilt at another output stride: its encoder feature size and MACs."""

    output_stride: int
    feature_size: tuple[int, int]
    macs: int


def output_stride_costs(graph: ModelGraph, strides: Sequence[int] = (8, 16, 32)) -> tuple[StrideCost, ...]:
    """MACs and feature size if the model's backbone were run at each output stride.

    Works from the real layer table: strides the model turned into atrous rates (a rate increase
    after a layer) are restored, then DeepLab's rule is applied again (once the target stride is
    reached, further strides become 1 and raise the rate). Channel counts and kernels are the model's.
    Strides beyond what the backbone reaches without atrous convolution are left out.

    Args:
        graph: The model's graph (`read_graph`).
        strides: The output strides to cost.
    """
    encoder_layers = [ly for ly in graph.layers if ly.role in ("backbone", "atrous")]
    factor: dict[int, int] = {}
    previous, prev_rate = None, 1
    for ly in encoder_layers:
        if ly.kernel is None or ly.kernel == (1, 1) or ly.op not in CONV_OPS:
            continue
        if ly.rate > prev_rate and previous is not None and graph.layers[previous].stride == (1, 1):
            factor[previous] = ly.rate // prev_rate  # this layer's stride was replaced by the rate increase
        previous, prev_rate = ly.index, ly.rate
    full = graph.summary.output_stride * math.prod(factor.values())
    return tuple(_rebuild(graph, factor, target) for target in strides if target <= full)


def _rebuild(graph: ModelGraph, factor: dict[int, int], target: int) -> StrideCost:
    s = graph.summary
    in_h, in_w = s.input_size
    graph_input = next(t for t in graph.layers[0].inputs)
    size: dict[int, tuple[int, int]] = {graph_input: (in_h, in_w)}
    cum: dict[int, int] = {graph_input: 1}
    size_of_original: dict[int, tuple[int, int]] = {in_h: (in_h, in_w)}
    macs = 0
    for ly in graph.layers:
        ins = [t for t in ly.inputs if t in size]
        spatial_ins = [t for t in ins if size[t][0] > 1] or ins
        h, w = max((size[t] for t in spatial_ins), default=(1, 1))
        c = max((cum[t] for t in spatial_ins), default=1)
        out = ly.spatial
        if out is None:
            new = (1, 1)
        elif out == (1, 1) and ly.input_shapes and len(ly.input_shapes[0]) == 4 and ly.input_shapes[0][1] > 1:
            new = (1, 1)  # a global pool
        elif ly.op in UPSAMPLE_OPS:
            new = size_of_original.get(out[0], out)
        elif ly.kernel is not None:
            original = ly.stride[0] * factor.get(ly.index, 1)
            step = original if c * original <= target else 1
            c *= step
            new = (math.ceil(h / step), math.ceil(w / step))
        else:
            new = (h, w)
        if out is not None and out[0] > 1:
            size_of_original[out[0]] = new
        for t in ly.outputs:
            size[t], cum[t] = new, c
        if ly.macs:
            if ly.op == "TRANSPOSE_CONV":
                macs += ly.macs  # decoder upsampling: its input resolution does not follow the encoder here
            elif out is not None:
                macs += ly.macs // (out[0] * out[1]) * new[0] * new[1]
            else:
                macs += ly.macs
    enc = graph.layers[s.encoder_layer].outputs[0]
    return StrideCost(target, size[enc], macs)


# ---------------------------------------------------------------- coarse logits and boundaries


def upsample_bilinear(x: np.ndarray, size: Size, align_corners: bool = True) -> np.ndarray:
    """Bilinear resize of a h x w (x C) array to `size`, as TF's ResizeBilinear does.

    Args:
        x: An h x w (x C) array, e.g. logits.
        size: The output size (a NumPy shape's first two entries work too).
        align_corners: Map corner pixels onto corner pixels, as DeepLab samples (TF's `align_corners=True`).
    """
    x = np.asarray(x, np.float32)
    h, w = x.shape[:2]

    def coords(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if align_corners and n_out > 1:
            src = np.arange(n_out) * ((n_in - 1) / (n_out - 1))
        else:
            src = np.arange(n_out) * (n_in / n_out)
        lo = np.clip(np.floor(src).astype(int), 0, n_in - 1)
        hi = np.clip(lo + 1, 0, n_in - 1)
        return lo, hi, (src - lo).astype(np.float32)

    r0, r1, fr = coords(h, size[0])
    c0, c1, fc = coords(w, size[1])
    extra = (None,) * (x.ndim - 2)
    along_rows: tuple[slice | None, ...] = (slice(None), None, *extra)
    along_cols: tuple[slice | None, ...] = (None, slice(None), *extra)
    fr = fr[along_rows]
    rows = x[r0] * (1 - fr) + x[r1] * fr  # interpolate along height, then along width
    fc = fc[along_cols]
    return rows[:, c0] * (1 - fc) + rows[:, c1] * fc


def aligned_indices(fine: int, coarse: int) -> np.ndarray:
    """The cells of a `fine`-cell axis that lie nearest the `coarse` grid points, both grids spanning the image
    corner to corner (aligned corners, as DeepLab upsamples): cell k of the coarse grid sits at fine position
    k * (fine - 1) / (coarse - 1).

    Every 4th cell (`[::4]`) is not that grid: on 128 -> 32 cells it ends at cell 124 instead of 127, and an
    aligned-corner upsample then stretches it over the whole image, shifting the map by up to 3 cells.

    Args:
        fine: Cells along the fine axis.
        coarse: Cells along the coarse axis (at least 2).
    """
    if coarse < 2 or coarse > fine:
        raise OptionsError(f"a coarse grid needs 2..{fine} cells, not {coarse}")
    return np.rint(np.arange(coarse) * ((fine - 1) / (coarse - 1))).astype(int)


def subsample_aligned(x: np.ndarray, size: Size) -> np.ndarray:
    """A map kept at the cells of a coarser aligned-corner grid: what the same logits would be at a larger
    output stride, ready for `upsample_bilinear` (which maps corners onto corners).

    Args:
        x: An h x w (x C) array, e.g. a decoder's logits.
        size: The coarse grid's (rows, columns).
    """
    x = np.asarray(x)
    return x[np.ix_(aligned_indices(x.shape[0], size[0]), aligned_indices(x.shape[1], size[1]))]


def upsample_nearest(labels: np.ndarray, size: Size) -> np.ndarray:
    """Nearest-neighbour resize of a label map (each coarse cell becomes a block).

    Args:
        labels: An h x w class map.
        size: The output size (a NumPy shape's first two entries work too).
    """
    labels = np.asarray(labels)
    rows = np.minimum((np.arange(size[0]) * labels.shape[0]) // size[0], labels.shape[0] - 1)
    cols = np.minimum((np.arange(size[1]) * labels.shape[1]) // size[1], labels.shape[1] - 1)
    return labels[rows][:, cols]


def boundary_distance(labels: np.ndarray, max_distance: int = 64) -> np.ndarray:
    """Chessboard distance of every pixel to the nearest class boundary (capped at max_distance).

    Args:
        labels: An H x W class map.
        max_distance: The cap, in pixels.
    """
    labels = np.asarray(labels)
    edge = np.zeros(labels.shape, bool)
    edge[:-1] |= labels[:-1] != labels[1:]
    edge[1:] |= labels[:-1] != labels[1:]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:, 1:] |= labels[:, :-1] != labels[:, 1:]
    dist = np.full(labels.shape, max_distance, np.int32)
    reached = edge.copy()
    dist[reached] = 0
    for d in range(1, max_distance):
        grown = reached.copy()
        grown[1:] |= reached[:-1]
        grown[:-1] |= reached[1:]
        grown[:, 1:] |= grown[:, :-1].copy()
        grown[:, :-1] |= grown[:, 1:].copy()
        new = grown & ~reached
        if not new.any():
            break
        dist[new] = d
        reached = grown
    return dist


@dataclass(frozen=True)
class BandError:
    """Disagreement with the reference within a band of distances to the reference's boundaries.

    `error` is the band's error rate (how often a pixel there is wrong); `share` is the band's part of
    all the errors (where the errors are). A thin band can have a high rate and still hold few errors.
    """

    near: int  # distance from (inclusive)
    far: int | None  # distance to (exclusive); None = to the interior
    pixels: int
    errors: int  # wrong pixels in the band
    error: float  # fraction of the band's pixels that disagree
    share: float  # fraction of all wrong (non-void) pixels that lie in this band

    def label(self) -> str:
        """The band as text, e.g. "2-3 px" or ">=16 px"."""
        return f"{self.near}-{self.far - 1} px" if self.far is not None else f">={self.near} px"


def void_except(labels: np.ndarray, keep: Sequence[int], void: int = 255) -> np.ndarray:
    """A copy of a reference mask where every class not in `keep` becomes `void` (not scored).

    For masks with stray labels, e.g. the bird reference mask, whose resized outline carries ~1,200
    pixels labelled aeroplane or bicycle: scoring them would count resize artefacts as model errors.

    Args:
        labels: The reference mask.
        keep: The classes that stay.
        void: The label the others become.
    """
    labels = np.asarray(labels)
    out = labels.copy()
    out[~np.isin(labels, np.asarray(keep))] = void
    return out


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    """For every True pixel, the length of the horizontal run of True pixels it belongs to (0 elsewhere)."""
    edges = np.diff(np.pad(mask.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    starts, ends = np.argwhere(edges == 1), np.argwhere(edges == -1)  # row-major: the k-th start ends k-th
    lengths = ends[:, 1] - starts[:, 1]
    out = np.zeros(mask.shape, np.int32)
    out[mask] = np.repeat(lengths, lengths)  # the True pixels in row-major order, run after run
    return out


def void_band_width(labels: np.ndarray, void: int = 255) -> float:
    """The median width in pixels of a mask's void regions (VOC outlines every object with a void band).

    A void pixel's width is the shorter of its horizontal and vertical runs of void pixels: a band w px thick
    measures w across a straight edge and up to w * sqrt(2) across a diagonal one.

    Args:
        labels: A class-id mask.
        void: The void label.

    Raises:
        OptionsError: The mask has no void pixel.
    """
    mask = np.asarray(labels) == void
    if not mask.any():
        raise OptionsError(f"the mask has no void ({void}) pixel")
    widths = np.minimum(_run_lengths(mask), _run_lengths(mask.T).T)[mask]
    return float(np.median(widths))


def boundary_errors(
    pred: np.ndarray, ref: np.ndarray, bands: Sequence[int] = (0, 2, 4, 8, 16), ignore: int | None = 255
) -> tuple[BandError, ...]:
    """Error rate and share of all errors by distance to the reference's boundaries.

    Pixels labelled `ignore` in the reference are void: never counted, as pixels or as errors. A void
    region's edge counts as a boundary (VOC outlines objects with a void band). Raises `OptionsError`
    when the two maps differ in size.

    Args:
        pred: The predicted H x W class map.
        ref: The reference H x W class map.
        bands: The bands' lower distance bounds in pixels (the last band is open-ended).
        ignore: The void label of the reference (None: every pixel counts).
    """
    pred, ref = np.asarray(pred), np.asarray(ref)
    if pred.shape != ref.shape:
        raise OptionsError(f"prediction {pred.shape} and reference {ref.shape} differ in size")
    dist = boundary_distance(ref, max_distance=max(bands) + 1)
    valid = np.ones(ref.shape, bool) if ignore is None else ref != ignore
    wrong = (pred != ref) & valid
    total_wrong = int(wrong.sum())
    ends: list[int | None] = [*bands[1:], None]  # the last band is open: to the interior
    out = []
    for near, far in zip(bands, ends, strict=True):
        band = valid & (dist >= near) & (True if far is None else dist < far)
        n, errors = int(band.sum()), int(wrong[band].sum())
        out.append(
            BandError(
                near,
                far,
                n,
                errors,
                errors / n if n else 0.0,
                errors / total_wrong if total_wrong else 0.0,
            )
        )
    return tuple(out)
