"""The widgets driven from Python as a user would: real models, real photos, real uploads."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import numpy as np
import pytest
from PIL import Image

from deeplab_widgets import (
    ImagePicker,
    MaskViewer,
    RuntimeControls,
    RuntimeOptions,
    TimingReadout,
    Workbench,
    list_samples,
    load_sample,
    sample_path,
)
from deeplab_widgets.core.labels import CITYSCAPES_NAMES
from deeplab_widgets.core.runtime import available_backends, cpu_count
from deeplab_widgets.widgets.runtime_controls import LOAD_FILE
from deeplab_widgets.widgets.workbench import CAMERA_TAB, VIDEO_TAB

CAT = 8  # VOC class id


def upload_item(name: str, data: bytes, kind: str = "image/jpeg") -> dict:
    """What ipywidgets 8's FileUpload holds after a browser upload."""
    return {
        "name": name,
        "type": kind,
        "size": len(data),
        "content": memoryview(data),
        "last_modified": datetime.now(timezone.utc),
    }


def sent_mask(viewer: MaskViewer) -> np.ndarray:
    """The class map the viewer sent to the browser, decoded and brought to the photo's size as the browser does."""
    if viewer.labels:
        mask = Image.fromarray(np.frombuffer(viewer.labels, np.uint8).reshape(viewer.labels_shape))
    else:
        mask = Image.open(io.BytesIO(viewer.mask_png))
    size = viewer.image.size if viewer.image is not None else mask.size
    return np.asarray(mask.resize(size, Image.Resampling.NEAREST) if mask.size != size else mask)


@pytest.fixture
def bench():
    """A fresh Workbench per test (the starter model on the cat sample; the interpreter cache makes it cheap)."""
    return Workbench()


def test_workbench_opens_with_a_segmented_sample(bench):
    assert bench.result is not None and bench.picker.source == "sample cat"
    assert [c.name for c in bench.result.present_classes()][:2] == ["background", "cat"]
    assert bench.viewer.photo[:3] == b"\xff\xd8\xff"
    assert (sent_mask(bench.viewer) == bench.result.labels).all()
    assert bench.viewer.class_names[CAT] == "cat" and bench.viewer.colormap[3 * CAT : 3 * CAT + 3] == b"\x40\x00\x00"
    assert "sample cat" in bench.status.value and "deeplabv3-starter" in bench.status.value
    assert bench.invocations == 1


def test_stable_css_classes_for_browser_tests(bench):
    expected = {
        "dlw-status": bench.status,
        "dlw-model": bench.controls.model_dropdown,
        "dlw-sample-kite_and_cold": bench.picker.buttons["kite_and_cold"],
    }
    for css, widget in expected.items():
        assert css in widget._dom_classes
    module = str(MaskViewer._esm)  # the viewer's own elements are made in the browser
    for css in ("dlw-viewer", "dlw-canvas", "dlw-readout", "dlw-legend", "dlw-zoom-in", "dlw-zoom-out"):
        assert f'"{css}"' in module
    for css in ("dlw-download-mask", "dlw-download-overlay"):
        assert f'"{css}"' in module


def test_display_only_changes_never_rerun_the_model(bench):
    bench.picker.buttons["cat"].click()
    runs, sent, photo = bench.invocations, bench.viewer.revision, bench.viewer.photo
    bench.viewer.alpha = 0.15
    for mode in ("mask", "side by side", "boundaries", "confidence", "entropy", "overlay"):
        bench.viewer.mode = mode
    bench.viewer.set_visible(CAT, False)
    bench.viewer.set_visible(CAT, True)
    assert bench.viewer.options.alpha == 0.15 and bench.viewer.options.mode == "overlay"
    assert bench.viewer.revision == sent and bench.viewer.photo is photo  # nothing re-sent to the browser
    assert bench.invocations == runs


