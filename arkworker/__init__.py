"""arkworker: write Arkindex workers as plain decorated functions.

::

    from arkworker import Worker

    app = Worker("demo")

    @app.element
    def process(element, ctx):
        ctx.create_transcription(element, text="Hello", confidence=1.0)

Run it with ``arkworker run demo.py --element <uuid>``, or ``--sandbox`` to try it on a
local Arkindex sandbox.
"""

from arkworker.app import Worker
from arkworker.enums import ActivityState, ClassificationState, DatasetState, MetaType, TextOrientation
from arkworker.errors import (
    BadInput,
    ConfigurationError,
    InvalidArgument,
    MissingEntityType,
    MissingTypeError,
    RegistrationError,
)
from arkworker.helpers.elements import ElementType
from arkworker.run.context import Context
from arkworker.version import __version__

__all__ = [
    "ActivityState",
    "BadInput",
    "ClassificationState",
    "ConfigurationError",
    "Context",
    "DatasetState",
    "ElementType",
    "InvalidArgument",
    "MetaType",
    "MissingEntityType",
    "MissingTypeError",
    "RegistrationError",
    "TextOrientation",
    "Worker",
    "__version__",
]
