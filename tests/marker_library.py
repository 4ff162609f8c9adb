"""A shared library that proves it was loaded: its constructor writes a marker file the moment `dlopen` maps it.

The app's tests offer it as an external delegate (and as every other path) to show that no code path loads it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SOURCE = """
#include <stdio.h>
__attribute__((constructor)) static void mark(void) {
    FILE *f = fopen(MARKER, "w");
    if (f) { fputs("loaded\\n", f); fclose(f); }
}
"""


def build_marker_library(folder: Path) -> tuple[Path, Path]:
    """Compile the library in `folder` with gcc; returns (library, the marker file it writes when loaded)."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise RuntimeError("gcc not found: the marker library is built from C (apt-get install gcc)")
    source, library, marker = folder / "marker.c", folder / "libmarker.so", folder / "marker-was-loaded"
    source.write_text(SOURCE)
    subprocess.run(
        [gcc, "-shared", "-fPIC", f'-DMARKER="{marker}"', "-o", str(library), str(source)],
        check=True,
        capture_output=True,
    )
    return library, marker