def test_hidden_classes_are_a_display_trait_kept_per_result(bench):
    bench.picker.buttons["cat"].click()
    runs, sent = bench.invocations, bench.viewer.revision
    bench.viewer.hidden = [CAT, 0, CAT]  # what the browser sends when the user clicks "cat" in the legend
    assert bench.viewer.hidden == (0, CAT) and bench.viewer.options.hidden == frozenset({0, CAT})
    bench.viewer.set_visible(0, True)
    assert bench.viewer.hidden == (CAT,)
    bench.picker.buttons["bird"].click()  # a new result keeps only the hidden classes it has
    assert bench.viewer.hidden == ()
    bench.picker.buttons["cat"].click()
    assert bench.invocations == runs + 2 and bench.viewer.revision == sent + 2


def test_pick_each_sample(bench):
    for item in list_samples("photo"):
        bench.picker.buttons[item.name].click()
        assert bench.picker.source == f"sample {item.name}"
        assert bench.result.labels.shape == (bench.image.height, bench.image.width)
        assert item.shows in [c.name for c in bench.result.present_classes()], item.name
        assert item.name in bench.status.value


def test_upload_an_image_then_a_text_file(bench):
    data = sample_path("pets").read_bytes()
    bench.picker.upload.value = (upload_item("my dog.jpg", data),)
    assert bench.picker.source == "upload my dog.jpg"
    assert "dog" in [c.name for c in bench.result.present_classes()]
    good, runs, picture = bench.result, bench.invocations, bench.viewer.revision
    bench.picker.upload.value = (upload_item("notes.txt", b"shopping list: milk, eggs\n", "text/plain"),)
    assert "notes.txt" in bench.picker.status.value and "is not an image" in bench.picker.status.value
    assert "notes.txt" in bench.status.value and "showing the last good result" in bench.status.value
    assert bench.result is good and bench.invocations == runs and bench.viewer.revision == picture
    bench.viewer.alpha = 0.35  # something else happens, then the same bad file again
    bench.status.value = ""
    bench.picker.upload.value = (upload_item("notes.txt", b"shopping list: milk, eggs\n", "text/plain"),)
    assert "notes.txt" in bench.status.value and bench.result is good


def test_clicking_the_sample_on_screen_after_a_failed_upload_clears_the_error(bench):
    bench.picker.buttons["cat"].click()
    bench.picker.upload.value = (upload_item("notes.txt", b"shopping list\n", "text/plain"),)
    assert "notes.txt" in bench.status.value
    runs = bench.invocations
    bench.picker.buttons["cat"].click()  # the photo on screen: nothing to run, but the error is over
    assert "notes.txt" not in bench.status.value and "sample cat" in bench.status.value
    assert "notes.txt" not in bench.picker.status.value and bench.invocations == runs


def test_path_field(bench, tmp_path):
    bench.picker.path.value = str(sample_path("bird"))
    assert "bird" in [c.name for c in bench.result.present_classes()]
    good = bench.result
    bench.picker.path.value = str(tmp_path / "missing.jpg")
    assert "image not found" in bench.status.value and bench.result is good


def test_threads_and_xnnpack_rerun_with_cached_segmenters(bench):
    bench.picker.buttons["cat"].click()
    reference = bench.result.labels
    bench.controls.threads.value = 1
    assert bench.result.options.num_threads == 1
    assert (bench.result.labels == reference).mean() > 0.99
    bench.controls.xnnpack.value = False
    assert bench.result.options == RuntimeOptions(num_threads=1, xnnpack=False)
    assert (bench.result.labels == reference).mean() > 0.99
    assert "1 thread, no XNNPACK" in bench.timing.table.value
    bench.controls.xnnpack.value = True
    bench.controls.threads.value = cpu_count()
    count, runs = len(bench.segmenters), bench.invocations
    bench.controls.threads.value = 1  # back to combinations seen before: the model runs, no new Segmenter
    bench.controls.threads.value = cpu_count()
    assert len(bench.segmenters) == count and bench.invocations == runs + 2
    assert bench.controls.backend.options == ("auto", *available_backends())
    one_choice = len(available_backends()) == 1  # "auto" is then that backend: nothing to choose, nothing shown
    assert (bench.controls.backend.layout.display == "none") == one_choice
    assert (" · auto · " in bench.timing.table.value) != one_choice


