"""The ``arkworker`` command line, and the loader that finds a Worker from ``module:attr``.

``arkworker run APP [OPTIONS]`` builds a click command from what the app registered (the
built-in options of the reference plus the app's own ``@app.option``), so ``--help`` shows
both. Every error a user can cause prints one line (``Error: ...``) and exits with 2 for
usage errors, 1 for runs that could not go on; tracebacks are kept for ``--verbose`` and for
exceptions raised while importing the user's own module.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import click

from arkworker import __version__
from arkworker.app import Worker
from arkworker.cli.cache import cache_group
from arkworker.cli.new import new_command
from arkworker.errors import BadInput, ConfigurationError
from arkworker.run import logs
from arkworker.run import loop as runner
from arkworker.run.loop import RunOptions, RunResult
from arkworker.run.sets import parse_set

#: Options that accept several values after one flag, like argparse's nargs="+".
GREEDY_OPTIONS = ("--element", "--set")


# -- Finding the app -------------------------------------------------------------------


def locate_app(reference: str) -> Worker:
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
        failure = exc
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


def find_worker(module: ModuleType, module_ref: str, attr: str | None) -> Worker:
    """The Worker named ``attr`` in ``module``, or its only Worker when ``attr`` is None."""
    found: dict[int, str] = {}
    for name, value in vars(module).items():
        if isinstance(value, Worker) and id(value) not in found:
            found[id(value)] = name
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
    if not isinstance(value, Worker):
        raise BadInput(f"'{module_ref}:{attr}' is a {type(value).__name__}, not an arkworker Worker.")
    return value


# -- The worker command ----------------------------------------------------------------


class WorkerCommand(click.Command):
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


class DatasetSetType(click.ParamType):
    """A ``--set`` value, ``<dataset_uuid>:<set_name>``, converted to (UUID, name)."""

    name = "dataset_set"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        try:
            return parse_set(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def builtin_options() -> list[click.Option]:
    """The options every worker command has, with the reference's names and meaning."""
    file_path = click.Path(dir_okay=False, path_type=Path)
    return [
        click.Option(
            ["-c", "--config"],
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="YAML configuration for a read-only (local) run; ignored in production.",
        ),
        click.Option(
            ["-d", "--database"],
            type=file_path,
            help="Use this SQLite cache database instead of the parent tasks' caches.",
        ),
        click.Option(
            ["-v", "--verbose", "--debug", "verbose"],
            is_flag=True,
            help="Debug logging; failures are logged with their traceback.",
        ),
        click.Option(["--dev"], is_flag=True, help="Read-only mode, even with ARKINDEX_WORKER_RUN_ID set."),
        click.Option(
            ["--extras-dir"],
            type=click.Path(file_okay=False, path_type=Path),
            help="Directory of extra files (models...) for local runs.",
        ),
        click.Option(
            ["--element"],
            type=click.UUID,
            multiple=True,
            metavar="UUID",
            help="Element to process; repeat the option or list several UUIDs after it.",
        ),
        click.Option(
            ["--elements-list"],
            type=file_path,
            metavar="FILE",
            help='JSON list of elements ([{"id": "<uuid>"}, ...]); default: $TASK_ELEMENTS.',
        ),
        click.Option(
            ["--set"],
            type=DatasetSetType(),
            multiple=True,
            metavar="UUID:NAME",
            help="Dataset set to process, as <dataset_uuid>:<set_name>; repeat it or list several.",
        ),
        click.Option(
            ["--sandbox"],
            is_flag=False,
            flag_value="",
            default=None,
            metavar="[CORPUS|DIR]",
            help="Run on a local sandbox Arkindex seeded from CORPUS, or from the images in the "
            "folder DIR (default: a demo corpus).",
        ),
    ]


def build_command(app: Worker | None) -> WorkerCommand:
    """The click command of ``app`` (or a generic one, to describe ``arkworker run``)."""
    params: list[click.Parameter] = builtin_options()
    if app is not None:
        params += [spec.to_click() for spec in app.options]

    def callback(**values: Any) -> int:
        assert app is not None
        invocation: Invocation = click.get_current_context().obj
        return invocation.execute(app, values)

    description = (app.description if app and app.description else None) or (
        f"Run the {app.name!r} worker." if app else "Run an arkworker Worker."
    )
    return WorkerCommand(
        name=app.name if app else "run",
        params=params,
        callback=callback,
        help=description,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )


@dataclass
class Invocation:
    """What one run needs besides its arguments: environment, log stream, and its result."""

    env: Mapping[str, str]
    stream: TextIO | None = None
    result: RunResult | None = None

    def execute(self, app: Worker, values: dict[str, Any]) -> int:
        custom_names = {spec.name for spec in app.options}
        builtins = {name: value for name, value in values.items() if name not in custom_names}
        builtins["element"] = tuple(str(value) for value in builtins.get("element") or ())
        options = RunOptions(**builtins, custom={name: values[name] for name in custom_names})
        with logs.run_logging(self.stream, verbose=options.verbose):
            try:
                if options.sandbox is not None:
                    from arkworker.cli.sandbox_run import run_on_sandbox

                    self.result = run_on_sandbox(app, options, self.env, out=self.stream)
                else:
                    self.result = runner.run(app, options, self.env)
            except click.ClickException:
                raise
            except Exception as exc:
                logs.logger.debug("The run stopped", exc_info=True)
                raise ConfigurationError(
                    logs.redact(f"The run stopped: {exc!r}")
                    + ("" if options.verbose else " (run with --verbose to see the traceback)")
                ) from exc
        return self.result.exit_code


