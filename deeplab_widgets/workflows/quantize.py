"""Post-training quantization of a float model with LiteRT's quantizer (`litert-quantizer`, the `quantize` extra).

`quantize("deeplabv3-starter", "int8", calibration="samples", count=8)` returns a `QuantizedModel`: a .tflite
file that `Segmenter.from_file` (and so the Workbench, `benchmark`, `evaluate`, `segment_many` and
`segment_video`) runs like any model. The recipes:

- `dynamic-int8`: int8 weights (per channel); activations stay float and are quantized on the fly by each kernel.
- `weight-only-int8`, `weight-only-int4`: int8 / int4 weights, turned back into float by DEQUANTIZE operators
  at load time; the arithmetic stays float (a smaller file, the float model's speed).
- `int8`: static int8, calibrated: int8 weights (per channel) and int8 activations whose ranges come from
  running the float model on calibration photos.
- `int16x8`: static, calibrated, with int16 activations and int8 weights (closer to float; few fast kernels).

The model is first normalised (`tflite.normalize`: real operator codes, a `serving_default` signature), since
the quantizer quantizes nothing in an old TOCO file. Calibration photos are decoded and fitted exactly as
`Segmenter.segment` feeds the model. Results are cached in the registry's cache folder under a key made of the
source file's SHA-256, the recipe, the calibration inputs and the quantizer's version, and written atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from ..assets import registry
from ..assets.samples import list_samples
from ..core.export import atomic_path
from ..core.images import IMAGE_EXTENSIONS, ImageInput
from ..core.labels import LABEL_SETS
from ..core.model import ModelInput, ModelSpec, load_model
from ..core.preprocess import ResizeMode
from ..core.runtime import RuntimeOptions, cpu_count
from ..core.segmenter import Segmenter
from ..errors import (
    AlreadyQuantizedError,
    CalibrationError,
    DependencyError,
    ModelNotFoundError,
    OptionsError,
    QuantizationError,
)
from ..tflite.metadata import with_labels
from ..tflite.normalize import SIGNATURE_KEY, normalize
from ..tflite.quantization import QuantizationSummary, summarize
from .datasets import LabelledDataset
from .labelled import labelled_pairs

#: A named quantization recipe (see the module docstring).
Recipe = Literal["dynamic-int8", "weight-only-int8", "weight-only-int4", "int8", "int16x8"]
RECIPES: tuple[Recipe, ...] = get_args(Recipe)
#: The recipes that run the float model on calibration photos to fix their activation ranges.
CALIBRATED: tuple[Recipe, ...] = ("int8", "int16x8")
#: One line per recipe: what it stores and what it computes with.
RECIPE_NOTES: dict[Recipe, str] = {
    "dynamic-int8": "int8 weights; float activations, quantized on the fly by each kernel",
    "weight-only-int8": "int8 weights, dequantized to float at load time; float arithmetic",
    "weight-only-int4": "int4 weights where the quantizer supports the op (convolutions), dequantized to float",
    "int8": "int8 weights and activations (static, calibrated)",
    "int16x8": "int8 weights, int16 activations (static, calibrated)",
}
#: Calibration photos used when no count is given.
DEFAULT_COUNT = 8
#: Where calibration photos come from: the sample photos, the labelled VOC images, a folder, images, a dataset.
CalibrationSource = str | os.PathLike | Sequence[ImageInput] | LabelledDataset
#: Progress callback: (stage, done, total); stages are "photos", "calibrating" and "quantizing".
Progress = Callable[[str, int, int], None]
#: The cache folder (under the registry's cache) that holds quantized models.
CACHE_FOLDER = "quantized"
#: Part of every cache key: raise it when what this module writes around the quantizer's output changes.
CACHE_FORMAT = "3"


def check_recipe(recipe: str) -> Recipe:
    """Validate a recipe name; `OptionsError` lists the known ones."""
    if recipe not in RECIPES:
        raise OptionsError(f"unknown quantization recipe {recipe!r}; choose one of: {', '.join(RECIPES)}")
    return recipe


def quantizer_version() -> str:
    """The installed litert-quantizer's version; `DependencyError` naming the extra when it is missing."""
    try:
        return version("litert-quantizer")
    except PackageNotFoundError:
        raise DependencyError(
            "quantizing needs LiteRT's quantizer: pip install 'deeplab-widgets[quantize]' (litert-quantizer)"
        ) from None


