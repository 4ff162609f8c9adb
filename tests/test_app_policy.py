"""App mode in the kernel: one `AppPolicy` decides what a visitor's widget state may open, load or send.

A visitor's browser controls every widget's state (`disabled`, `value`, `layout`), so these tests set the state a
hidden or disabled field could never get from the page and check that the kernel still refuses: the marker
library (its constructor writes a file when `dlopen` maps it) is never loaded, and the message for a file that
exists is the one for a file that does not. `tests/test_app_server.py` does the same through a real server.
"""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from deeplab_widgets import AccessDeniedError, ImagePicker, RuntimeControls, RuntimeOptions, Workbench, sample_path
from deeplab_widgets.widgets.app_policy import NO_DELEGATES, AppPolicy, current_policy
from deeplab_widgets.widgets.compare_view import CompareView
from deeplab_widgets.widgets.timing_panel import TimingPanel
from deeplab_widgets.widgets.upload_button import unfinished_bytes
from tests.marker_library import build_marker_library

APP = AppPolicy(app_mode=True)
MISSING = "/etc/no-such-file-here"
CHUNK = 4_000_000


@pytest.fixture(scope="module")
def marker(tmp_path_factory):
    """(library, marker file): the marker file appears when the library is loaded."""
    return build_marker_library(tmp_path_factory.mktemp("marker"))


@pytest.fixture(scope="module")
def paths(marker) -> tuple[str, str, str]:
    """A visitor's values for a path field: the marker library, a file that exists, a file that does not."""
    return str(marker[0]), "/etc/hostname", MISSING


