"""Latency benchmarks with TFLite `benchmark_model` parity, and a per-stage timer of the whole pipeline.

- `latency`: `benchmark()` times `invoke()` like `benchmark_model` (init, first run, warm-up, statistics).
- `pipeline`: `benchmark_pipeline()` times decode -> preprocess -> invoke -> postprocess -> render.
- `sweep`: `sweep()` crosses models, threads, XNNPACK, delegates and backends.
- `tables`: the tidy rows, their CSV/JSON files and the text table.

Per-op cost is estimated from the graph's MACs in `deeplab_widgets.analysis.cost` (LiteRT's Python API
has no per-op profiler).
"""

import warnings
from typing import Any

from .latency import (
    DEFAULT_RUNS,
    DEFAULT_WARMUP,
    PUBLISHED_LATENCIES,
    BenchmarkResult,
    LatencyStats,
    QuotedLatency,
    benchmark,
    int8_dot_product,
    machine_description,
)
from .pipeline import DEFAULT_PHOTO, STAGES, PipelineResult, Render, StageStats, benchmark_pipeline, encode_mask_png
from .sweep import AnyResult, Sweep, SweepProgress, parse_list, sweep
from .tables import (
    ROW_FIELDS,
    TABLE_COLUMNS,
    TEXT_COLUMNS,
    format_cell,
    latency_text_table,
    read_table,
    table_cell,
    write_csv,
    write_table,
)

__all__ = [
    "DEFAULT_PHOTO",
    "DEFAULT_RUNS",
    "DEFAULT_WARMUP",
    "PUBLISHED_LATENCIES",
    "ROW_FIELDS",
    "STAGES",
    "TABLE_COLUMNS",
    "TEXT_COLUMNS",
    "AnyResult",
    "BenchmarkResult",
    "LatencyStats",
    "PipelineResult",
    "QuotedLatency",
    "Render",
    "StageStats",
    "Sweep",
    "SweepProgress",
    "benchmark",
    "benchmark_pipeline",
    "encode_mask_png",
    "format_cell",
    "int8_dot_product",
    "latency_text_table",
    "machine_description",
    "parse_list",
    "read_table",
    "sweep",
    "table_cell",
    "write_csv",
    "write_table",
]


def __getattr__(name: str) -> Any:
    if name == "SEED_LATENCIES":  # the name before 0.2
        warnings.warn("SEED_LATENCIES is deprecated: use PUBLISHED_LATENCIES", DeprecationWarning, stacklevel=2)
        return PUBLISHED_LATENCIES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
