"""What quantizing a model costs and gains: the float model and its quantized variants, measured in one run.

`quantization_report("deeplabv3-starter")` quantizes the model with every recipe, then measures the float model
and its variants together (`model_report.measure_models`: size, bare `invoke()` and `segment()` at 1 and 2
threads interleaved, mIoU and pixel accuracy on the labelled VOC images, agreement with the float model on
photos a variant was not calibrated on, peak memory). Where each variant loses accuracy inside the network is
`analysis.layer_errors.layer_errors`, measured on `held_out_photo(report)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from ..assets.samples import list_samples
from ..core.images import ImageInput
from ..core.model import ModelInput, ModelSpec
from ..core.segmenter import Segmenter
from .labelled import labelled_for
from .model_report import (
    DEFAULT_PHOTO,
    DEFAULT_ROUNDS,
    DEFAULT_THREADS,
    Candidate,
    ModelReport,
    Progress,
    measure_models,
    prefixed,
)
from .quantize import DEFAULT_COUNT, RECIPES, CalibrationSource, QuantizedModel, check_recipe, quantize, stage_reporter


@dataclass(frozen=True)
class QuantizationReport:
    """A float model and its quantized variants, measured in one run (`models`), and how each was made."""

    source: str
    quantized: tuple[QuantizedModel, ...]
    models: ModelReport

    def table(self) -> str:
        """The Markdown table of the float model and its variants."""
        return self.models.table()

    def calibration_photos(self) -> set[str]:
        """The names of every photo some variant was calibrated on."""
        return {n for q in self.quantized if q.calibration for n in q.calibration.names}

    def to_csv(self) -> str:
        """The variants' table as CSV."""
        return self.models.to_csv()

    def to_html(self) -> str:
        """The variants' table as HTML."""
        return self.models.to_html()


def quantization_report(
    model: ModelInput | ModelSpec | Segmenter = "deeplabv3-starter",
    recipes: Sequence[str] = RECIPES,
    *,
    calibration: CalibrationSource = "samples",
    count: int = DEFAULT_COUNT,
    threads: Sequence[int] = DEFAULT_THREADS,
    rounds: int = DEFAULT_ROUNDS,
    photo: ImageInput = DEFAULT_PHOTO,
    memory: bool = True,
    progress: bool | Progress = False,
) -> QuantizationReport:
    """Quantize a float model with each recipe and measure the model and its variants in one run.

    Args:
        model: The float model (zoo id, path, bytes, `ModelSpec` or `Segmenter`).
        recipes: The recipes to apply (`workflows.quantize.RECIPES`).
        calibration: Calibration photos for the static recipes (see `quantize`).
        count: How many calibration photos.
        threads: Thread counts to time at.
        rounds: Round-robin timing rounds.
        photo: The photo `invoke()` is fed and `segment()` is timed on.
        memory: Measure peak memory per model in a fresh process.
        progress: True for a progress bar on stderr, or a callback (stage, done, total).

    Raises:
        DeeplabWidgetsError: The errors of `quantize` (recipe, calibration photos, model, missing quantizer) and
            of `measure_models`.
    """
    report, close = stage_reporter(progress)
    try:
        source = model if isinstance(model, Segmenter) else Segmenter(model)
        name = source.spec.name
        made = []
        for recipe in recipes:
            made.append(
                quantize(
                    source,
                    check_recipe(recipe),
                    calibration=calibration,
                    count=count,
                    progress=partial(prefixed, report, recipe),
                )
            )
        candidates = [Candidate(name, source, name, "float")]
        for result in made:
            excluded = result.calibration.names if result.calibration else ()
            candidates.append(Candidate(result.name, result.segmenter(), name, result.recipe, name, excluded))
        measured = measure_models(
            candidates, threads=threads, rounds=rounds, photo=photo, memory=memory, progress=report
        )
    finally:
        close()
    return QuantizationReport(name, tuple(made), measured)


def held_out_photo(used: set[str] | QuantizationReport) -> ImageInput:
    """A photo no variant was calibrated on: a labelled VOC image if there are some, else a sample photo."""
    if isinstance(used, QuantizationReport):
        used = used.calibration_photos()
    dataset = labelled_for("pascal_voc")
    photos: list[tuple[str, ImageInput]] = [(i.image_path.name, i.image_path) for i in dataset.items] if dataset else []
    photos += [(s.name, s.name) for s in list_samples("photo")]
    return next((image for name, image in photos if name not in used), "cat")
