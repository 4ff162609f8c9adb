"""QuantizePanel: the Workbench's Quantize tab: quantize the chosen float model, measure it, and use it.

Pick a recipe and a number of calibration photos, press Run: the model chosen in the runtime controls is
quantized (`workflows.quantize`, with a progress bar), then measured against its float original in one
interleaved run (`model_report.measure_models`: size, bare `invoke()` at 1 thread and at the chosen threads,
mIoU on the labelled VOC images when they are here, class-map agreement with float). "Use this model" puts the
quantized file into the model list and chooses it, so every tab then runs it. Run works in a background thread
(`start`), so the other tabs keep answering meanwhile (the interpreters they share are locked per invoke).

App mode (the policy object, `app_policy`): every rule is checked in the kernel, in `check_quantize`, the one
place this tab consults the policy: only zoo models may be quantized (never a visitor's upload), and each
visitor's kernel runs at most `DEEPLAB_WIDGETS_APP_MAX_QUANTIZE` quantizations (default 5).
"""

from __future__ import annotations

import dataclasses
import os
import threading

import ipywidgets as widgets
import traitlets

from ..assets.samples import list_samples
from ..assets.zoo import model_names
from ..core.model import ModelSpec, load_model
from ..core.runtime import cpu_count
from ..core.segmenter import Segmenter
from ..errors import AccessDeniedError
from ..workflows.labelled import labelled_for
from ..workflows.model_report import Candidate, ModelReport, measure_models
from ..workflows.quantize import CALIBRATED, DEFAULT_COUNT, RECIPE_NOTES, RECIPES, QuantizedModel, quantize
from .app_policy import AppPolicy, current_policy
from .runtime_controls import RuntimeControls
from .status import error_html, error_text, info_html

#: The variable that caps the quantizations a visitor's kernel may run in app mode.
MAX_QUANTIZE_ENV = "DEEPLAB_WIDGETS_APP_MAX_QUANTIZE"
DEFAULT_MAX_QUANTIZE = 5
#: Timing rounds of the tab's report (a few seconds for the starter; int16x8 takes longer).
REPORT_ROUNDS = 5


def max_quantizations() -> int:
    """The app-mode cap on quantizations per visitor (`DEEPLAB_WIDGETS_APP_MAX_QUANTIZE`, default 5)."""
    try:
        return max(0, int(os.environ.get(MAX_QUANTIZE_ENV, DEFAULT_MAX_QUANTIZE)))
    except ValueError:
        return DEFAULT_MAX_QUANTIZE


def check_quantize(policy: AppPolicy, source: str | ModelSpec, runs: int) -> None:
    """Raise `AccessDeniedError` unless the policy lets this visitor quantize `source` now.

    Notebook mode allows everything. App mode allows zoo models only (a visitor's upload is never fed to the
    quantizer) and at most `max_quantizations()` runs per kernel; `runs` is how many this visitor has made.
    """
    if not policy.app_mode:
        return
    if not isinstance(source, str) or source not in model_names():
        raise AccessDeniedError("this app quantizes zoo models only; choose deeplabv3-starter in the model list")
    limit = max_quantizations()
    if runs >= limit:
        raise AccessDeniedError(f"this app allows {limit} quantizations per visitor; reload the page to start over")