def _quantizer_module() -> Any:
    quantizer_version()
    try:
        import litert_quantizer
        from litert_quantizer import recipe
    except ImportError as exc:
        raise DependencyError(
            f"litert-quantizer is installed but does not import ({exc}); pip install 'deeplab-widgets[quantize]'"
        ) from exc
    return litert_quantizer, recipe


def _recipe(recipe: Recipe) -> Any:
    _, recipes = _quantizer_module()
    return {
        "dynamic-int8": recipes.dynamic_wi8_afp32,
        "weight-only-int8": recipes.weight_only_wi8_afp32,
        "weight-only-int4": recipes.weight_only_wi4_afp32,
        "int8": recipes.static_wi8_ai8,
        "int16x8": recipes.static_wi8_ai16,
    }[recipe]()


# ---------------------------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class CalibrationSet:
    """The model inputs a static recipe calibrates on: which photos, and a digest identifying the set.

    Attributes:
        source: Where the photos came from: "samples", "voc", a folder's path, or "images".
        names: The photos, in calibration order (sample names or file names).
        digest: SHA-256 over the input tensors: two sets with the same digest calibrate identically.
        inputs: One 1 x H x W x 3 input tensor per photo, as `Segmenter.segment` feeds the model.
    """

    source: str
    names: tuple[str, ...]
    digest: str
    inputs: tuple[np.ndarray, ...] = field(repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.names)

    def describe(self) -> str:
        """E.g. `8 photos from samples (cat, pets, ...)`."""
        shown = ", ".join(self.names[:4]) + (", ..." if len(self.names) > 4 else "")
        return f"{len(self.names)} photo{'s' * (len(self.names) != 1)} from {self.source} ({shown})"


def _photos(source: CalibrationSource) -> tuple[str, list[tuple[str, ImageInput]]]:
    """(what the source is called, [(photo name, image)]) for a calibration source, in a stable order."""
    if isinstance(source, LabelledDataset):
        return source.name, [(item.image_path.name, item.image_path) for item in source.items]
    if isinstance(source, str) and source == "samples":
        return "samples", [(s.name, s.path()) for s in list_samples("photo")]
    if isinstance(source, str) and source == "voc":
        dataset = labelled_pairs("pascal_voc")
        return "voc", [(item.image_path.name, item.image_path) for item in dataset.items]
    if isinstance(source, (str, os.PathLike)):
        folder = Path(source)
        if not folder.is_dir():
            raise CalibrationError(
                f"calibration folder not found: {folder} (give a folder of photos, 'samples' or 'voc')"
            )
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise CalibrationError(f"no photos ({', '.join(IMAGE_EXTENSIONS)}) in the calibration folder {folder}")
        return str(folder), [(p.name, p) for p in files]
    images = list(source)
    names = [Path(i).name if isinstance(i, (str, os.PathLike)) else f"image {k}" for k, i in enumerate(images)]
    return "images", list(zip(names, images, strict=True))