def test_switching_models_changes_the_class_names(bench):
    bench.picker.buttons["cityscapes"].click()
    assert "car" in [c.name for c in bench.result.present_classes()]
    bench.controls.model_dropdown.value = "deeplab-edgetpu-slim-cityscapes"
    try:
        assert bench.result.model == "deeplab-edgetpu-slim-cityscapes"
        assert bench.result.class_names == CITYSCAPES_NAMES
        present = [c.name for c in bench.result.present_classes()]
        assert {"road", "car"} <= set(present)
        assert "road" in bench.viewer.class_names and bench.viewer.coarse != b""
        assert bench.result.has_scores and bench.result.probabilities().shape[-1] == 19  # the ArgMax model's scores
        assert "No scores" not in bench.viewer.note
    finally:
        bench.controls.model_dropdown.value = "deeplabv3-starter"
    assert bench.result.class_names[CAT] == "cat"


def test_choosing_an_ade20k_model_suggests_the_street_scene(bench):
    bench.picker.buttons["cat"].click()
    bench.controls.model_dropdown.value = "deeplabv3plus-mnv2-ade20k-int8"
    try:
        assert bench.result.model == "deeplabv3plus-mnv2-ade20k-int8"
        assert (
            "it knows ADE20K (31 scene classes and &#x27;other&#x27;): try the cityscapes sample" in bench.status.value
        )
        assert "ade20k-32" not in bench.status.value
        bench.picker.buttons["cityscapes"].click()
        assert "try the" not in bench.status.value
        assert {"road", "tree", "car"} <= {c.name for c in bench.result.present_classes()[:5]}
    finally:
        bench.controls.model_dropdown.value = "deeplabv3-starter"
        bench.picker.buttons["cat"].click()


def test_load_a_user_tflite(bench, shared):
    controls = bench.controls
    controls.model_dropdown.value = LOAD_FILE
    assert controls.load_box.layout.display == "flex"
    good = bench.result
    controls.model_upload.value = (
        upload_item("broken.tflite", b"not a flatbuffer at all", "application/octet-stream"),
    )
    assert "broken.tflite" in controls.error and "broken.tflite" in bench.status.value
    assert bench.result is good and controls.model == "deeplabv3-starter"
    controls.model_path.value = str(shared / "models" / "lite-model_deeplabv3_1_metadata_2.tflite")
    assert controls.model == "lite-model_deeplabv3_1_metadata_2.tflite"
    assert bench.result.model == "lite-model_deeplabv3_1_metadata_2.tflite"
    assert "cat" in bench.result.class_names  # labels embedded in the file
    controls.model_dropdown.value = "deeplabv3-starter"


def test_an_uploaded_copy_of_a_zoo_model_goes_by_its_file_name_everywhere(bench):
    from deeplab_widgets.assets.zoo import fetch_model

    controls = bench.controls
    controls.model_dropdown.value = LOAD_FILE
    data = fetch_model("deeplabv3-starter", progress=False).read_bytes()
    controls.model_upload.value = (upload_item("my_starter.tflite", data, "application/octet-stream"),)
    try:
        assert controls.model == "my_starter.tflite" and bench.result.model == "my_starter.tflite"
        assert ("my_starter.tflite (file)", "my_starter.tflite") in controls.model_dropdown.options
        assert "my_starter.tflite" in bench.status.value and "my_starter.tflite" in bench.timing.table.value
        assert bench.viewer.download_name.endswith("my_starter.tflite")
        assert "uploaded model" not in bench.status.value + bench.timing.table.value + controls.status.value
        controls.labels_upload.value = (upload_item("mine.txt", "\n".join(f"c{i}" for i in range(21)).encode()),)
        assert bench.result.model == "my_starter.tflite" and bench.result.class_names[8] == "c8"
    finally:
        controls.model_dropdown.value = "deeplabv3-starter"


