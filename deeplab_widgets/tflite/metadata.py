"""Reading what a .tflite file says about itself: its label map and input normalisation.

TFLite metadata is a flatbuffer (metadata_schema.fbs) stored in a model buffer named
"TFLITE_METADATA" (located by `tflite.schema`); associated files such as `labelmap.txt` are a zip
appended to the model. LiteRT does not ship the metadata schema, so this module is the one place
that reads it: only the few fields we need, by their slot numbers, with `flatbuffers`.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import flatbuffers
from flatbuffers.table import Table

from .schema import metadata_buffer

# Slot numbers from metadata_schema.fbs (the model's own schema is read by `tflite.schema`).
_MODELMD_SUBGRAPHS = 3
_SUBGRAPHMD_INPUTS = 2
_TENSORMD_PROCESS_UNITS = 4
_PROCESS_UNIT_TYPE, _PROCESS_UNIT_OPTIONS = 0, 1
_NORMALIZATION_OPTIONS = 1
_NORM_MEAN, _NORM_STD = 0, 1


@dataclass(frozen=True)
class Normalization:
    """Float input normalisation: x_model = (x_pixel - mean) / std."""

    mean: float = 127.5
    std: float = 127.5


def _table(buf: bytes, pos: int) -> Table:
    return Table(buf, pos)


def _field(t: Table, slot: int) -> int:
    return t.Offset(4 + 2 * slot)


def _vector_tables(t: Table, slot: int) -> list[Table]:
    o = _field(t, slot)
    if not o:
        return []
    start, n = t.Vector(o), t.VectorLen(o)
    return [_table(t.Bytes, t.Indirect(start + 4 * i)) for i in range(n)]


def _string(t: Table, slot: int) -> str:
    o = _field(t, slot)
    return t.String(o + t.Pos).decode("utf-8", "replace") if o else ""


def _floats(t: Table, slot: int) -> list[float]:
    o = _field(t, slot)
    if not o:
        return []
    start, n = t.Vector(o), t.VectorLen(o)
    return [t.Get(flatbuffers.number_types.Float32Flags, start + 4 * i) for i in range(n)]


def read_normalization(content: bytes) -> Normalization | None:
    """The input NormalizationOptions recorded in the model's metadata, if any."""
    try:
        md = metadata_buffer(content)
        if md is None:
            return None
        root = _table(md, flatbuffers.encode.Get(flatbuffers.packer.uoffset, md, 0))
        for subgraph in _vector_tables(root, _MODELMD_SUBGRAPHS)[:1]:
            for tensor in _vector_tables(subgraph, _SUBGRAPHMD_INPUTS)[:1]:
                for unit in _vector_tables(tensor, _TENSORMD_PROCESS_UNITS):
                    o = _field(unit, _PROCESS_UNIT_TYPE)
                    kind = unit.Get(flatbuffers.number_types.Uint8Flags, o + unit.Pos) if o else 0
                    if kind != _NORMALIZATION_OPTIONS:
                        continue
                    options = Table(md, 0)
                    unit.Union(options, _field(unit, _PROCESS_UNIT_OPTIONS))
                    mean, std = _floats(options, _NORM_MEAN), _floats(options, _NORM_STD)
                    if mean and std:
                        return Normalization(float(mean[0]), float(std[0]))
    except (IndexError, ValueError, TypeError, UnicodeDecodeError, struct.error):
        return None  # malformed metadata: fall back to the DeepLab default
    return None


#: The associated file in which a model this package writes (derived, quantized) records its source's label set,
#: e.g. "pascal_voc": it keeps its dataset's colours and stays comparable with the dataset's masks.
DATASET_FILE = "dataset.txt"
#: The associated files' timestamp: the same model written twice gives the same bytes.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def with_labels(content: bytes, names: Sequence[str], dataset: str | None) -> bytes:
    """The model bytes with a zip of associated files appended (where TFLite metadata keeps them): `labelmap.txt`
    and, when the label set is known, its name in `dataset.txt` (so colours and evaluation follow).

    `content` must end with the flatbuffer (a model just written by `tflite.schema` or a quantizer).

    Args:
        content: The model's flatbuffer.
        names: The class names, one per class id (none: `content` is returned as it is).
        dataset: The label set's name (e.g. `pascal_voc`), or None.
    """
    if not names:
        return content
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(zipfile.ZipInfo("labelmap.txt", ZIP_TIME), "\n".join(names) + "\n")
        if dataset:
            archive.writestr(zipfile.ZipInfo(DATASET_FILE, ZIP_TIME), dataset + "\n")
    return content + buffer.getvalue()


def appended_archive(content: bytes) -> bytes:
    """The zip of associated files appended to the model (e.g. the starter's `labelmap.txt`), b"" if none.

    Append it to a rewritten model to keep its label map: the archive's offsets are relative to where it
    starts, so it reads the same at any position.

    Args:
        content: The model file.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            starts = [info.header_offset for info in archive.infolist()]
    except (zipfile.BadZipFile, OSError):
        return b""
    return bytes(content[min(starts) :]) if starts else b""


def _associated_text(content: bytes, pick: Callable[[str], bool]) -> str | None:
    """The text of the first file of the zip appended to the model whose name `pick` accepts."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = [n for n in archive.namelist() if pick(n)]
            return archive.read(names[0]).decode("utf-8", "replace") if names else None
    except (zipfile.BadZipFile, OSError, KeyError):
        return None


def read_labels(content: bytes) -> tuple[str, ...] | None:
    """Class names from a label file in the zip appended to the model (e.g. `labelmap.txt`)."""
    text = _associated_text(content, lambda n: n.lower().endswith(".txt") and n != DATASET_FILE)
    if text is None:
        return None
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    return labels or None


def read_dataset(content: bytes) -> str | None:
    """The label set's name (e.g. `pascal_voc`) a derived model records in its appended zip, None if none."""
    text = _associated_text(content, lambda n: n == DATASET_FILE)
    return (text.strip() or None) if text is not None else None
