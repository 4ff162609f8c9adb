"""Which kernels run a model: the operators XNNPACK takes over, and those left to LiteRT's built-in kernels.

XNNPACK replaces each connected group of operators it supports by one DELEGATE node (a *partition*). A model it
runs whole has one partition; a model it cannot run at all has none, and runs on the built-in kernels (for
int16 activations, reference kernels); a model split into many partitions switches between the two at every
boundary. LiteRT's Python API lists the nodes (`Interpreter._get_ops_details()`, a private method also used by
LiteRT's own tools): the original operators, then one DELEGATE node per partition with the partition's input and
output tensors. The operators of a partition are found by walking back from its outputs to its inputs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ...core.model import ModelInput, ModelSpec, load_model
from ...core.runtime import RuntimeOptions, make_interpreter


@dataclass(frozen=True)
class KernelPlan:
    """How a model's operators are run: by XNNPACK (in `partitions` groups) or by LiteRT's built-in kernels."""

    model: str
    options: RuntimeOptions
    partitions: int
    delegated: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # op name -> count
    builtin: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # op name -> count

    @property
    def total(self) -> int:
        """Operators in the graph."""
        return sum(self.delegated.values()) + sum(self.builtin.values())

    def describe(self) -> str:
        """One line, e.g. `XNNPACK runs 69 of 71 ops in 2 partitions; built-in kernels run: 2 RESIZE_BILINEAR`."""
        left = ", ".join(f"{n} {op}" for op, n in sorted(self.builtin.items(), key=lambda kv: -kv[1])) or "nothing"
        taken = sum(self.delegated.values())
        return (
            f"XNNPACK runs {taken} of {self.total} ops in {self.partitions} partition"
            f"{'s' * (self.partitions != 1)}; built-in kernels run: {left}"
        )


def _covered(delegate: dict[str, Any], producers: dict[int, int], ops: list[dict[str, Any]]) -> set[int]:
    """The original nodes of one partition: everything between its input and output tensors."""
    inputs = {int(t) for t in delegate["inputs"]}
    covered: set[int] = set()
    stack = [int(t) for t in delegate["outputs"]]
    while stack:
        tensor = stack.pop()
        node = producers.get(tensor)
        if tensor in inputs or node is None or node in covered:
            continue
        covered.add(node)
        stack.extend(int(t) for t in ops[node]["inputs"] if int(t) >= 0)
    return covered


def kernel_plan(model: ModelInput | ModelSpec, options: RuntimeOptions | None = None) -> KernelPlan:
    """Build an interpreter for `model` and report which operators XNNPACK runs and which it leaves.

    Raises:
        ModelNotFoundError, ModelFormatError: The model cannot be found or loaded.
        BackendError: The backend is not installed.
    """
    options = options or RuntimeOptions()
    spec = model if isinstance(model, ModelSpec) else load_model(model)
    interpreter = make_interpreter(spec.content, options)
    interpreter.invoke()  # delegates are applied by the first invocation at the latest
    ops = interpreter._get_ops_details()
    originals = [op for op in ops if op["op_name"] != "DELEGATE"]
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    producers = {int(t): op["index"] for op in originals for t in op["outputs"]}
    by_index = {op["index"]: op for op in originals}
    taken: set[int] = set()
    for delegate in delegates:
        taken |= _covered(delegate, producers, [by_index.get(i, {"inputs": []}) for i in range(len(ops))])
    delegated = Counter(op["op_name"] for op in originals if op["index"] in taken)
    builtin = Counter(op["op_name"] for op in originals if op["index"] not in taken)
    return KernelPlan(
        spec.name, options, len(delegates), MappingProxyType(dict(delegated)), MappingProxyType(dict(builtin))
    )
