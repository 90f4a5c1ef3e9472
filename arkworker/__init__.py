"""arkworker: write Arkindex workers as plain decorated functions.

::

    from arkworker import Worker

    app = Worker("demo")

    @app.element
    def process(element, ctx):
        ctx.create_transcription(element, text="Hello", confidence=1.0)

Run it with ``arkworker run demo.py --element <uuid>``, or ``--sandbox`` to try it on a
local Arkindex sandbox.

``Worker``, ``RunResult``, ``Context``, ``Listing``, ``ElementType`` and ``__version__`` are
loaded on first use (:pep:`562`): the run's context brings the API client, Pillow and peewee
with it, and ``import arkworker``, a worker module's import and its ``--help`` need none of
them (the layers below, :mod:`arkworker.spec` first, must be importable without the runner
too).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from arkworker.enums import ActivityState, ClassificationState, DatasetState, MetaType, TextOrientation
from arkworker.errors import (
    BadInput,
    ConfigurationError,
    InvalidArgument,
    MissingElementType,
    MissingEntityType,
    MissingTypeError,
    OperationUnavailable,
    RegistrationError,
)
from arkworker.fields import Field

if TYPE_CHECKING:
    from arkworker.app import Worker
    from arkworker.helpers.base import Listing
    from arkworker.helpers.elements import ElementType
    from arkworker.run.context import Context
    from arkworker.run.loop import RunResult
    from arkworker.run.units import Batch
    from arkworker.version import __version__

#: The names loaded on first use, and the module each one comes from.
_LAZY = {
    "Batch": "arkworker.run.units",
    "Context": "arkworker.run.context",
    "ElementType": "arkworker.helpers.elements",
    "Listing": "arkworker.helpers.base",
    "RunResult": "arkworker.run.loop",
    "Worker": "arkworker.app",
    "__version__": "arkworker.version",  # importlib.metadata and a search of sys.path
}

__all__ = [
    "ActivityState",
    "BadInput",
    "Batch",
    "ClassificationState",
    "ConfigurationError",
    "Context",
    "DatasetState",
    "ElementType",
    "Field",
    "InvalidArgument",
    "Listing",
    "MetaType",
    "MissingElementType",
    "MissingEntityType",
    "MissingTypeError",
    "OperationUnavailable",
    "RegistrationError",
    "RunResult",
    "TextOrientation",
    "Worker",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'arkworker' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # looked up once: later uses are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
