"""Working offline: the project's development mirror (tools/dev_mirror.py, the one place that knows ../shared)
reaches Python, the Makefile and the checkout's Jupyter kernels; without any mirror a failed download is one line
naming how to get the files, with neither a traceback nor pooch's download log on stderr.

"No network" is forced by a proxy that refuses connections, so the tests mean the same on a machine that has one.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import DEV_MIRROR
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


def test_the_dev_mirror_is_the_shared_folders_that_exist(tmp_path) -> None:
    for name in ("models", "video", "eval", "notes"):
        (tmp_path / name).mkdir()
    assert DEV_MIRROR["mirror"](tmp_path) == os.pathsep.join(str(tmp_path / n) for n in ("models", "video", "eval"))
    assert DEV_MIRROR["mirror"](tmp_path / "models") == ""
    assert DEV_MIRROR["FOLDERS"] == ("models", "images", "video", "eval")


def make_mirror(value: str | None) -> str:
    """DEEPLAB_WIDGETS_MIRROR as the Makefile's recipes see it, run with `value` (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k not in (registry.MIRROR_ENV, "MAKEFLAGS", "MAKELEVEL")}
    if value is not None:
        env[registry.MIRROR_ENV] = value
    show = 'print-mirror: ; @printf "%s" "$$DEEPLAB_WIDGETS_MIRROR"'
    out = subprocess.run(["make", "-s", "-C", str(ROOT), "--eval", show, "print-mirror"], env=env, capture_output=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.decode()


def test_make_exports_the_dev_mirror_and_keeps_a_variable_already_set() -> None:
    assert make_mirror(None) == DEV_MIRROR["mirror"]() != ""
    assert make_mirror("") == ""
    assert make_mirror("/elsewhere") == "/elsewhere"


JUPYTER_SERVER_ENV = """
import os
from jupyter_server.serverapp import ServerApp

ServerApp().load_config_file()  # the config files `jupyter lab` and `jupyter server` read
print(repr(os.environ.get("DEEPLAB_WIDGETS_MIRROR")))
"""


@pytest.mark.slow
def test_the_venvs_jupyter_server_gives_kernels_the_dev_mirror(tmp_path) -> None:
    config = Path(sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.py"
    assert config.resolve() == ROOT / "tools" / "jupyter_server_config.py", "run make .venv/.installed"
    unset = run(
        [sys.executable, "-c", JUPYTER_SERVER_ENV], checkout_env(tmp_path, mirror=None, network=False), tmp_path
    )
    assert ast.literal_eval(unset.stdout) == DEV_MIRROR["mirror"](), unset.stderr
    empty = run([sys.executable, "-c", JUPYTER_SERVER_ENV], checkout_env(tmp_path, mirror="", network=False), tmp_path)
    assert ast.literal_eval(empty.stdout) == "", empty.stderr


def test_the_package_uses_a_mirror_only_when_the_variable_names_one(monkeypatch) -> None:
    monkeypatch.delenv(registry.MIRROR_ENV, raising=False)
    assert registry.mirror_dirs() == []
    monkeypatch.setenv(registry.MIRROR_ENV, "")
    assert registry.mirror_dirs() == []
    monkeypatch.setenv(registry.MIRROR_ENV, os.pathsep.join(["/a", "", "/b"]))
    assert registry.mirror_dirs() == [Path("/a"), Path("/b")]


def test_the_package_never_names_the_shared_folder() -> None:
    sources = [p for p in (ROOT / "deeplab_widgets").rglob("*") if p.suffix in (".py", ".toml", ".js")]
    assert [str(p) for p in sources if "shared/" in p.read_text() or "SHARED" in p.read_text()] == []


def test_a_registry_file_may_sit_in_a_sub_folder_of_a_mirror_folder(shared, tmp_path, monkeypatch) -> None:
    """How the labelled pairs can join the registry: ../shared/eval holds voc/images/x.png and voc/masks/x.png."""
    name = "vainf_val0_d1182fc.png"
    monkeypatch.setenv(registry.MIRROR_ENV, os.pathsep.join([str(shared / "models"), str(shared / "eval")]))
    monkeypatch.setenv(registry.CACHE_ENV, str(tmp_path / "cache"))
    for folder in ("voc/images", "voc/masks"):
        digest = hashlib.sha256((shared / "eval" / folder / name).read_bytes()).hexdigest()
        asset = registry.Asset(
            name=f"{folder}/{name}", file=f"{folder}/{name}", url="https://example.invalid/x", sha256=digest
        )
        assert registry.fetch(asset) == shared / "eval" / folder / name
    assert not (tmp_path / "cache").exists()


FETCH_ALL = """
from deeplab_widgets import load_sample, model_info
from deeplab_widgets.assets import registry
print(model_info("deeplabv3-starter").fetch())
print(registry.fetch(registry.lookup("samples", "cockatoo")))
print(load_sample("cat").size)
"""


def test_with_the_dev_mirror_nothing_is_downloaded(tmp_path, shared) -> None:
    cache = tmp_path / "cache"
    env = checkout_env(cache, mirror=DEV_MIRROR["mirror"](), network=False)
    out = run([sys.executable, "-c", FETCH_ALL], env, tmp_path)
    assert out.returncode == 0, out.stderr
    model, video, size = out.stdout.splitlines()
    assert Path(model).resolve() == (shared / "models" / "lite-model_deeplabv3_1_metadata_2.tflite").resolve()
    assert Path(video).resolve() == (shared / "video" / "cockatoo.mp4").resolve()
    assert size == "(512, 341)"
    assert not cache.exists() or not any(cache.iterdir())  # nothing downloaded, nothing copied
    assert out.stderr == ""


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
        "$DEEPLAB_WIDGETS_MIRROR"
    )
    assert out.stderr == ""  # pooch's "Downloading data from ..." log line is silenced

    cli = run(
        [sys.executable, "-m", "deeplab_widgets.cli", "segment", "--sample", "cat", "--out", "out"], env, tmp_path
    )
    assert cli.returncode != 0
    assert cli.stderr.splitlines() == [f"deeplab-widgets: error: {message}"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def run_workbench(monkeypatch, cache: Path, *, mirror: str, network: bool) -> tuple[list[dict], str]:
    """Run notebooks/00_workbench.ipynb headless in a kernel with the given environment (`mirror` as in `checkout_env`).

    Returns the code cells' outputs and the JSON of the widget state the run left (the Workbench's status lines).
    """
    for key, value in checkout_env(cache, mirror=mirror, network=network).items():
        monkeypatch.setenv(key, value)
    for key in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(key, raising=False)
    path = ROOT / "notebooks" / "00_workbench.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    return outputs, json.dumps(nb.metadata.get("widgets", {}))


@pytest.mark.notebooks
def test_the_workbench_notebook_runs_offline_from_the_dev_mirror(monkeypatch, tmp_path) -> None:
    outputs, widgets = run_workbench(monkeypatch, tmp_path / "cache", mirror=DEV_MIRROR["mirror"](), network=False)
    assert [o["output_type"] for o in outputs] == ["execute_result"]  # the Workbench, no stream, no error
    assert "sample cat \\u00b7 deeplabv3-starter \\u00b7" in widgets or "sample cat · deeplabv3-starter ·" in widgets
    assert "cat 37%" in widgets
    assert "Traceback" not in widgets


@pytest.mark.notebooks
def test_the_workbench_offline_without_mirror_shows_one_line_not_a_traceback(monkeypatch, tmp_path) -> None:
    outputs, widgets = run_workbench(monkeypatch, tmp_path / "cache", mirror="", network=False)
    assert [o["output_type"] for o in outputs] == ["execute_result"]
    assert "sample cat: could not download &#x27;cat&#x27;" in widgets
    assert "put cat.bmp in a folder named by $DEEPLAB_WIDGETS_MIRROR" in widgets
    assert "Traceback" not in widgets
    assert "Downloading data from" not in widgets
