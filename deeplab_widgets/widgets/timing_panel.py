"""TimingPanel: benchmark models from a notebook (threads, XNNPACK, delegate, models, runs) with a table and plot."""

from __future__ import annotations

import html
import io
import multiprocessing
import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from ..assets import zoo
from ..core.runtime import cpu_count
from ..errors import DeeplabWidgetsError
from ..viz.render import figure_png
from ..viz.timing import latency_vs_threads, render_overlay, seed_comparison, stage_breakdown
from ..workflows.bench import TABLE_COLUMNS, BenchmarkResult, Sweep, format_cell, sweep, write_csv
from .app_policy import current_policy
from .download_button import DownloadButton
from .status import error_html

#: Plot choices: latency vs threads (two styles) or the starter model beside the seed's quoted phones.
PLOTS = (("median, p5-p95", "errorbar"), ("box plots", "box"), ("vs published phone timings", "seed"))
XNNPACK_CHOICES = (("on", (True,)), ("off", (False,)), ("on and off", (True, False)))
STARTER = "deeplabv3-starter"


TEXT_COLUMNS = {"model", "input", "backend", "delegate", "stage"}


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
            f"<td style='padding:2px 8px;text-align:{'left' if k in TEXT_COLUMNS else 'right'}'>{html.escape(format_cell(r.get(k), missing=''))}</td>"
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
    """The tidy table as CSV (the same columns `deeplab-widgets bench --out x.csv` writes)."""
    buffer = io.StringIO()
    write_csv(sweep_result.rows(), buffer)
    return buffer.getvalue().encode("utf-8")


def _sweep_process(settings: dict[str, Any], messages: Any) -> None:
    """Run `sweep(**settings)` in a child process, reporting ("step", done, total, label), ("done", sweep)
    or ("error", message) on `messages`."""
    try:
        result = sweep(**settings, on_step=lambda done, total, label: messages.put(("step", done, total, label)))
    except DeeplabWidgetsError as exc:
        messages.put(("error", f"{type(exc).__name__}: {exc}"))
    except Exception as exc:  # reported in the status line, never as a traceback
        messages.put(("error", f"unexpected {type(exc).__name__}: {exc}"))
    else:
        messages.put(("done", result))