class QuantizePanel(widgets.VBox):
    """Quantize the model chosen in `controls`; observe `result` (a `QuantizedModel`) and `report`.

    Bad input (an already quantized model, a refused app-mode request) shows in the status line and `error`;
    the last good result and its table stay. After the Run button (`start`), `result` and `report` are set from
    the run's thread: an observer of them runs there too.
    """

    result = traitlets.Instance(QuantizedModel, allow_none=True)
    report = traitlets.Instance(ModelReport, allow_none=True)
    error = traitlets.Unicode("")

    def __init__(self, controls: RuntimeControls, *, policy: AppPolicy | None = None, **kwargs) -> None:
        self.controls = controls
        self.policy = policy or current_policy()
        self.runs = 0  # quantizations started by this panel (app mode counts them)
        self._worker: threading.Thread | None = None
        self.recipe = widgets.Dropdown(
            options=[(f"{r}: {RECIPE_NOTES[r]}", r) for r in RECIPES],
            value="int8",
            description="Recipe",
            layout={"width": "max-content", "max_width": "100%"},
        )
        self.recipe.add_class("dlw-quantize-recipe")
        sources = [("sample photos", "samples")]
        if labelled_for("pascal_voc") is not None:
            sources.append(("VOC photos", "voc"))
        self.calibration = widgets.ToggleButtons(
            options=sources, value="samples", description="Calibrate on", style={"button_width": "max-content"}
        )
        self.calibration.add_class("dlw-quantize-calibration")
        self.count = widgets.IntSlider(value=DEFAULT_COUNT, min=1, max=len(list_samples("photo")), description="Photos")
        self.count.add_class("dlw-quantize-count")
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.run_button.add_class("dlw-quantize-run")
        self.run_button.on_click(lambda _: self.start())
        self.progress = widgets.IntProgress(value=0, min=0, max=1, layout={"width": "300px"})
        self.progress_label = widgets.Label("")
        self.use_button = widgets.Button(description="Use this model", icon="check", disabled=True)
        self.use_button.add_class("dlw-quantize-use")
        self.use_button.on_click(lambda _: self.use())
        self.model_note = widgets.HTML()
        self.table = widgets.HTML()
        self.table.add_class("dlw-quantize-table")
        self.status = widgets.HTML()
        self.status.add_class("dlw-quantize-status")
        super().__init__(
            [
                self.model_note,
                self.recipe,
                widgets.HBox([self.calibration, self.count], layout={"flex_flow": "row wrap"}),
                widgets.HBox([self.run_button, self.progress, self.progress_label]),
                self.table,
                self.use_button,
                self.status,
            ],
            **kwargs,
        )
        self.add_class("dlw-quantize-panel")
        self.recipe.observe(self._on_recipe, names="value")
        self.calibration.observe(self._on_calibration, names="value")
        self.controls.observe(self._describe_model, names="model")
        self._on_recipe({"new": self.recipe.value})
        self._describe_model({})

    def _describe_model(self, _: dict) -> None:
        name = self.controls.model
        self.model_note.value = info_html(
            f"quantizes the model chosen on the Segment tab: {name} (only float models can be quantized; "
            "the zoo's float model is deeplabv3-starter)"
        )

    def _on_recipe(self, change: dict) -> None:
        calibrated = change["new"] in CALIBRATED
        self.calibration.disabled = self.count.disabled = not calibrated

    def _on_calibration(self, change: dict) -> None:
        dataset = labelled_for("pascal_voc") if change["new"] == "voc" else None
        self.count.max = len(dataset) if dataset is not None else len(list_samples("photo"))

    def _report_progress(self, stage: str, done: int, total: int) -> None:
        self.progress.max = max(1, total)
        self.progress.value = min(done, self.progress.max)
        self.progress_label.value = f"{stage} {done}/{total}"

    @property
    def running(self) -> bool:
        """Whether a run started by `start` (the Run button) is under way."""
        return self._worker is not None and self._worker.is_alive()

    def start(self) -> bool:
        """Start `run` in a background thread, as the Run button does; `wait` joins it.

        The app's rules are checked first, here: a refused request says so in the status line at once and starts
        nothing. False when nothing was started (refused, or a run already under way).
        """
        if self.running:
            return False
        try:
            check_quantize(self.policy, self.controls.model_source(), self.runs)
        except AccessDeniedError as exc:
            self._fail(error_text(exc))
            return False
        self.run_button.disabled = True
        self._worker = threading.Thread(target=self.run, name="deeplab-widgets quantize", daemon=True)
        self._worker.start()
        return True

    def wait(self, timeout: float | None = None) -> QuantizedModel | None:
        """Wait for a run started by `start` to end (at most `timeout` seconds); the last good result."""
        if self._worker is not None:
            self._worker.join(timeout)
        return self.result

    def run(self) -> QuantizedModel | None:
        """Quantize the chosen model and measure it against its float original; None (and a message) on error."""
        source = self.controls.model_source()
        self.run_button.disabled = True
        try:
            check_quantize(self.policy, source, self.runs)
            self.runs += 1
            float_model = Segmenter(source)
            result = quantize(
                float_model,
                self.recipe.value,
                calibration=self.calibration.value,
                count=self.count.value,
                progress=self._report_progress,
            )
            threads = tuple(dict.fromkeys((1, self.controls.options.num_threads, cpu_count())))[:2]
            excluded = result.calibration.names if result.calibration else ()
            candidates = [
                Candidate(float_model.spec.name, float_model, float_model.spec.name, "float"),
                Candidate(
                    result.name,
                    result.segmenter(),
                    float_model.spec.name,
                    result.recipe,
                    float_model.spec.name,
                    excluded,
                ),
            ]
            report = measure_models(
                candidates,
                threads=threads,
                rounds=REPORT_ROUNDS,
                photo="cat",
                pipeline=False,
                memory=False,
                progress=self._report_progress,
            )
        except Exception as exc:  # a traceback must never reach the output area
            self._fail(error_text(exc))
            return None
        finally:
            self.run_button.disabled = False
        with self.hold_trait_notifications():
            self.result, self.report, self.error = result, report, ""
        self.table.value = report.to_html(pipeline=False)
        self.use_button.disabled = False
        self.progress_label.value = "done"
        self.status.value = info_html(result.describe().replace("\n", " ·"))
        return result

    def use(self) -> bool:
        """Put the last quantized model into the model list and choose it; False (and a message) on error."""
        if self.result is None:
            self._fail("run a quantization first")
            return False
        label = self.result.name
        try:
            spec = load_model(self.result.path, options=self.controls.options)
        except Exception as exc:  # the cached file vanished or broke: say so, keep the model list as it is
            self._fail(error_text(exc))
            return False
        self.controls.add_model(dataclasses.replace(spec, name=label), label, str(self.result.path))
        self.status.value = info_html(f"{label} is now the chosen model on every tab")
        return True

    def _fail(self, message: str) -> None:
        kept = " (the last result stays)" if self.result is not None else ""
        self.error = ""
        self.error = message
        self.status.value = error_html(message + kept)
