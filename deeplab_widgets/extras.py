"""Optional dependencies: which pip extra installs each optional package, and the error that names it.

`pip install deeplab-widgets` installs the core (segmentation, the CLI, batch and video); the widgets, figures,
the app and the distributed engine need an extra (`pip install 'deeplab-widgets[widgets]'`).
"""

from __future__ import annotations

from importlib.util import find_spec

from .errors import DependencyError

#: The extra that installs each optional top-level module.
EXTRA_OF = {
    "ipywidgets": "widgets",
    "anywidget": "widgets",
    "matplotlib": "widgets",
    "IPython": "widgets",
    "dask": "dask",
    "distributed": "dask",
    "pycocotools": "coco",
    "litert_quantizer": "quantize",
}


def dependency_error(what: str, module: str) -> DependencyError:
    """The error for `what` needing `module`, which is not installed: it names the extra that installs it.

    Args:
        what: What needs the module, as the user named it (`Workbench`, `plot_segmentation`, ...).
        module: The missing module (a key of `EXTRA_OF`, or one of its submodules).
    """
    extra = EXTRA_OF[module.partition(".")[0]]
    return DependencyError(
        f"{what} needs the {extra} extra ({module} is not installed): pip install 'deeplab-widgets[{extra}]'",
        name=module,
    )


def require(what: str, *modules: str) -> None:
    """Check that `modules` can be imported, without importing them.

    Raises:
        DependencyError: One is missing; the message names the extra to install (see `dependency_error`).
    """
    for module in modules:
        if find_spec(module) is None:
            raise dependency_error(what, module)


def missing_optional(exc: ImportError) -> str | None:
    """The missing module an extra installs that `exc` is about (a `ModuleNotFoundError` or a `DependencyError`
    from `require`), or None: lets a caller name the extra for what the user asked for."""
    name = exc.name or ""
    return (
        name if isinstance(exc, (ModuleNotFoundError, DependencyError)) and name.partition(".")[0] in EXTRA_OF else None
    )
