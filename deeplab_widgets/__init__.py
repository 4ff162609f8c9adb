"""deeplab-widgets: DeepLab semantic segmentation on LiteRT, with visualisation and Jupyter widgets."""

from importlib.metadata import PackageNotFoundError, version

from .analysis.cost import compute_cost
from .analysis.deeplab import ModelGraph, describe_decoder, read_graph
from .analysis.derive import DerivedModel, derive
from .analysis.intermediates import Activations, Probe
from .assets import zoo as _zoo
from .assets.samples import list_samples, sample_path
from .assets.zoo import list_models, model_info
from .core.crf import CrfOptions
from .core.images import load_image
from .core.labels import LabelSet, label_set
from .core.model import ModelSpec, load_model, use_catalog
from .core.runtime import RuntimeOptions, available_backends
from .core.segmenter import ClassShare, SegmentationResult, Segmenter, Timings, as_segmenter
from .core.size import Size
from .errors import (
    AccessDeniedError,
    AlreadyQuantizedError,
    BackendError,
    CalibrationError,
    ChecksumError,
    DatasetError,
    DeeplabWidgetsError,
    DelegateError,
    DependencyError,
    DeriveError,
    DownloadError,
    EngineError,
    ImageDecodeError,
    ImageNotFoundError,
    ImageTooLargeError,
    ImageTooSmallError,
    LabelCountError,
    LabelFileError,
    LabelSetNotFoundError,
    LayerNotFoundError,
    ModelFormatError,
    ModelNotFoundError,
    NoScoresError,
    NoVideoStreamError,
    OptionsError,
    OutputConflictError,
    OutputError,
    QuantizationError,
    ReferenceForwardError,
    SampleNotFoundError,
    SizeMismatchError,
    StageNotFoundError,
    UploadTooLargeError,
    VideoCodecError,
    VideoError,
    VideoFormatError,
    VideoNotFoundError,
    VideoTruncatedError,
)
from .extras import dependency_error, missing_optional
from .workflows.batch import BatchReport, Dask, Engine, ImageRecord, Processes, Serial, Threads, segment_many
from .workflows.bench import BenchmarkResult, PipelineResult, Sweep, benchmark, benchmark_pipeline, sweep
from .workflows.compare import compare_models, comparison_table, disagreement
from .workflows.datasets import ade20k_32_folder, ade20k_folder, voc_folder
from .workflows.evaluate import Evaluation, evaluate
from .workflows.labelled import labelled_pairs
from .workflows.metrics import ConfusionMatrix, Metrics
from .workflows.quantize import QuantizedModel, quantize
from .workflows.samples import load_sample

use_catalog(_zoo)  # zoo ids name models everywhere (the core does not import the zoo)

try:
    __version__ = version("deeplab-widgets")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"

#: Names imported on first use, so `import deeplab_widgets` loads neither ipywidgets nor matplotlib.
_LAZY = {
    "BatchGallery": ".widgets",
    "CompareView": ".widgets",
    "DownloadButton": ".widgets",
    "UploadButton": ".widgets",
    "AsppExplorer": ".widgets",
    "AtrousExplorer": ".widgets",
    "LayerBrowser": ".widgets",
    "ImagePicker": ".widgets",
    "MaskViewer": ".widgets",
    "OutputStrideExplorer": ".widgets",
    "QuantizePanel": ".widgets",
    "RuntimeControls": ".widgets",
    "TimingPanel": ".widgets",
    "TimingReadout": ".widgets",
    "Workbench": ".widgets",
    "plot_segmentation": ".viz.plot",
    "CameraSegmenter": ".widgets.camera",
    "VideoPlayer": ".widgets.video_player",
    # PyAV is imported on first use of the video API.
    "Flicker": ".workflows.video",
    "VideoFrameResult": ".workflows.video",
    "VideoFrames": ".workflows.video",
    "flicker": ".workflows.video",
    "segment_video": ".workflows.video",
    "video_info": ".workflows.video",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        try:
            module = importlib.import_module(_LAZY[name], __name__)
        except ImportError as exc:
            missing = missing_optional(exc)
            if missing is None:
                raise
            raise dependency_error(name, missing) from None
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AccessDeniedError",
    "Activations",
    "AlreadyQuantizedError",
    "AsppExplorer",
    "AtrousExplorer",
    "BackendError",
    "BatchGallery",
    "BatchReport",
    "BenchmarkResult",
    "CalibrationError",
    "CameraSegmenter",
    "ChecksumError",
    "ClassShare",
    "CompareView",
    "ConfusionMatrix",
    "CrfOptions",
    "Dask",
    "DatasetError",
    "DeeplabWidgetsError",
    "DelegateError",
    "DependencyError",
    "DeriveError",
    "DerivedModel",
    "DownloadButton",
    "DownloadError",
    "Engine",
    "EngineError",
    "Evaluation",
    "Flicker",
    "ImageDecodeError",
    "ImageNotFoundError",
    "ImagePicker",
    "ImageRecord",
    "ImageTooLargeError",
    "ImageTooSmallError",
    "LabelCountError",
    "LabelFileError",
    "LabelSet",
    "LabelSetNotFoundError",
    "LayerBrowser",
    "LayerNotFoundError",
    "MaskViewer",
    "Metrics",
    "ModelFormatError",
    "ModelGraph",
    "ModelNotFoundError",
    "ModelSpec",
    "NoScoresError",
    "NoVideoStreamError",
    "OptionsError",
    "OutputConflictError",
    "OutputError",
    "OutputStrideExplorer",
    "PipelineResult",
    "Probe",
    "Processes",
    "QuantizationError",
    "QuantizePanel",
    "QuantizedModel",
    "ReferenceForwardError",
    "RuntimeControls",
    "RuntimeOptions",
    "SampleNotFoundError",
    "SegmentationResult",
    "Segmenter",
    "Serial",
    "Size",
    "SizeMismatchError",
    "StageNotFoundError",
    "Sweep",
    "Threads",
    "TimingPanel",
    "TimingReadout",
    "Timings",
    "UploadButton",
    "UploadTooLargeError",
    "VideoCodecError",
    "VideoError",
    "VideoFormatError",
    "VideoFrameResult",
    "VideoFrames",
    "VideoNotFoundError",
    "VideoPlayer",
    "VideoTruncatedError",
    "Workbench",
    "ade20k_32_folder",
    "ade20k_folder",
    "as_segmenter",
    "available_backends",
    "benchmark",
    "benchmark_pipeline",
    "compare_models",
    "comparison_table",
    "compute_cost",
    "derive",
    "describe_decoder",
    "disagreement",
    "evaluate",
    "flicker",
    "label_set",
    "labelled_pairs",
    "list_models",
    "list_samples",
    "load_image",
    "load_model",
    "load_sample",
    "model_info",
    "plot_segmentation",
    "quantize",
    "read_graph",
    "sample_path",
    "segment_many",
    "segment_video",
    "sweep",
    "video_info",
    "voc_folder",
]