def test_a_delegate_that_cannot_load_is_reported(bench):
    good = bench.result
    bench.controls.delegate.value = "/nonexistent/libdelegate.so"
    try:
        assert "DelegateError: could not load delegate '/nonexistent/libdelegate.so'" in bench.status.value.replace(
            "&#x27;", "'"
        )
        assert bench.result is good
    finally:
        bench.controls.delegate.value = ""
    assert "DelegateError" not in bench.status.value


def test_timing_readout_medians(bench):
    bench.repeat(4)
    medians = bench.timing.medians()
    assert set(medians) == {"preprocess_ms", "invoke_ms", "postprocess_ms", "total_ms"}
    assert 0 < medians["invoke_ms"] < medians["total_ms"]
    assert "median of" in bench.timing.table.value
    assert len(bench.timing.history[bench.timing.config]) >= 5


def test_widgets_work_on_their_own(starter):
    picker = ImagePicker(value=None, samples=["cat", "bird"])
    seen = []
    picker.observe(lambda change: seen.append(change["new"].size), names="image")
    picker.buttons["bird"].click()
    assert seen == [load_sample("bird").size] and set(picker.buttons) == {"cat", "bird"}

    controls = RuntimeControls()
    changes = []
    controls.observe(lambda change: changes.append(change["new"]), names="options")
    controls.threads.value = 1
    controls.resize_buttons.value = "pad"
    assert changes[-1].num_threads == 1 and controls.resize == "pad"
    controls.options = RuntimeOptions(num_threads=1, xnnpack=False)  # code sets the trait, the controls follow
    assert controls.xnnpack.value is False

    image = load_sample("bird")
    result = starter.segment(image)
    viewer = MaskViewer(image, result, mode="mask")
    assert viewer.photo[:3] == b"\xff\xd8\xff" and "bird" in viewer.class_names
    viewer.set_visible(3, False)
    assert viewer.hidden == (3,)

    readout = TimingReadout(window=3)
    for _ in range(5):
        readout.record(starter.segment(image))
    assert len(readout.history[readout.config]) == 3
    assert readout.timings.invoke_ms > 0


@pytest.mark.slow
def test_compare_tab_runs_a_second_model_and_follows_the_photo(bench):
    bench.picker.buttons["cat"].click()
    runs = bench.invocations
    assert bench.compare.result_b is None or not bench.comparing  # nothing runs before the tab is opened
    bench.tabs.selected_index = 1
    compare = bench.compare
    assert compare.result_b.model == "deeplabv3-mnv2-voc" and bench.invocations == runs  # A is reused
    found = compare.disagreement
    assert found.fraction == (bench.result.labels != compare.result_b.labels).mean()
    assert f"{found.fraction:.1%}" in compare.share.value and "cat" in compare.table.value
    assert compare.viewer_a.sync_group == compare.viewer_b.sync_group == compare.viewer_diff.sync_group != ""
    assert compare.viewer_diff.class_names[:2] == ["same class", "different class"]
    bench.picker.buttons["bird"].click()  # a new photo re-runs both
    assert bench.result is compare.viewer_a.result and "bird" in compare.viewer_b.class_names
    assert compare.result_b.labels.shape == bench.result.labels.shape
    compare.controls.model_dropdown.value = "deeplab-edgetpu-slim-cityscapes"
    assert "different label sets cannot be compared" in compare.share.value and compare.disagreement is None
    compare.controls.model_dropdown.value = "deeplabv3-mnv2-voc"
    bench.tabs.selected_index = 0


