"""The ``arkworker`` command line: the only layer that speaks click.

``arkworker run APP [OPTIONS]`` runs a worker with a command built from what it registered
(:mod:`arkworker.cli.worker`, the app found by :mod:`arkworker.cli.locate`); ``sandbox``,
``cache``, ``new``, ``declare`` and ``check`` have a module each. Every error a user can cause prints one line
(``Error: ...``) and exits with 2 for usage errors, 1 for runs that could not go on
(:mod:`arkworker.cli.errors`); tracebacks are kept for ``--verbose`` and for exceptions
raised while importing the user's own module.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from arkworker.cli.cache import cache_group
from arkworker.cli.check import check_command
from arkworker.cli.declare import declare_command
from arkworker.cli.errors import ShowsUserErrors, invoke
from arkworker.cli.new import new_command
from arkworker.cli.sandbox import sandbox_group
from arkworker.cli.worker import run_group


class ArkworkerGroup(ShowsUserErrors, click.Group):
    """The ``arkworker`` group: its commands' library errors are shown as click errors."""


def show_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """``--version``: the installed version, looked up only when asked (importlib.metadata is slow to load)."""
    if not value or ctx.resilient_parsing:
        return
    from arkworker.version import __version__

    click.echo(f"arkworker, version {__version__}")
    ctx.exit()


@click.group(cls=ArkworkerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=show_version,
    help="Show the version and exit.",
)
def cli() -> None:
    """arkworker: write, run and test Arkindex workers as decorated functions."""


cli.add_command(run_group)
cli.add_command(sandbox_group)
cli.add_command(cache_group)
cli.add_command(new_command)
cli.add_command(declare_command)
cli.add_command(check_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``arkworker`` console script."""
    sys.exit(invoke(cli, argv, prog_name="arkworker"))
