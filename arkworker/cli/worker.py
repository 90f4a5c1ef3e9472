"""The command of a worker, and ``arkworker run APP``, which hands it to click to parse once.

A worker's command is built from what it registered: the built-in options of
:mod:`arkworker.options` and the app's own ``@app.option``, so ``--help`` shows both.
``arkworker run`` is a click group whose only "subcommand" is the APP it is given, located
when click resolves it (as Flask's ``FlaskGroup.get_command`` finds the app's commands):
``arkworker run APP --element X`` is parsed once, by the worker's own command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import click

from arkworker.cli.errors import ShowsUserErrors, invoke
from arkworker.cli.locate import locate_app
from arkworker.errors import BadInput, ConfigurationError, UserError
from arkworker.options import GREEDY_OPTIONS, RunOptions, click_options
from arkworker.run import logs
from arkworker.run.stopping import Interrupted
from arkworker.spec import WorkerSpec

if TYPE_CHECKING:
    from arkworker.run.loop import RunResult

#: Context settings of every worker command.
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

APP_HELP = "'path/to/file.py[:attr]' or 'package.module[:attr]'"


class WorkerCommand(ShowsUserErrors):
    """A worker's command; ``--element A B C`` and ``--set X Y`` are accepted as well as repeated flags."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_greedy(args, GREEDY_OPTIONS))


def expand_greedy(args: Sequence[str], names: Sequence[str]) -> list[str]:
    """Turn ``--opt a b`` into ``--opt a --opt b`` for the given option names."""
    expanded: list[str] = []
    current: str | None = None
    awaiting_value = False
    for token in args:
        if token == "--":
            current = None
        elif token in names:
            current, awaiting_value = token, True
        elif any(token.startswith(f"{name}=") for name in names):
            current, awaiting_value = token.partition("=")[0], False
        elif current and not token.startswith("-"):
            if not awaiting_value:
                expanded.append(current)
            awaiting_value = False
        else:
            current = None
        expanded.append(token)
    return expanded


@dataclass
class Invocation:
    """What one run needs besides its arguments: environment, log stream, and its result."""

    env: Mapping[str, str]
    stream: TextIO | None = None
    result: RunResult | None = None

    def execute(self, app: WorkerSpec, options: RunOptions) -> int:
        """Run ``app``; an unexpected exception is one line (its traceback with ``--verbose``)."""
        from arkworker.run import loop as runner  # the API client, Pillow, peewee: not for --help

        if options.keep and options.sandbox is None:
            raise BadInput(
                "--keep is for --sandbox runs, whose work directory is temporary: add --sandbox, or drop --keep."
            )
        if options.view and options.sandbox is None:
            raise BadInput(
                "--view shows what a run made on a sandbox: add --sandbox (arkworker run APP --sandbox --view)."
            )
        with logs.run_logging(self.stream, verbose=options.verbose):
            try:
                if options.sandbox is not None:
                    from arkworker.cli.sandbox import run_on_sandbox  # the sandbox server, only when asked

                    self.result = run_on_sandbox(app, options, self.env, out=self.stream)
                else:
                    self.result = runner.run(app, options, self.env)
            except UserError:
                raise
            except Interrupted as exc:  # before the loop (configuration) or at a second signal
                logs.logger.error("%s", exc)
                return exc.exit_code
            except Exception as exc:
                logs.logger.debug("The run stopped", exc_info=True)
                raise ConfigurationError(
                    logs.redact(f"The run stopped: {exc!r}")
                    + ("" if options.verbose else " (run with --verbose to see the traceback)")
                ) from exc
        return self.result.exit_code


def worker_command(app: WorkerSpec, invocation: Invocation, name: str | None = None) -> WorkerCommand:
    """The click command of ``app``; running it runs ``app`` with ``invocation``."""

    def callback(**values: Any) -> int:
        return invocation.execute(app, RunOptions.from_values(values))

    return WorkerCommand(
        name=name or app.name,
        params=[*click_options(), *(spec.to_click() for spec in app.options)],
        callback=callback,
        help=app.description or f"Run the {app.name!r} worker.",
        context_settings=CONTEXT_SETTINGS,
    )


def invoke_app(
    app: WorkerSpec,
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
    prog_name: str | None = None,
) -> tuple[int, RunResult | None]:
    """Run ``app`` with a command line; return the exit code and the run's accounting.

    ``stream`` receives the run's log lines, its error line and the sandbox report (default:
    standard error and output), for tests and the pytest plugin.
    """
    invocation = Invocation(env=os.environ if env is None else env, stream=stream)
    name = prog_name or os.path.basename(sys.argv[0]) or app.name
    code = invoke(worker_command(app, invocation), argv, prog_name=name, err=stream)
    return code, invocation.result


def run_app(
    app: WorkerSpec, argv: Sequence[str] | None = None, *, env: Mapping[str, str] | None = None
) -> int:
    """Run ``app`` as a program and return its exit code (what :meth:`Worker.run` does)."""
    return invoke_app(app, argv, env=env)[0]


class RunGroup(click.Group):
    """``arkworker run APP [OPTIONS]``: APP names the command, which is the worker's own."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return []  # APP can be any module: there is nothing to list

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command:
        """Locate the worker APP and build its command (located errors are one line, exit 2)."""
        return worker_command(locate_app(cmd_name), Invocation(env=os.environ), name=cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """An option before APP would be refused as the group's own: say where it goes instead."""
        if args and args[0].startswith("-") and args[0] not in ctx.help_option_names:
            raise click.UsageError(
                f"Give the worker before its options: '{ctx.command_path} APP {args[0]} ...', where APP "
                f"is {APP_HELP}.",
                ctx,
            )
        return super().parse_args(ctx, args)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """``--help`` lists the options every worker has; ``run APP --help`` adds the worker's own."""
        super().format_options(ctx, formatter)
        with formatter.section("Options of every worker"):
            formatter.write_dl(
                [record for option in click_options() if (record := option.get_help_record(ctx))]
            )


@click.group(
    "run",
    cls=RunGroup,
    help=f"Run the worker APP: {APP_HELP}; attr may be omitted when the module holds one Worker. "
    "'arkworker run APP --help' also lists the worker's own options.",
    short_help="Run a worker, on Arkindex or on a local sandbox.",
    options_metavar="",
    subcommand_metavar="APP [OPTIONS]",
    context_settings={"max_content_width": 100},
)
def run_group() -> None:
    """Nothing to do before the worker's command runs: :class:`RunGroup` resolves it."""
