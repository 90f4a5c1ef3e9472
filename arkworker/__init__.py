"""arkworker: write Arkindex workers as plain decorated functions.

::

    from arkworker import Worker

    app = Worker("demo")

    @app.element
    def process(element, ctx):
        ctx.create_transcription(element, text="Hello", confidence=1.0)

Run it with ``arkworker run demo.py --element <uuid>``, or ``--sandbox`` to try it on a
local Arkindex sandbox.

``Worker`` and ``RunResult`` are loaded on first use (:pep:`562`): they bring the command
line and the runner with them (``Worker.run()`` is ``arkworker run``), and the layers below,
:mod:`arkworker.spec` first, must be importable without either.
"""

from __future__ import annotations

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
from arkworker.helpers.base import Listing
from arkworker.helpers.elements import ElementType
from arkworker.run.context import Context
from arkworker.version import __version__

if TYPE_CHECKING:
    from arkworker.app import Worker
    from arkworker.run.loop import RunResult

__all__ = [
    "ActivityState",
    "BadInput",
    "ClassificationState",
    "ConfigurationError",
    "Context",
    "DatasetState",
    "ElementType",
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
    if name == "Worker":
        from arkworker.app import Worker

        return Worker
    if name == "RunResult":  # the runner's, loaded with it
        from arkworker.run.loop import RunResult

        return RunResult
    raise AttributeError(f"module 'arkworker' has no attribute {name!r}")
