"""Exceptions with a promise about how they are shown.

Everything a user can get wrong (a CLI value, a file, an environment variable, an answer
of the API that makes no sense) is reported as one line that says what is wrong and what
to do, without a traceback unless ``--verbose`` is given. Those errors are plain
exceptions, so the library stays usable without a command line (``str(error)`` is the
line); their ``exit_code`` tells :mod:`arkworker.cli`, the only layer that speaks click,
which code to exit with: 2 for usage errors (the command line or a file it names), 1 for a
run that could not go on.
"""

from __future__ import annotations


class RegistrationError(Exception):
    """A worker was declared in a way that cannot run (raised at import time)."""


class UserError(Exception):
    """An error the user can fix, shown as one line (``Error: <message>``) and an exit code."""

    #: What ``arkworker`` exits with when this error stops it.
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadInput(UserError):
    """Something given on the command line, or a file it names, is unusable (exit 2)."""

    exit_code = 2


class ConfigurationError(UserError):
    """The run cannot start: environment, configuration or API answers are unusable (exit 1)."""

    exit_code = 1


class InvalidArgument(ValueError, TypeError, AssertionError):
    """A result helper was called with an argument it cannot send (raised before any request).

    It is a :class:`ValueError`, and also an :class:`AssertionError` and a :class:`TypeError`
    because that is what arkindex-base-worker raises for the same mistakes (``TypeError``
    for a ``create_elements`` parent that is not an element): tests of a ported worker keep
    passing. Unlike ``assert`` statements, the checks still run under ``python -O``.
    """


class MissingTypeError(Exception):
    """Element types a worker needs are missing from the corpus (``ctx.check_required_types``)."""


class MissingEntityType(Exception):
    """An entity type a worker needs is missing from the corpus (``ctx.check_required_entity_types``)."""


class MissingElementType(MissingTypeError):
    """An element type a worker needs is missing from the corpus (``ctx.check_required_types([...])``).

    Today's name (arkindex-base-worker 0.5 and later) of :class:`MissingTypeError`, which
    it subclasses: ``except MissingTypeError`` catches it too.
    """


class OperationUnavailable(UserError):
    """A helper needs an operation that the Arkindex instance does not offer.

    The instance is of the other generation: the operation came with today's Arkindex, or
    Arkindex removed it (its entities). Raised before any request, with the helper, the
    operation and the instance's API level in the message.
    """
