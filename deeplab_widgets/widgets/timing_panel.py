"""TimingPanel: benchmark models from a notebook (threads, XNNPACK, delegate, models, runs) with a table and plot."""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as widgets

from ..assets import zoo
from ..core.runtime import cpu_count
from ..errors import DeeplabWidgetsError
from ..viz.render import figure_png
from ..viz.timing import latency_vs_threads, render_overlay, seed_comparison, stage_breakdown
from ..workflows.bench import BenchmarkResult, Sweep, latency_text_table, sweep
from .status import error_html

#: Plot choices: latency vs threads (two styles) or the starter model beside the seed's quoted phones.
PLOTS = (("median, p5-p95", "errorbar"), ("box plots", "box"), ("vs seed's phones", "seed"))
XNNPACK_CHOICES = (("on", (True,)), ("off", (False,)), ("on and off", (True, False)))
STARTER = "deeplabv3-starter"


def _table_html(sweep_result: Sweep) -> str:
    rows = sweep_result.rows()
    text = latency_text_table(rows)
    return f"<pre style='font-size:11px;line-height:1.3'>{html.escape(text)}</pre>"


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
        self.pipeline = widgets.Checkbox(value=False, description="whole pipeline, per stage (cat photo)")
        self.runs = widgets.IntSlider(value=runs, min=1, max=200, description="runs", continuous_update=False)
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="", layout={"width": "12em"})
        self.status = widgets.HTML(value="Choose models and options, then press Run.")
        self.plot_kind = widgets.ToggleButtons(options=PLOTS, value="errorbar", description="plot")
        self.table = widgets.HTML(value="")
        self.plot = widgets.Image(format="png", layout={"max_width": "760px"})
        self.run_button.on_click(lambda _: self.run())
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
                widgets.HBox([self.run_button, self.progress]),
                self.status,
                self.table,
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

    def run(self) -> Sweep | None:
        """Benchmark the chosen combinations; returns the new sweep, or None after an error (shown in the status)."""
        if not self.models.value:
            self.status.value = error_html("choose at least one model")
            return None
        if not self.threads:
            self.status.value = error_html("switch on at least one thread count")
            return None
        self.run_button.disabled = True
        self.progress.value = 0
        self.status.value = "running..."
        try:
            result = sweep(
                list(self.models.value),
                threads=self.threads,
                xnnpack=dict(XNNPACK_CHOICES)[self.xnnpack.value],
                delegates=self.delegate.value.strip() or None,
                pipeline=self.pipeline.value,
                runs=self.runs.value,
                warmup=self.warmup,
                max_seconds=self.max_seconds,
                render=render_overlay,
                progress=False,
                on_step=self._step,
            )
        except DeeplabWidgetsError as exc:
            self.status.value = error_html(f"{type(exc).__name__}: {exc}{self._kept}")
            return None
        except Exception as exc:  # a traceback must never reach the output area
            self.status.value = error_html(f"unexpected {type(exc).__name__}: {exc}{self._kept}")
            return None
        finally:
            self.run_button.disabled = False
        self.sweep = result
        self.table.value = _table_html(result)
        n = len(result.results)
        self.status.value = f"done: {n} configuration{'s' * (n > 1)}, median of up to {self.runs.value} runs each."
        self._draw()
        return result

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
                self.status.value = error_html(f"the seed's table is for {STARTER}: include it in the models")
                return
            fig = seed_comparison(starter)
        else:
            fig = latency_vs_threads(results, kind=self.plot_kind.value)
        self.plot.value = figure_png(fig, dpi=90)

    @property
    def pipeline_result(self) -> bool:
        """True when the last result is a per-stage pipeline timing."""
        return self.sweep is not None and self.sweep.rows()[0]["stage"] != "invoke"
