"""What a loaded DeepLab-style TFLite model is: its input, output kind, labels and normalisation."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from ..errors import (
    LabelCountError,
    LabelFileError,
    ModelFormatError,
    ModelNotFoundError,
    NoScoresError,
    OptionsError,
)
from ..tflite.metadata import Normalization, read_dataset, read_labels, read_normalization
from ..tflite.outputs import add_argmax_head, add_scores_output, find_logits, find_upsampling
from ..tflite.schema import check_tflite
from .labels import LABEL_SETS, LabelSet, generic_label_set, label_set
from .preprocess import ResizeMode, write_input
from .runtime import RUNNERS, Runner, RuntimeOptions
from .scores import Upsampling
from .size import Size

#: The package's logger; the library adds no handlers (configure `logging` to see what it skips and why).
log = logging.getLogger("deeplab_widgets")

ModelInput = str | os.PathLike | bytes
#: What a model's output holds: per-class scores ("logits") or class ids from an in-model ArgMax ("class_ids").
OutputKind = Literal["logits", "class_ids"]
LabelsInput = Sequence[str] | str | os.PathLike | None


class CatalogModel(Protocol):
    """A model known by name (a zoo model): what loading it needs beyond its file."""

    @property
    def name(self) -> str:
        """The id it is known by."""

    @property
    def dataset(self) -> str:
        """The label set its classes come from (`pascal_voc`, `cityscapes`, `ade20k-32`)."""

    @property
    def resize(self) -> ResizeMode:
        """The resize mode measured best for it."""

    def fetch(self, progress: bool = True) -> Path:
        """A verified local copy of its file."""


class ModelCatalog(Protocol):
    """Where models named by an id come from. The package installs the zoo (`deeplab_widgets.assets.zoo`)."""

    def model_names(self) -> list[str]:
        """Every id it knows."""

    def model_info(self, name: str) -> CatalogModel:
        """The model with this id."""


_CATALOG: ModelCatalog | None = None


def use_catalog(catalog: ModelCatalog | None) -> None:
    """Resolve model ids through `catalog` (`None`: only files and bytes are models).

    The core does not import the zoo (it sits beside it, not above it): `deeplab_widgets/__init__.py` installs
    the zoo here, so `load_model("deeplabv3-starter")` and `Segmenter("deeplabv3-starter")` work.
    """
    global _CATALOG
    _CATALOG = catalog


@dataclass(frozen=True)
class ModelSpec:
    """A model's bytes and everything the pipeline needs to feed it and read it.

    Made by `load_model`; a `Segmenter` holds one as `spec`. Everything is read from the model file itself
    (tensor shapes, dtypes, quantization, embedded metadata), then from the zoo's record when the model is a zoo
    model.
    """

    name: str
    digest: str  # SHA-256 of the model file
    content: bytes = field(repr=False, compare=False)  # the model file
    run_content: bytes = field(repr=False, compare=False)  # what the interpreter runs (maybe with an ARG_MAX head)
    input_index: int
    input_size: Size
    input_dtype: np.dtype
    input_quantization: tuple[float, int]  # (scale, zero point); (0.0, 0) when float
    output_index: int  # the model's own output: logits or class ids
    output_quantization: tuple[float, int]  # of quantized logits; (0.0, 0) when float
    labels_index: int | None  # class ids computed in-graph by the grafted ARG_MAX head (logits models)
    output_kind: OutputKind
    scores_index: int | None  # the logits tensor (the ArgMax's input for class-id models); None: no scores
    scores_quantization: tuple[float, int]  # of `scores_index`; (0.0, 0) when float
    num_classes: int
    labels: LabelSet
    normalization: Normalization
    zoo: CatalogModel | None = None  # the catalog's record when the model was loaded by id
    coarse_index: int | None = None  # the logits the graph's last RESIZE_BILINEAR upsamples into `scores_index`
    coarse_quantization: tuple[float, int] = (0.0, 0)  # of `coarse_index`; (0.0, 0) when float
    upsampling: Upsampling | None = None  # that resize's alignment flags

    @property
    def class_names(self) -> tuple[str, ...]:
        """One name per class id."""
        return self.labels.names

    def feed(self, interpreter: Any, pixels: np.ndarray) -> None:
        """Normalise/quantize uint8 pixels (from `preprocess.fit`) into the input tensor.

        Copies in with `set_tensor` rather than writing through a `tensor()` view: a view still alive
        anywhere (another thread, a profiler's sampled frame) makes LiteRT refuse `invoke()`.

        Args:
            interpreter: An interpreter of this model.
            pixels: h x w x 3 uint8 RGB from `preprocess.fit`, placed top-left and padded with the mean pixel.
        """
        interpreter.set_tensor(self.input_index, self.input_batch(pixels))

    def input_batch(self, pixels: np.ndarray) -> np.ndarray:
        """The 1 x H x W x 3 input tensor `feed` writes for uint8 `pixels`: normalised, quantized, padded.

        What a calibration set must hold so that calibration sees exactly what `segment()` feeds the model.
        """
        h, w = self.input_size
        batch = np.empty((1, h, w, 3), self.input_dtype)
        write_input(batch[0], pixels, self.input_dtype, self.input_quantization, self.normalization)
        return batch

    def runner(self, options: RuntimeOptions, preserve_all_tensors: bool = False, *, holder: object = None) -> Runner:
        """The cached interpreter for this model with these options (`holder`: see `RunnerCache.get`).

        Args:
            options: The runtime options.
            preserve_all_tensors: The interpreter that keeps every intermediate tensor (for `Probe`).
            holder: The object that uses it (see `RunnerCache.get`).
        """
        return RUNNERS.get(self.run_key, self.run_content, options, preserve_all_tensors, holder=holder)

    @property
    def has_scores(self) -> bool:
        """True when `segment(scores=True)` can return class probabilities (every zoo model)."""
        return self.scores_index is not None

    def scores_runner(self, options: RuntimeOptions, *, holder: object = None) -> Runner:
        """The cached interpreter that also outputs the class scores (tensor `scores_index`).

        Logits models: the default interpreter. Class-id models: the graph with the ArgMax's input grafted
        on as an extra output, built on first use, so `segment()` without scores keeps running the original
        file. `holder`: see `RunnerCache.get`.

        Args:
            options: The runtime options.
            holder: The object that uses it (see `RunnerCache.get`).

        Raises:
            NoScoresError: The model outputs class ids and its logits could not be found.
        """
        if self.scores_index is None:
            raise NoScoresError(
                f"{self.name} outputs class ids and has no ArgMax whose input could serve as class scores: "
                "it segments, but without scores"
            )
        if self.output_kind == "logits":
            return self.runner(options, holder=holder)
        return RUNNERS.get(f"{self.digest}+scores", lambda: scores_graph(self), options, holder=holder)

    def coarse_runner(self, options: RuntimeOptions, *, holder: object = None) -> Runner:
        """The cached interpreter that outputs the coarse logits (`coarse_index`) beside the class ids.

        Logits models: the default interpreter (the grafted ARG_MAX head keeps them as an output). Class-id
        models: the scores interpreter (`scores_runner`), which outputs them too.

        Args:
            options: The runtime options.
            holder: The object that uses it (see `RunnerCache.get`).

        Raises:
            NoScoresError: The model has no coarse logits (see `coarse_index`).
        """
        if self.coarse_index is None:
            raise NoScoresError(f"{self.name} has no coarse logits: its scores are not made by a bilinear resize")
        return (
            self.runner(options, holder=holder)
            if self.output_kind == "logits"
            else self.scores_runner(options, holder=holder)
        )

    @property
    def run_key(self) -> str:
        """Identifies what the interpreter runs: the file, with or without the grafted ARG_MAX head."""
        return run_key(self.digest, self.labels_index is not None)


#: How many class-id models keep their grafted scores graph (a copy of the model file) in memory.
SCORES_GRAPHS_KEPT = 4
_SCORES_GRAPHS: OrderedDict[str, bytes] = OrderedDict()  # model digest -> the graph with the logits as an output
_SCORES_LOCK = threading.Lock()


def scores_graph(spec: ModelSpec) -> bytes:
    """The model file with the ArgMax's input grafted on as an extra output, made once per model.

    The last `SCORES_GRAPHS_KEPT` models' graphs are kept (least recently used dropped first).

    Args:
        spec: A class-id model whose ArgMax input can serve as scores.
    """
    with _SCORES_LOCK:
        content = _SCORES_GRAPHS.get(spec.digest)
        if content is not None:
            _SCORES_GRAPHS.move_to_end(spec.digest)
            return content
    content, _ = add_scores_output(
        spec.content, extra_outputs=[spec.coarse_index] if spec.coarse_index is not None else []
    )
    with _SCORES_LOCK:
        _SCORES_GRAPHS[spec.digest] = content
        while len(_SCORES_GRAPHS) > SCORES_GRAPHS_KEPT:
            _SCORES_GRAPHS.popitem(last=False)
    return content


def forget_scores_graph(digest: str) -> None:
    """Drop a model's kept scores graph (a closed `Segmenter` whose model nothing else uses).

    Args:
        digest: The model's SHA-256.
    """
    with _SCORES_LOCK:
        _SCORES_GRAPHS.pop(digest, None)


def _scores_tensor(content: bytes) -> int | None:
    """The ArgMax's input of a class-id model, None when there is none (a user model without logits)."""
    try:
        return find_logits(content)
    except NoScoresError:
        return None


@dataclass(frozen=True)
class ModelFile:
    """A model's name, bytes and zoo entry (None for a file or bytes), read without loading it."""

    name: str
    content: bytes
    zoo: CatalogModel | None


def read_model_file(model: ModelInput | ModelSpec) -> ModelFile:
    """The name, bytes and zoo entry of a model id, a .tflite path, model bytes or a loaded `ModelSpec`.

    Nothing is loaded into an interpreter: for reading or editing the graph (`analysis`, `derive`).

    Raises:
        ModelNotFoundError: An unknown id (the message lists the known ones) or a missing file.
        ChecksumError: A catalog model's copy has the wrong SHA-256.
        DownloadError: A catalog model is not available offline and could not be downloaded.
        OptionsError: Neither an id, a path, bytes nor a `ModelSpec`.
    """
    if isinstance(model, ModelSpec):
        return ModelFile(model.name, model.content, model.zoo)
    if isinstance(model, (bytes, bytearray)):
        return ModelFile("uploaded model", bytes(model), None)
    if not isinstance(model, (str, os.PathLike)):
        raise OptionsError(f"model must be a zoo id, a .tflite path or the model's bytes, not {type(model).__name__}")
    text = os.fspath(model)
    catalog = _CATALOG
    names = catalog.model_names() if catalog is not None else []
    if catalog is not None and isinstance(model, str) and model in names:
        info = catalog.model_info(model)
        return ModelFile(model, info.fetch().read_bytes(), info)
    path = Path(text)
    if path.is_file():
        try:
            return ModelFile(path.name, path.read_bytes(), None)
        except OSError as exc:
            raise ModelNotFoundError(f"model file {text} cannot be read: {(exc.strerror or str(exc)).lower()}") from exc
    if path.suffix == ".tflite" or os.sep in text or not names:
        raise ModelNotFoundError(f"model file not found: {text}")
    raise ModelNotFoundError(f"unknown model {text!r}; known: {', '.join(names)}")


def read_label_file(path: str | os.PathLike) -> tuple[str, ...]:
    """Names from a text file, one per line, up to the first blank line (notes may follow).

    Args:
        path: A text file.

    Raises:
        LabelFileError: The file is missing, a folder, unreadable, not UTF-8 text, or holds no name.
    """
    file = Path(path)
    try:
        names = label_names(file.read_text("utf-8"))
    except FileNotFoundError as exc:
        raise LabelFileError(f"labels file not found: {file}") from exc
    except IsADirectoryError as exc:
        raise LabelFileError(f"labels file {file} is a folder; give a text file with one class name per line") from exc
    except UnicodeDecodeError as exc:
        raise LabelFileError(f"labels file {file} is not UTF-8 text; give one class name per line") from exc
    except OSError as exc:
        raise LabelFileError(f"labels file {file} cannot be read: {(exc.strerror or str(exc)).lower()}") from exc
    if not names or any("\0" in name for name in names):
        raise LabelFileError(f"labels file {file} holds no class names; give one class name per line")
    return names


def label_names(text: str) -> tuple[str, ...]:
    """Class names from a labels file's text: one per line, up to the first blank line after them.

    Args:
        text: The file's text.
    """
    names: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            if names:
                break
            continue
        names.append(line.strip())
    return tuple(names)


def _class_count(interpreter: Any, shape: tuple[int, ...]) -> int:
    if len(shape) == 4:
        return shape[3]
    # An in-model ArgMax: its input is the 4-D score tensor of the same height and width.
    counts = [
        int(t["shape"][3])
        for t in interpreter.get_tensor_details()
        if len(t["shape"]) == 4 and tuple(t["shape"][1:3]) == shape[1:3] and t["shape"][3] > 1
    ]
    return max(counts) if counts else 256


def _resolve_labels(labels: LabelsInput, content: bytes, info: CatalogModel | None, n: int) -> LabelSet:
    if labels is None:
        names = read_labels(content)
    elif isinstance(labels, (str, os.PathLike)):
        names = read_label_file(labels)
    elif isinstance(labels, Sequence) and all(isinstance(x, str) for x in labels):
        names = tuple(labels)
    else:
        raise OptionsError(f"labels must be a labels file's path or a sequence of class names, not {labels!r:.60}")
    dataset = info.dataset if info else read_dataset(content)  # a derived model records its source's set
    base = label_set(dataset) if dataset in LABEL_SETS else None
    if names is None:
        names = base.names if base else tuple(f"class {i}" for i in range(n))
    if len(names) == n + 1 and names[0].lower() == "background":
        warnings.warn("label file has an extra leading 'background' line; dropping it", stacklevel=3)
        names = names[1:]
    if len(names) != n:
        source = f"the label file {os.fspath(labels)} has " if isinstance(labels, (str, os.PathLike)) else ""
        raise LabelCountError(
            f"{source}{len(names)} class names but the model predicts {n} classes; give one name per class ({n} lines)"
        )
    return LabelSet(base.name, names, base.colormap) if base else generic_label_set(names)


def run_key(digest: str, argmax_head: bool) -> str:
    """The interpreter-cache key of a model file, with or without the grafted ARG_MAX head.

    Args:
        digest: The model file's SHA-256.
        argmax_head: True when the interpreter runs the graph with the grafted ARG_MAX head.
    """
    return f"{digest}+argmax" if argmax_head else digest


def _argmax_head(content: bytes, name: str) -> bytes | None:
    """The model with an in-graph ARG_MAX head (and its coarse logits as an output, `find_upsampling`), or None
    (not a logits model, or not parseable); says why in the log."""
    try:
        grafted = add_argmax_head(content, coarse_output=True)
    except Exception as exc:  # a malformed flatbuffer: the interpreter will report it precisely
        log.info(
            "%s: no ARG_MAX head grafted, the model could not be parsed (%s: %s); class ids will be computed "
            "with NumPy if the interpreter loads it",
            name,
            type(exc).__name__,
            exc,
        )
        return None
    if grafted is None:
        log.debug(
            "%s: no ARG_MAX head grafted: the model has no single 4-D logits output (e.g. it already ends in an "
            "ArgMax) or the TFLite schema is not installed",
            name,
        )
    return grafted


def load_model(model: ModelInput, labels: LabelsInput = None, options: RuntimeOptions | None = None) -> ModelSpec:
    """Load a zoo id, a .tflite path or model bytes and describe it.

    The output kind is detected from the output shape (N x H x W x C: logits; N x H x W: class ids from an
    in-model ArgMax). Logits models get an ARG_MAX operator grafted onto their graph, so the class map comes out
    of `invoke()`. Labels come from `labels`, else the model's embedded metadata, else the zoo's dataset, else
    `class 0..N-1`; a label file with an extra leading "background" line is accepted with a warning.

    Args:
        model: A zoo id (`deeplabv3-starter`, ...), the path of a `.tflite` file, or its bytes.
        labels: Class names: a sequence, or the path of a text file with one name per line.
        options: The runtime options of the interpreter used to inspect the model (default: `RuntimeOptions()`).

    Returns:
        The model's `ModelSpec`.

    Raises:
        ModelNotFoundError: An unknown zoo id (the message lists the known ones) or a missing file.
        ModelFormatError: Not a TFLite file, truncated, or not a single-RGB-image segmentation model.
        LabelCountError: A number of class names that does not match the model's classes (both numbers given).
        LabelFileError: A labels file that is missing, a folder, not text, or empty.
        ChecksumError: A zoo model's cached or mirrored copy has the wrong SHA-256.
        DownloadError: A zoo model is not available offline and could not be downloaded.
        BackendError: The backend named by `options` is not installed.
        DelegateError: The delegate named by `options` does not load.
    """
    source = read_model_file(model)
    name, content, info = source.name, source.content, source.zoo
    check_tflite(content, name)
    digest = hashlib.sha256(content).hexdigest()
    grafted = _argmax_head(content, name)
    run_content = grafted or content
    interpreter = RUNNERS.get(
        run_key(digest, grafted is not None), run_content, options or RuntimeOptions()
    ).interpreter
    inp, *outs = interpreter.get_input_details()[:1] + interpreter.get_output_details()
    labels_out, out = (outs[0], outs[1]) if grafted else (None, outs[0])
    in_shape, out_shape = tuple(inp["shape"]), tuple(out["shape"])
    if len(in_shape) != 4 or in_shape[0] != 1 or in_shape[3] != 3:
        raise ModelFormatError(f"{name}: input shape {in_shape} is not a single RGB image (1 x H x W x 3)")
    if len(out_shape) == 4 and out_shape[3] == 1:
        out_shape = out_shape[:3]
    kind: OutputKind
    if len(out_shape) == 3:
        kind = "class_ids"
    elif len(out_shape) == 4:
        kind = "logits"
    else:
        raise ModelFormatError(f"{name}: output shape {out_shape} is not a segmentation map")
    n = _class_count(interpreter, out_shape)
    scores_index = out["index"] if kind == "logits" else _scores_tensor(content)
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    quantization = {i: (float(d["quantization"][0]), int(d["quantization"][1])) for i, d in details.items()}
    scores_quantization = quantization[scores_index] if scores_index is not None else (0.0, 0)
    coarse = _coarse_logits(content, scores_index, kind, [o["index"] for o in outs])
    if coarse and tuple(details[scores_index]["shape"][1:3]) != tuple(in_shape[1:3]):
        coarse = None  # the scores are not at the input size, which `CoarseScores.output_size` assumes
    return ModelSpec(
        name=name,
        digest=digest,
        content=content,
        run_content=run_content,
        input_index=inp["index"],
        input_size=Size(int(in_shape[1]), int(in_shape[2])),
        input_dtype=np.dtype(inp["dtype"]),
        input_quantization=(float(inp["quantization"][0]), int(inp["quantization"][1])),
        output_index=out["index"],
        output_quantization=(float(out["quantization"][0]), int(out["quantization"][1])),
        labels_index=labels_out["index"] if labels_out else None,
        output_kind=kind,
        scores_index=scores_index,
        scores_quantization=scores_quantization,
        num_classes=n,
        labels=_resolve_labels(labels, content, info, n),
        normalization=read_normalization(content) or Normalization(),
        zoo=info,
        coarse_index=coarse[0] if coarse else None,
        coarse_quantization=quantization[coarse[0]] if coarse else (0.0, 0),
        upsampling=coarse[1] if coarse else None,
    )


def _coarse_logits(
    content: bytes, scores_index: int | None, kind: OutputKind, outputs: list[int]
) -> tuple[int, Upsampling] | None:
    """The coarse logits behind the scores and their upsampling, when the interpreter that has the scores can
    output them: a logits model's grafted head exposes them, a class-id model's scores graph will."""
    if scores_index is None:
        return None
    found = find_upsampling(content, scores_index)
    if found is None:
        return None
    index, align_corners, half_pixel_centers = found
    if kind == "logits" and index not in outputs:
        return None  # no ARG_MAX head was grafted, so nothing exposes them
    return index, Upsampling(align_corners, half_pixel_centers)
