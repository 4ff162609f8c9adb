"""Project hygiene: pyproject is the one list of dependencies, the wheel installs slim and typed; the README is short,
keeps its two commands, and its example runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_installs_the_package_from_pyproject_with_the_notebook_extras() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["dependencies"][:2] == ["python=3.11", "pip"]
    assert env["dependencies"][2] == {"pip": ["-e .[widgets,app]"]}  # no second list of packages
    assert {"widgets", "app"} <= set(project["optional-dependencies"])
    assert project["requires-python"] == ">=3.10"


def test_every_extra_a_dependency_error_names_is_in_pyproject() -> None:
    from deeplab_widgets.extras import EXTRA_OF

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRA_OF.values()) <= set(extras)


def test_readme_quick_start_is_the_two_make_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; the details belong in docs/"


def test_readme_python_example_runs_and_finds_the_cat(tmp_path, monkeypatch) -> None:
    readme = (ROOT / "README.md").read_text()
    example = readme.split("## Segmenting in Python", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(example, "README.md", "exec"), scope)
    assert [c.name for c in scope["result"].present_classes()] == ["background", "cat"]
    assert (tmp_path / "cat.png").stat().st_size > 10_000


def test_readme_folders_and_videos_example_runs(tmp_path, monkeypatch, capsys) -> None:
    import shutil

    from deeplab_widgets.assets.samples import sample_path

    readme = (ROOT / "README.md").read_text()
    example = readme.split("Folders and videos take", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    shutil.copyfile(sample_path("cat"), tmp_path / "photos" / sample_path("cat").name)
    exec(compile(example, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("1 images: 1 segmented, 0 skipped, 0 failed")
    assert len(out) == 31 and "bird" in out[-1]
    assert (tmp_path / "out" / "cat_mask.png").is_file() and (tmp_path / "out" / "summary.jsonl").is_file()


def test_version_comes_from_the_installed_package_metadata() -> None:
    code = (
        "import importlib.metadata as m; real = m.version;"
        "m.version = lambda name: '9.9.9' if name == 'deeplab-widgets' else real(name);"
        "import deeplab_widgets; print(deeplab_widgets.__version__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "9.9.9"


def test_license_is_apache_and_notice_names_every_registry_file_with_its_licence() -> None:
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.lstrip().startswith("Apache License\n                           Version 2.0, January 2004")
    assert "END OF TERMS AND CONDITIONS" in license_text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE", "NOTICE"]
    notice = (ROOT / "NOTICE").read_text()
    registry = tomllib.loads((ROOT / "deeplab_widgets" / "assets" / "registry.toml").read_text())
    files = [entry["file"] for section in ("models", "samples") for entry in registry[section].values()]
    assert len(files) >= 16
    assert [f for f in files if f not in notice] == []
    pairs = registry["eval"].values()  # the labelled pairs: their repositories, each with its licence
    sources = {"/".join(pair["image"]["url"].split("/")[3:5]): pair["license"] for pair in pairs}
    assert len(sources) == 3
    assert [repo for repo, licence in sources.items() if repo not in notice or licence.split()[0] not in notice] == []
    for licence in ("Apache-2.0", "CC BY 2.0", "CC BY-SA 4.0", "MIT", "BSD-3-Clause", "Public domain"):
        assert licence in notice


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The package's wheel, built from a copy of the sources (the build leaves nothing in the working tree)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT / "deeplab_widgets", source / "deeplab_widgets", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE", "NOTICE"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(tmp)],
        check=True,
        capture_output=True,
    )
    (built,) = tmp.glob("deeplab_widgets-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_carries_license_notice_and_py_typed(wheel) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert {n.split("/", 1)[1] for n in names if ".dist-info/licenses/" in n} == {"licenses/LICENSE", "licenses/NOTICE"}
    assert "deeplab_widgets/py.typed" in names
    assert "Classifier: Typing :: Typed" in metadata.splitlines()


MISSING_EXTRAS = """
import deeplab_widgets
for name in ("Workbench", "plot_segmentation"):
    try:
        getattr(deeplab_widgets, name)
    except deeplab_widgets.DependencyError as exc:
        print(exc)
try:
    import deeplab_widgets.viz.timing
except deeplab_widgets.DependencyError as exc:
    print(exc)
"""


@pytest.mark.slow
def test_the_wheel_without_extras_has_no_jupyter_and_segments_a_photo_from_the_cli(wheel, tmp_path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_ = venv / "bin"
    install = subprocess.run([bin_ / "pip", "install", "-q", str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    listed = subprocess.run([bin_ / "pip", "list", "--format=json"], capture_output=True, text=True, check=True)
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "deeplab-widgets" in installed and "ai-edge-litert" in installed
    assert installed & {"jupyterlab", "voila", "ipywidgets", "matplotlib", "jupyter-server", "ipykernel"} == set()

    out = tmp_path / "out"
    cli = subprocess.run(
        [bin_ / "deeplab-widgets", "segment", "--sample", "cat", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.startswith("cat.bmp: background ") and ", cat " in cli.stdout.splitlines()[0]
    with Image.open(out / "cat_mask.png") as mask:
        assert set(np.unique(np.asarray(mask)).tolist()) == {0, 8}  # background and cat

    errors = subprocess.run([bin_ / "python", "-c", MISSING_EXTRAS], capture_output=True, text=True, cwd=tmp_path)
    extra = "pip install 'deeplab-widgets[widgets]'"
    assert errors.stdout.splitlines() == [
        f"Workbench needs the widgets extra (ipywidgets is not installed): {extra}",
        f"plot_segmentation needs the widgets extra (matplotlib is not installed): {extra}",
        f"deeplab_widgets.viz.timing needs the widgets extra (matplotlib is not installed): {extra}",
    ], errors.stderr
