"""Finding the app of ``arkworker run APP``: ``path/to/file.py[:attr]`` or ``package.module[:attr]``.

Modelled on Flask's ``cli.py``: a ``:`` split that survives Windows drive letters, file paths
turned into module names (packages included), a module that cannot be found told apart from
an exception raised inside it (whose traceback is shown, since it points at the user's
code), then the one Worker of the module or the one named. Every other problem is a
:class:`~arkworker.errors.BadInput` whose message names the fix.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from arkworker.errors import BadInput
from arkworker.spec import WorkerSpec


def locate_app(reference: str) -> WorkerSpec:
    """Import ``path/to/file.py[:attr]`` or ``package.module[:attr]`` and return its Worker."""
    module_ref, attr = split_reference(reference)
    module = import_module(module_ref)
    return find_worker(module, module_ref, attr)


def split_reference(reference: str) -> tuple[str, str | None]:
    """Split ``module:attr``; a Windows drive letter (``C:\\w.py``) is not an attribute."""
    head, sep, tail = reference.rpartition(":")
    if sep and head and all(part.isidentifier() for part in tail.split(".")):
        return head, tail
    return reference, None


def import_module(module_ref: str) -> ModuleType:
    """Import a module given as a file path or a dotted name, telling apart its errors.

    A module that cannot be found is one line naming the fix; an exception raised while
    the module itself runs (an ImportError of a missing dependency included) shows its
    traceback, since it points at a line of the user's code.
    """
    if module_ref.endswith(".py") or os.sep in module_ref or "/" in module_ref:
        name = _prepare_file(Path(module_ref))
    else:
        name = module_ref
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # like 'python -m': the current project is importable
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise BadInput(
                f"Could not import {module_ref!r}: no module named {exc.name!r}. Check the spelling, run "
                "from the project's directory, or give the path of the file (e.g. 'workers/ocr.py:app')."
            ) from None
        failure: Exception = exc
    except Exception as exc:
        failure = exc
    click.echo("".join(traceback.format_exception(failure)).rstrip(), err=True)
    raise BadInput(
        f"Importing {module_ref!r} raised {type(failure).__name__} (traceback above): fix the module."
    )


def _prepare_file(path: Path) -> str:
    """Make a worker file importable and return its dotted module name (packages included)."""
    if not path.is_file():
        raise BadInput(
            f"Could not find the file {str(path)!r}. Give the path of a Python file "
            "(e.g. 'arkworker run workers/ocr.py:app') or a module name (e.g. 'ocr.worker:app')."
        )
    path = path.resolve()
    parts = [] if path.name == "__init__.py" else [path.stem]
    directory = path.parent
    while (directory / "__init__.py").is_file():
        parts.insert(0, directory.name)
        directory = directory.parent
    name = ".".join(parts)
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    loaded = sys.modules.get(name)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() != path:
        del sys.modules[name]  # another file of the same name was loaded earlier in this process
    return name


def find_worker(module: ModuleType, module_ref: str, attr: str | None) -> WorkerSpec:
    """The Worker named ``attr`` in ``module``, or its only Worker when ``attr`` is None."""
    found: dict[int, str] = {}
    for name, candidate in vars(module).items():
        if isinstance(candidate, WorkerSpec) and id(candidate) not in found:
            found[id(candidate)] = name
    names = list(found.values())
    if attr is None:
        if len(names) == 1:
            return getattr(module, names[0])
        if not names:
            raise BadInput(
                f"No Worker found in {module_ref!r}: create one with 'app = Worker(\"name\")' and decorate "
                "a function with @app.element."
            )
        raise BadInput(
            f"Several Workers in {module_ref!r} ({', '.join(names)}): use '{module_ref}:{names[0]}' "
            "to pick one."
        )
    value: Any = module
    try:
        for part in attr.split("."):
            value = getattr(value, part)
    except AttributeError:
        hint = (
            f"Workers found: {', '.join(names)}; use '{module_ref}:{names[0]}'."
            if names
            else "It defines no Worker."
        )
        raise BadInput(f"Module {module_ref!r} has no attribute {attr!r}. {hint}") from None
    if not isinstance(value, WorkerSpec):
        raise BadInput(f"'{module_ref}:{attr}' is a {type(value).__name__}, not an arkworker Worker.")
    return value