def calibration_set(
    model: Segmenter | ModelSpec,
    source: CalibrationSource = "samples",
    count: int = DEFAULT_COUNT,
    *,
    on_photo: Callable[[int, int], None] | None = None,
) -> CalibrationSet:
    """The first `count` photos of `source`, decoded and fitted exactly as `model.segment()` feeds the model.

    Args:
        model: The float model (its input size, normalisation and resize mode decide the tensors).
        source: "samples" (the registry's sample photos), "voc" (the photos of the labelled VOC pairs,
            `labelled_pairs()`), a folder of photos,
            a sequence of images (paths, bytes, PIL images, arrays) or a `LabelledDataset`.
        count: How many photos, at least 1 and at most as many as the source holds.
        on_photo: Called with (done, total) after each photo.

    Raises:
        CalibrationError: `count` below 1 or above the photos available, a missing or empty folder.
        DownloadError: "voc" and the labelled pairs are neither in a mirror folder nor cached, and cannot be
            downloaded.
        ImageDecodeError: A photo cannot be read.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise CalibrationError(f"the calibration count must be a whole number of photos >= 1, not {count!r}")
    name, photos = _photos(source)
    if not photos:
        raise CalibrationError(f"no calibration photos in {name}")
    if count > len(photos):
        raise CalibrationError(
            f"{count} calibration photos asked for, but {name} has {len(photos)}; lower the count or give a "
            "folder with more photos"
        )
    segmenter = model if isinstance(model, Segmenter) else Segmenter(model)
    spec = segmenter.spec
    inputs, digest = [], hashlib.sha256()
    for k, (_, image) in enumerate(photos[:count]):
        pixels, _ = segmenter.prepare(image)
        batch = spec.input_batch(pixels)
        batch.setflags(write=False)
        digest.update(batch.tobytes())
        inputs.append(batch)
        if on_photo:
            on_photo(k + 1, count)
    return CalibrationSet(name, tuple(n for n, _ in photos[:count]), digest.hexdigest(), tuple(inputs))


# ---------------------------------------------------------------------------------------------- quantizing


@dataclass(frozen=True)
class QuantizedModel:
    """A quantized model file and how it was made: open it with `segmenter()` or `Segmenter.from_file(path)`.

    Attributes:
        path: The .tflite file (in the cache, or `out` when one was given).
        source: The float model's name (zoo id or file name).
        source_digest: The float model file's SHA-256.
        recipe: The recipe applied.
        calibration: The calibration photos' names and source; None for recipes that need none.
        size: The quantized file's size in bytes.
        source_size: The float file's size in bytes.
        summary: The quantized model's number formats (weights, activations, operators).
        seconds: The wall time of this call (short when the result came from the cache).
        cached: True when the file was already in the cache.
        resize: The source model's resize mode, used by `segmenter()`.
    """

    path: Path
    source: str
    source_digest: str
    recipe: Recipe
    calibration: CalibrationSet | None
    size: int
    source_size: int
    summary: QuantizationSummary
    seconds: float
    cached: bool
    resize: ResizeMode = "stretch"

    @property
    def ratio(self) -> float:
        """The quantized size over the float size (0.25 = four times smaller)."""
        return self.size / self.source_size

    @property
    def name(self) -> str:
        """A short name for tables: `<source> <recipe>`."""
        return f"{self.source.removesuffix('.tflite')} {self.recipe}"

    def segmenter(self, options: RuntimeOptions | None = None) -> Segmenter:
        """A `Segmenter` for the quantized file, with the source model's resize mode."""
        return Segmenter.from_file(self.path, options=options, resize=self.resize)

    def describe(self) -> str:
        """One or two lines: sizes, ratio, number formats and calibration."""
        mb = 1e6
        calibrated = f"; calibrated on {self.calibration.describe()}" if self.calibration else ""
        origin = "from the cache" if self.cached else f"in {self.seconds:.1f} s"
        return (
            f"{self.name}: {self.source_size / mb:.2f} MB -> {self.size / mb:.2f} MB ({self.ratio:.2f}x) {origin}\n"
            f"  {self.summary.describe()}{calibrated}"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "path": str(self.path),
            "source": self.source,
            "source_sha256": self.source_digest,
            "recipe": self.recipe,
            "size_bytes": self.size,
            "source_size_bytes": self.source_size,
            "ratio": self.ratio,
            "weights": dict(self.summary.weights),
            "activations": dict(self.summary.activations),
            "per_channel_weights": self.summary.per_channel,
            "operators": dict(self.summary.operators),
            "calibration": None
            if self.calibration is None
            else {"source": self.calibration.source, "photos": list(self.calibration.names)},
            "seconds": self.seconds,
            "cached": self.cached,
        }


def cache_folder() -> Path:
    """Where quantized models are kept: `quantized/` in the registry's cache folder (`registry.cache_dir()`)."""
    return registry.cache_dir() / CACHE_FOLDER


def cache_key(source_digest: str, recipe: Recipe, calibration: CalibrationSet | None) -> str:
    """The SHA-256 naming a quantized model: source file, recipe, calibration inputs, quantizer and cache format."""
    parts = [source_digest, recipe, calibration.digest if calibration else "", quantizer_version(), CACHE_FORMAT]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@contextlib.contextmanager
def _quiet() -> Iterator[io.StringIO]:
    """Hold back everything the quantizer and LiteRT print: stdout, stderr (Python and C level), logging, warnings.

    Yields the captured text. Progress is reported between these blocks, never inside one.
    """
    captured = io.StringIO()
    logger = logging.getLogger()
    level = logger.level
    with tempfile.TemporaryFile() as c_level, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        os.dup2(c_level.fileno(), 1)
        os.dup2(c_level.fileno(), 2)
        logger.setLevel(logging.ERROR)
        try:
            with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
                yield captured
        finally:
            logger.setLevel(level)
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            c_level.seek(0)
            captured.write(c_level.read().decode("utf-8", "replace"))


def _last_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