def test_the_marker_library_writes_its_file_when_loaded_as_a_delegate(marker):
    # The probe works: offered as a delegate outside app mode, the library is loaded (and its constructor runs).
    library, written = marker
    code = (
        "from deeplab_widgets import Segmenter, RuntimeOptions, DeeplabWidgetsError\n"
        f"try:\n    Segmenter('deeplabv3-starter', RuntimeOptions(delegate={str(library)!r}))\n"
        "except DeeplabWidgetsError as exc:\n    print(type(exc).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.stdout == "DelegateError\n", result.stderr  # loaded, then refused: not a delegate
    assert written.read_text() == "loaded\n"
    written.unlink()


def test_the_benchmark_tab_asks_the_policy_not_the_delegate_fields_disabled_flag(marker, paths):
    panel = TimingPanel(policy=APP, runs=1)
    assert panel.delegate.disabled and panel.delegate.layout.display == "none"  # presentation only
    messages = []
    for path in paths:
        panel.delegate.disabled = False  # what a visitor's browser can send
        panel.delegate.value = path
        assert not panel.start() and not panel.running  # no background process gets the library
        assert panel.run() is None
        messages.append(panel.status.value.replace(path, "PATH"))
    assert messages[0] == messages[1] == messages[2]
    assert NO_DELEGATES in messages[0] and "PATH" not in messages[0]
    assert not marker[1].exists()

    notebook = TimingPanel(policy=AppPolicy(), runs=1)  # notebook mode: the user's own kernel loads what they name
    notebook.delegate.value = paths[0]
    assert notebook._settings()["delegates"] == paths[0]


def test_the_benchmark_tab_refuses_a_model_path_in_app_mode():
    panel = TimingPanel(policy=APP, models=["deeplabv3-starter", "/etc/hostname"], selected=["/etc/hostname"])
    assert not panel.start()
    assert "paths on the server are switched off" in panel.status.value


def test_the_workbench_and_compare_refuse_options_and_models_that_did_not_come_through_their_controls(
    marker, monkeypatch
):
    library, written = marker
    bench = Workbench(policy=APP)
    shown = bench.result
    assert shown is not None and bench.timing_panel.policy is APP and bench.compare.policy is APP
    assert bench.compare.controls.policy is APP

    # Options a visitor's widget state could only reach by going around the delegate field's own check.
    bench.controls.options = RuntimeOptions(delegate=str(library))
    assert NO_DELEGATES in bench.status.value and bench.result is shown
    with pytest.raises(AccessDeniedError, match=NO_DELEGATES):
        bench.segmenter  # noqa: B018 (what every tab running the chosen model asks for)
    bench.compare.controls.options = RuntimeOptions(delegate=str(library))
    assert bench.compare.compare(bench.image, shown) is None
    assert NO_DELEGATES in bench.compare.status.value
    bench.controls.options = RuntimeOptions()
    shown = bench.result

    refusals = []
    for path in ("/etc/hostname", MISSING):
        monkeypatch.setattr(bench.controls, "model_source", lambda name=None, path=path: path)
        assert bench.run() is None
        refusals.append(bench.status.value.replace(path, "PATH"))
    assert refusals[0] == refusals[1] and "paths on the server are switched off" in refusals[0]
    assert bench.result is shown and not written.exists()


def test_compare_view_takes_the_policy_it_is_given():
    compare = CompareView(policy=APP)
    assert compare.controls.policy is APP and compare.controls.delegate.disabled
    assert CompareView().policy == current_policy()


def test_the_policy_checks_models_delegates_and_options():
    assert APP.check_model("deeplabv3-starter") == "deeplabv3-starter"  # zoo names and uploads pass
    assert APP.check_model(b"TFL3") == b"TFL3"
    with pytest.raises(AccessDeniedError, match="paths on the server are switched off"):
        APP.check_model("/etc/hostname")
    assert APP.check_delegate(None) is None and APP.check_delegate("  ") == "  "
    with pytest.raises(AccessDeniedError, match=f"^{NO_DELEGATES}$"):
        APP.check_options(RuntimeOptions(delegate="libedgetpu.so.1"))
    notebook = AppPolicy()
    assert notebook.check_model("/etc/hostname") == "/etc/hostname"
    assert notebook.check_delegate("libedgetpu.so.1") == "libedgetpu.so.1"


def send_chunks(button, name: str, data: bytes, upload: str, chunks: range | None = None) -> None:
    """Send chunks of `data` to an UploadButton as upload.js does (all of them unless `chunks` says which)."""
    count = max(1, -(-len(data) // CHUNK))
    for index in chunks if chunks is not None else range(count):
        part = memoryview(data[index * CHUNK : (index + 1) * CHUNK])
        head = {"name": name, "type": "", "size": len(data), "event": "chunk", "upload": upload}
        button._handle_custom_msg({**head, "index": index, "count": count}, [part])


def test_unfinished_uploads_are_capped_for_the_whole_kernel_and_a_refused_one_is_dropped(monkeypatch):
    monkeypatch.setenv("SERVER_SOFTWARE", "voila/0.5.13")
    monkeypatch.setenv("DEEPLAB_WIDGETS_MAX_UPLOAD_MB", "20")
    monkeypatch.setenv("DEEPLAB_WIDGETS_MAX_UNFINISHED_UPLOAD_MB", "10")
    policy = current_policy()
    assert policy.unfinished_upload_limit_bytes == 10_000_000
    picker = ImagePicker(value=None, samples=["cat"], policy=policy)
    controls = RuntimeControls(policy=policy)
    photo = sample_path("bird").read_bytes()
    big = photo + bytes(3 * CHUNK - len(photo))  # a JPEG with padding after its end: 3 chunks
    assert unfinished_bytes() == 0

    send_chunks(picker.upload, "bird.jpg", big, "a", range(2))  # 8 MB held, the last chunk still to come
    assert unfinished_bytes() == 2 * CHUNK
    send_chunks(controls.model_upload, "mine.tflite", bytes(3 * CHUNK), "b")  # its first chunk would make 12 MB
    assert controls.error == (
        "mine.tflite: too many unfinished uploads at once: this one would bring them to 12 MB and the app holds "
        "at most 10 MB, so it was dropped; send it again once the others have finished (whoever runs the app "
        "can raise the limit with DEEPLAB_WIDGETS_MAX_UNFINISHED_UPLOAD_MB=<MB>)"
    )
    assert unfinished_bytes() == 2 * CHUNK  # its later chunks were not collected either
    assert not controls.model_upload._parts and not controls.custom_models

    send_chunks(picker.upload, "bird.jpg", big, "a", range(2, 3))  # the photo's last chunk: it is segmented
    assert unfinished_bytes() == 0 and picker.source == "upload bird.jpg" and picker.error == ""

    send_chunks(picker.upload, "again.jpg", big, "c", range(2))
    assert unfinished_bytes() == 2 * CHUNK
    picker.upload.close()  # a closed button gives its unfinished bytes back
    assert unfinished_bytes() == 0


def test_unfinished_uploads_have_no_cap_in_notebook_mode():
    picker = ImagePicker(value=None, samples=["cat"], policy=AppPolicy())
    photo = sample_path("bird").read_bytes()
    big = photo + bytes(30 * CHUNK - len(photo))
    send_chunks(picker.upload, "bird.jpg", big, "n")
    assert picker.source == "upload bird.jpg" and picker.error == ""


def test_camera_frames_are_refused_over_the_upload_limit_and_the_pixel_limit():
    from PIL import Image

    from deeplab_widgets.errors import ImageTooLargeError, UploadTooLargeError
    from deeplab_widgets.widgets.camera import MAX_FRAME_PIXELS, CameraSegmenter

    camera = CameraSegmenter(policy=AppPolicy(app_mode=True, max_upload_mb=0.01))
    with pytest.raises(UploadTooLargeError, match="camera frame is"):
        camera.segment_jpeg(bytes(20_000))
    buffer = io.BytesIO()
    Image.new("RGB", (4000, 1000)).save(buffer, "JPEG", quality=10)
    assert len(buffer.getvalue()) < 100_000 and MAX_FRAME_PIXELS < 4000 * 1000  # few bytes, many pixels
    with pytest.raises(ImageTooLargeError):
        CameraSegmenter(camera.segmenter, policy=APP).segment_jpeg(buffer.getvalue())
