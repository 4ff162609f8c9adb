"""The command line, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from deeplab_widgets.assets.samples import sample_path
from deeplab_widgets.cli import main
from deeplab_widgets.core.labels import pascal_colormap


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_models_list_and_info(capsys) -> None:
    code, out, _ = run(capsys, "models", "list")
    assert code == 0
    assert out.splitlines()[0].split()[0] == "deeplabv3-starter"
    assert len(out.splitlines()) == 6
    assert "deeplabv3plus-mnv2-ade20k-int8" in out
    code, out, _ = run(capsys, "models", "info", "deeplabv3-mnv2-voc")
    assert "sha256       350af47fd346" in out
    assert "class_ids" in out


def test_models_fetch_uses_the_mirror(capsys, shared) -> None:
    code, out, _ = run(capsys, "models", "fetch", "deeplabv3-starter")
    assert code == 0
    assert str(shared / "models" / "lite-model_deeplabv3_1_metadata_2.tflite") in out


def test_samples_list(capsys) -> None:
    code, out, _ = run(capsys, "samples", "list")
    assert code == 0
    assert any(line.startswith("kite_and_cold") for line in out.splitlines())


def test_segment_kites_writes_palette_mask_and_overlay(capsys, tmp_path) -> None:
    code, out, err = run(capsys, "segment", str(sample_path("kite_and_cold")), "--overlay", "--out", str(tmp_path))
    assert code == 0, err
    assert out.startswith("kite_and_cold.jpg: background")
    assert "person" in out.splitlines()[0]
    mask = Image.open(tmp_path / "kite_and_cold_mask.png")
    assert mask.mode == "P" and mask.size == (1352, 900)
    assert 15 in np.unique(np.asarray(mask))  # person
    assert mask.getpalette()[15 * 3 : 16 * 3] == pascal_colormap()[15].tolist()
    assert Image.open(tmp_path / "kite_and_cold_overlay.png").size == (1352, 900)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kite_and_cold_mask.png", "kite_and_cold_overlay.png"]


def test_segment_json_with_cityscapes_model(capsys) -> None:
    code, out, _ = run(
        capsys, "segment", "--sample", "cityscapes", "--model", "deeplab-edgetpu-slim-cityscapes", "--json"
    )
    assert code == 0
    record = json.loads(out)[0]
    assert record["classes"][0]["name"] == "road"
    assert {"car", "road"} <= {c["name"] for c in record["classes"]}


def test_segment_street_scene_with_the_ade20k_v3plus_model(capsys, shared) -> None:
    photo = shared / "images" / "cityscapes_segmentation.bmp"
    code, out, err = run(capsys, "segment", str(photo), "--model", "deeplabv3plus-mnv2-ade20k")
    assert code == 0 and err == ""
    top = [part.split()[0] for part in out.split(": ", 1)[1].split(", ")[:4]]
    assert {"road", "tree", "car"} <= set(top)


def test_segment_directory_reports_bad_files_and_goes_on(capsys, tmp_path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "cat.bmp").write_bytes(sample_path("cat").read_bytes())
    (tmp_path / "in" / "broken.jpg").write_bytes(sample_path("pets").read_bytes()[:2000])
    code, out, err = run(capsys, "segment", str(tmp_path / "in"), "--out", str(tmp_path / "out"))
    assert code == 1
    assert "cat.bmp: background" in out
    assert err.count("\n") == 1 and "broken.jpg could not be decoded" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cat_mask.png"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["segment", "/no/such/photo.jpg"],
            "deeplab-widgets: /no/such/photo.jpg: image not found: /no/such/photo.jpg\n",
        ),
        (["segment", "--model", "nope"], "deeplab-widgets: error: unknown model 'nope'; known: deeplabv3-starter"),
        (["segment", "--threads", "0"], "deeplab-widgets: error: num_threads must be between 1 and"),
        (
            ["segment", "--model", "/no/model.tflite"],
            "deeplab-widgets: error: model file not found: /no/model.tflite\n",
        ),
    ],
)
def test_bad_input_is_one_line_and_nonzero(capsys, argv: list[str], message: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_console_entry_point_runs_the_default_sample(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "deeplab_widgets.cli", "segment", "--overlay", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("cat.bmp: background")
    assert (tmp_path / "cat_overlay.png").is_file()


def test_outputs_get_ordinary_file_permissions(capsys, tmp_path) -> None:
    import os

    umask = os.umask(0)
    os.umask(umask)
    code, _, _ = run(capsys, "segment", "--sample", "cat", "--out", str(tmp_path))
    assert code == 0
    assert (tmp_path / "cat_mask.png").stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_successful_segment_prints_nothing_on_stderr() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "deeplab_widgets.cli", "segment", "--sample", "cat"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("cat.bmp: background ")
    assert done.stderr == ""


def test_only_the_xnnpack_notice_is_held_back_from_stderr(capfd) -> None:
    import os

    from deeplab_widgets.core.runtime import without_xnnpack_notice

    with without_xnnpack_notice():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nERROR: a real problem\n")
    assert capfd.readouterr().err == "ERROR: a real problem\n"
