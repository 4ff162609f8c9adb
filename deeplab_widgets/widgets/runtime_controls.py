"""RuntimeControls: model, threads, XNNPACK, external delegate, backend and resize mode as observable traits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import traitlets

from ..assets.zoo import list_models, model_info
from ..core.model import ModelInput, ModelSpec, label_names, load_model
from ..core.preprocess import RESIZE_MODES, check_resize
from ..core.runtime import RuntimeOptions, available_backends, cpu_count
from ..core.segmenter import SegmenterInput, as_segmenter, default_resize
from ..errors import DeeplabWidgetsError
from .app_policy import AppPolicy, current_policy
from .status import error_html, info_html
from .upload_button import UploadButton, upload_content

#: The model dropdown's entry that opens the "load a .tflite file" box.
LOAD_FILE = "load a .tflite file..."


class RuntimeControls(widgets.VBox):
    """Choose the model and how it runs; observe `model`, `options` (a `RuntimeOptions`) and `resize`.

    A user .tflite (uploaded or from a path) joins the model dropdown; `model_source(name)` gives what
    to build a `Segmenter` from. Bad input shows in the status line and `error`, the old choice stays.

    Args:
        model: The model chosen first: a zoo id, or a `.tflite` path, its bytes or a `Segmenter` (which joins
            the dropdown as a loaded file; a Segmenter also brings its options and resize mode).
        options: The runtime options shown first (default: the segmenter's, or `RuntimeOptions()`).
        resize: The resize mode shown first; None follows each model's measured best mode (`Segmenter`'s
            default) as models change.
        policy: Whether the model path and delegate fields are offered (default: `current_policy()`).
        **kwargs: Widget keywords (e.g. `layout`).

    Raises:
        ModelNotFoundError, ModelFormatError: `model` is not a zoo id and cannot be loaded.
    """

    model = traitlets.Unicode("deeplabv3-starter")
    options = traitlets.Instance(RuntimeOptions)
    resize = traitlets.Unicode("stretch")
    error = traitlets.Unicode("")
    labels_changed = traitlets.Int(0)  # counts labels files applied to a loaded model (the model re-runs)

    def __init__(
        self,
        model: SegmenterInput = "deeplabv3-starter",
        options: RuntimeOptions | None = None,
        resize: str | None = None,
        *,
        policy: AppPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        self.policy = policy or current_policy()
        self.custom_models: dict[str, ModelSpec] = {}
        self._sources: dict[str, ModelInput] = {}  # a loaded model's name -> what it was loaded from
        self._syncing = False
        zoo = [(m.title, m.name) for m in list_models()]
        if isinstance(model, str) and model in dict(zoo).values():
            name, loaded = model, None
        else:  # a file, bytes or a Segmenter: loaded once here, then offered like an uploaded file
            loaded = as_segmenter(model, options, resize=check_resize(resize) if resize else None)
            name, options, resize = loaded.spec.name, loaded.options, resize or loaded.resize
            if loaded.spec.zoo is None or loaded.spec.zoo.name != name:
                self.custom_models[name] = loaded.spec
                self._sources[name] = loaded.spec.content
                zoo.append((f"{name} (file)", name))
        options = options or RuntimeOptions()
        resize = resize or model_info(name).resize
        self.model_dropdown = widgets.Dropdown(
            options=[*zoo, (LOAD_FILE, LOAD_FILE)],
            value=name,
            description="Model",
            style={"description_width": "initial"},  # the room goes to the name, which is never cut off
            layout={"width": "max-content", "max_width": "100%"},
        )
        self.model_dropdown.add_class("dlw-model")
        self.model_upload = UploadButton(
            "Upload .tflite", accept=".tflite", tooltip="a DeepLab-style .tflite model of yours", policy=self.policy
        )
        self.model_upload.add_class("dlw-model-upload")
        self.model_path = widgets.Text(placeholder="path/to/model.tflite", continuous_update=False)
        self.model_path.add_class("dlw-model-path")
        self.labels_upload = UploadButton(
            "Labels .txt", accept=".txt", tooltip="class names for your model, one per line", policy=self.policy
        )
        self.labels_upload.add_class("dlw-labels-upload")
        self.labels_path = widgets.Text(placeholder="path/to/labels.txt (one class per line)", continuous_update=False)
        self.labels_path.add_class("dlw-labels-path")
        self.load_box = widgets.VBox(
            [
                widgets.HBox([self.model_upload, self.model_path], layout={"flex_flow": "row wrap"}),
                widgets.HBox([self.labels_upload, self.labels_path], layout={"flex_flow": "row wrap"}),
            ],
            layout={"display": "none"},
        )
        self.threads = widgets.IntSlider(
            value=options.num_threads, min=1, max=cpu_count(), description="Threads", continuous_update=False
        )
        self.threads.add_class("dlw-threads")
        self.xnnpack = widgets.Checkbox(value=options.xnnpack, description="XNNPACK", indent=False)
        self.xnnpack.add_class("dlw-xnnpack")
        self.delegate = widgets.Text(
            value=options.delegate or "",
            description="Delegate",
            placeholder="external delegate .so (optional)",
            continuous_update=False,
        )
        self.delegate.add_class("dlw-delegate")
        if not self.policy.delegate_allowed:
            self.delegate.layout.display = "none"
            self.delegate.disabled = True
        if not self.policy.paths_allowed:
            self.model_path.layout.display = self.labels_path.layout.display = "none"
        self.backend = widgets.Dropdown(options=["auto", *available_backends()], value="auto", description="Backend")
        self.backend.add_class("dlw-backend")
        if len(available_backends()) < 2:  # "auto" is the only backend there is: no choice to offer
            self.backend.layout.display = "none"
        self.resize_buttons = widgets.ToggleButtons(options=list(RESIZE_MODES), value=resize, description="Resize")
        self.resize_buttons.add_class("dlw-resize")
        self.status = widgets.HTML()
        self.status.add_class("dlw-controls-status")
        super().__init__(
            [
                self.model_dropdown,
                self.load_box,
                self.threads,
                self.xnnpack,
                self.delegate,
                self.backend,
                self.resize_buttons,
                self.status,
            ],
            **kwargs,
        )
        self.add_class("dlw-runtime-controls")
        self.set_trait("options", options)
        self.model, self.resize = name, resize
        self.model_dropdown.observe(self._on_model, names="value")
        self.model_upload.observe(self._on_upload, names="value")
        self.labels_upload.observe(self._on_labels_upload, names="value")
        self.labels_path.observe(lambda change: self._labels_from_path(change["new"]), names="value")
        self.model_path.observe(lambda change: self.load_file(change["new"]), names="value")
        for control in (self.threads, self.xnnpack, self.delegate, self.backend):
            control.observe(self._on_option, names="value")
        self.resize_buttons.observe(lambda change: setattr(self, "resize", change["new"]), names="value")
        self.observe(self._sync_widgets, names=["model", "options", "resize"])

    def model_source(self, name: str | None = None) -> str | ModelSpec:
        """What to build a `Segmenter` from for model `name` (default: the chosen one).

        Args:
            name: A model in the dropdown (default: the chosen one).
        """
        name = name or self.model
        return self.custom_models.get(name, name)

    def load_file(self, source: ModelInput, name: str | None = None) -> bool:
        """Load a user .tflite (path or bytes), add it to the dropdown and choose it; False on error.

        Args:
            source: A `.tflite` path (checked against the app policy) or its bytes.
            name: The dropdown's name for it (default: the file's name).
        """
        if isinstance(source, str) and not source.strip():
            return False
        try:
            source = self.policy.check_model(source.strip() if isinstance(source, str) else source)
            spec = self._load(source, name)
        except DeeplabWidgetsError as exc:
            what = name or ("uploaded model" if isinstance(source, (bytes, bytearray)) else str(source))
            self._fail(f"{what}: {exc}")
            return False
        self.add_model(spec, name or spec.name, source)
        return True

    def _load(self, source: ModelInput, name: str | None, labels: Sequence[str] | None = None) -> ModelSpec:
        """`load_model(source, labels)`, named `name` when given: an uploaded file (bytes) is called by its file
        name in the list, the status line, the timings and the downloads alike."""
        spec = load_model(source, labels, options=self.options)
        return replace(spec, name=name) if name else spec

    def add_model(self, spec: ModelSpec, label: str, source: ModelInput) -> None:
        """Add a loaded model to the dropdown as `label` and choose it; `source` is what it was loaded from.

        For models the kernel made itself (e.g. the Quantize tab's result); visitors' files go through `load_file`.
        """
        self.custom_models[label] = spec
        self._sources[label] = source
        options = [o for o in self.model_dropdown.options if o[1] != LOAD_FILE and o[1] != label]
        self._syncing = True  # replacing the options resets the dropdown: that is not the user's choice
        try:
            self.model_dropdown.options = [*options, (f"{label} (file)", label), (LOAD_FILE, LOAD_FILE)]
        finally:
            self._syncing = False
        self._choose(label)
        self.status.value = info_html(f"loaded {label}: {spec.num_classes} classes, input {spec.input_size}")

    def set_labels(self, names: Sequence[str], label: str = "labels") -> bool:
        """Give the chosen loaded .tflite these class names (one per class); False (and a message) on error.

        A wrong count is refused with both numbers (`ModelFormatError`); zoo models keep their own labels.

        Args:
            names: One class name per class of the model.
            label: Where the names came from, for the messages.
        """
        model = self.model
        if model not in self.custom_models:
            self._fail(f"{label}: load a .tflite file first (zoo models come with their class names)")
            return False
        try:
            spec = self._load(self._sources[model], self.custom_models[model].name, tuple(names))
        except DeeplabWidgetsError as exc:
            self._fail(f"{label}: {exc}")
            return False
        self.custom_models[model] = spec
        self.error = ""
        self.status.value = info_html(f"{model}: {spec.num_classes} class names from {label}")
        self.labels_changed += 1
        return True

    def _checked_upload(self, change: dict, upload: UploadButton) -> tuple[str, bytes] | None:
        """The (name, content) of a new upload within the app's size limit; None (and a message) otherwise."""
        if not change["new"]:
            return None
        item = change["new"][-1]
        upload.value = ()  # so that uploading the same file again is seen as a change
        try:
            content = upload_content(item, self.policy)
        except DeeplabWidgetsError as exc:
            self._fail(f"{item['name']}: {exc}")
            return None
        return item["name"], content

    def _on_labels_upload(self, change: dict) -> None:
        upload = self._checked_upload(change, self.labels_upload)
        if upload is None:
            return
        name, content = upload
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            self._fail(f"{name}: not a UTF-8 text file")
            return
        self.set_labels(label_names(text), name)

    def _labels_from_path(self, path: str) -> None:
        if not path.strip():
            return
        try:
            target = self.policy.check_path(path.strip())
            text = Path(target).read_text("utf-8")
        except DeeplabWidgetsError as exc:
            self._fail(f"{path.strip()}: {exc}")
            return
        except (OSError, UnicodeDecodeError):
            self._fail(f"{path.strip()}: cannot read this labels file")
            return
        self.set_labels(label_names(text), path.strip())

    def _fail(self, message: str) -> None:
        self.error = ""  # so that the same failure twice is still a change observers see
        self.error = message
        self.status.value = error_html(message)

    def _on_model(self, change: dict) -> None:
        if self._syncing:
            return
        choosing_file = change["new"] == LOAD_FILE
        self.load_box.layout.display = "flex" if choosing_file else "none"
        if not choosing_file:
            self.error = ""
            self._choose(change["new"])

    def _choose(self, name: str) -> None:
        """Switch to model `name` with its own default resize mode, in one notification round."""
        spec = self.custom_models.get(name)
        with self.hold_trait_notifications():
            self.model = name
            self.resize = default_resize(spec) if spec else model_info(name).resize

    def _on_upload(self, change: dict) -> None:
        upload = self._checked_upload(change, self.model_upload)
        if upload is not None:
            name, content = upload
            self.load_file(content, name)

    def _on_option(self, _: dict) -> None:
        if self._syncing:
            return
        try:
            options = RuntimeOptions(
                num_threads=self.threads.value,
                xnnpack=self.xnnpack.value,
                delegate=self.policy.check_delegate(self.delegate.value.strip() or None),
                backend=self.backend.value,
            )
        except DeeplabWidgetsError as exc:
            self._fail(str(exc))
            return
        self.error = ""
        self.status.value = info_html(options.describe())
        self.options = options

    def _sync_widgets(self, _: dict) -> None:
        """Keep the controls showing the traits when code sets them."""
        self._syncing = True
        try:
            self.model_dropdown.value = self.model
            self.threads.value = self.options.num_threads
            self.xnnpack.value = self.options.xnnpack
            self.delegate.value = self.options.delegate or ""
            self.backend.value = self.options.backend
            self.resize_buttons.value = self.resize
        finally:
            self._syncing = False
