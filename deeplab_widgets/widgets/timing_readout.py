"""TimingReadout: the last run's stage times and a running median per model and runtime configuration."""

from __future__ import annotations

import html
from collections import deque
from functools import cache
from statistics import median
from typing import Any

import ipywidgets as widgets
import traitlets

from ..core.runtime import available_backends
from ..core.segmenter import SegmentationResult, Timings

STAGES = ("preprocess_ms", "invoke_ms", "postprocess_ms", "total_ms")


@cache
def _backend_choice() -> bool:
    """True when more than one backend is installed (looked up once: a failed import is retried each time)."""
    return len(available_backends()) > 1


def configuration(result: SegmentationResult) -> str:
    """The label runs are grouped by: model, runtime options (the backend when there is a choice) and resize mode.

    Args:
        result: A segmentation result.
    """
    options = result.options
    backend = f" · {options.backend}" if _backend_choice() else ""
    return f"{result.model} · {options.describe()}{backend} · {result.resize}"


class TimingReadout(widgets.VBox):
    """Shows preprocess / invoke / postprocess ms of the last run and the median of the recent runs

    with the same configuration, so toggling threads or XNNPACK shows its effect at once.

    Call `record(result)`; observe `timings` (the last `Timings`) and `config`.

    Args:
        window: How many recent runs per configuration the medians cover.
        **kwargs: Widget keywords (e.g. `layout`).
    """

    timings = traitlets.Instance(Timings, allow_none=True)
    config = traitlets.Unicode("")
    window = traitlets.Int(20, min=1)

    def __init__(self, window: int = 20, **kwargs: Any) -> None:
        self.history: dict[str, deque[Timings]] = {}
        self.table = widgets.HTML("<i>no runs yet</i>")
        self.table.add_class("dlw-timings")
        super().__init__([self.table], **kwargs)
        self.add_class("dlw-timing-readout")
        self.window = window

    def record(self, result: SegmentationResult) -> None:
        """Add one run's timings.

        Args:
            result: The run's result (its model, options and timings).
        """
        config = configuration(result)
        runs = self.history.setdefault(config, deque(maxlen=self.window))
        runs.append(result.timings)
        with self.hold_trait_notifications():
            self.config = config
            self.timings = result.timings
        self.table.value = self._html(config)

    def medians(self, config: str | None = None) -> dict[str, float]:
        """Median ms per stage over the recent runs of `config` (default: the current one).

        Args:
            config: A configuration key (`configuration(result)`).
        """
        runs = self.history.get(config or self.config, ())
        return {stage: median(getattr(t, stage) for t in runs) for stage in STAGES} if runs else {}

    def _html(self, config: str) -> str:
        last, med, n = self.timings, self.medians(config), len(self.history[config])
        rows = "".join(
            f"<tr><td>{stage.removesuffix('_ms')}</td><td style='text-align:right;padding:0 10px'>"
            f"{getattr(last, stage):.1f}</td><td style='text-align:right'>{med[stage]:.1f}</td></tr>"
            for stage in STAGES
        )
        return (
            f"<div style='font-size:90%'><b>{html.escape(config)}</b>"
            "<table><tr><th>ms</th><th style='padding:0 10px'>last</th>"
            f"<th>median of {n}</th></tr>{rows}</table></div>"
        )
