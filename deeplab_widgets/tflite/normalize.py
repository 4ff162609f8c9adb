"""Bringing an old .tflite file up to what today's tools expect: real operator codes and a signature.

Files written by TOCO (TensorFlow's converter before 2.4) keep each operator's code in the schema's
`deprecated_builtin_code` byte and leave `builtin_code` at 0 (ADD). LiteRT reads the larger of the two, so
the file runs, but a tool that reads `builtin_code` alone (LiteRT's quantizer) sees every operator as ADD,
finds nothing it knows how to quantize and returns the model unchanged. Such files also carry no
SignatureDef, and calibrating a model (static quantization) runs it through a signature.

`normalize` fixes both, the way the schema defines them: `builtin_code` becomes the larger of the two fields
(`deprecated_builtin_code` keeps a code below 127, `PLACEHOLDER_FOR_GREATER_OP_CODES` above), and a
`serving_default` signature names the first subgraph's inputs and outputs after their tensors. The associated
files appended to the model (the starter's `labelmap.txt`) are carried over. Everything else is unchanged.
"""

from __future__ import annotations

from typing import Any

from . import schema
from .metadata import appended_archive

#: The signature key TensorFlow's converter gives a model's one signature, and the one `normalize` adds.
SIGNATURE_KEY = "serving_default"
#: Operator codes from this value up live only in `builtin_code`; `deprecated_builtin_code` then holds this value.
PLACEHOLDER_FOR_GREATER_OP_CODES = 127


def legacy_operator_codes(model: Any) -> int:
    """How many operator codes of a `read_model` tree keep their code only in `deprecated_builtin_code`."""
    return sum(1 for code in model.operatorCodes or () if code.builtinCode < code.deprecatedBuiltinCode)


def normalize_operator_codes(model: Any) -> int:
    """Give every operator code of a `read_model` tree its real `builtin_code`; returns how many changed."""
    changed = 0
    for code in model.operatorCodes or ():
        real = max(code.builtinCode, code.deprecatedBuiltinCode)
        changed += real != code.builtinCode
        code.builtinCode = real
        code.deprecatedBuiltinCode = min(real, PLACEHOLDER_FOR_GREATER_OP_CODES)
    return changed


def has_signature(model: Any) -> bool:
    """True when a `read_model` tree has at least one SignatureDef."""
    return bool(model.signatureDefs)


def add_signature(model: Any, key: str = SIGNATURE_KEY) -> bool:
    """Add a signature `key` naming the first subgraph's inputs and outputs, unless the model has a signature.

    Each input and output is named after its tensor (first alias); a missing or repeated name becomes
    `input_<i>` / `output_<i>`. Returns True when a signature was added.
    """
    if has_signature(model):
        return False
    types = schema.schema_module()
    graph = model.subgraphs[0]

    def tensor_maps(indices: Any, kind: str) -> list[Any]:
        maps, seen = [], set()
        for i, index in enumerate(indices):
            name = schema.tensor_name(graph.tensors[int(index)]) or f"{kind}_{i}"
            if name in seen:
                name = f"{kind}_{i}"
            seen.add(name)
            entry = types.TensorMapT()
            entry.name, entry.tensorIndex = name.encode(), int(index)
            maps.append(entry)
        return maps

    signature = types.SignatureDefT()
    signature.signatureKey = key.encode()
    signature.subgraphIndex = 0
    signature.inputs = tensor_maps(graph.inputs, "input")
    signature.outputs = tensor_maps(graph.outputs, "output")
    model.signatureDefs = [signature]
    return True


def needs_normalization(content: bytes, name: str = "model") -> bool:
    """True when the file has legacy operator codes or no signature (`normalize` would change it)."""
    model = schema.read_model(content, name)
    return bool(legacy_operator_codes(model)) or not has_signature(model)


def normalize(content: bytes, name: str = "model") -> bytes:
    """The model with real operator codes and a `serving_default` signature (the same bytes if it has both).

    Raises:
        ModelFormatError: The file is not a readable TFLite model.
        BackendError: The TFLite schema (shipped with ai-edge-litert) is not installed.
    """
    model = schema.read_model(content, name)
    codes = normalize_operator_codes(model)
    added = add_signature(model)
    if not codes and not added:
        return content
    return schema.write_model(model, len(content)) + appended_archive(content)
