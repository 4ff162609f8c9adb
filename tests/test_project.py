"""Project hygiene: environment.yml mirrors pyproject; the README is short, keeps its two commands, and its example runs."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_lists_exactly_the_pyproject_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {d for d in project["dependencies"] if "python_version <" not in d}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(pip) - {"-e ."} == wanted
    assert "-e ." in pip


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
    import subprocess

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
    files = [entry["file"] for section in registry.values() for entry in section.values()]
    assert len(files) >= 16
    assert [f for f in files if f not in notice] == []
    for licence in ("Apache-2.0", "CC BY 2.0", "CC BY-SA 4.0", "MIT", "BSD-3-Clause", "Public domain"):
        assert licence in notice


def test_the_wheel_carries_license_and_notice(tmp_path) -> None:
    import shutil
    import subprocess
    import zipfile

    source = tmp_path / "source"  # a copy, so that the build leaves nothing in the working tree
    shutil.copytree(ROOT / "deeplab_widgets", source / "deeplab_widgets", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE", "NOTICE"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("deeplab_widgets-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/", 1)[1] for n in names if ".dist-info/licenses/" in n} == {"licenses/LICENSE", "licenses/NOTICE"}
