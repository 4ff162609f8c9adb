"""Peak memory of a model: what loading and running it adds to a process, measured in a fresh one.

Resident memory in a long-lived process says little about one model (earlier models, caches and the
allocator's free lists are all in it). `peak_memory` starts a new Python process that imports the runtime,
notes its peak resident set size (Linux's VmHWM), then builds the interpreter, runs it a few times on a random input and notes
the peak again: the difference is the model's own cost (weights, XNNPACK's repacked weights, the tensor arena).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...core.model import ModelInput, ModelSpec, load_model
from ...core.runtime import RuntimeOptions
from ...errors import BackendError

#: Runs in the child process: argv = model path, threads, xnnpack (0/1); prints one JSON line.
_CHILD = """
import json, resource, sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

def peak_mb():
    # VmHWM belongs to this process's own memory map; ru_maxrss would include the parent's peak before exec.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

path, threads, xnnpack = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
before = peak_mb()
kwargs = {} if xnnpack else {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
interpreter = Interpreter(model_path=path, num_threads=threads, **kwargs)
interpreter.allocate_tensors()
detail = interpreter.get_input_details()[0]
rng = np.random.default_rng(0)
if np.issubdtype(detail["dtype"], np.integer):
    info = np.iinfo(detail["dtype"])
    data = rng.integers(info.min, int(info.max) + 1, size=detail["shape"], dtype=detail["dtype"])
else:
    data = rng.uniform(-1, 1, size=detail["shape"]).astype(detail["dtype"])
interpreter.set_tensor(detail["index"], data)
for _ in range(3):
    interpreter.invoke()
print(json.dumps({"baseline_mb": before, "peak_mb": peak_mb()}))
"""


@dataclass(frozen=True)
class MemoryUse:
    """Peak resident memory of a fresh process before and after loading and running a model (MiB)."""

    model: str
    options: RuntimeOptions
    baseline_mb: float  # the runtime imported, no model
    peak_mb: float  # after building the interpreter and three invocations

    @property
    def model_mb(self) -> float:
        """What the model adds: weights, repacked weights and the tensor arena."""
        return self.peak_mb - self.baseline_mb


def peak_memory(model: ModelInput | ModelSpec, options: RuntimeOptions | None = None) -> MemoryUse:
    """Measure a model's peak memory in a fresh process (LiteRT; a second or so per model).

    Raises:
        BackendError: The child process failed (LiteRT missing, or the model does not load there); the message
            gives its last line.
        ModelNotFoundError, ModelFormatError: The model cannot be found or read.
    """
    options = options or RuntimeOptions()
    spec = model if isinstance(model, ModelSpec) else load_model(model)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.tflite"
        path.write_bytes(spec.content)
        argv = [sys.executable, "-c", _CHILD, str(path), str(options.num_threads), "1" if options.xnnpack else "0"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env={**os.environ})
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BackendError(f"measuring the memory of {spec.name} failed: {last}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return MemoryUse(spec.name, options, float(figures["baseline_mb"]), float(figures["peak_mb"]))