def test_a_clicked_photo_goes_to_the_browser_once_ahead_of_its_result(bench):
    sent = []
    bench.viewer.observe(lambda change: sent.append((change["new"], bench.viewer.revision)), names="photo")
    revision = bench.viewer.revision
    bench.picker.buttons["bird"].click()
    assert [r for _, r in sent] == [revision]  # sent once, before the result (which did not send it again)
    assert bench.viewer.revision == revision + 1 and bench.viewer.photo is sent[0][0]
    assert "bird" in [c.name for c in bench.result.present_classes()]
    bench.repeat(2)  # the same photo: nothing is sent ahead
    assert len(sent) == 1


def test_a_previewed_photo_waits_for_its_result_and_a_failed_run_takes_it_back(starter):
    from deeplab_widgets.widgets.viewer_payload import photo_jpeg

    cat, bird = load_sample("cat"), load_sample("bird")
    viewer = MaskViewer(cat, starter.segment(cat))
    on_screen, revision = viewer.photo, viewer.revision
    viewer.preview(bird)
    ahead = viewer.photo
    assert ahead == photo_jpeg(bird) != on_screen
    assert viewer.image is cat and viewer.revision == revision  # the picture has not changed
    viewer.show(bird, starter.segment(bird))
    assert viewer.photo is ahead and viewer.revision == revision + 1  # encoded once
    viewer.preview(cat)
    viewer.cancel_preview()
    assert viewer.photo is ahead and viewer.image is bird  # the photo on screen, as it was


def test_photo_status_and_result_agree_after_a_failed_delegate(bench):
    bench.picker.buttons["cat"].click()
    bench.controls.delegate.value = "/nonexistent/libdelegate.so"  # typed + Enter: an error, the cat stays
    assert "DelegateError" in bench.status.value and bench.source == "sample cat"
    bench.picker.buttons["bird"].click()  # fails too (same delegate): the status keeps naming the cat on screen
    assert bench.image is not bench.picker.image and bench.source == "sample cat"
    bench.controls.delegate.value = ""  # cleared: the chosen photo (the bird) is segmented now
    assert bench.image is bench.picker.image and bench.source == "sample bird"
    assert "sample bird" in bench.status.value and "bird" in [c.name for c in bench.result.present_classes()]
    assert bench.viewer.image is bench.image


def test_app_mode_offers_uploads_only_and_limits_paths_to_one_folder(tmp_path, monkeypatch):
    from deeplab_widgets.errors import AccessDeniedError
    from deeplab_widgets.widgets.app_policy import AppPolicy, current_policy

    monkeypatch.setenv("SERVER_SOFTWARE", "voila/0.5.8")  # what Voila gives its kernels
    monkeypatch.delenv("DEEPLAB_WIDGETS_APP_FOLDER", raising=False)
    policy = current_policy()
    assert policy.app_mode and not policy.paths_allowed and not policy.delegate_allowed
    picker = ImagePicker(value=None, samples=["cat"], policy=policy)
    controls = RuntimeControls(policy=policy)
    assert picker.path.layout.display == "none" and controls.delegate.layout.display == "none"
    assert controls.model_path.layout.display == "none" and controls.delegate.disabled

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "bird.jpg").write_bytes(sample_path("bird").read_bytes())
    policy = AppPolicy(app_mode=True, folder=folder, max_upload_mb=0.01)
    picker = ImagePicker(value=None, samples=["cat"], policy=policy)
    picker.path.value = "bird.jpg"
    assert picker.image is not None and picker.source == "bird.jpg"
    messages = []
    for outside in ("/etc/hostname", "/etc/no-such-file", "../photos/../../etc/hostname"):
        picker.path.value = outside
        messages.append(picker.error.replace(outside, "PATH"))
    assert messages[0] == messages[1] == messages[2]  # the same words whether or not the file exists
    assert "only files in its own folder" in messages[0] and "not found" not in messages[0]
    with pytest.raises(AccessDeniedError):
        policy.check_path("/etc/hostname")
    picker.upload.value = (upload_item("big.jpg", sample_path("bird").read_bytes()),)
    assert "accepts uploads up to 0.01 MB" in picker.error and picker.source == "bird.jpg"
    assert picker.upload.max_bytes == 10_000  # the browser does not even send a larger file

    assert AppPolicy().paths_allowed and AppPolicy().delegate_allowed  # notebook mode keeps every field


