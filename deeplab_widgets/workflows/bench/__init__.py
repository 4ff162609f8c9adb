"""Latency benchmarks with TFLite `benchmark_model` parity, and a per-stage timer of the whole pipeline.

- `latency`: `benchmark()` times `invoke()` like `benchmark_model` (init, first run, warm-up, statistics).
- `pipeline`: `benchmark_pipeline()` times decode -> preprocess -> invoke -> postprocess -> render.
- `sweep`: `sweep()` crosses models, threads, XNNPACK, delegates and backends.
- `tables`: the tidy rows, their CSV/JSON files and the text table.

Per-op cost is estimated from the graph's MACs in `deeplab_widgets.analysis.cost` (LiteRT's Python API
has no per-op profiler).
"""

from .latency import (
    DEFAULT_RUNS,
    DEFAULT_WARMUP,
    SEED_LATENCIES,
    BenchmarkResult,
    LatencyStats,
    QuotedLatency,
    benchmark,
    machine_description,
)
from .pipeline import DEFAULT_PHOTO, STAGES, PipelineResult, Render, StageStats, benchmark_pipeline, encode_mask_png
from .sweep import AnyResult, Sweep, SweepProgress, parse_list, sweep
from .tables import ROW_FIELDS, TABLE_COLUMNS, format_cell, latency_text_table, read_table, write_csv, write_table

__all__ = [
    "DEFAULT_PHOTO",
    "DEFAULT_RUNS",
    "DEFAULT_WARMUP",
    "ROW_FIELDS",
    "SEED_LATENCIES",
    "STAGES",
    "TABLE_COLUMNS",
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
    "latency_text_table",
    "machine_description",
    "parse_list",
    "read_table",
    "sweep",
    "write_csv",
    "write_table",
]