class TimingPanel(widgets.VBox):
    """Pick models, threads, XNNPACK and a delegate, press Run: a timing table and a plot.

    Drive it from Python too: set the controls, call `run()`, read `sweep` (the last good `bench.Sweep`).
    Errors go to the status line and the last good result stays on screen; changing the plot never re-runs.
    """

    def __init__(
        self,
        models: Sequence[str] | None = None,
        *,
        selected: Sequence[str] = (STARTER,),
        runs: int = 20,
        warmup: int = 1,
        max_seconds: float | None = 10.0,
    ) -> None:
        names = list(models or zoo.model_names())
        self.warmup = warmup
        self.max_seconds = max_seconds
        self.sweep: Sweep | None = None
        self.models = widgets.SelectMultiple(
            options=names,
            value=[m for m in selected if m in names] or names[:1],
            rows=min(len(names), 4),
            description="models",
        )
        self.thread_toggles = [
            widgets.ToggleButton(value=True, description=str(n), tooltip=f"{n} thread(s)", layout={"width": "3em"})
            for n in range(1, cpu_count() + 1)
        ]
        self.xnnpack = widgets.ToggleButtons(options=[c[0] for c in XNNPACK_CHOICES], value="on", description="XNNPACK")
        self.xnnpack.style.button_width = "6em"
        self.delegate = widgets.Text(
            value="", placeholder="optional: external delegate library, e.g. libedgetpu.so.1", description="delegate"
        )
        if not current_policy().delegate_allowed:
            self.delegate.layout.display = "none"
            self.delegate.disabled = True
        self.pipeline = widgets.Checkbox(value=False, description="whole pipeline, per stage (cat photo)")
        self.runs = widgets.IntSlider(value=runs, min=1, max=200, description="runs", continuous_update=False)
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="", layout={"width": "12em"})
        self.status = widgets.HTML(value="Choose models and options, then press Run.")
        self.status.add_class("dlw-bench-status")
        self.plot_kind = widgets.ToggleButtons(options=PLOTS, value="errorbar", description="plot")
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
        self._job: Any = None
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

    @property
    def threads(self) -> tuple[int, ...]:
        """The thread counts switched on."""
        return tuple(n for n, t in enumerate(self.thread_toggles, 1) if t.value)

    @property
    def _kept(self) -> str:
        return " (showing the last good result)" if self.sweep is not None else ""

    def _step(self, done: int, total: int, label: str) -> None:
        self.progress.max = total
        self.progress.value = done
        self.status.value = f"{done}/{total} done: {html.escape(label)}"

    def _settings(self) -> dict[str, Any] | None:
        """The sweep's arguments from the controls, or None (and a message) when they are incomplete."""
        if not self.models.value:
            self.status.value = error_html("choose at least one model")
            return None
        if not self.threads:
            self.status.value = error_html("switch on at least one thread count")
            return None
        return {
            "models": list(self.models.value),
            "threads": self.threads,
            "xnnpack": dict(XNNPACK_CHOICES)[self.xnnpack.value],
            "delegates": (self.delegate.value.strip() or None) if not self.delegate.disabled else None,
            "pipeline": self.pipeline.value,
            "runs": self.runs.value,
            "warmup": self.warmup,
            "max_seconds": self.max_seconds,
            "render": render_overlay,
            "progress": False,
        }

    def run(self) -> Sweep | None:
        """Benchmark the chosen combinations here and now (blocking); the new sweep, or None after an error."""
        settings = self._settings()
        if settings is None:
            return None
        self.run_button.disabled = True
        self.progress.value = 0
        self.status.value = "running..."
        try:
            result = sweep(**settings, on_step=self._step)
        except DeeplabWidgetsError as exc:
            self.status.value = error_html(f"{type(exc).__name__}: {exc}{self._kept}")
            return None
        except Exception as exc:  # a traceback must never reach the output area
            self.status.value = error_html(f"unexpected {type(exc).__name__}: {exc}{self._kept}")
            return None
        finally:
            self.run_button.disabled = False
        self._finish(result)
        return result

    @property
    def running(self) -> bool:
        """True while a background benchmark (`start`) runs."""
        return self._job is not None

    def start(self) -> bool:
        """Benchmark in a separate process, so the rest of the app stays responsive; `stop()` ends it at once.

        Progress and time left show while it runs; the new sweep replaces `sweep` when it is done.
        Returns False when the controls are incomplete or a benchmark is already running.
        """
        settings = self._settings()
        if settings is None or self._job is not None:
            return False
        context = multiprocessing.get_context("spawn")
        messages = context.Queue()
        process = context.Process(target=_sweep_process, args=(settings, messages), daemon=True)
        self._job = process
        self.run_button.disabled = True
        self.stop_button.disabled = False
        self.progress.value = 0
        self.status.value = "starting the benchmark..."
        process.start()
        threading.Thread(target=self._watch, args=(process, messages), daemon=True).start()
        return True

    def stop(self) -> None:
        """Stop a background benchmark now (the process is ended: no waiting for the current run)."""
        process = self._job
        if process is None:
            return
        self._job = None
        process.terminate()
        process.join(timeout=5)
        self.run_button.disabled = False
        self.stop_button.disabled = True
        self.status.value = f"stopped after {self.progress.value} of {self.progress.max} configurations{self._kept}"

    def _watch(self, process: Any, messages: Any) -> None:
        """Follow a background benchmark's messages (runs in a thread of the kernel)."""
        start = time.monotonic()
        while self._job is process:
            try:
                kind, *body = messages.get(timeout=0.2)
            except queue.Empty:
                if not process.is_alive() and self._job is process:
                    self._job = None
                    self.run_button.disabled, self.stop_button.disabled = False, True
                    self.status.value = error_html(f"the benchmark process ended unexpectedly{self._kept}")
                continue
            if self._job is not process:
                return
            if kind == "step":
                done, total, label = body
                left = (time.monotonic() - start) / done * (total - done)
                self._step(done, total, label)
                if done < total:
                    self.status.value += f" · about {left:.0f} s left"
                continue
            process.join(timeout=5)
            if kind == "done":
                self._finish(body[0])
            else:
                self.status.value = error_html(f"{body[0]}{self._kept}")
            self.run_button.disabled, self.stop_button.disabled = False, True
            self._job = None  # last: `running` turns False once everything above is on screen

    def _finish(self, result: Sweep) -> None:
        self.sweep = result
        self.table.value = _table_html(result)
        self.download_csv.data = csv_bytes(result)
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
        elif self.plot_kind.value == "seed":
            if not starter:
                self.status.value = error_html(
                    f"the published phone timings are for {STARTER}: include it in the models"
                )
                return
            fig = seed_comparison(starter)
        else:
            fig = latency_vs_threads(results, kind=self.plot_kind.value)
        self.plot.value = figure_png(fig, dpi=90)
        self.plot.layout.display = ""

    @property
    def pipeline_result(self) -> bool:
        """True when the last result is a per-stage pipeline timing."""
        return self.sweep is not None and self.sweep.rows()[0]["stage"] != "invoke"