@pytest.mark.slow
def test_status_names_the_training_dataset_when_the_model_cannot_know_the_subject(bench):
    bench.picker.buttons["cat"].click()
    assert "trained on" not in bench.status.value
    bench.controls.model_dropdown.value = "deeplab-edgetpu-slim-cityscapes"
    try:
        assert "was trained on Cityscapes (street scenes): it has no class for cat" in bench.status.value
    finally:
        bench.controls.model_dropdown.value = "deeplabv3-starter"


@pytest.mark.slow
def test_labels_file_for_a_user_tflite(bench, shared):
    from deeplab_widgets.core.labels import VOC_NAMES

    controls = bench.controls
    controls.model_dropdown.value = "deeplabv3-starter"
    controls.labels_upload.value = (upload_item("labels.txt", b"a\nb\n", "text/plain"),)
    assert "load a .tflite file first" in controls.error
    controls.model_dropdown.value = LOAD_FILE
    assert controls.load_file(str(shared / "models" / "lite-model_deeplabv3_1_metadata_2.tflite"))
    try:
        good = bench.result
        controls.labels_upload.value = (upload_item("short.txt", b"sky\nground\nthing\n", "text/plain"),)
        assert "short.txt: 3 class names but the model predicts 21 classes" in controls.error
        assert bench.result is good
        names = [f"my {n}" for n in VOC_NAMES]
        controls.labels_upload.value = (upload_item("mine.txt", "\n".join(names).encode(), "text/plain"),)
        assert bench.result is not good and bench.result.class_names == tuple(names)
        assert "my cat" in bench.viewer.class_names
    finally:
        controls.model_dropdown.value = "deeplabv3-starter"


@pytest.mark.slow
def test_benchmark_runs_in_the_background_and_stops_at_once(bench):
    import time

    panel = bench.timing_panel
    for toggle in panel.thread_toggles[1:]:
        toggle.value = False
    panel.runs.value = 200
    panel.max_seconds = None  # long: 200 runs
    try:
        assert panel.start() and panel.running and panel.run_button.disabled
        assert not panel.start()  # one at a time
        bench.picker.buttons["bird"].click()  # the Segment tab keeps working meanwhile
        assert "bird" in [c.name for c in bench.result.present_classes()] and panel.running
        process = panel._job
        panel.stop()  # returns once the benchmark process has ended
        assert not process.is_alive()
        assert "stopped after" in panel.status.value and not panel.running and panel.sweep is None

        panel.runs.value = 2
        assert panel.start()
        deadline = time.monotonic() + 120
        while panel.running:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert panel.sweep is not None and panel.status.value.startswith("done: 1 configuration")
        assert panel.download_csv.data and not panel.run_button.disabled
    finally:
        panel.stop()
        panel.max_seconds = 10.0


def test_video_tab_builds_its_player_on_first_open_with_the_workbench_model(bench):
    assert bench.video is None, "the Video tab decodes and segments only once it is opened"
    bench.tabs.selected_index = VIDEO_TAB
    try:
        assert bench.video is not None and bench.video_view.children == (bench.video,)
        assert bench.video.segmenter is bench.segmenter
        assert bench.video.viewer.revision == 1 and bench.video.viewer.mask_png, "frame 0 is segmented and sent"
        assert "bird" in bench.video.segmenter.spec.labels.names
        assert "uses the model chosen in the Segment tab: <b>deeplabv3-starter</b>" in bench.video_note.value
    finally:
        bench.video.close()
        bench.tabs.selected_index = 0


