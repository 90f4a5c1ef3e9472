"""Where library errors become click's: one ``Error:`` line and an exit code.

The library raises plain exceptions (:class:`~arkworker.errors.UserError` and its
subclasses, which carry their exit code); only the command line knows click.
:class:`ShowsUserErrors` turns them into click exceptions while a command parses and runs,
so click shows them as it shows its own, also in click's standalone mode and its
``CliRunner``. :func:`invoke` is how ``arkworker`` and ``Worker.run()`` run a command: like
standalone mode, except that a usage error is the one ``Error:`` line (without the usage
and hint click prints above it) and Ctrl+C is ``Interrupted.`` with exit code 130.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

import click

from arkworker.errors import UserError

#: Raised by click >= 8.2 for a group called without arguments (older versions print the help).
_NO_ARGS_IS_HELP: tuple[type[Exception], ...] = tuple(
    error for error in [getattr(click.exceptions, "NoArgsIsHelpError", None)] if error is not None
)


class UserErrorException(click.ClickException):
    """A library error as a click exception: its message, and its exit code."""

    def __init__(self, error: UserError) -> None:
        super().__init__(error.message)
        self.exit_code = error.exit_code


@contextmanager
def user_errors_as_click() -> Iterator[None]:
    """Re-raise a :class:`~arkworker.errors.UserError` as the click exception that shows it."""
    try:
        yield
    except UserError as exc:
        raise UserErrorException(exc) from exc


class ShowsUserErrors(click.Command):
    """A click command (or group, mixed in first) that shows library errors as click errors."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with user_errors_as_click():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        with user_errors_as_click():
            return super().invoke(ctx)


def invoke(
    command: click.Command, argv: Sequence[str] | None, *, prog_name: str, err: TextIO | None = None
) -> int:
    """Run ``command`` on ``argv`` (default ``sys.argv[1:]``) and return its exit code.

    Error lines go to ``err`` (default: standard error); a command's integer return value is
    the exit code, anything else means 0.
    """
    try:
        value = command.main(
            args=list(sys.argv[1:] if argv is None else argv), prog_name=prog_name, standalone_mode=False
        )
    except _NO_ARGS_IS_HELP as exc:  # a group without arguments prints its help, as click 8.1 does
        click.echo(str(exc))
        return 0
    except click.ClickException as exc:
        click.echo(f"Error: {exc.format_message()}", err=err is None, file=err)
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("Interrupted.", err=err is None, file=err)
        return 130
    return value if isinstance(value, int) else 0
