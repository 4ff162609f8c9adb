"""Grafting outputs onto a model: an ARG_MAX head for logits models, the logits as an extra output for ArgMax models.

* The starter model ends in 257x257x21 float logits; numpy's argmax over the 21 channels costs more than
  TFLite's ARG_MAX kernel inside `invoke()`. `add_argmax_head` gives logits models the ArgMax head the other
  zoo models have, keeping the logits as a second output.
* The other zoo models end in an ArgMax, so their class scores are internal. `add_scores_output` makes the
  tensor that feeds the ArgMax (the logits, resized to the input resolution) an extra output, so
  `segment(scores=True)` returns probabilities for every model.
* Every zoo model computes its logits at a coarse resolution (33x33, or 128x128 for v3+) and upsamples them with
  a last RESIZE_BILINEAR; `find_upsampling` names that resize's input, which both grafts can expose as one more
  output: the class scores at a fraction of the size, for whoever can upsample them itself.

All reading and writing of the flatbuffer goes through `tflite.schema`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import BackendError, NoScoresError
from . import schema

LABELS_TENSOR_NAME = "deeplab_widgets/labels"
#: The logits types LiteRT's ARG_MAX kernel takes (not INT16: int16x8-quantized logits take NumPy's argmax).
ARGMAX_TYPES = ("FLOAT32", "UINT8", "INT8", "INT32")


def add_argmax_head(content: bytes, coarse_output: bool = False) -> bytes | None:
    """Model bytes whose outputs are (class ids int32, original logits), or None if it has no 4-D logits output.

    With `coarse_output`, the coarse logits a RESIZE_BILINEAR upsamples into the logits (`find_upsampling`), when
    there are any, are a third output.

    None too when the logits' type is not one ARG_MAX takes (`ARGMAX_TYPES`) or the TFLite schema is not
    installed (the pipeline then takes the argmax with NumPy); `ModelFormatError` when the file cannot be parsed.
    """
    try:
        model = schema.read_model(content)
    except BackendError:
        return None
    graph = model.subgraphs[0]
    if len(model.subgraphs) != 1 or len(graph.outputs) != 1:
        return None
    logits_index = int(graph.outputs[0])
    shape = schema.tensor_shape(graph.tensors[logits_index])
    if len(shape) != 4 or shape[3] < 2 or schema.tensor_type(graph.tensors[logits_index]) not in ARGMAX_TYPES:
        return None
    axis = schema.add_tensor(model, [1], "INT32", "deeplab_widgets/argmax_axis", np.int32(3).tobytes())
    labels = schema.add_tensor(model, list(shape[:3]), "INT32", LABELS_TENSOR_NAME)
    schema.add_argmax(model, logits_index, labels, axis)
    coarse = find_upsampling(content, logits_index) if coarse_output else None
    schema.set_outputs(model, [labels, logits_index, *([coarse[0]] if coarse else [])])
    return schema.write_model(model, len(content))


def find_logits(content: bytes, tensor: str | None = None) -> int:
    """The index of the class-score tensor: the input of the model's ARG_MAX, or the 4-D tensor named `tensor`.

    Reads only the operator and tensor tables (cheap at load time). Raises `NoScoresError` when the model
    has no ARG_MAX (and no `tensor` is given) or no single 4-D tensor of that name, saying what to do.
    """
    if tensor is not None:
        hits = [i for i, shape in schema.tensors_named(content, tensor) if len(shape) == 4]
        if len(hits) != 1:
            raise NoScoresError(
                f"no 4-D tensor named {tensor!r} in the model ({len(hits)} found), so it has no class scores; "
                "pass the name of the logits tensor that feeds its ArgMax"
            )
        return hits[0]
    argmax = schema.operator_inputs(content, "ARG_MAX")
    if not argmax:
        raise NoScoresError(
            "the model has no ArgMax whose input could serve as class scores; it still segments, "
            "but without scores (pass the logits tensor's name to expose them)"
        )
    return argmax[-1][0]


def add_scores_output(
    content: bytes, tensor: str | None = None, extra_outputs: Sequence[int] = ()
) -> tuple[bytes, int]:
    """Model bytes with the logits (see `find_logits`), then `extra_outputs`, as extra outputs, and the logits' index.

    Tensor indices do not change, so the index is valid in the original and the modified graph.
    Raises `NoScoresError` when the logits cannot be found.
    """
    index = find_logits(content, tensor)
    model = schema.read_model(content)
    outputs = [int(t) for t in model.subgraphs[0].outputs]
    added = [t for t in (index, *extra_outputs) if t not in outputs]
    if added:
        schema.set_outputs(model, [*outputs, *added])
    return schema.write_model(model, len(content)), index


def find_upsampling(content: bytes, logits: int) -> tuple[int, bool, bool] | None:
    """The coarse logits behind `logits`: (tensor index, align_corners, half_pixel_centers) of the RESIZE_BILINEAR
    that writes `logits`, None when no such resize does (the scores are then only at the output resolution).
    """
    return schema.resize_bilinear_input(content, logits)