@pytest.mark.slow
def test_video_and_camera_tabs_follow_the_model_chosen_in_the_segment_tab(bench):
    bench.tabs.selected_index = VIDEO_TAB
    video = bench.video
    bench.tabs.selected_index = CAMERA_TAB
    camera = bench.camera
    try:
        assert camera.segmenter is bench.segmenter and "<b>deeplabv3-starter</b>" in bench.camera_note.value
        bench.tabs.selected_index = 0
        bench.controls.model_dropdown.value = "deeplab-edgetpu-slim-cityscapes"
        assert video.segmenter.spec.name == "deeplabv3-starter", "a closed tab runs nothing"
        bench.tabs.selected_index = VIDEO_TAB
        assert video.segmenter is bench.segmenter and bench.video is video  # the same player, another model
        assert "road" in video.viewer.class_names and video.viewer.revision == 2  # its frame segmented again
        assert "<b>deeplab-edgetpu-slim-cityscapes</b>" in bench.video_note.value + video.about.value
        bench.controls.model_dropdown.value = "deeplabv3-starter"  # from code, with the Video tab open
        assert video.segmenter is bench.segmenter and "bird" in video.viewer.class_names
        bench.controls.model_dropdown.value = "deeplab-edgetpu-slim-cityscapes"
        bench.tabs.selected_index = CAMERA_TAB
        assert camera.segmenter is bench.segmenter and bench.camera is camera
        assert "<b>deeplab-edgetpu-slim-cityscapes</b>" in bench.camera_note.value
        assert camera.palette[0] == list(bench.segmenter.spec.labels.colormap[0])
        buffer = io.BytesIO()
        load_sample("cityscapes").save(buffer, "JPEG")
        reply, _ = camera.segment_jpeg(buffer.getvalue())
        assert "road" in {c["name"] for c in reply["classes"]}
    finally:
        bench.controls.model_dropdown.value = "deeplabv3-starter"
        bench.tabs.selected_index = 0
        video.close()
        camera.close()


