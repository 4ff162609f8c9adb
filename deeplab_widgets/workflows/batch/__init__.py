"""Segmenting many images: folders in, masks and a JSON-lines summary out, in threads, processes or on Dask.

`segment_many` walks paths and folders (or takes in-memory images), yields one `ImageRecord` per input in
input order, records per-image failures without stopping, resumes by skipping valid outputs, and writes every
file atomically; `engine=` says where the images run (`Serial()`, `Threads()`, `Processes(n)`, `Dask(client)`).
The modules: `records` (what a run reports, and the summary-file serializer), `inputs` (expanding paths and
folders), `jobs` (one image), `engines` (where images run), `run` (the run itself).
"""

from __future__ import annotations

from .engines import Dask, Engine, Pending, Processes, SegmenterRecipe, Serial, Session, Threads, worker_segmenter
from .inputs import expand_inputs
from .jobs import MODEL_KEY, RESIZE_KEY, run_job
from .records import SUMMARY_NAME, BatchReport, BatchStatus, ImageRecord, coco_rle, load_result
from .run import DEFAULT_ENGINE, BatchRun, segment_many

__all__ = [
    "DEFAULT_ENGINE",
    "MODEL_KEY",
    "RESIZE_KEY",
    "SUMMARY_NAME",
    "BatchReport",
    "BatchRun",
    "BatchStatus",
    "Dask",
    "Engine",
    "ImageRecord",
    "Pending",
    "Processes",
    "SegmenterRecipe",
    "Serial",
    "Session",
    "Threads",
    "coco_rle",
    "expand_inputs",
    "load_result",
    "run_job",
    "segment_many",
    "worker_segmenter",
]
