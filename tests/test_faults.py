"""Faults: two runs into one folder, killed runs, outputs that cannot be written. Nothing escapes, nothing is lost."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from deeplab_widgets.assets.samples import sample_path
from deeplab_widgets.cli import main
from deeplab_widgets.core.export import claim_folder

CLI = [sys.executable, "-m", "deeplab_widgets.cli"]


def _is_mask(name: str) -> bool:
    return name.endswith("_mask.png")


@pytest.fixture
def folder_of_photos(tmp_path: Path) -> Path:
    """24 real photos (four samples, six copies each): long enough for two runs to overlap."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("cat", "grace_hopper", "kite_and_cold", "parrot"):
        src = sample_path(name)
        for i in range(6):
            shutil.copyfile(src, folder / f"{i}_{src.name}")
    return folder


def test_a_claimed_folder_keeps_another_runs_temporary_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with claim_folder(out, _is_mask) as removed_first:
        in_progress = out / ".cat_mask.png.0123456789ab.part"
        in_progress.write_bytes(b"being written")
        with claim_folder(out, _is_mask) as removed_second:
            assert removed_first == [] and removed_second == []
        assert in_progress.exists()
    with claim_folder(out, _is_mask) as removed_later:  # the writer is gone: now the file is stale
        assert removed_later == [in_progress]
    assert not in_progress.exists()


def test_a_killed_runs_temporary_folder_is_removed_by_the_next_claim(tmp_path: Path) -> None:
    stale = tmp_path / ".masks.0123456789ab.part"
    stale.mkdir()
    (stale / "frame_000000.png").write_bytes(b"half")
    with claim_folder(tmp_path, {"masks"}.__contains__) as removed:
        assert removed == [stale]
    assert not stale.exists()


def test_two_resumed_runs_into_one_folder_both_finish_with_valid_outputs(folder_of_photos: Path, tmp_path: Path):
    out = tmp_path / "out"
    args = [*CLI, "segment", str(folder_of_photos), "--out", str(out), "--resume", "--overlay", "--summary"]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not list(out.glob("*_mask.png")) and first.poll() is None:  # the first run is writing
        time.sleep(0.05)
    second = subprocess.run(args, capture_output=True, text=True, timeout=300)
    _, first_err = first.communicate(timeout=300)
    assert (first.returncode, first_err) == (0, "")
    assert (second.returncode, second.stderr) == (0, "")
    photos = sorted(p.stem for p in folder_of_photos.iterdir())
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*(f"{s}_mask.png" for s in photos), *(f"{s}_overlay.png" for s in photos), "summary.jsonl"]
    )
    for png in out.glob("*.png"):
        with Image.open(png) as im:
            im.load()  # complete files only
    assert len((out / "summary.jsonl").read_text().splitlines()) == len(photos)


def test_sigterm_stops_a_run_with_one_line_and_keeps_finished_outputs(folder_of_photos: Path, tmp_path: Path):
    out = tmp_path / "out"
    args = [*CLI, "segment", str(folder_of_photos), "--out", str(out), "--overlay"]
    run = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while len(list(out.glob("*_overlay.png"))) < 2 and run.poll() is None:
        time.sleep(0.02)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    if run.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert run.returncode == 130
    assert err == "deeplab-widgets: interrupted: files being written were removed, finished ones are kept\n"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    for png in out.glob("*.png"):
        with Image.open(png) as im:
            im.load()


def test_sigkill_leftovers_are_removed_by_the_next_resumed_run(folder_of_photos: Path, tmp_path: Path):
    out = tmp_path / "out"
    args = [*CLI, "segment", str(folder_of_photos), "--out", str(out), "--overlay", "--resume"]
    run = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not list(out.glob("*_overlay.png")) and run.poll() is None:
        time.sleep(0.02)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    leftover = out / ".0_cat_overlay.png.0123456789ab.part"  # what a kill mid-write leaves
    leftover.write_bytes(b"half a png")
    assert main(["segment", str(folder_of_photos), "--out", str(out), "--overlay", "--resume"]) == 0
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert len(list(out.glob("*_overlay.png"))) == len(list(folder_of_photos.iterdir()))


