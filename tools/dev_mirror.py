"""The project's development mirror: the folders of ../shared, beside this checkout, that hold registry files.

The one place that knows about the sibling ../shared folder. The package only reads DEEPLAB_WIDGETS_MIRROR; the
Makefile exports this script's output as that variable, and tests/conftest.py and the Jupyter server config the
Makefile installs in .venv (tools/jupyter_server_config.py) set it from here when it is unset (set to an empty
string, it means no mirror and is left alone).

    python3 tools/dev_mirror.py   # prints the value: ../shared/models:../shared/images:../shared/video:../shared/eval
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "DEEPLAB_WIDGETS_MIRROR"
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
#: The ../shared folders searched for registry files, in order. A registry `file` is a path relative to one of
#: them, so a data set with sub-folders (eval: voc/images, voc/masks, ade20k/images, ade20k/annotations) is one
#: folder here.
FOLDERS = ("models", "images", "video", "eval")


def mirror(shared: Path = SHARED) -> str:
    """The DEEPLAB_WIDGETS_MIRROR value: those of `FOLDERS` that exist in `shared`, joined by `os.pathsep`."""
    return os.pathsep.join(str(shared / name) for name in FOLDERS if (shared / name).is_dir())


def setdefault() -> str:
    """Set DEEPLAB_WIDGETS_MIRROR in this process unless set (even to ''); return its value."""
    return os.environ.setdefault(ENV, mirror())


if __name__ == "__main__":
    print(mirror())