def browser_upload(button, name: str, data: bytes, chunk: int = 4 * 1024 * 1024) -> None:
    """Send `data` to an UploadButton as its browser side does: one custom message per chunk."""
    count = max(1, -(-len(data) // chunk))
    for index in range(count):
        part = memoryview(data[index * chunk : (index + 1) * chunk])
        head = {"name": name, "type": "", "size": len(data), "event": "chunk", "upload": "u1"}
        button._handle_custom_msg({**head, "index": index, "count": count}, [part])


def test_upload_buttons_have_plain_labels_and_take_a_file_in_chunks():
    from deeplab_widgets.widgets.app_policy import AppPolicy

    picker = ImagePicker(value=None, samples=["cat"], policy=AppPolicy())
    controls = RuntimeControls(policy=AppPolicy())
    assert (picker.upload.label, controls.model_upload.label, controls.labels_upload.label) == (
        "Upload photo",
        "Upload .tflite",
        "Labels .txt",
    )
    assert picker.upload.max_bytes == controls.model_upload.max_bytes == 0  # notebook mode: no limit
    browser_upload(picker.upload, "bird.jpg", sample_path("bird").read_bytes(), chunk=50_000)
    assert picker.source == "upload bird.jpg" and picker.image.size == load_sample("bird").size
    assert picker.upload.value == ()  # read and cleared: the same file again is a change
    assert picker.upload.label == "Upload photo"


def test_app_mode_refuses_oversized_models_and_labels_before_parsing(shared):
    from deeplab_widgets.errors import UploadTooLargeError
    from deeplab_widgets.widgets.app_policy import AppPolicy

    model = (shared / "models" / "lite-model_deeplabv3_1_metadata_2.tflite").read_bytes()
    assert len(model) > 2_000_000
    policy = AppPolicy(app_mode=True, max_upload_mb=2)
    controls = RuntimeControls(policy=policy)
    controls.model_dropdown.value = LOAD_FILE
    assert controls.model_upload.max_bytes == controls.labels_upload.max_bytes == 2_000_000
    browser_upload(controls.model_upload, "mine.tflite", model)
    assert controls.error == (
        f"mine.tflite: mine.tflite is {len(model) / 1e6:.3g} MB; this app accepts uploads up to 2 MB "
        "(whoever runs the app can raise the limit with DEEPLAB_WIDGETS_MAX_UPLOAD_MB=<MB>)"
    )
    assert not controls.custom_models and controls.model == "deeplabv3-starter"
    # What the browser sends instead of a file over max_bytes: its name and size only.
    controls.model_upload._handle_custom_msg({"event": "too_large", "name": "huge.tflite", "size": 3_000_000}, [])
    assert controls.error.startswith("huge.tflite: huge.tflite is 3 MB; this app accepts uploads up to 2 MB")
    with pytest.raises(UploadTooLargeError, match="up to 2 MB"):
        policy.check_upload("mine.tflite", len(model))

    small = RuntimeControls(policy=AppPolicy(app_mode=True, max_upload_mb=3))
    small.model_dropdown.value = LOAD_FILE
    browser_upload(small.model_upload, "mine.tflite", model)  # within the limit: loaded
    assert small.model == "mine.tflite" and small.error == ""
    tiny = RuntimeControls(policy=AppPolicy(app_mode=True, max_upload_mb=0.01))
    tiny.model_dropdown.value = LOAD_FILE
    assert tiny.load_file(model, "mine.tflite")
    labels = "\n".join(f"class number {i} with a long descriptive name" for i in range(400)).encode()
    browser_upload(tiny.labels_upload, "labels.txt", labels)
    # Refused before it was read: 400 names for 21 classes would otherwise be refused for its line count.
    assert tiny.error.startswith(f"labels.txt: labels.txt is {len(labels) / 1e6:.3g} MB; this app accepts uploads")
    assert "0.01 MB" in tiny.error and "class names but the model predicts" not in tiny.error


def test_workbench_and_camera_take_a_segmenter_or_a_model_file_as_their_model(shared, starter):
    from deeplab_widgets import CameraSegmenter, Segmenter

    seg = Segmenter("deeplabv3-starter", RuntimeOptions(num_threads=1), resize="pad")
    wb = Workbench(seg, image="cat")
    assert wb.controls.model == "deeplabv3-starter" and wb.controls.resize == "pad"
    assert wb.controls.options == seg.options and wb.segmenter.spec is seg.spec  # not loaded a second time
    assert wb.result is not None and wb.result.resize == "pad" and "cat" in wb.result.class_names
    path = shared / "models" / "lite-model_deeplabv3_1_metadata_2.tflite"  # labels embedded in the file
    from_file = Workbench(path, image="cat")
    assert (
        from_file.controls.model == path.name
        and (f"{path.name} (file)", path.name) in from_file.controls.model_dropdown.options
    )
    assert "cat" in {c.name for c in from_file.result.present_classes()}
    camera = CameraSegmenter(starter, resize="pad")
    assert camera.segmenter.resize == "pad" and camera.segmenter.spec is starter.spec and starter.resize == "stretch"
    buffer = io.BytesIO()
    load_sample("cat").save(buffer, "JPEG")
    reply, labels = camera.segment_jpeg(buffer.getvalue())
    assert "cat" in {c["name"] for c in reply["classes"]} and len(labels) == reply["width"] * reply["height"]
    assert repr(camera) == (  # a static page shows this in the widget's place
        "CameraSegmenter(deeplabv3-starter, 320 px frames): a live camera widget; "
        "it needs a browser with a camera and a running kernel"
    )


def test_mask_viewer_takes_the_image_first_and_the_old_order_warns(starter):
    image = load_sample("cat")
    result = starter.segment(image)
    with pytest.warns(DeprecationWarning, match=r"MaskViewer\(result, image\) is deprecated"):
        old = MaskViewer(result, image)
    assert old.image is image and old.result is result and (sent_mask(old) == result.labels).all()
    viewer = MaskViewer()
    with pytest.warns(DeprecationWarning, match=r"MaskViewer.show\(result, image\) is deprecated"):
        viewer.show(result, image)
    assert viewer.image is image and viewer.revision == 1