@pytest.mark.parametrize("case", ["out is a file", "out under a file"])
def test_an_output_folder_that_cannot_exist_is_one_line_before_any_work(tmp_path: Path, capsys, case: str) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file")
    out = blocker if case == "out is a file" else blocker / "out"
    assert main(["segment", "--sample", "cat", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    expected = (
        f"deeplab-widgets: error: cannot write into {out}: it is a file, not a folder\n"
        if case == "out is a file"
        else f"deeplab-widgets: error: cannot write {out}: {blocker} is a file, not a folder\n"
    )
    assert err == expected
    assert blocker.read_text() == "a file"


def test_a_video_written_onto_a_folder_fails_before_the_clip_is_decoded(tmp_path: Path, capsys) -> None:
    target = tmp_path / "clip.mp4"
    target.mkdir()
    assert main(["video", "cockatoo", "--out", str(target), "--quiet"]) == 1
    assert (
        capsys.readouterr().err == f"deeplab-widgets: error: cannot write {target}: it is a folder; give a file name\n"
    )
    assert list(target.iterdir()) == []


def test_damaged_models_and_photos_give_a_result_or_a_project_error() -> None:
    from fault_campaign import cases, run

    batch = list(cases(30, seed=0))
    outcomes = run(batch)
    escapes = [(c.kind, c.damage, o) for c, o in zip(batch, outcomes, strict=True) if o not in ("result", "error")]
    assert escapes == []
    assert {"result", "error"} <= set(outcomes)  # the campaign damages enough to fail, not so much it always fails


def test_a_model_whose_weights_lack_data_fails_in_segment_with_a_model_error(cat_photo) -> None:
    from deeplab_widgets import ModelFormatError, Segmenter
    from deeplab_widgets.assets.zoo import fetch_model
    from deeplab_widgets.tflite.schema import op_name, read_model, write_model

    content = fetch_model("deeplabv3-starter").read_bytes()
    model = read_model(content)
    graph = model.subgraphs[0]
    conv = next(op for op in graph.operators if op_name(model, op) == "CONV_2D")
    model.buffers[graph.tensors[conv.inputs[1]].buffer].data = None
    segmenter = Segmenter.from_file(write_model(model, len(content)))
    with pytest.raises(ModelFormatError, match=r"^the model failed while running: Input tensor \d+ lacks data$"):
        segmenter.segment(cat_photo)


def test_a_model_declaring_a_batch_of_4096_is_refused_before_memory_is_reserved() -> None:
    import numpy as np

    from deeplab_widgets import ModelFormatError, Segmenter
    from deeplab_widgets.assets.zoo import fetch_model
    from deeplab_widgets.tflite.schema import read_model, write_model

    content = fetch_model("deeplabv3-starter").read_bytes()
    model = read_model(content)
    graph = model.subgraphs[0]
    graph.tensors[graph.inputs[0]].shape = np.array([4096, 257, 257, 3], np.int32)
    with pytest.raises(ModelFormatError, match=r"declares a batch of 4096 .* \(batch 1\)$"):
        Segmenter.from_file(write_model(model, len(content)))


@pytest.fixture(scope="module")
def cat_photo():
    from deeplab_widgets import load_sample

    return load_sample("cat")


@pytest.mark.parametrize("resume", [True, False])
def test_a_byte_of_garbage_in_the_summary_spoils_only_its_line(tmp_path: Path, capsys, resume: bool) -> None:
    out = tmp_path / "out"
    args = ["segment", "--sample", "cat", "--sample", "pets", "--out", str(out), "--summary"]
    assert main(args) == 0
    summary = out / "summary.jsonl"
    lines = summary.read_bytes().splitlines(keepends=True)
    summary.write_bytes(lines[0][:20] + b"\xff\xfe" + lines[0][20:] + lines[1])
    capsys.readouterr()
    assert main(args + ["--resume"] * resume) == 0
    assert capsys.readouterr().err == ""
    rewritten = summary.read_text("utf-8").splitlines()
    assert len(rewritten) == 2 and all(line.startswith("{") for line in rewritten)


def _video_run(out: Path, *extra: str) -> subprocess.Popen:
    args = [*CLI, "video", "cockatoo", "--out", str(out / "v.mp4"), "--masks", str(out / "masks"), "--quiet", *extra]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for_frames(out: Path, run: subprocess.Popen) -> None:
    """Until the run has written some masks into its hidden temporary folder."""
    while run.poll() is None and not any(len(list(p.glob("*.png"))) > 3 for p in out.glob(".masks.*.part")):
        time.sleep(0.02)


def test_a_killed_video_run_leaves_temporary_files_that_the_next_run_removes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = _video_run(out)
    _wait_for_frames(out, run)
    run.kill()
    run.wait()
    assert [p for p in out.iterdir() if p.name.startswith(".")]  # what SIGKILL leaves behind
    again = _video_run(out, "--limit", "3")
    assert again.wait(timeout=120) == 0
    assert sorted(p.name for p in out.iterdir()) == ["masks", "v.mp4"]
    assert len(list((out / "masks").iterdir())) == 3


def test_sigterm_stops_a_video_run_with_nothing_left_behind(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = _video_run(out)
    _wait_for_frames(out, run)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert (run.returncode, err) == (
        130,
        "deeplab-widgets: interrupted: files being written were removed, finished ones are kept\n",
    )
    assert list(out.iterdir()) == []


def _misuse_cases(tmp: Path) -> list[tuple[str, object, type, str]]:
    """(name, call, error type, message pattern): misuse of public parameters, each a project error naming it."""
    import io

    import numpy as np

    import deeplab_widgets as dw
    from deeplab_widgets import (
        Dask,
        EngineError,
        ImageDecodeError,
        LabelFileError,
        LabelSetNotFoundError,
        OptionsError,
        OutputError,
        Processes,
        RuntimeOptions,
        Segmenter,
        Size,
        Threads,
    )
    from deeplab_widgets.workflows.video.outputs import write_video_outputs

    (tmp / "labels_dir").mkdir(exist_ok=True)
    (tmp / "labels.png").write_bytes(sample_path("cat").read_bytes()[:2000])
    (tmp / "afile").write_text("a file")
    closed = Image.open(sample_path("cat"))
    closed.close()
    lazy_truncated = Image.open(io.BytesIO(sample_path("kite_and_cold").read_bytes()[:20000]))
    cat = sample_path("cat")
    seg = Segmenter("deeplabv3-starter")
    voc = dw.labelled_pairs()

    many = dw.segment_many
    video = dw.segment_video
    return [
        ("xnnpack='no'", lambda: RuntimeOptions(xnnpack="no"), OptionsError, r"^xnnpack must be True or False"),
        ("num_threads='2'", lambda: RuntimeOptions(num_threads="2"), OptionsError, r"^num_threads must be an int"),
        ("delegate_options list", lambda: RuntimeOptions(delegate_options=["a"]), OptionsError, r"^delegate_options"),
        ("delegate=3", lambda: RuntimeOptions(delegate=3), OptionsError, r"^delegate must be a library path"),
        ("label_set('nope')", lambda: dw.label_set("nope"), LabelSetNotFoundError, r"^unknown label set 'nope'"),
        ("labels missing", lambda: Segmenter(labels=tmp / "nope.txt"), LabelFileError, r"^labels file not found: "),
        ("labels folder", lambda: Segmenter(labels=tmp / "labels_dir"), LabelFileError, r"is a folder; give a text"),
        ("labels binary", lambda: Segmenter(labels=tmp / "labels.png"), LabelFileError, r"is not UTF-8 text"),
        ("labels=5", lambda: Segmenter(labels=5), OptionsError, r"^labels must be a labels file's path"),
        ("closed PIL image", lambda: dw.load_image(closed), ImageDecodeError, r"closed image"),
        ("truncated lazy image", lambda: dw.load_image(lazy_truncated), ImageDecodeError, r"truncated"),
        ("NaN array", lambda: dw.load_image(np.full((9, 9, 3), np.nan)), ImageDecodeError, r"not NaN or infinity$"),
        ("image=None", lambda: seg.segment(None), OptionsError, r"^image must be a path, bytes, a PIL image"),
        ("model=3", lambda: Segmenter(3), OptionsError, r"^model must be a zoo id, a \.tflite path"),
        ("options='x'", lambda: Segmenter("deeplabv3-starter", "x"), OptionsError, r"^options must be a Runtime"),
        ("max_pixels=-1", lambda: Segmenter(max_pixels=-1), OptionsError, r"^max_pixels must be at least 1"),
        ("scores='yes'", lambda: seg.segment(cat, scores="yes"), OptionsError, r"^scores must be True or False"),
        ("crf=3", lambda: seg.segment(cat, refine="crf", crf=3), OptionsError, r"^crf must be a CrfOptions"),
        ("inputs=None", lambda: many(None), OptionsError, r"^inputs must be a path, a folder"),
        ("out_dir a file", lambda: many([cat], out_dir=tmp / "afile"), OutputError, r"it is a file, not a folder$"),
        ("out_dir=3", lambda: many([cat], out_dir=3), OptionsError, r"^out_dir must be a path"),
        ("alpha=nan", lambda: many([cat], alpha=float("nan")), OptionsError, r"^alpha must be a finite number"),
        ("summary_name='../x'", lambda: many([cat], tmp / "o", summary_name="../x"), OptionsError, r"plain file name"),
        ("resume='yes'", lambda: many([cat], resume="yes"), OptionsError, r"^resume must be True or False"),
        ("engine='threads'", lambda: many([cat], engine="threads"), OptionsError, r"^engine must be Serial\(\)"),
        ("Threads('2')", lambda: Threads("2"), OptionsError, r"^Threads\(n\) must be an integer"),
        ("Processes(0)", lambda: Processes(0), OptionsError, r"^Processes\(n\) needs at least 1 worker process"),
        ("Dask(3)", lambda: Dask(3), OptionsError, r"^Dask\(\) needs a distributed\.Client"),
        (
            "unreachable Dask",
            lambda: many([cat], engine=Dask("tcp://127.0.0.1:9"), progress=False).run(),
            EngineError,
            r"^no Dask scheduler answered at tcp://127\.0\.0\.1:9 within 5 s",
        ),
        ("video=None", lambda: video(None), OptionsError, r"^video must be a path"),
        ("smooth='a'", lambda: video("cockatoo", smooth="a"), OptionsError, r"^the smoothing weight must be in"),
        ("start past the end", lambda: video("cockatoo", start=10**9), OptionsError, r"has 280 frames \(0 to 279\)"),
        ("limit=0", lambda: video("cockatoo", limit=0), OptionsError, r"^limit must be at least 1, not 0$"),
        ("frame_size=-5", lambda: video("cockatoo", frames=True, frame_size=-5), OptionsError, r"^frame_size must"),
        ("frame_size 0x0", lambda: video("cockatoo", frames=True, frame_size=Size(0, 0)), OptionsError, r"positive"),
        ("interpreters='a'", lambda: video("cockatoo", interpreters="a"), OptionsError, r"^interpreters must be an"),
        (
            "out=3",
            lambda: write_video_outputs("cockatoo", seg, out=3, limit=1, progress=False),
            OptionsError,
            r"^output file must be a path",
        ),
        ("dataset=3", lambda: dw.evaluate(seg, 3), OptionsError, r"^dataset must be a LabelledDataset"),
        (
            "label_map='nonsense'",
            lambda: dw.evaluate(seg, voc, label_map="nonsense"),
            OptionsError,
            r"^unknown label_map 'nonsense'",
        ),
        (
            "label_map short",
            lambda: dw.evaluate(seg, voc, label_map=np.array([1, 2])),
            OptionsError,
            r"^label_map must be 'auto', None or 256 class ids",
        ),
        ("compare_models([])", lambda: dw.compare_models([], voc), OptionsError, r"^models must be a non-empty"),
        ("disagreement(3, 4)", lambda: dw.disagreement(3, 4), OptionsError, r"^a must be a SegmentationResult"),
        ("list_samples(kind='x')", lambda: dw.list_samples(kind="x"), OptionsError, r"^unknown sample kind 'x'"),
        (
            "derive(input_size='a')",
            lambda: dw.derive("deeplabv3-starter", input_size="a"),
            OptionsError,
            r"^input size must be a whole number",
        ),
        ("flicker(3)", lambda: dw.flicker(3), OptionsError, r"^label_maps must be a list of class maps"),
    ]


def test_misuse_of_public_parameters_raises_a_project_error_naming_it(tmp_path: Path) -> None:
    from deeplab_widgets import DeeplabWidgetsError

    escaped = []
    for name, call, error, pattern in _misuse_cases(tmp_path):
        try:
            call()  # type: ignore[operator]
        except DeeplabWidgetsError as exc:
            if not isinstance(exc, error) or not re.search(pattern, str(exc)):
                escaped.append(f"{name}: {type(exc).__name__}: {exc}")
        except Exception as exc:
            escaped.append(f"{name}: escaped as {type(exc).__name__}: {exc}")
        else:
            escaped.append(f"{name}: accepted")
    assert escaped == []


def test_a_result_names_the_checksum_of_the_model_file_it_came_from(tmp_path: Path) -> None:
    import hashlib

    from deeplab_widgets import Segmenter, load_sample
    from deeplab_widgets.assets.zoo import fetch_model

    copy = tmp_path / "mine.tflite"
    shutil.copyfile(fetch_model("deeplabv3-starter"), copy)
    result = Segmenter.from_file(copy).segment(load_sample("cat"))
    assert (result.model, result.model_sha256) == ("mine.tflite", hashlib.sha256(copy.read_bytes()).hexdigest())


@pytest.fixture
def read_only_folder(tmp_path: Path):
    """A folder nothing may be written into, even by root (`chattr +i`; `chmod` for other users)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    locked = (
        subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        if os.geteuid() == 0
        else False
    )
    if not locked:
        folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        pytest.skip("no way to make a read-only folder here (root without chattr)")
    yield folder
    if locked:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


@pytest.mark.parametrize("inside", [False, True])
def test_a_read_only_output_folder_is_one_line_before_any_work(read_only_folder: Path, capsys, inside: bool) -> None:
    out = read_only_folder / "out" if inside else read_only_folder
    assert main(["segment", "--sample", "cat", "--out", str(out)]) == 1
    assert capsys.readouterr().err == (
        f"deeplab-widgets: error: cannot write {out}: {read_only_folder} is not writable (read-only or no permission)\n"
    )


def test_a_full_disk_while_writing_is_one_line_and_leaves_no_temporary_file(tmp_path: Path, capsys, monkeypatch):
    import errno

    from deeplab_widgets.core import export

    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(export.os, "replace", full)  # the disk fills up as the first mask is put in place
    out = tmp_path / "out"
    assert main(["segment", "--sample", "cat", "--out", str(out)]) == 1
    assert (
        capsys.readouterr().err
        == f"deeplab-widgets: error: cannot write {out / 'cat_mask.png'}: no space left on device\n"
    )
    assert list(out.iterdir()) == []
