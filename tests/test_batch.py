"""Batch segmentation: folders in, masks + summary out; failures, resume, interruption, processes and Dask."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deeplab_widgets import (
    Dask,
    Engine,
    OptionsError,
    OutputConflictError,
    Processes,
    RuntimeOptions,
    Segmenter,
    Serial,
    Size,
    Threads,
)
from deeplab_widgets.assets.samples import sample_path
from deeplab_widgets.cli import engine_from_flags, main
from deeplab_widgets.core.runtime import cpu_count
from deeplab_widgets.workflows.batch import MODEL_KEY, SUMMARY_NAME, expand_inputs, segment_many

# sample -> (file name in the test folder, the class it shows)
PHOTOS = {"cat": "cat", "pets": "dog", "bird": "bird", "grace_hopper": "person"}


@pytest.fixture(scope="module")
def seg() -> Segmenter:
    """The starter model at one interpreter thread, so serial, process and Dask runs compute identically."""
    return Segmenter("deeplabv3-starter", RuntimeOptions(num_threads=1))


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Four sample photos, a same-named photo in a subfolder, a corrupt JPEG, a text file posing as a PNG."""
    folder = tmp_path / "photos"
    (folder / "more").mkdir(parents=True)
    for name in PHOTOS:
        src = sample_path(name)
        shutil.copyfile(src, folder / src.name)
    shutil.copyfile(sample_path("cat"), folder / "more" / "cat.bmp")
    (folder / "corrupt.jpg").write_bytes(sample_path("pets").read_bytes()[:3000])
    (folder / "notes.png").write_text("not an image\n")
    (folder / "readme.txt").write_text("not an image extension: ignored\n")
    return folder


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under `folder` with its inode, modification time and bytes."""
    return {
        p.relative_to(folder).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def read_summary(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / SUMMARY_NAME).read_text().splitlines()]


def test_folder_gives_masks_errors_and_a_summary(photos: Path, tmp_path: Path, seg: Segmenter) -> None:
    out = tmp_path / "out"
    run = segment_many(photos, seg, out, overlay=True, progress=False)
    records = list(run)
    report = run.report
    names = [Path(r.source).relative_to(photos).as_posix() for r in records]
    assert names == ["bird.bmp", "cat.bmp", "corrupt.jpg", "grace_hopper.bmp", "more/cat.bmp", "notes.png", "pets.jpg"]
    assert [r.status for r in records] == ["ok", "ok", "failed", "ok", "ok", "failed", "ok"]
    assert report.count("ok") == 5 and len(report.failures) == 2
    bad = {Path(r.source).name: r for r in report.failures}
    assert bad["corrupt.jpg"].error_type == "ImageDecodeError" and "could not be decoded" in bad["corrupt.jpg"].error
    assert (
        bad["notes.png"].error
        == f"{photos / 'notes.png'} is not an image in a format that can be read (JPEG, PNG, BMP, GIF, WebP or TIFF)"
    )

    # One palette mask per good image, at the photo's size; same-named photos in subfolders do not collide.
    for r in records:
        if r.ok:
            mask = Image.open(r.mask)
            assert mask.mode == "P" and mask.size == Image.open(r.source).size
            assert Size.of(mask) == r.size and r.size.width == mask.width
            assert mask.info[MODEL_KEY] == seg.spec.digest
            assert Size.of(Image.open(r.overlay)) == r.size
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(
        [f"{s}_{kind}.png" for s in ("bird", "cat", "grace_hopper", "pets") for kind in ("mask", "overlay")]
        + ["more/cat_mask.png", "more/cat_overlay.png", SUMMARY_NAME]
    )

    lines = read_summary(out)
    assert [line["path"] for line in lines] == [r.source for r in records]
    by_name = {Path(line["path"]).relative_to(photos).as_posix(): line for line in lines}
    for name, shows in PHOTOS.items():
        line = by_name[sample_path(name).name]
        classes = {c["name"]: c["fraction"] for c in line["classes"]}
        assert shows in classes and classes[shows] > 0.05, (name, classes)
        assert line["mask"] == f"{Path(line['path']).stem}_mask.png"
        assert abs(sum(classes.values()) - 1) < 1e-4
        assert line["timings_ms"]["invoke"] > 0
    assert by_name["more/cat.bmp"]["mask"] == "more/cat_mask.png"
    assert by_name["more/cat.bmp"]["classes"] == by_name["cat.bmp"]["classes"]
    assert by_name["notes.png"] == {
        "path": str(photos / "notes.png"),
        "status": "failed",
        "error": f"{photos / 'notes.png'} is not an image in a format that can be read (JPEG, PNG, BMP, GIF, WebP or TIFF)",
        "error_type": "ImageDecodeError",
    }


def test_resume_writes_nothing_new(photos: Path, tmp_path: Path, seg: Segmenter) -> None:
    out = tmp_path / "out"
    first = segment_many(photos, seg, out, overlay=True, progress=False).run()
    before = snapshot(out)
    invocations = seg.invocations
    again = segment_many(photos, seg, out, overlay=True, resume=True, progress=False).run()
    assert snapshot(out) == before
    assert seg.invocations == invocations
    assert [r.status for r in again.records] == [
        "skipped",
        "skipped",
        "failed",
        "skipped",
        "skipped",
        "failed",
        "skipped",
    ]
    assert [r.classes for r in again.records] == [r.classes for r in first.records]

    # A truncated mask and a deleted overlay are not valid outputs: only those two images run again.
    mask = out / "pets_mask.png"
    mask.write_bytes(mask.read_bytes()[:200])
    (out / "bird_overlay.png").unlink()
    third = segment_many(photos, seg, out, overlay=True, resume=True, progress=False).run()
    assert {Path(r.source).name for r in third.records if r.status == "ok"} == {"pets.jpg", "bird.bmp"}
    assert snapshot(out)["pets_mask.png"][2] == before["pets_mask.png"][2]
    assert [line["path"] for line in read_summary(out)] == [r.source for r in first.records]


def test_resume_redoes_masks_of_another_model(photos: Path, tmp_path: Path, seg: Segmenter) -> None:
    out = tmp_path / "out"
    segment_many(photos, seg, out, progress=False).run()
    padded = segment_many(photos, seg.with_options(resize="pad"), out, resume=True, progress=False).run()
    assert padded.count("skipped") == 0 and padded.count("ok") == 5
    assert Image.open(out / "cat_mask.png").info["deeplab_widgets.resize"] == "pad"


@pytest.mark.parametrize("engine", [Serial(), Processes(2, interpreter_threads=1)], ids=["serial", "processes"])
def test_interrupted_run_leaves_only_complete_files(
    photos: Path, tmp_path: Path, seg: Segmenter, engine: Engine
) -> None:
    out = tmp_path / "out"
    k = 2
    run = segment_many(photos, seg, out, overlay=True, engine=engine, progress=False)
    with pytest.raises(KeyboardInterrupt), run:
        for i, _ in enumerate(run):
            if i + 1 == k:
                raise KeyboardInterrupt  # what Ctrl-C in the consuming loop does
    files = [p for p in out.rglob("*") if p.is_file()]
    assert not [p for p in files if p.name.endswith(".part") or p.name.startswith(".")]
    assert not (out / SUMMARY_NAME).exists()
    masks = [p for p in files if p.name.endswith("_mask.png")]
    assert len(masks) >= k if isinstance(engine, Processes) else len(masks) == k  # a pool's in-flight images finish
    for p in files:
        with Image.open(p) as im:
            im.load()  # complete: decodes to the end
    resumed = segment_many(photos, seg, out, overlay=True, resume=True, engine=Serial(), progress=False).run()
    assert resumed.count("skipped") == len(masks)
    assert resumed.count("ok") == 5 - len(masks)
    assert len(read_summary(out)) == 7


@pytest.fixture(scope="module")
def cluster():
    """A 2-worker Dask LocalCluster on loopback."""
    pytest.importorskip("distributed", reason="Dask is not installed: pip install 'deeplab-widgets[dask]'")
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as local:
        yield local


@pytest.mark.slow
def test_every_engine_writes_the_serial_masks_byte_for_byte(
    photos: Path, tmp_path: Path, seg: Segmenter, cluster
) -> None:
    """Serial, threads (own and shared interpreters), processes and Dask (client and address): the same files."""
    from distributed import Client

    serial = segment_many(photos, seg, tmp_path / "serial", engine=Serial(), progress=False).run()
    masks = sorted(p.relative_to(tmp_path / "serial") for p in (tmp_path / "serial").rglob("*_mask.png"))
    assert len(masks) == 5 and serial.engine == "serial"
    with Client(cluster) as client:
        engines = {
            "threads": Threads(interpreter_threads=1),
            "shared": Threads(shared=True, interpreter_threads=1),
            "processes": Processes(2, interpreter_threads=1),
            "dask-client": Dask(client),
            "dask-address": Dask(cluster.scheduler_address),
        }
        reports = {
            name: segment_many(photos, seg, tmp_path / name, engine=engine, progress=False).run()
            for name, engine in engines.items()
        }
        workers_used = client.run(
            lambda: __import__(
                "deeplab_widgets.workflows.batch.engines"
            ).workflows.batch.engines._WORKER_SEGMENTERS.__len__()
        )
    assert reports["threads"].engine == f"{cpu_count()} threads, {cpu_count()} interpreters x 1 interpreter thread"
    assert reports["shared"].engine.endswith("1 shared interpreter x 1 interpreter thread")
    assert reports["processes"].engine == "2 processes"
    assert reports["dask-client"].engine == reports["dask-address"].engine == "dask (2 workers)"
    assert sorted(workers_used.values()) == [1, 1]  # one cached interpreter in each worker process
    for name, report in reports.items():
        assert [(r.source, r.status, r.classes, r.error) for r in report.records] == [
            (r.source, r.status, r.classes, r.error) for r in serial.records
        ], name
        for rel in masks:
            assert (tmp_path / name / rel).read_bytes() == (tmp_path / "serial" / rel).read_bytes(), (name, rel)


def test_the_run_is_lazy_until_iterated(photos: Path, tmp_path: Path, seg: Segmenter) -> None:
    out = tmp_path / "out"
    invocations = seg.invocations
    run = segment_many(photos, seg, out, engine=Threads(), progress=False)
    assert not out.exists() and run.report is None and seg.invocations == invocations
    first = next(run)
    assert first.status == "ok" and (out / f"{Path(first.source).stem}_mask.png").is_file()
    report = run.run()
    assert report.count("ok") == 5 and (out / SUMMARY_NAME).is_file()


def test_in_memory_images_without_output_folder(seg: Segmenter) -> None:
    images = [Image.open(sample_path("pets")), np.asarray(Image.open(sample_path("bird"))), b"not an image"]
    records = list(segment_many(images, seg, progress=False))
    assert [r.source for r in records] == ["<image 0>", "<image 1>", "<image 2>"]
    assert "dog" in {c.name for c in records[0].classes} and "bird" in {c.name for c in records[1].classes}
    assert records[0].mask is None and records[2].error_type == "ImageDecodeError"


def test_output_names_mirror_folders_and_keep_extensions_apart(tmp_path: Path) -> None:
    for rel in ("a/x/cat.bmp", "a/cat.bmp", "a/cat.png", "a/.hidden/cat.bmp", "b/cat.bmp"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    names = [it.name for it in expand_inputs([tmp_path / "a"])]
    assert names == ["cat_bmp", "cat_png", "x/cat"]
    with pytest.raises(OutputConflictError, match=r"a/x/cat.bmp and .*b/cat.bmp would both write cat_mask.png"):
        expand_inputs([tmp_path / "a" / "x", tmp_path / "b"])
    # An output folder inside the input folder is not read back as input.
    assert [it.name for it in expand_inputs([tmp_path], exclude=tmp_path / "a")] == ["b/cat"]


def test_bad_arguments_are_clear(seg: Segmenter, tmp_path: Path) -> None:
    with pytest.raises(OptionsError, match="resume needs an out_dir"):
        segment_many([], seg, resume=True)
    with pytest.raises(OptionsError, match=r"engine must be Serial\(\), Threads\(\), Processes\(n\) or Dask"):
        segment_many([], seg, tmp_path, engine="threads")  # type: ignore[arg-type]
    with pytest.raises(OptionsError, match=r"Processes\(n\) needs at least 1 worker process, not 0"):
        Processes(0)
    with pytest.raises(OptionsError, match=rf"Threads\(n\) must be between 1 and {cpu_count()}"):
        Threads(cpu_count() + 1)
    with pytest.raises(OptionsError, match=rf"interpreter_threads must be between 1 and {cpu_count()}"):
        Dask("tcp://127.0.0.1:1", interpreter_threads=0)
    with pytest.raises(OptionsError, match="give engine= or the deprecated workers, not both"):
        segment_many([], seg, tmp_path, engine=Serial(), workers=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'worker'"):
        segment_many([], seg, tmp_path, worker=1)


def test_a_segmenter_with_options_is_retargeted_without_reloading(photos: Path, tmp_path: Path, seg: Segmenter) -> None:
    report = segment_many(photos, seg, tmp_path / "out", resize="pad", engine=Serial(), progress=False).run()
    assert {r.resize for r in report.records if r.ok} == {"pad"}
    assert Image.open(tmp_path / "out" / "cat_mask.png").info["deeplab_widgets.resize"] == "pad"
    assert seg.resize == "stretch"  # the caller's segmenter is unchanged


@pytest.mark.parametrize(
    ("old", "engine_name"),
    [
        ({"workers": 1, "threads": 1}, "serial"),
        ({"interpreters": 1, "threads": 1}, "1 shared interpreter x 1 interpreter thread"),
        ({"threads": 1}, "interpreters x 1 interpreter thread"),
    ],
)
def test_deprecated_engine_keywords_warn_and_still_choose_their_engine(
    old: dict, engine_name: str, seg: Segmenter, tmp_path: Path
) -> None:
    photos = [sample_path("cat"), sample_path("bird")]
    with pytest.warns(DeprecationWarning, match=r"segment_many\(.*\) is deprecated .*pass engine=Serial\(\)") as seen:
        report = segment_many(photos, seg, tmp_path, progress=False, **old).run()
    assert seen[0].filename == __file__  # the warning points at the caller
    assert report.engine.endswith(engine_name) and report.count("ok") == 2


def test_the_old_model_keyword_warns_and_still_works(seg: Segmenter) -> None:
    with pytest.warns(DeprecationWarning, match=r"segment_many\(segmenter_or_model=...\) is deprecated.*use model="):
        (record,) = segment_many([sample_path("cat")], segmenter_or_model=seg, progress=False)
    assert "cat" in {c.name for c in record.classes}


def test_cli_flags_build_their_engine() -> None:
    assert engine_from_flags(None, None, None) == Threads()
    assert engine_from_flags(1, 1, None) == Serial()
    assert engine_from_flags(2, 1, None) == Processes(2, interpreter_threads=1)
    assert engine_from_flags(None, None, "tcp://127.0.0.1:8786") == Dask("tcp://127.0.0.1:8786")
    with pytest.raises(OptionsError, match="--workers and --dask choose two different engines"):
        engine_from_flags(2, None, "tcp://127.0.0.1:8786")


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # inside pycocotools.decode
def test_rle_decodes_back_to_the_mask(tmp_path: Path, seg: Segmenter) -> None:
    coco = pytest.importorskip("pycocotools.mask", reason="pycocotools is not installed (the [coco] extra)")
    out = tmp_path / "out"
    (record,) = segment_many([sample_path("cat")], seg, out, rle=True, progress=False)
    line = read_summary(out)[0]
    labels = np.asarray(Image.open(record.mask))
    assert sorted(int(i) for i in line["rle"]["counts"]) == sorted(c.id for c in record.classes)
    for class_id, counts in line["rle"]["counts"].items():
        decoded = coco.decode({"size": line["rle"]["size"], "counts": counts.encode()})
        assert np.array_equal(decoded.astype(bool), labels == int(class_id))


def test_cli_folder_resume_and_failures(photos: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    argv = ["segment", str(photos), "--out", str(out), "--threads", "1", "--summary"]
    assert main([*argv, "--workers", "1"]) == 1
    stdout, stderr = capsys.readouterr()
    assert sorted(stderr.splitlines()) == [
        f"deeplab-widgets: {photos / 'corrupt.jpg'}: {photos / 'corrupt.jpg'} could not be decoded: the file is damaged or cut short",
        f"deeplab-widgets: {photos / 'notes.png'}: {photos / 'notes.png'} is not an image in a format that can be read (JPEG, PNG, BMP, GIF, WebP or TIFF)",
    ]
    assert "pets.jpg: background" in stdout and "dog" in stdout
    assert (out / "cat_mask.png").is_file() and (out / "more" / "cat_mask.png").is_file()
    before = snapshot(out)
    assert main([*argv, "--resume"]) == 1
    stdout, _ = capsys.readouterr()
    assert stdout.count("(kept from an earlier run)") == 5
    assert snapshot(out) == before
    assert len(read_summary(out)) == 7


@pytest.mark.slow  # starts a 2-worker Dask cluster
def test_cli_runs_on_a_dask_scheduler_address(photos: Path, tmp_path: Path, cluster, capsys) -> None:
    out = tmp_path / "out"
    code = main(["segment", str(photos), "--out", str(out), "--dask", cluster.scheduler_address, "--threads", "1"])
    stdout, stderr = capsys.readouterr()
    assert code == 1 and stderr.count("\n") == 2
    assert "grace_hopper.bmp: person" in stdout
    reference = tmp_path / "serial"
    segment_many(photos, Segmenter("deeplabv3-starter", RuntimeOptions(num_threads=1)), reference, progress=False).run()
    masks = sorted(reference.rglob("*_mask.png"))
    assert len(masks) == 5
    for mask in masks:
        assert (out / mask.relative_to(reference)).read_bytes() == mask.read_bytes()


def test_batch_report_figure_shows_every_record_with_its_classes_or_error(tmp_path):
    from deeplab_widgets.viz.batch import plot_batch_report

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("cat", "bird"):
        shutil.copyfile(sample_path(name), photos / sample_path(name).name)
    (photos / "broken.jpg").write_bytes(sample_path("pets").read_bytes()[:3000])
    report = segment_many(photos, "deeplabv3-starter", tmp_path / "out", progress=False).run()
    fig = plot_batch_report(report, cols=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert any(t.startswith("cat (ok)") and "cat" in t.split("\n")[1] for t in titles)
    assert any(t.startswith("bird (ok)") and "bird" in t.split("\n")[1] for t in titles)
    assert "broken.jpg (failed)" in titles
    assert fig._suptitle.get_text().startswith("Batch run: 2 ok, 1 failed")
    assert {t.get_text() for t in fig.legends[0].get_texts()} == {"background", "cat", "bird"}


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # inside pycocotools.decode
def test_resume_with_rle_and_no_summary_line_writes_the_rle(tmp_path: Path, seg: Segmenter) -> None:
    """A kept mask with no earlier summary line gets its RLE rebuilt from the mask (it once landed in error_type)."""
    coco = pytest.importorskip("pycocotools.mask", reason="pycocotools is not installed (the [coco] extra)")
    out = tmp_path / "out"
    segment_many([sample_path("cat")], seg, out, summary_name=None, progress=False).run()
    assert not (out / SUMMARY_NAME).exists()
    (record,) = segment_many([sample_path("cat")], seg, out, resume=True, rle=True, progress=False).run().records
    assert record.status == "skipped" and record.error_type is None and record.error is None
    line = read_summary(out)[0]
    assert line["status"] == "ok" and "error_type" not in line
    labels = np.asarray(Image.open(out / "cat_mask.png"))
    assert sorted(int(i) for i in line["rle"]["counts"]) == sorted(np.unique(labels).tolist())
    for class_id, counts in line["rle"]["counts"].items():
        decoded = coco.decode({"size": line["rle"]["size"], "counts": counts.encode()})
        assert np.array_equal(decoded.astype(bool), labels == int(class_id))


def test_resume_removes_the_temporary_files_a_killed_run_left(photos: Path, tmp_path: Path, seg: Segmenter) -> None:
    out = tmp_path / "out"
    segment_many([sample_path("cat")], seg, out, progress=False).run()
    (out / "more").mkdir()
    stale = [out / ".cat_mask.png.0123456789ab.part", out / "more" / ".dog_overlay.png.abcdef012345.part"]
    stale.append(out / f".{SUMMARY_NAME}.00000000ffff.part")
    foreign = [out / ".cat_mask.png.not-ours.part", out / ".notes.txt.0123456789ab.part", out / "cat.part"]
    for p in stale + foreign:
        p.write_bytes(b"half a file")
    report = segment_many([sample_path("cat")], seg, out, resume=True, progress=False).run()
    assert report.count("skipped") == 1
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in foreign)


def test_default_engine_is_a_thread_per_core_with_its_own_interpreter(photos: Path, tmp_path: Path) -> None:
    report = segment_many(photos, "deeplabv3-starter", tmp_path / "out", progress=False).run()
    cores = cpu_count()
    one_each = f"{cores} threads, {cores} interpreters x 1 interpreter thread"
    assert report.engine == (one_each if cores > 1 else "1 thread, 1 shared interpreter x 1 interpreter thread")
    assert report.count("ok") == 5


GUARDLESS_SCRIPT = """
from deeplab_widgets import segment_many
report = segment_many({folder!r}, "deeplabv3-starter", {out!r}, progress=False).run()
print(report.count("ok"), report.engine)
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["script", "stdin"])
def test_default_works_in_a_script_without_a_main_guard(tmp_path: Path, how: str) -> None:
    """100 images (where the default used to switch to a spawn pool) from a plain script and from stdin."""
    folder = tmp_path / "photos"
    folder.mkdir()
    data = sample_path("dog_segmentation").read_bytes()
    for k in range(100):
        (folder / f"dog{k:03d}.bmp").write_bytes(data)
    code = GUARDLESS_SCRIPT.format(folder=str(folder), out=str(tmp_path / "out"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    if how == "script":
        script = tmp_path / "segment_folder.py"
        script.write_text(code)
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600)
    else:
        done = subprocess.run([sys.executable, "-"], input=code, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    count, engine = done.stdout.strip().split(" ", 1)
    assert count == "100" and "threads" in engine
    assert len(list((tmp_path / "out").glob("*_mask.png"))) == 100


def test_a_batch_overlay_blended_in_bands_equals_the_whole_blend(seg: Segmenter, monkeypatch) -> None:
    from deeplab_widgets.core import imaging
    from deeplab_widgets.core.images import load_image

    photo = load_image(sample_path("kite_and_cold"))
    result = seg.segment(photo)
    whole = np.asarray(imaging.overlay_image(photo, result, 0.6))
    monkeypatch.setattr(imaging, "BAND_PIXELS", 50_000)  # 37 rows a band: many bands, a short last one
    banded = imaging.blend_into(photo.copy(), result, 0.6)
    assert np.array_equal(np.asarray(banded), whole)
