"""Working offline: a source checkout finds the project's ../shared mirror with no set-up (in Python, the CLI and a
Jupyter kernel), and without any mirror a failed download is one line naming how to get the files, with neither a
traceback nor pooch's download log on stderr.

"No network" is forced by a proxy that refuses connections, so the tests mean the same on a machine that has one.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from deeplab_widgets.assets import registry

ROOT = Path(__file__).resolve().parents[1]
REFUSED = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused at once
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


def checkout_env(cache: Path, *, mirror: str | None, network: bool) -> dict[str, str]:
    """The environment of a user of this checkout: `mirror` None leaves DEEPLAB_WIDGETS_MIRROR unset."""
    env = {k: v for k, v in os.environ.items() if k not in (registry.MIRROR_ENV, "NO_PROXY", "no_proxy")}
    env.update(PYTHONPATH=str(ROOT), **{registry.CACHE_ENV: str(cache)})
    if mirror is not None:
        env[registry.MIRROR_ENV] = mirror
    if not network:
        env.update(dict.fromkeys(PROXY_VARS, REFUSED))
    return env


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


FETCH_BOTH = """
from deeplab_widgets import load_sample, model_info
from deeplab_widgets.assets import registry
print(registry.source_checkout())
print(model_info("deeplabv3-starter").fetch())
print(registry.fetch(registry.lookup("samples", "cockatoo")))
print(load_sample("cat").size)
"""


def test_a_source_checkout_uses_the_shared_mirror_when_the_variable_is_unset(tmp_path, shared) -> None:
    cache = tmp_path / "cache"
    out = run([sys.executable, "-c", FETCH_BOTH], checkout_env(cache, mirror=None, network=False), tmp_path)
    assert out.returncode == 0, out.stderr
    checkout, model, video, size = out.stdout.splitlines()
    assert Path(checkout) == ROOT
    assert Path(model).resolve() == (shared / "models" / "lite-model_deeplabv3_1_metadata_2.tflite").resolve()
    assert Path(video).resolve() == (shared / "video" / "cockatoo.mp4").resolve()
    assert size == "(512, 341)"
    assert not cache.exists() or not any(cache.iterdir())  # nothing downloaded, nothing copied
    assert out.stderr == ""


def test_an_empty_variable_turns_the_default_mirror_off(monkeypatch) -> None:
    monkeypatch.setenv(registry.MIRROR_ENV, "")
    assert registry.mirror_dirs() == []
    monkeypatch.delenv(registry.MIRROR_ENV)
    assert registry.mirror_dirs() == [ROOT.parent / "shared" / name for name in registry.SHARED_FOLDERS]


NO_MODEL = """
from deeplab_widgets import DownloadError, Segmenter
try:
    Segmenter("deeplabv3-starter")
except DownloadError as exc:
    print(repr(str(exc)))
"""


def test_without_mirror_or_network_the_error_is_one_line_and_stderr_stays_quiet(tmp_path) -> None:
    env = checkout_env(tmp_path / "cache", mirror="", network=False)
    out = run([sys.executable, "-c", NO_MODEL], env, tmp_path)
    assert out.returncode == 0, out.stderr
    message = ast.literal_eval(out.stdout)
    assert message == (
        "could not download 'deeplabv3-starter' from https://storage.googleapis.com/download.tensorflow.org/models/"
        "tflite/task_library/image_segmentation/android/lite-model_deeplabv3_1_metadata_2.tflite (no connection to "
        "storage.googleapis.com); to work offline, put lite-model_deeplabv3_1_metadata_2.tflite in a folder named by "
        "$DEEPLAB_WIDGETS_MIRROR (a source checkout uses its ../shared/{models,images,video} folders when the "
        "variable is unset)"
    )
    assert out.stderr == ""  # pooch's "Downloading data from ..." log line is silenced

    cli = run(
        [sys.executable, "-m", "deeplab_widgets.cli", "segment", "--sample", "cat", "--out", "out"], env, tmp_path
    )
    assert cli.returncode != 0
    assert cli.stderr.splitlines() == [f"deeplab-widgets: error: {message}"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def run_workbench(monkeypatch, cache: Path, *, mirror: str | None, network: bool) -> tuple[list[dict], str]:
    """Run notebooks/00_workbench.ipynb headless in a kernel with the given environment.

    Returns the code cells' outputs and the JSON of the widget state the run left (the Workbench's status lines).
    """
    for key, value in checkout_env(cache, mirror=mirror, network=network).items():
        monkeypatch.setenv(key, value)
    if mirror is None:
        monkeypatch.delenv(registry.MIRROR_ENV, raising=False)
    for key in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(key, raising=False)
    path = ROOT / "notebooks" / "00_workbench.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    return outputs, json.dumps(nb.metadata.get("widgets", {}))


def test_the_workbench_notebook_finds_the_mirror_without_the_variable(monkeypatch, tmp_path) -> None:
    outputs, widgets = run_workbench(monkeypatch, tmp_path / "cache", mirror=None, network=False)
    assert [o["output_type"] for o in outputs] == ["execute_result"]  # the Workbench, no stream, no error
    assert "sample cat \\u00b7 deeplabv3-starter \\u00b7" in widgets or "sample cat · deeplabv3-starter ·" in widgets
    assert "cat 37%" in widgets
    assert "Traceback" not in widgets


def test_the_workbench_offline_without_mirror_shows_one_line_not_a_traceback(monkeypatch, tmp_path) -> None:
    outputs, widgets = run_workbench(monkeypatch, tmp_path / "cache", mirror="", network=False)
    assert [o["output_type"] for o in outputs] == ["execute_result"]
    assert "sample cat: could not download &#x27;cat&#x27;" in widgets
    assert "put cat.bmp in a folder named by $DEEPLAB_WIDGETS_MIRROR" in widgets
    assert "Traceback" not in widgets
    assert "Downloading data from" not in widgets
