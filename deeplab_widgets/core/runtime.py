"""Interpreter backends (LiteRT, tflite-runtime), runtime options, and a cache of interpreters.

An interpreter is built once per (model, options) and kept, so toggling threads or XNNPACK
back and forth costs nothing. Interpreters are not thread-safe: `Runner.lock` guards invoke.
"""

from __future__ import annotations

import importlib
import numbers
import os
import sys
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
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
    """Validate a backend name ("auto" or a key of `BACKENDS`); `BackendError` lists the choices.

    Args:
        name: The name to check.
    """
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
        delegate_options: Options passed to the external delegate, as (key, value) pairs (a mapping is turned
            into pairs).
        backend: `"litert"` (ai-edge-litert), `"tflite-runtime"`, or `"auto"` (the first one installed).

    Raises:
        OptionsError: A field of the wrong type (e.g. `xnnpack="no"`), or `num_threads` outside 1..cores.
        BackendError: `backend` is not a known backend name.
    """

    num_threads: int = field(default_factory=cpu_count)
    xnnpack: bool = True
    delegate: str | None = None
    delegate_options: tuple[tuple[str, str], ...] = ()
    backend: Backend = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.num_threads, numbers.Integral) or isinstance(self.num_threads, bool):
            raise OptionsError(f"num_threads must be an int, not {type(self.num_threads).__name__}")
        if not isinstance(self.xnnpack, bool):
            raise OptionsError(f"xnnpack must be True or False, not {self.xnnpack!r}")
        if self.delegate is not None and not isinstance(self.delegate, (str, os.PathLike)):
            raise OptionsError(f"delegate must be a library path or None, not {type(self.delegate).__name__}")
        object.__setattr__(self, "num_threads", int(self.num_threads))
        object.__setattr__(self, "delegate", None if self.delegate is None else os.fspath(self.delegate))
        object.__setattr__(self, "delegate_options", _option_pairs(self.delegate_options))
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


def _option_pairs(options: Any) -> tuple[tuple[str, str], ...]:
    """Delegate options as a tuple of (key, value) strings, from a mapping or pairs.

    Raises:
        OptionsError: Anything else (the message shows the accepted forms).
    """
    if isinstance(options, Mapping):
        options = tuple(options.items())
    try:
        if isinstance(options, (str, bytes)):
            raise TypeError
        return tuple((str(key), str(value)) for key, value in options)
    except (TypeError, ValueError):
        raise OptionsError(
            f"delegate_options must be a mapping or (key, value) pairs, e.g. {{'device': 'usb'}}, not {options!r}"
        ) from None


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

    Args:
        name: `"auto"`, `"litert"` or `"tflite-runtime"`.

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
            check_declared_sizes(interpreter)
            interpreter.allocate_tensors()
    except ModelFormatError:
        raise
    except (ValueError, RuntimeError) as exc:
        reason = str(exc).strip() or f"{type(exc).__name__} without a message"
        if options.delegate:
            raise DelegateError(f"delegate {options.delegate!r} loaded but could not run this model: {reason}") from exc
        if "flatbuffer" in reason.lower():  # the file's structure is broken: say so without the format's name
            reason = "the file is damaged or cut short"
        raise ModelFormatError(f"the model could not be loaded by the TFLite interpreter: {reason}") from exc
    return interpreter


#: The most memory a model's declared tensors may ask for; a corrupted or hostile shape could ask for terabytes.
MAX_TENSOR_BYTES = 4 * 2**30


def check_declared_sizes(interpreter: Any) -> None:
    """Refuse a model whose declared tensor shapes need absurd memory, before `allocate_tensors()` reserves it.

    Every input must hold one image (batch 1), and the tensors together at most `MAX_TENSOR_BYTES`
    (a DeepLab model on a 513 px input declares tens of MB).

    Raises:
        ModelFormatError: An input with a batch other than 1, or tensors declaring more than the limit.
    """
    for detail in interpreter.get_input_details():
        shape = tuple(int(d) for d in detail["shape"])
        if shape and shape[0] != 1:
            raise ModelFormatError(
                f"input {detail['name']!r} declares a batch of {shape[0]} (shape {shape}); models here take one "
                "image at a time (batch 1)"
            )
    total = 0
    for detail in interpreter.get_tensor_details():
        count = 1
        for d in detail["shape"]:
            count *= max(int(d), 1)
        total += count * _itemsize(detail["dtype"])
    if total > MAX_TENSOR_BYTES:
        raise ModelFormatError(
            f"the model's tensors declare {total / 2**30:.1f} GiB, above the {MAX_TENSOR_BYTES / 2**30:.0f} GiB "
            "a segmentation model can need; the file is damaged or not a segmentation model"
        )


def _itemsize(dtype: Any) -> int:
    try:
        return int(dtype().itemsize)
    except TypeError:  # a dtype numpy cannot instantiate (e.g. a string type): count a byte per element
        return 1


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

    Args:
        mod: The backend's interpreter module (`backend_module`).
        path: The delegate library's path or name.
        options: Options for the delegate, as strings.

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
    """One interpreter and the lock that serialises its use.

    Args:
        interpreter: An allocated interpreter (`make_interpreter`).
    """

    def __init__(self, interpreter: Any) -> None:
        self.interpreter = interpreter
        self.lock = threading.Lock()

    def invoke(self) -> None:
        """Run the model once (call with `lock` held while touching tensors).

        Raises:
            ModelFormatError: The interpreter failed while running the graph (a damaged model that still loaded,
                e.g. a constant tensor without data).
        """
        try:
            self.interpreter.invoke()
        except RuntimeError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelFormatError(f"the model failed while running: {reason}") from exc


class RunnerCache:
    """A small LRU of runners keyed by (model key, options, preserve_all_tensors).

    A caller may name a `holder` (a `Segmenter`) when it gets a runner; `release(holder, model)` then drops
    that model's runners that no other live holder uses, so closing a segmenter frees its interpreters at once
    instead of when the LRU pushes them out. Holders are weak references: a collected holder holds nothing.

    Args:
        size: How many runners are kept (least recently used dropped first).
    """

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._runners: OrderedDict[tuple, Runner] = OrderedDict()
        self._holders: dict[tuple, weakref.WeakSet[object]] = {}
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()

    def get(
        self,
        digest: str,
        content: bytes | Callable[[], bytes],
        options: RuntimeOptions,
        preserve_all_tensors: bool = False,
        *,
        holder: object | None = None,
    ) -> Runner:
        """The cached runner for this model and options, built on first use.

        Args:
            digest: The model's cache key: its SHA-256, with a suffix for a modified graph (`model.run_key`).
            content: The `.tflite` bytes to build the interpreter from on first use, or a function making them.
            options: Threads, XNNPACK, delegate and backend.
            preserve_all_tensors: Keep every intermediate tensor readable (a separate interpreter).
            holder: The object using the runner (e.g. a `Segmenter`), for `release`.

        Raises:
            BackendError, DelegateError, ModelFormatError: As `make_interpreter`, when the runner is built.
        """
        key = (digest, options, preserve_all_tensors)
        with self._lock:
            runner = self._runners.get(key)
            if runner is not None:
                self._runners.move_to_end(key)
                self._hold(key, holder)
                return runner
        with self._build_lock:  # one build at a time, so two threads never build the same interpreter
            with self._lock:
                runner = self._runners.get(key)
            if runner is None:
                model = content() if callable(content) else content
                runner = Runner(make_interpreter(model, options, preserve_all_tensors=preserve_all_tensors))
        with self._lock:
            self._runners[key] = runner
            self._runners.move_to_end(key)
            self._hold(key, holder)
            while len(self._runners) > self.size:
                old, _ = self._runners.popitem(last=False)
                self._holders.pop(old, None)
        return runner

    def _hold(self, key: tuple, holder: object | None) -> None:
        if holder is not None:
            self._holders.setdefault(key, weakref.WeakSet()).add(holder)

    def release(self, holder: object, model: str) -> int:
        """`holder` stops using runners; drop those of `model` (keys starting with it) no live holder uses.

        Args:
            holder: The object that stops using runners (e.g. a closed `Segmenter`).
            model: The model's digest: its runners' keys start with it.

        Returns:
            How many of `model`'s runners stay cached (other holders still use them).
        """
        with self._lock:
            for users in self._holders.values():
                users.discard(holder)
            mine = [k for k in self._runners if k[0].startswith(model)]
            unused = [k for k in mine if not self._holders.get(k)]
            for key in unused:
                del self._runners[key]
                self._holders.pop(key, None)
        return len(mine) - len(unused)

    def cached(self, model: str) -> int:
        """How many runners of `model` (keys starting with it) are cached.

        Args:
            model: The model's digest: its runners' keys start with it.
        """
        with self._lock:
            return sum(k[0].startswith(model) for k in self._runners)

    def __len__(self) -> int:
        with self._lock:
            return len(self._runners)

    def clear(self) -> None:
        """Drop every cached interpreter."""
        with self._lock:
            self._runners.clear()
            self._holders.clear()


#: The process-wide cache the Segmenter uses.
RUNNERS = RunnerCache()
