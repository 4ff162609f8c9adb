"""The compute a model's graph implies: multiply-accumulates and parameters per op type.

LiteRT's Python API has no per-op profiler, so this static breakdown stands in for per-op timings;
given a measured median it also reports the throughput that median implies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from ..core.model import ModelInput, ModelSpec
from ..core.tables import text_table
from ..tflite.graph import Layer
from .deeplab import read_graph


class _Stats(Protocol):
    @property
    def median_ms(self) -> float: ...


class TimedRun(Protocol):
    """Anything with a measured median latency, such as a `bench.BenchmarkResult`."""

    @property
    def stats(self) -> _Stats: ...


@dataclass(frozen=True)
class OpCost:
    """The compute of one operator type in a model: layers, multiply-accumulates and parameters."""

    op: str
    layers: int
    macs: int
    params: int
    macs_share: float  # of the model's total MACs


@dataclass(frozen=True)
class ComputeCost:
    """MACs and parameters per op type (from the graph), and the throughput a measured run implies."""

    model: str
    ops: tuple[OpCost, ...]  # most MACs first
    total_macs: int
    total_params: int
    median_ms: float | None  # the measured invoke() median, when a result was given

    @property
    def gflops(self) -> float | None:
        """Implied GFLOP/s of the measured run: 2 x MACs / median time (one MAC = a multiply and an add)."""
        return None if not self.median_ms else 2 * self.total_macs / (self.median_ms * 1e-3) / 1e9

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**asdict(self), "gflops": self.gflops}

    def table(self) -> str:
        """A fixed-width text table of the op types, with the totals and implied GFLOP/s."""
        rows = [[o.op, str(o.layers), f"{o.macs / 1e6:.1f}", f"{o.macs_share:.1%}", str(o.params)] for o in self.ops]
        layers = sum(o.layers for o in self.ops)
        rows.append(["total", str(layers), f"{self.total_macs / 1e6:.1f}", "", str(self.total_params)])
        text = text_table(["op", "layers", "MMACs", "share", "params"], rows)
        if self.gflops is not None:
            text += f"\nimplied throughput: {self.gflops:.1f} GFLOP/s at a median of {self.median_ms:.1f} ms"
        return text


def compute_cost(model: ModelInput | ModelSpec, result: TimedRun | None = None) -> ComputeCost:
    """Group the graph's per-layer MACs and parameters by op type; with a result, the implied GFLOP/s.

    `result` is a measurement of the same model (e.g. `benchmark(...)`); its median gives the throughput.
    Raises what `read_graph` raises (`ModelNotFoundError`, `ModelFormatError`).

    Args:
        model: A zoo id, a `.tflite` path or bytes, or a `ModelSpec`.
        result: A timed run of the same model (e.g. `benchmark(...)`), or None for no throughput.
    """
    graph = read_graph(model)
    total = sum(ly.macs for ly in graph.layers)
    grouped: dict[str, list[Layer]] = {}
    for ly in graph.layers:
        grouped.setdefault(ly.op, []).append(ly)
    ops = [
        OpCost(op, len(lys), sum(ly.macs for ly in lys), sum(ly.params for ly in lys), 0.0)
        for op, lys in grouped.items()
    ]
    ops = [OpCost(o.op, o.layers, o.macs, o.params, o.macs / total if total else 0.0) for o in ops]
    ops.sort(key=lambda o: (-o.macs, -o.params, o.op))
    return ComputeCost(
        model=graph.summary.name,
        ops=tuple(ops),
        total_macs=total,
        total_params=sum(ly.params for ly in graph.layers),
        median_ms=result.stats.median_ms if result is not None else None,
    )
