"""deeplab-widgets: DeepLab semantic segmentation on LiteRT, with visualisation and Jupyter widgets."""

from .errors import (
    BackendError,
    ChecksumError,
    DeeplabWidgetsError,
    DelegateError,
    DownloadError,
    ImageDecodeError,
    ImageNotFoundError,
    ImageTooLargeError,
    ImageTooSmallError,
    ModelFormatError,
    ModelNotFoundError,
    OptionsError,
)
from .images import load_image
from .model import ModelSpec, load_model
from .palettes import LabelSet, label_set
from .runtime import RuntimeOptions, available_backends
from .samples import list_samples, load_sample, sample_path
from .segmenter import ClassShare, SegmentationResult, Segmenter, Timings
from .zoo import list_models, model_info

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "ChecksumError",
    "ClassShare",
    "DeeplabWidgetsError",
    "DelegateError",
    "DownloadError",
    "ImageDecodeError",
    "ImageNotFoundError",
    "ImageTooLargeError",
    "ImageTooSmallError",
    "LabelSet",
    "ModelFormatError",
    "ModelNotFoundError",
    "ModelSpec",
    "OptionsError",
    "RuntimeOptions",
    "SegmentationResult",
    "Segmenter",
    "Timings",
    "available_backends",
    "label_set",
    "list_models",
    "list_samples",
    "load_image",
    "load_model",
    "load_sample",
    "model_info",
    "sample_path",
]
