"""Interpreter backends (LiteRT, tflite-runtime), runtime options, and a cache of interpreters.

An interpreter is built once per (model, options) and kept, so toggling threads or XNNPACK
back and forth costs nothing. Interpreters are not thread-safe: `Runner.lock` guards invoke.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal, get_args

from ..errors import BackendError, DelegateError, ModelFormatError, OptionsError

#: An interpreter backend; "auto" picks the first installed one (`available_backends()`).
Backend = Literal["auto", "litert", "tflite-runtime"]
BACKEND_CHOICES: tuple[Backend, ...] = get_args(Backend)
#: Backend name -> (module to import, pip install hint).
BACKENDS: dict[str, tuple[str, str]] = {
    "litert": ("ai_edge_litert.interpreter", "pip install ai-edge-litert"),
    "tflite-runtime": ("tflite_runtime.interpreter", "pip install 'deeplab-widgets[tflite-runtime]' (needs numpy<2)"),
}


def check_backend(name: str) -> Backend:
    """Validate a backend name ("auto" or a key of `BACKENDS`); `BackendError` lists the choices."""
    if name not in BACKEND_CHOICES:
        raise BackendError(f"unknown backend {name!r}; choose one of: auto, {', '.join(BACKENDS)}")
    return name


def cpu_count() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class RuntimeOptions:
    """How the interpreter runs: threads, XNNPACK, an external delegate and the backend.

    Checked when made, so a bad setting fails before any model is loaded.

    Attributes:
        num_threads: Interpreter threads, 1 to this machine's cores (default: all cores). Not clamped:
            oversubscribed threads only measure contention.
        xnnpack: Use LiteRT's default XNNPACK delegate; `False` selects `BUILTIN_WITHOUT_DEFAULT_DELEGATES`.
        delegate: The path or name of an external delegate library (e.g. `libedgetpu.so.1`), or `None`.
        delegate_options: Options passed to the external delegate, as (key, value) pairs.
        backend: `"litert"` (ai-edge-litert), `"tflite-runtime"`, or `"auto"` (the first one installed).

    Raises:
        OptionsError: `num_threads` is outside 1..cores.
        BackendError: `backend` is not a known backend name.
    """

    num_threads: int = field(default_factory=cpu_count)
    xnnpack: bool = True
    delegate: str | None = None
    delegate_options: tuple[tuple[str, str], ...] = ()
    backend: Backend = "auto"

    def __post_init__(self) -> None:
        if not 1 <= self.num_threads <= cpu_count():
            raise OptionsError(
                f"num_threads must be between 1 and {cpu_count()} (this machine's cores), not {self.num_threads}"
            )
        check_backend(self.backend)

    def describe(self) -> str:
        """A short human-readable summary, e.g. for a timing table."""
        parts = [
            f"{self.num_threads} thread{'s' * (self.num_threads > 1)}",
            "XNNPACK" if self.xnnpack else "no XNNPACK",
        ]
        if self.delegate:
            parts.append(f"delegate {os.path.basename(self.delegate)}")
        return ", ".join(parts)


def available_backends() -> list[str]:
    """The backends importable in this environment, preferred first (`litert`, then `tflite-runtime`).

    Importing a backend loads its interpreter module, so the first call can take a moment.
    """
    out = []
    for name, (module, _) in BACKENDS.items():
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        out.append(name)
    return out


def backend_module(name: str) -> tuple[str, ModuleType]:
    """Resolve "auto" and import a backend's interpreter module.

    Returns:
        The backend's name and its interpreter module.

    Raises:
        BackendError: The name is unknown, or the backend (or, for "auto", every backend) is not installed;
            the message says how to install it.
    """
    if name == "auto":
        found = available_backends()
        if not found:
            raise BackendError(f"no TFLite backend is installed; {BACKENDS['litert'][1]}")
        name = found[0]
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of: auto, {', '.join(BACKENDS)}")
    module, hint = BACKENDS[name]
    try:
        return name, importlib.import_module(module)
    except ImportError as exc:
        raise BackendError(f"backend {name!r} is not installed ({exc}); {hint}") from exc


def make_interpreter(model_content: bytes, options: RuntimeOptions, *, preserve_all_tensors: bool = False) -> Any:
    """A new, allocated interpreter for the model bytes with these options.

    Most callers want `RUNNERS.get(...)` (or a `Segmenter`), which caches interpreters per model and options.

    Args:
        model_content: The `.tflite` file's bytes.
        options: Threads, XNNPACK, delegate and backend.
        preserve_all_tensors: Keep every intermediate tensor readable after `invoke()` (for `Probe`).

    Raises:
        BackendError: The backend is not installed.
        DelegateError: The delegate library does not load, or loads but cannot run this model.
        ModelFormatError: The interpreter refuses the model.
    """
    _, mod = backend_module(options.backend)
    kwargs: dict[str, Any] = {"model_content": model_content, "num_threads": options.num_threads}
    if not options.xnnpack:
        kwargs["experimental_op_resolver_type"] = mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if options.delegate:
        kwargs["experimental_delegates"] = [load_delegate(mod, options.delegate, dict(options.delegate_options))]
    if preserve_all_tensors:
        kwargs["experimental_preserve_all_tensors"] = True
    try:
        with without_xnnpack_notice():
            interpreter = mod.Interpreter(**kwargs)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        if options.delegate:
            raise DelegateError(f"delegate {options.delegate!r} loaded but could not run this model: {exc}") from exc
        raise ModelFormatError(f"the model could not be loaded by the TFLite interpreter: {exc}") from exc
    return interpreter


#: What LiteRT prints on the C-level stderr for every interpreter that uses XNNPACK: information, not an error,
#: yet Jupyter shows it in a red box and it clutters every CLI call.
XNNPACK_NOTICE = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
_STDERR_LOCK = threading.Lock()


@contextmanager
def without_xnnpack_notice() -> Iterator[None]:
    """Hold back LiteRT's XNNPACK INFO line while an interpreter is built; everything else still reaches stderr.

    File descriptor 2 points at a temporary file for the duration; afterwards every captured line except
    `XNNPACK_NOTICE` is written to the real stderr, so warnings and errors from LiteRT are never hidden.
    """
    with _STDERR_LOCK, tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [
                line for line in captured.read().splitlines(keepends=True) if line.rstrip(b"\r\n") != XNNPACK_NOTICE
            ]
            if kept:
                os.write(2, b"".join(kept))


def load_delegate(mod: ModuleType, path: str, options: dict[str, str]) -> Any:
    """Load an external delegate library with the backend module `mod`.

    Raises:
        DelegateError: The library does not load; the message names it and gives the reason.
    """
    previous = sys.unraisablehook

    def quiet(info: Any) -> None:
        # LiteRT's half-built Delegate fails in __del__ ("no attribute '_library'") after a failed
        # load; that noise would reach notebook output areas. Everything else passes through.
        if not (isinstance(info.exc_value, AttributeError) and "Delegate" in repr(info.object)):
            previous(info)

    sys.unraisablehook = quiet
    try:
        return mod.load_delegate(path, options)
    except AttributeError as exc:  # it loaded, but has none of the functions an external delegate exports
        reason = f"not a TFLite external delegate ({str(exc).rsplit(': ', 1)[-1]})"
        exc.__traceback__ = None
    except (ValueError, OSError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        exc.__traceback__ = None  # frees the half-built Delegate now, while its __del__ noise is silenced
    finally:
        sys.unraisablehook = previous
    raise DelegateError(f"could not load delegate {path!r}: {reason}")


class Runner:
    """One interpreter and the lock that serialises its use."""

    def __init__(self, interpreter: Any) -> None:
        self.interpreter = interpreter
        self.lock = threading.Lock()

    def invoke(self) -> None:
        """Run the model once (call with `lock` held while touching tensors)."""
        self.interpreter.invoke()


class RunnerCache:
    """A small LRU of runners keyed by (model digest, options, preserve_all_tensors)."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._runners: OrderedDict[tuple, Runner] = OrderedDict()
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()

    def get(self, digest: str, content: bytes, options: RuntimeOptions, preserve_all_tensors: bool = False) -> Runner:
        """The cached runner for this model and options, built on first use."""
        key = (digest, options, preserve_all_tensors)
        with self._lock:
            runner = self._runners.get(key)
            if runner is not None:
                self._runners.move_to_end(key)
                return runner
        with self._build_lock:  # one build at a time, so two threads never build the same interpreter
            with self._lock:
                runner = self._runners.get(key)
            if runner is not None:
                return runner
            runner = Runner(make_interpreter(content, options, preserve_all_tensors=preserve_all_tensors))
        with self._lock:
            self._runners[key] = runner
            while len(self._runners) > self.size:
                self._runners.popitem(last=False)
        return runner

    def clear(self) -> None:
        """Drop every cached interpreter."""
        with self._lock:
            self._runners.clear()


#: The process-wide cache the Segmenter uses.
RUNNERS = RunnerCache()