def invoke(
    command: click.Command,
    argv: Sequence[str] | None,
    *,
    prog_name: str,
    invocation: Invocation | None = None,
) -> int:
    """Run a click command; errors are one ``Error:`` line and an exit code, never a traceback."""
    err = invocation.stream if invocation and invocation.stream else None
    try:
        value = command.main(
            args=list(sys.argv[1:] if argv is None else argv),
            prog_name=prog_name,
            standalone_mode=False,
            obj=invocation,
        )
    except click.ClickException as exc:
        click.echo(f"Error: {exc.format_message()}", err=err is None, file=err)
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("Interrupted.", err=err is None, file=err)
        return 130
    return value if isinstance(value, int) else 0


def invoke_app(
    app: Worker,
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
    prog_name: str | None = None,
) -> tuple[int, RunResult | None]:
    """Run ``app`` with a command line; return the exit code and the run's accounting."""
    invocation = Invocation(env=os.environ if env is None else env, stream=stream)
    name = prog_name or os.path.basename(sys.argv[0]) or app.name
    code = invoke(build_command(app), argv, prog_name=name, invocation=invocation)
    return code, invocation.result


def run_app(app: Worker, argv: Sequence[str] | None = None, *, env: Mapping[str, str] | None = None) -> int:
    """Run ``app`` as a program and return its exit code (what :meth:`Worker.run` does)."""
    return invoke_app(app, argv, env=env)[0]


# -- The arkworker program -------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="arkworker")
def cli() -> None:
    """arkworker: write, run and test Arkindex workers as decorated functions."""


@cli.command(
    "run",
    short_help="Run a worker, on Arkindex or on a local sandbox.",
    add_help_option=False,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.argument("app_reference", metavar="APP", required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run_command(ctx: click.Context, app_reference: str | None, args: tuple[str, ...]) -> int:
    """Run a worker: APP is 'path/to/file.py[:attr]' or 'package.module[:attr]'."""
    if app_reference is None or app_reference in ("-h", "--help"):
        generic = build_command(None)
        help_ctx = click.Context(generic, info_name=f"{ctx.command_path} APP", **generic.context_settings)
        click.echo(generic.get_help(help_ctx).replace("Run an arkworker Worker.", _RUN_HELP, 1))
        return 0
    app = locate_app(app_reference)
    code, _ = invoke_app(app, args, prog_name=f"{ctx.command_path} {app_reference}")
    return code


_RUN_HELP = (
    "Run the worker APP: 'path/to/file.py[:attr]' or 'package.module[:attr]'; attr may be\n"
    "  omitted when the module holds one Worker. 'arkworker run APP --help' also lists the\n"
    "  worker's own options."
)


@cli.group("sandbox", short_help="Serve a local Arkindex, or write a corpus for a folder of images.")
def sandbox_group() -> None:
    """A local Arkindex-compatible server, to try and test workers without an instance."""


@sandbox_group.command("serve", short_help="Serve a sandbox Arkindex until Ctrl+C.")
@click.argument("corpus", required=False, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port on 127.0.0.1; 0 picks a free one.",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep the state in this SQLite file, reused on the next start (default: a temporary file).",
)
def serve_command(corpus: Path | None, port: int, db_path: Path | None) -> None:
    """Serve CORPUS (YAML or JSON, or a folder of images; default: the demo corpus) until Ctrl+C."""
    from arkworker.sandbox.corpus import CorpusError
    from arkworker.sandbox.serve import serve_forever

    try:
        serve_forever(corpus, port=port, db_path=db_path, echo=click.echo)
    except CorpusError as exc:
        raise BadInput(str(exc)) from None
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise BadInput(f"Cannot listen on 127.0.0.1:{port} ({reason}): pick another --port.") from None


@sandbox_group.command("import", short_help="Write a corpus file for a folder of images.")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--corpus",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Corpus file to write (default: DIRECTORY/corpus.yml).",
)
@click.option("--force", is_flag=True, help="Overwrite the corpus file if it exists.")
def import_command(directory: Path, out: Path | None, force: bool) -> None:
    """Write a corpus for the images in DIRECTORY: one page per image, sub-folders as folders."""
    from arkworker.sandbox.importer import summary, write_folder_corpus

    written = write_folder_corpus(directory, out, force=force)
    click.echo(f"Wrote {written}: {summary(written)}.")
    click.echo(f"Run a worker on them with: arkworker run APP --sandbox {written}")


cli.add_command(cache_group)
cli.add_command(new_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``arkworker`` console script."""
    sys.exit(invoke(cli, argv, prog_name="arkworker"))
