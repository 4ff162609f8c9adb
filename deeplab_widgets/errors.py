"""The exceptions deeplab-widgets raises: one type per kind of failure, one base to catch them all."""

from __future__ import annotations


class DeeplabWidgetsError(Exception):
    """Base class of every error this package raises on purpose."""


class ImageNotFoundError(DeeplabWidgetsError, FileNotFoundError):
    """The image path does not exist."""


class ImageDecodeError(DeeplabWidgetsError, ValueError):
    """The data is not a readable image (not an image at all, truncated, or an unsupported array)."""


class ImageTooLargeError(DeeplabWidgetsError, ValueError):
    """The image has more pixels than the configured limit (decompression-bomb guard)."""


class ImageTooSmallError(DeeplabWidgetsError, ValueError):
    """The image is too small to segment meaningfully (e.g. 1x1)."""


class _NotFound(DeeplabWidgetsError, KeyError):
    """A name looked up in a table is not there (a `KeyError`, so `except KeyError` still catches it)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelNotFoundError(_NotFound):
    """A model name is not in the zoo, or a model path does not exist."""


class SampleNotFoundError(_NotFound):
    """A sample name is not in the registry (`deeplab-widgets samples list` shows the known ones)."""


class LabelSetNotFoundError(_NotFound):
    """A label set name is not one the package knows (`pascal_voc`, `cityscapes`, `ade20k`, `ade20k-32`)."""


class LayerNotFoundError(_NotFound):
    """A layer, tensor or branch looked up in a model's graph is not there (or the name is ambiguous)."""


class StageNotFoundError(_NotFound):
    """A pipeline stage name is not one a `PipelineResult` timed."""


class ModelFormatError(DeeplabWidgetsError, ValueError):
    """The file is not a usable TFLite segmentation model (not TFLite, truncated, wrong shapes)."""


class ChecksumError(DeeplabWidgetsError):
    """A cached or mirrored file does not have the SHA-256 the registry records."""


class DownloadError(DeeplabWidgetsError):
    """A registry file could not be fetched from its URL and no mirror holds it."""


class BackendError(DeeplabWidgetsError):
    """The requested interpreter backend is unknown or not installed."""


class DelegateError(DeeplabWidgetsError):
    """An external delegate library could not be loaded."""


class OptionsError(DeeplabWidgetsError, ValueError):
    """An argument has the wrong type or is out of range, or arguments contradict each other (the message names
    the parameter)."""


class DependencyError(DeeplabWidgetsError, ImportError):
    """An optional extra this feature needs (e.g. `[dask]`, `[coco]`) is not installed."""


class EngineError(DeeplabWidgetsError, RuntimeError):
    """A batch engine could not start: e.g. no Dask scheduler answers at the address given."""


class OutputError(DeeplabWidgetsError, OSError):
    """An output cannot be written: a read-only or full disk, no permission, or a file or folder in the way."""


class OutputConflictError(DeeplabWidgetsError, ValueError):
    """Two inputs of a batch would write the same output file."""


class DatasetError(DeeplabWidgetsError, ValueError):
    """Labelled evaluation data is unusable: a missing mask, a size mismatch, out-of-range labels."""


class SizeMismatchError(DeeplabWidgetsError, ValueError):
    """A photo and a class map (or two results) that must be the same size are not."""


class NoScoresError(DeeplabWidgetsError, ValueError):
    """A result carries no per-class scores (an ArgMax-only model, or segmented without `scores=True`)."""


class LabelFileError(DeeplabWidgetsError, ValueError):
    """A labels file cannot be used: missing, a folder, not UTF-8 text, or without a single name."""


class LabelCountError(DeeplabWidgetsError, ValueError):
    """A label file's number of names does not match the number of classes the model predicts."""


class VideoError(DeeplabWidgetsError, ValueError):
    """Base of the video failures below: the file cannot be segmented frame by frame."""


class VideoNotFoundError(VideoError, FileNotFoundError):
    """The video path does not exist."""


class VideoFormatError(VideoError):
    """The file is not a video container FFmpeg can read (not a video at all, or its header is damaged)."""


class NoVideoStreamError(VideoError):
    """The container holds no video stream (e.g. audio only)."""


class VideoCodecError(VideoError):
    """The video stream's codec cannot be decoded (unknown or unsupported codec, or undecodable data)."""


class VideoTruncatedError(VideoError):
    """The video ends early or breaks off mid-stream (a partial download or copy)."""


class AccessDeniedError(DeeplabWidgetsError, PermissionError):
    """In app mode, a path outside the configured folder, a delegate, or an upload over the size limit."""


class UploadTooLargeError(AccessDeniedError):
    """In app mode, an upload (photo, video, .tflite model or labels file) over the size limit, refused before
    parsing (a video also when its frames are over 4K)."""


class DeriveError(DeeplabWidgetsError, ValueError):
    """A model's graph cannot be derived as asked: an op or layout the graph edit does not handle, an output
    stride its backbone cannot reach, or a derived graph the interpreter refuses (the message names the op)."""


class ReferenceForwardError(DeeplabWidgetsError, ValueError):
    """The NumPy reference forward pass cannot run a model: it is quantized, an op is not implemented (named),
    or the input tensor has the wrong shape."""


class QuantizationError(DeeplabWidgetsError):
    """A model could not be quantized, or the quantizer returned it unchanged (nothing was quantized)."""


class AlreadyQuantizedError(QuantizationError, ValueError):
    """The model to quantize is already quantized (its weights are integers): quantize its float original."""


class CalibrationError(QuantizationError, ValueError):
    """Calibration photos are unusable: an empty or missing folder, a count below 1, or fewer photos than asked."""