def run_quantizer(
    content: bytes,
    recipe: Recipe,
    calibration: CalibrationSet | None = None,
    *,
    name: str = "model",
    threads: int | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> bytes:
    """Quantize model bytes with a recipe; the quantizer's own output (prints, bars, logs) is held back.

    The model is used as given: normalise an old file first (`tflite.normalize.normalize`), or the quantizer
    may quantize nothing, which this function detects and refuses.

    Args:
        content: The float model's bytes, with a signature for calibrated recipes.
        recipe: One of `RECIPES`.
        calibration: The inputs for `CALIBRATED` recipes (ignored by the others).
        name: The model's name for messages.
        threads: Interpreter threads for calibration (default: all cores).
        on_step: Called with (done, total) after each calibration photo.

    Returns:
        The quantized model's bytes.

    Raises:
        CalibrationError: A calibrated recipe without calibration inputs.
        QuantizationError: The quantizer failed (e.g. "Invalid signature_key" for a model without a signature),
            or returned the model with no tensor quantized.
        DependencyError: litert-quantizer is not installed (the `quantize` extra).
    """
    check_recipe(recipe)
    litert_quantizer, _ = _quantizer_module()
    if recipe in CALIBRATED and not calibration:
        raise CalibrationError(f"the {recipe} recipe calibrates activation ranges: give calibration photos")
    before = summarize(content, name)

    def call(step: Callable[[], Any]) -> Any:
        with _quiet():
            try:
                return step()
            except (ValueError, RuntimeError, KeyError, TypeError, IndexError) as exc:
                raise QuantizationError(f"{name}: the quantizer failed with {recipe}: {_last_line(exc)}") from exc

    quantizer = call(lambda: litert_quantizer.Quantizer(bytearray(content), _recipe(recipe)))
    ranges = None
    if quantizer.need_calibration and calibration:
        key = _input_name(content)
        for k, batch in enumerate(calibration.inputs):
            ranges = call(
                partial(
                    quantizer.calibrate,
                    {SIGNATURE_KEY: [{key: batch}]},
                    previous_calibration_result=ranges,
                    num_threads=threads or cpu_count(),
                )
            )
            if on_step:
                on_step(k + 1, len(calibration.inputs))
    result = call(lambda: quantizer.quantize(ranges, enable_progress_bar=False, enable_progress_report=False))
    out = bytes(result.quantized_model)  # the quantizer drops the appended label map: `quantize` adds it back
    after = summarize(out, name)
    unchanged = (
        after.quantized_weights == before.quantized_weights
        and after.quantized_activations == before.quantized_activations
    )
    if unchanged:
        raise QuantizationError(
            f"{name}: the quantizer returned the model unchanged ({recipe}: no tensor quantized); an old TOCO file "
            "needs its operator codes normalised first (deeplab_widgets.tflite.normalize.normalize)"
        )
    return out


def _input_name(content: bytes) -> str:
    """The name of the `serving_default` signature's one input."""
    from ..tflite import schema

    model = schema.read_model(content)
    for signature in model.signatureDefs or ():
        key = signature.signatureKey.decode() if isinstance(signature.signatureKey, bytes) else signature.signatureKey
        if key == SIGNATURE_KEY and signature.inputs:
            raw = signature.inputs[0].name
            return raw.decode() if isinstance(raw, bytes) else str(raw)
    raise QuantizationError(f"the model has no {SIGNATURE_KEY!r} signature to calibrate through; normalise it first")


def _source(model: ModelInput | ModelSpec | Segmenter) -> Segmenter:
    """A Segmenter for the float model: the one given, or one with the model's default resize mode."""
    if isinstance(model, Segmenter):
        return model
    if isinstance(model, (str, os.PathLike)) and Path(model).suffix == ".tflite" and not Path(model).is_file():
        raise ModelNotFoundError(f"model file not found: {os.fspath(model)}")
    return Segmenter(model if isinstance(model, ModelSpec) else load_model(model))


def quantize(
    model: ModelInput | ModelSpec | Segmenter = "deeplabv3-starter",
    recipe: Recipe = "int8",
    *,
    calibration: CalibrationSource = "samples",
    count: int = DEFAULT_COUNT,
    out: str | os.PathLike | None = None,
    cache: bool = True,
    progress: bool | Progress = False,
) -> QuantizedModel:
    """Quantize a float model with a named recipe, calibrating static recipes on real photos.

    Args:
        model: A zoo id, a .tflite path or bytes, a `ModelSpec` or a `Segmenter` of a float model.
        recipe: One of `RECIPES` (see the module docstring); `int8` and `int16x8` are calibrated.
        calibration: For `int8` / `int16x8`: "samples", "voc", a folder of photos, a sequence of images or a
            `LabelledDataset` (see `calibration_set`). Ignored by the other recipes.
        count: How many calibration photos (the first `count` of the source).
        out: Also write the quantized model to this path (atomically); the result's `path` is then `out`.
        cache: Reuse a cached result for the same source file, recipe and calibration inputs (and store one).
        progress: True for a progress bar on stderr, or a callback `(stage, done, total)`.

    Returns:
        The `QuantizedModel`.

    Raises:
        OptionsError: An unknown recipe.
        AlreadyQuantizedError: The model's weights are already integers.
        CalibrationError: A count below 1 or above the photos available, a missing or empty folder.
        QuantizationError: The quantizer failed, or quantized nothing.
        DependencyError: litert-quantizer is not installed (`pip install 'deeplab-widgets[quantize]'`).
        ModelNotFoundError, ModelFormatError: The model cannot be found or read.
    """
    started = time.perf_counter()
    recipe = check_recipe(recipe)
    quantizer_version()
    segmenter = _source(model)
    spec = segmenter.spec
    before = summarize(spec.content, spec.name)
    if before.is_quantized:
        raise AlreadyQuantizedError(
            f"{spec.name} is already quantized ({before.describe()}); quantize its float original instead"
        )
    report, close = stage_reporter(progress, f"{spec.name} {recipe}")
    try:
        calibrated = None
        if recipe in CALIBRATED:
            calibrated = calibration_set(
                segmenter, calibration, count, on_photo=lambda done, total: report("photos", done, total)
            )
        key = cache_key(spec.digest, recipe, calibrated)
        target = cache_folder() / f"{Path(spec.name).stem}-{recipe}-{key[:16]}.tflite"
        content = _cached(target) if cache else None
        hit = content is not None
        if content is None:
            source = normalize(spec.content, spec.name)
            content = run_quantizer(
                source,
                recipe,
                calibrated,
                name=spec.name,
                on_step=lambda done, total: report("calibrating", done, total),
            )
            # The class names and label set (so the variant keeps its dataset's colours and masks).
            dataset = spec.labels.name if spec.labels.name in LABEL_SETS else None
            content = with_labels(content, spec.class_names, dataset)
            if cache:
                _write(target, content)
        report("quantizing", 1, 1)
        path = target
        if out is not None:
            path = _write(Path(out), content)
        elif not cache:
            raise OptionsError("quantize(cache=False) needs out=PATH: the model has to be written somewhere")
    finally:
        close()
    return QuantizedModel(
        path=path,
        source=spec.name,
        source_digest=spec.digest,
        recipe=recipe,
        calibration=calibrated,
        size=len(content),
        source_size=len(spec.content),
        summary=summarize(content, spec.name),
        seconds=time.perf_counter() - started,
        cached=hit,
        resize=segmenter.resize,
    )


def _cached(path: Path) -> bytes | None:
    """A cached quantized model's bytes, None when missing or unreadable (it is then made again)."""
    try:
        content = path.read_bytes()
        summarize(content, path.name)
    except (OSError, ValueError):
        return None
    return content


def _write(path: Path, content: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(content)
    return path


#: The progress bar: stage, share and count, elapsed time (no rate: the steps are photos, runs and passes).
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}]"


def stage_reporter(progress: bool | Progress, label: str = "") -> tuple[Progress, Callable[[], None]]:
    """A (stage, done, total) reporter and its closer: a tqdm bar on stderr (True), the caller's callback, or nothing.

    The bar is made on the first report, so that bad input fails before any bar is drawn.
    """
    if callable(progress):
        return progress, lambda: None
    if not progress:
        return (lambda stage, done, total: None), lambda: None
    from tqdm.auto import tqdm  # imported here: in Jupyter it pulls in ipywidgets

    bars: list[Any] = []
    stages: list[str] = []

    def report(stage: str, done: int, total: int) -> None:
        description = f"{label}: {stage}" if label else stage
        if not bars:
            bars.append(tqdm(total=total, desc=description, leave=False, file=sys.stderr, bar_format=BAR_FORMAT))
            stages.append(description)
        bar = bars[0]
        if stages[-1] != description:  # a new stage: its own count and clock
            stages.append(description)
            bar.desc = description  # (set_description would add the ": " BAR_FORMAT adds)
            bar.reset(total=total)  # draws the new stage at 0
        bar.n = done
        bar.refresh()

    def close() -> None:
        for bar in bars:
            bar.close()

    return report, close
