"""Notebook 03 (timing): the exercises' expected answers, from the zoo's models and the sample photos.

Timing answers are checked by what does not depend on the machine's load: which of two settings is faster when
they differ by far more than the noise, measured here interleaved at check time. Counts and MACs come from the
model graphs and from what XNNPACK takes over.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from itertools import combinations
from typing import Any

from ..analysis.cost import compute_cost
from ..analysis.deeplab import read_graph
from ..core.runtime import RuntimeOptions
from ..tflite.graph import Layer
from ..workflows.bench.kernels import kernel_plan
from ..workflows.interleaved import invoke_task, time_interleaved
from ..workflows.samples import load_sample
from . import exercise, returned_each

STARTER = "deeplabv3-starter"
V3PLUS = {"uint8": "deeplabv3plus-mnv2-ade20k", "int8": "deeplabv3plus-mnv2-ade20k-int8"}


def _settings() -> dict[str, dict[str, Any]]:
    """Six settings a one-change function is run on: 1, 2 and 4 threads, XNNPACK on and off, as option values."""
    return {
        f"{n} thread{'s' * (n > 1)}, XNNPACK {'on' if x else 'off'}": {"num_threads": n, "xnnpack": x}
        for x in (True, False)
        for n in (1, 2, 4)
    }


def _pairs(answer: Any) -> set[frozenset[str]] | None:
    return None if answer is None else {frozenset(pair) for pair in answer}


@exercise(
    "03.one-change",
    hint="compare each pair of settings option by option (num_threads, xnnpack) and keep the pairs that differ in "
    "exactly one; each pair once, in either order",
    apply=lambda fn: _pairs(fn(_settings())),
)
def _one_change() -> set[frozenset[str]]:
    settings = _settings()
    return {
        frozenset((a, b))
        for a, b in combinations(settings, 2)
        if sum(settings[a][k] != settings[b][k] for k in settings[a]) == 1
    }


@exercise(
    "03.faster-scheme",
    hint="time the two v3+ models interleaved with XNNPACK on (time_interleaved with invoke_task) and name the "
    "one with the smaller median: 'uint8' or 'int8'",
)
def _faster_scheme() -> str:
    options = RuntimeOptions(num_threads=1)
    timing = time_interleaved({q: invoke_task(m, options) for q, m in V3PLUS.items()}, rounds=5)
    return min(timing.names, key=lambda name: timing.stat(name).median_ms)


@exercise(
    "03.builtin-ops",
    hint="kernel_plan(model, options) says which operators XNNPACK leaves to LiteRT's built-in kernels: add up "
    "the counts in its .builtin",
)
def _builtin_ops() -> int:
    return sum(kernel_plan(V3PLUS["uint8"], RuntimeOptions()).builtin.values())


@exercise(
    "03.width-params",
    hint="compute_cost(model).total_params for both Coral models, the dm1.0 one divided by the dm0.5 one",
    rel=0.01,
)
def _width_params() -> float:
    return compute_cost("deeplabv3-mnv2-voc").total_params / compute_cost("deeplabv3-mnv2-dm05-voc").total_params


@exercise(
    "03.pixel-ratio",
    hint="width x height of each photo (load_sample(name).size), the kites photo's divided by the cat's",
    rel=0.001,
)
def _pixel_ratio() -> float:
    (kw, kh), (cw, ch) = load_sample("kite_and_cold").size, load_sample("cat").size
    return kw * kh / (cw * ch)


@cache
def _conv_layers() -> tuple[Layer, ...]:
    return tuple(ly for ly in read_graph(STARTER).layers if ly.op in ("CONV_2D", "DEPTHWISE_CONV_2D"))


def _macs_of(fn: Callable[[Layer], Any]) -> list[int] | None:
    return returned_each([fn(layer) for layer in _conv_layers()], int)


@exercise(
    "03.conv-macs",
    hint="output height x width x output channels x kernel height x kernel width, times the input channels for "
    "CONV_2D only: a depthwise filter sees one channel (layer.output_shape, layer.kernel, layer.input_shapes[0])",
    apply=_macs_of,
)
def _conv_macs() -> list[int]:
    return [layer.macs for layer in _conv_layers()]
