"""Jupyter widgets (ipywidgets 8): image picking, runtime controls, mask viewing, timings and the Workbench.

They need the `widgets` extra (`pip install 'deeplab-widgets[widgets]'`); without it, importing them raises
`DependencyError` naming it.
"""

from ..extras import require

require("deeplab_widgets.widgets", "ipywidgets", "anywidget", "matplotlib")

from .architecture import AsppExplorer, AtrousExplorer, LayerBrowser
from .compare_view import CompareView
from .download_button import DownloadButton
from .gallery import BatchGallery
from .image_picker import ImagePicker
from .mask_viewer import MaskViewer
from .quantize_panel import QuantizePanel
from .runtime_controls import RuntimeControls
from .stride_explorer import OutputStrideExplorer
from .timing_panel import TimingPanel
from .timing_readout import TimingReadout
from .upload_button import UploadButton
from .workbench import Workbench

__all__ = [
    "AsppExplorer",
    "AtrousExplorer",
    "BatchGallery",
    "CompareView",
    "DownloadButton",
    "ImagePicker",
    "LayerBrowser",
    "MaskViewer",
    "OutputStrideExplorer",
    "QuantizePanel",
    "RuntimeControls",
    "TimingPanel",
    "TimingReadout",
    "UploadButton",
    "Workbench",
]
