"""TimingPanel: benchmark models from a notebook (threads, XNNPACK, delegate, models, runs) with a table and plot."""

from __future__ import annotations

import html
import io
import multiprocessing
import threading
import time
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from ..assets import zoo
from ..core.runtime import cpu_count
from ..errors import DeeplabWidgetsError
from ..viz.render import figure_png, render_overlay
from ..viz.timing import latency_vs_threads, published_comparison, stage_breakdown
from ..workflows.bench import (
    TABLE_COLUMNS,
    TEXT_COLUMNS,
    AnyResult,
    BenchmarkResult,
    Sweep,
    SweepProgress,
    sweep,
    table_cell,
    write_csv,
)
from .app_policy import AppPolicy, current_policy
from .download_button import DownloadButton
from .status import error_html, error_text

#: Plot choices: latency vs threads (two styles) or the starter model beside the published TFLite table.
PLOTS = (("median, p5-p95", "errorbar"), ("box plots", "box"), ("vs published phone timings", "published"))
XNNPACK_CHOICES = (("on", (True,)), ("off", (False,)), ("on and off", (True, False)))
STARTER = "deeplabv3-starter"


def _table_html(sweep_result: Sweep) -> str:
    """The sweep as a real HTML table (times in ms); columns empty in every row are left out."""
    rows = sweep_result.rows()
    cols = [(h, k) for h, k in TABLE_COLUMNS if any(r.get(k) is not None for r in rows)]
    head = "".join(
        f"<th style='padding:2px 8px;text-align:{'left' if k in TEXT_COLUMNS else 'right'}'>{html.escape(h)}</th>"
        for h, k in cols
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td style='padding:2px 8px;text-align:{'left' if k in TEXT_COLUMNS else 'right'}'>{html.escape(table_cell(r, k, missing=''))}</td>"
            for _, k in cols
        )
        + "</tr>"
        for r in rows
    )
    return (
        "<table class='dlw-bench-table' style='border-collapse:collapse;font-variant-numeric:tabular-nums'>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table><div style='color:#555'>times in ms</div>"
    )


def csv_bytes(sweep_result: Sweep) -> bytes:
    """The tidy table as CSV (the same columns `deeplab-widgets bench --out x.csv` writes).

    Args:
        sweep_result: The sweep.
    """
    buffer = io.StringIO()
    write_csv(sweep_result.rows(), buffer)
    return buffer.getvalue().encode("utf-8")


def _sweep_process(settings: dict[str, Any], conn: Any) -> None:
    """Run `sweep(**settings)` in a child process, sending ("progress", SweepProgress) (at most 4 a second, and
    always when a configuration has finished, with its result), then ("done", sweep) or ("error", message)."""
    last = 0.0

    def report(progress: SweepProgress) -> None:
        nonlocal last
        now = time.monotonic()
        if progress.result is not None or now - last >= 0.25:
            last = now
            conn.send(("progress", progress))

    try:
        result = sweep(**settings, on_progress=report)
    except Exception as exc:  # reported in the status line, never as a traceback
        conn.send(("error", error_text(exc)))
    else:
        conn.send(("done", result))
    finally:
        conn.close()


