"""The tidy table of benchmark results: its columns, CSV/JSON files, and the fixed-width text view."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ...core.export import atomic_path
from ...core.runtime import RuntimeOptions
from ...core.tables import text_table
from ...errors import OptionsError

if TYPE_CHECKING:
    from .latency import LatencyStats

#: The columns of the tidy table (`Sweep.rows()`, CSV and JSON exports), with their types.
ROW_FIELDS: dict[str, type] = {
    "model": str,
    "backend": str,
    "threads": int,
    "xnnpack": bool,
    "delegate": str,
    "input": str,
    "stage": str,
    "runs": int,
    "init_ms": float,
    "first_ms": float,
    "warmup_ms": float,
    "min_ms": float,
    "max_ms": float,
    "mean_ms": float,
    "std_ms": float,
    "p5_ms": float,
    "median_ms": float,
    "p95_ms": float,
    "rss_init_mb": float,
    "rss_peak_mb": float,
}


#: Decimals of the measured values in the tidy table: 1 microsecond for times in ms, a thousandth of a MB for memory (the
#: timer's resolution is finer, but run-to-run noise is far larger).
DECIMALS = 3


def latency_row(
    model: str, options: RuntimeOptions, backend: str, inp: str, stage: str, s: LatencyStats, extra: dict[str, Any]
) -> dict[str, Any]:
    """One row of the tidy table (every `ROW_FIELDS` key; `None` where a column does not apply), measured values
    rounded to `DECIMALS`, so the CSV and JSON files hold what the measurement can tell.

    Args:
        model: The model's name.
        options: The runtime options timed.
        backend: The backend actually used.
        inp: What the model was fed (`"random"` or the photo's name).
        stage: The stage (`"invoke"`, or a pipeline stage).
        s: The stage's statistics.
        extra: More columns (init_ms, first_ms, memory), as `ROW_FIELDS` names them.
    """
    row: dict[str, Any] = dict.fromkeys(ROW_FIELDS)
    measured = {
        "min_ms": s.min_ms,
        "max_ms": s.max_ms,
        "mean_ms": s.mean_ms,
        "std_ms": s.std_ms,
        "p5_ms": s.p5_ms,
        "median_ms": s.median_ms,
        "p95_ms": s.p95_ms,
        **extra,
    }
    row.update(
        model=model,
        backend=backend,
        threads=options.num_threads,
        xnnpack=options.xnnpack,
        delegate=os.path.basename(options.delegate) if options.delegate else None,
        input=inp,
        stage=stage,
        runs=s.count,
        **{k: None if v is None else round(float(v), DECIMALS) for k, v in measured.items()},
    )
    return row


def write_table(rows: Iterable[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write tidy rows atomically as CSV (`.csv`) or JSON (`.json`); another extension raises `OptionsError`.

    Args:
        rows: Tidy rows (`Sweep.rows()`).
        path: The file; its extension chooses the format.
    """
    target = Path(path)
    rows = list(rows)
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise OptionsError(f"export to .csv or .json, not {target.name!r}")
    with atomic_path(target) as tmp:
        if suffix == ".json":
            tmp.write_text(json.dumps(rows, indent=2) + "\n", "utf-8")
        else:
            with tmp.open("w", newline="", encoding="utf-8") as fh:
                write_csv(rows, fh)
    return target


def write_csv(rows: Iterable[dict[str, Any]], stream: TextIO) -> None:
    """Write tidy rows as CSV to an open text stream (empty cells for missing values).

    Args:
        rows: Tidy rows (`Sweep.rows()`).
        stream: An open text stream (e.g. `sys.stdout`).
    """
    writer = csv.DictWriter(stream, fieldnames=list(ROW_FIELDS))
    writer.writeheader()
    writer.writerows({k: ("" if row.get(k) is None else row.get(k)) for k in ROW_FIELDS} for row in rows)


def _parse_cell(value: str, kind: type) -> Any:
    if value == "":
        return None
    if kind is bool:
        return value == "True"
    return kind(value)


def read_table(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read rows written by `write_table` back, with their types (CSV) or as stored (JSON).

    Args:
        path: A `.csv` or `.json` file `write_table` wrote.
    """
    target = Path(path)
    if target.suffix.lower() == ".json":
        rows: list[dict[str, Any]] = json.loads(target.read_text("utf-8"))
        return rows
    with target.open(newline="", encoding="utf-8") as fh:
        return [{k: _parse_cell(v, ROW_FIELDS.get(k, str)) for k, v in row.items()} for row in csv.DictReader(fh)]


def format_cell(value: Any, missing: str = "-") -> str:
    """One table cell as text: booleans as on/off, floats to 0.1 (whole numbers from 1000), None as `missing`.

    Args:
        value: The cell's value.
        missing: The text for None.
    """
    if value is None:
        return missing
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:.1f}" if value < 1000 else f"{value:.0f}"
    return str(value)


def table_cell(row: dict[str, Any], key: str, missing: str = "-") -> str:
    """Column `key` of a tidy row as a table shows it (`format_cell`, with `CELL_WORDS`).

    Args:
        row: A tidy row.
        key: Its column.
        missing: The text for None.
    """
    value = row.get(key)
    return CELL_WORDS.get((key, value)) or format_cell(value, missing)


#: Columns of the text table: (header, row key).
TABLE_COLUMNS = (
    ("model", "model"),
    ("input image", "input"),
    ("backend", "backend"),
    ("threads", "threads"),
    ("xnnpack", "xnnpack"),
    ("delegate", "delegate"),
    ("stage", "stage"),
    ("runs", "runs"),
    ("init", "init_ms"),
    ("first", "first_ms"),
    ("min", "min_ms"),
    ("median", "median_ms"),
    ("mean", "mean_ms"),
    ("std", "std_ms"),
    ("p95", "p95_ms"),
    ("max", "max_ms"),
    ("memory MB", "rss_peak_mb"),
)
#: How the tables (not the files) word some values: the benchmark's own input is random pixels, not a photo.
CELL_WORDS: dict[tuple[str, Any], str] = {("input", "random"): "random pixels"}
#: Columns (row keys) that hold words, left-aligned in the tables; the others hold numbers.
TEXT_COLUMNS = frozenset({"model", "input", "backend", "delegate", "stage"})


def latency_text_table(rows: Sequence[dict[str, Any]]) -> str:
    """Tidy rows as an aligned text table (times in ms); columns that are empty in every row are dropped.

    Args:
        rows: Tidy rows (`Sweep.rows()`).
    """
    cols = [(h, k) for h, k in TABLE_COLUMNS if any(r.get(k) is not None for r in rows)]
    left = {i for i, (_, k) in enumerate(cols) if k in TEXT_COLUMNS}
    body = [[table_cell(r, k) for _, k in cols] for r in rows]
    return text_table([h for h, _ in cols], body, left=left) + "\n(times in ms)"