class TimingPanel(widgets.VBox):
    """Pick models, threads, XNNPACK and a delegate, press Run: a timing table and a plot.

    Drive it from Python too: set the controls, call `run()`, read `sweep` (the last good `bench.Sweep`).
    Errors go to the status line and the last good result stays on screen; changing the plot never re-runs.

    Args:
        models: The zoo ids offered (default: every zoo model).
        selected: The ones ticked first.
        runs: Timed runs per configuration.
        warmup: Untimed runs per configuration.
        max_seconds: Cap per configuration, in seconds (None: no cap).
    """

    def __init__(
        self,
        models: Sequence[str] | None = None,
        *,
        selected: Sequence[str] = (STARTER,),
        runs: int = 20,
        warmup: int = 1,
        max_seconds: float | None = 10.0,
        policy: AppPolicy | None = None,
    ) -> None:
        """`policy` decides which models and delegates a sweep may load (default: `current_policy()`)."""
        self.policy = policy or current_policy()
        names = list(models or zoo.model_names())
        self.warmup = warmup
        self.max_seconds = max_seconds
        self.sweep: Sweep | None = None
        self.models = widgets.SelectMultiple(
            options=names,
            value=[m for m in selected if m in names] or names[:1],
            rows=min(len(names), 6),
            description="models",
            layout={"width": "max-content", "max_width": "100%"},  # whole names, never cut off
        )
        self.thread_toggles = [
            widgets.ToggleButton(value=True, description=str(n), tooltip=f"{n} thread(s)", layout={"width": "3em"})
            for n in range(1, cpu_count() + 1)
        ]
        self.xnnpack = widgets.ToggleButtons(options=[c[0] for c in XNNPACK_CHOICES], value="on", description="XNNPACK")
        self.xnnpack.style.button_width = "auto"  # whole labels ("on and off"), never cut off
        self.delegate = widgets.Text(
            value="", placeholder="optional: external delegate library, e.g. libedgetpu.so.1", description="delegate"
        )
        if not self.policy.delegate_allowed:  # presentation only: `_settings` asks the policy
            self.delegate.layout.display = "none"
            self.delegate.disabled = True
        self.pipeline = widgets.Checkbox(
            value=False, description="whole pipeline, per stage (cat photo)", indent=False, layout={"width": "auto"}
        )
        self.runs = widgets.IntSlider(value=runs, min=1, max=200, description="runs", continuous_update=False)
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="", layout={"width": "12em"})
        self.status = widgets.HTML(value="Choose models and options, then press Run.")
        self.status.add_class("dlw-bench-status")
        self.plot_kind = widgets.ToggleButtons(options=PLOTS, value="errorbar", description="plot")
        self.plot_kind.style.button_width = "auto"
        self.table = widgets.HTML(value="")
        self.plot = widgets.Image(format="png", layout={"max_width": "760px", "display": "none"})
        self.download_csv = DownloadButton(
            filename="benchmark.csv",
            mime="text/csv",
            label="download table (CSV)",
            tooltip="the timing table as CSV, one row per model and configuration",
            css_classes=["dlw-download-csv"],
        )
        self.stop_button = widgets.Button(
            description="Stop", icon="stop", disabled=True, tooltip="stop the benchmark now"
        )
        self.stop_button.add_class("dlw-bench-stop")
        self.run_button.add_class("dlw-bench-run")
        self.run_button.tooltip = "benchmark in the background: the other tabs keep working"
        self._job: Any = None  # the background benchmark's process
        self._watcher: threading.Thread | None = None
        self._end_lock = threading.Lock()
        self._stopping = False
        self._finished: list[AnyResult] = []  # the configurations finished so far
        self._configs_total = 0
        self._started = 0.0
        self.run_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.plot_kind.observe(lambda _: self._draw(), names="value")
        threads = widgets.HBox([widgets.Label("threads", layout={"width": "5.5em"}), *self.thread_toggles])
        super().__init__(
            [
                self.models,
                threads,
                self.xnnpack,
                self.delegate,
                self.pipeline,
                self.runs,
                widgets.HBox([self.run_button, self.stop_button, self.progress]),
                self.status,
                self.table,
                self.download_csv,
                self.plot_kind,
                self.plot,
            ]
        )
        self.add_class("dlw-timing-panel")

    @property
    def threads(self) -> tuple[int, ...]:
        """The thread counts switched on."""
        return tuple(n for n, t in enumerate(self.thread_toggles, 1) if t.value)

    @property
    def _kept(self) -> str:
        return " (showing the last good result)" if self.sweep is not None else ""

    def _on_progress(self, progress: SweepProgress) -> None:
        """Show where the sweep is, in timed runs, with the time left; keep each finished configuration."""
        if progress.result is not None:
            self._finished.append(progress.result)
        self._configs_total = progress.configs_total
        self.progress.max = progress.runs_total
        self.progress.value = progress.runs_done
        left = (time.monotonic() - self._started) / progress.runs_done * (progress.runs_total - progress.runs_done)
        if self.max_seconds is not None:  # no configuration runs longer than max_seconds
            left = min(left, (progress.configs_total - progress.configs_done) * self.max_seconds)
        text = (
            f"{progress.runs_done}/{progress.runs_total} runs, {progress.configs_done}/{progress.configs_total} "
            f"configurations done · {html.escape(progress.label)}"
        )
        self.status.value = text + (f" · about {left:.0f} s left" if progress.runs_done < progress.runs_total else "")

    def _settings(self) -> dict[str, Any] | None:
        """The sweep's arguments from the controls, or None (and a message) when they are incomplete or the policy
        refuses a model or the delegate: nothing it refused reaches the sweep (or its background process)."""
        if not self.models.value:
            self.status.value = error_html("choose at least one model")
            return None
        if not self.threads:
            self.status.value = error_html("switch on at least one thread count")
            return None
        try:
            models = [self.policy.check_model(m) for m in self.models.value]
            delegate = self.policy.check_delegate(self.delegate.value.strip() or None)
        except DeeplabWidgetsError as exc:
            self.status.value = error_html(error_text(exc) + self._kept)
            return None
        return {
            "models": models,
            "threads": self.threads,
            "xnnpack": dict(XNNPACK_CHOICES)[self.xnnpack.value],
            "delegates": delegate,
            "pipeline": self.pipeline.value,
            "runs": self.runs.value,
            "warmup": self.warmup,
            "max_seconds": self.max_seconds,
            "render": render_overlay,
            "progress": False,
        }

    def _begin(self, settings: dict[str, Any]) -> None:
        """Reset the progress for a sweep with these settings (one delegate and one backend per sweep here)."""
        self._finished = []
        self._configs_total = len(settings["models"]) * len(settings["threads"]) * len(settings["xnnpack"])
        self._started = time.monotonic()
        self.run_button.disabled = True
        self.progress.value = 0
        self.progress.max = self._configs_total * settings["runs"]

    def run(self) -> Sweep | None:
        """Benchmark the chosen combinations here and now (blocking); the new sweep, or None after an error."""
        settings = self._settings()
        if settings is None:
            return None
        self._begin(settings)
        self.status.value = "running..."
        try:
            result = sweep(**settings, on_progress=self._on_progress)
        except Exception as exc:  # a traceback must never reach the output area
            self.status.value = error_html(error_text(exc) + self._kept)
            return None
        finally:
            self.run_button.disabled = False
        self._finish(result)
        return result

    @property
    def running(self) -> bool:
        """True while a background benchmark (`start`) runs."""
        return self._job is not None

    @property
    def finished(self) -> tuple[AnyResult, ...]:
        """The configurations of the current (or last) benchmark that have finished so far."""
        return tuple(self._finished)

    def start(self) -> bool:
        """Benchmark in a separate process, so the rest of the app stays responsive; `stop()` ends it at once.

        Progress (in timed runs) and time left show while it runs; the new sweep replaces `sweep` when it is
        done. Returns False when the controls are incomplete or a benchmark is already running.
        """
        settings = self._settings()
        if settings is None or self._job is not None:
            return False
        context = multiprocessing.get_context("spawn")
        reader, writer = context.Pipe(duplex=False)
        process = context.Process(target=_sweep_process, args=(settings, writer), daemon=True)
        self._job = process
        self._stopping = False
        self._begin(settings)
        self.stop_button.disabled = False
        self.status.value = "starting the benchmark..."
        process.start()
        writer.close()  # the child holds the only writer: its end is the reader's end of file
        self._watcher = threading.Thread(target=self._watch, args=(process, reader), daemon=True)
        self._watcher.start()
        return True

    def stop(self) -> None:
        """Stop a background benchmark now (the process is ended: no waiting for the current run).

        The configurations that had finished stay: they become `sweep`, in the table, plot and CSV.
        """
        process = self._job
        if process is None:
            return
        self._stopping = True
        process.terminate()
        process.join(timeout=5)
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout=5)  # it reads what the process sent before it ended, then shows the outcome
        self._end(process, None)  # only if the watcher could not

    def _watch(self, process: Any, reader: Any) -> None:
        """Follow a background benchmark's messages until its process ends (runs in a thread of the kernel)."""
        outcome: tuple[str, Any] | None = None
        try:
            while True:
                try:
                    kind, body = reader.recv()
                except (EOFError, OSError):  # the process has ended and everything it sent is read
                    break
                if kind == "progress":
                    self._on_progress(body)
                else:
                    outcome = (kind, body)
        finally:
            reader.close()
        process.join(timeout=5)
        self._end(process, outcome)

    def _end(self, process: Any, outcome: tuple[str, Any] | None) -> None:
        """Show how the benchmark run by `process` ended: done, stopped, failed (once, whoever calls first)."""
        with self._end_lock:
            if self._job is not process:
                return
            if outcome is not None and outcome[0] == "done":
                self._finish(outcome[1])
            else:
                done, total = len(self._finished), self._configs_total
                if self._finished:
                    self._show(Sweep(tuple(self._finished)))
                kept = ": the table shows the finished ones" if self._finished else self._kept
                if outcome is not None:
                    self.status.value = error_html(f"{outcome[1]} (after {done} of {total} configurations){kept}")
                elif self._stopping:
                    self.status.value = f"stopped after {done} of {total} configurations{kept}"
                else:
                    self.status.value = error_html(
                        f"the benchmark process ended unexpectedly after {done} of {total} configurations{kept}"
                    )
                if self._finished:
                    self._draw()
            self.run_button.disabled, self.stop_button.disabled = False, True
            self._job = None  # last: `running` turns False once everything above is on screen

    def _show(self, result: Sweep) -> None:
        """Make `result` the sweep in the table and the CSV (`_draw()` then plots it)."""
        self.sweep = result
        self.table.value = _table_html(result)
        self.download_csv.data = csv_bytes(result)

    def _finish(self, result: Sweep) -> None:
        self._show(result)
        n = len(result.results)
        self.status.value = f"done: {n} configuration{'s' * (n > 1)}, median of up to {self.runs.value} runs each."
        self._draw()

    def _draw(self) -> None:
        """Redraw the plot from the last result (display-only: never re-runs a model)."""
        if self.sweep is None:
            return
        results = self.sweep.results
        starter = [r for r in results if isinstance(r, BenchmarkResult) and r.model == STARTER]
        if self.pipeline_result:
            fig = stage_breakdown(results)
        elif self.plot_kind.value == "published":
            if not starter:
                self.status.value = error_html(
                    f"the published phone timings are for {STARTER}: include it in the models"
                )
                return
            fig = published_comparison(starter)
        else:
            fig = latency_vs_threads(results, kind=self.plot_kind.value)
        self.plot.value = figure_png(fig, dpi=90)
        self.plot.layout.display = ""

    @property
    def pipeline_result(self) -> bool:
        """True when the last result is a per-stage pipeline timing."""
        return self.sweep is not None and self.sweep.rows()[0]["stage"] != "invoke"
