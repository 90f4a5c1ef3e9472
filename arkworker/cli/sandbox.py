"""``arkworker sandbox serve/import``, and running a worker on a sandbox (``arkworker run APP --sandbox``).

A ``--sandbox`` run is a production run (a worker run, activities, the same API calls)
pointed at a sandbox started in this process on a free port; the caller's own Arkindex
variables are left out so that a run on the sandbox can never write to a real instance, and
its work directory is a temporary one, so that it writes nothing into the user's home.
The sandbox server is imported only when one is used, not by ``arkworker run`` alone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from arkworker.errors import BadInput
from arkworker.options import RunOptions
from arkworker.spec import WorkerSpec

if TYPE_CHECKING:
    from arkworker.run.loop import RunResult
    from arkworker.sandbox import Sandbox
    from arkworker.sandbox.faults import FaultRule

#: Variables of a real Arkindex task that must not leak into a sandbox run.
_TASK_PREFIXES = ("ARKINDEX_", "PONOS_")
_TASK_VARIABLES = {"TASK_ELEMENTS"}
#: Seconds the sandbox waits before every request (``arkworker sandbox serve --latency``, ``--sandbox`` runs).
LATENCY_VARIABLE = "ARKWORKER_SANDBOX_LATENCY"


def sandbox_environment(env: Mapping[str, str], sandbox: Sandbox) -> dict[str, str]:
    """``env`` without any Arkindex task variable, plus those pointing at ``sandbox``."""
    kept = {
        name: value
        for name, value in env.items()
        if not name.startswith(_TASK_PREFIXES) and name not in _TASK_VARIABLES
    }
    return {**kept, **sandbox.env()}


def latency_from(text: str | None, source: str = LATENCY_VARIABLE) -> float:
    """The latency ``text`` gives (seconds; None or empty: 0), a bad one as one line naming ``source``."""
    from arkworker.sandbox.server import check_latency

    if not text:
        return 0.0
    try:
        return check_latency(float(text))
    except ValueError:
        raise BadInput(
            f"{source} must be a number of seconds, 0 or more (0.02 for 20 ms per request), got {text!r}"
        ) from None


def open_sandbox(
    corpus: str | Path | None,
    *,
    api_level: str | None = None,
    latency: float = 0.0,
    declared_fields: Sequence[Mapping[str, Any]] = (),
) -> Sandbox:
    """A sandbox seeded from ``corpus`` (the demo corpus when empty), bad files as one line.

    A folder is imported on the fly (``arkworker sandbox import``), for a run on one's own scans.
    ``declared_fields`` (a declaration's ``configuration`` list) serve the keys the corpus leaves unset.
    """
    from arkworker.sandbox import Sandbox
    from arkworker.sandbox.corpus import CorpusError
    from arkworker.sandbox.importer import corpus_source

    if corpus and not Path(corpus).exists():
        raise BadInput(
            f"The sandbox corpus file {corpus} does not exist: give a YAML or JSON corpus file, "
            "or a folder of images."
        )
    try:
        return Sandbox(
            corpus=corpus_source(corpus) if corpus else None,
            api_level=api_level,
            latency=latency,
            declared_fields=declared_fields,
        )
    except CorpusError as exc:
        raise BadInput(str(exc)) from None


def run_on_sandbox(
    app: WorkerSpec, options: RunOptions, env: Mapping[str, str], *, out: TextIO | None = None
) -> RunResult:
    """Run ``app`` on a fresh sandbox, in a temporary work directory, then print what the run created.

    The work directory (``$XDG_DATA_HOME/arkindex`` of the run) is a new temporary one, so
    that nothing the run writes lands in the user's home: its path is printed at the end,
    and it is removed unless ``--keep``. ``ARKWORKER_SANDBOX_LATENCY`` (seconds) in ``env``
    makes every request of the run that slow.
    """
    from arkworker.cli import viewer
    from arkworker.environment import Environment
    from arkworker.run import loop as runner
    from arkworker.run.generation import forced_level
    from arkworker.sandbox.report import format_report

    forced = forced_level(options.api_level, env)  # a forced level is also the sandbox's
    latency = latency_from(env.get(LATENCY_VARIABLE))
    declared = [field.to_declaration() for field in app.configuration]  # the sandbox imports base only
    data_home = Path(tempfile.mkdtemp(prefix="arkworker-sandbox-run-"))
    work_dir = Environment(data_home=data_home).work_dir  # the run's, which has no PONOS_DATA
    ended = False
    try:
        with open_sandbox(
            options.sandbox,
            api_level=forced.value if forced else None,
            latency=latency,
            declared_fields=declared,
        ) as sandbox:
            elements = tuple(options.element)
            retrying = options.retry_failed is not None  # the report's failed elements, not the process's
            if not elements and options.elements_list is None and not retrying and app.kind != "dataset_set":
                elements = tuple(sandbox.listed_element_ids())
            run_env = {**sandbox_environment(env, sandbox), "XDG_DATA_HOME": str(data_home)}
            with viewer.report_for_view(options) as options:
                result = runner.run(app, replace(options, element=elements), run_env)
                click.echo(format_report(sandbox), file=out)
                if options.view:
                    viewer.view_results(sandbox, options.report, out)
        ended = True
    finally:
        used = work_dir.exists()  # a run stopped before its configuration never made it
        if options.keep and used:
            click.echo(f"The run's work directory is kept: {work_dir}", file=out)
        else:
            shutil.rmtree(data_home, ignore_errors=True)
            if used and ended:
                click.echo(f"The run's work directory {work_dir} was removed (--keep keeps it).", file=out)
    return result


@click.group("sandbox", short_help="Serve a local Arkindex, or write a corpus for a folder of images.")
def sandbox_group() -> None:
    """A local Arkindex-compatible server, to try and test workers without an instance."""


def _fault_rules(ctx: click.Context, param: click.Parameter, specs: tuple[str, ...]) -> list[FaultRule]:
    """The ``--fault`` specs as rules, a bad one as one line naming the accepted forms."""
    from arkworker.sandbox.faults import parse_fault_spec

    try:
        return [parse_fault_spec(spec) for spec in specs]
    except ValueError as exc:
        raise BadInput(str(exc)) from None


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
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="SPEC",
    callback=_fault_rules,
    help="Inject a fault, repeatable: TARGET:KIND[=VALUE][:OPTION=VALUE]..., e.g. "
    "RetrieveElement:error=503:times=2, CreateTranscription:reset-mid-answer:times=always, "
    "RetrieveElement:stall=5 (kinds: error, reset, reset-mid-answer, truncate, stall, slow, malformed).",
)
@click.option(
    "--api-level",
    type=click.Choice(["legacy", "current"]),
    help="The Arkindex generation to serve: current (default, or the corpus's api_level) or "
    "legacy (0.3.7: without the queue, the worker run configuration...).",
)
@click.option(
    "--latency",
    metavar="SECONDS",
    envvar=LATENCY_VARIABLE,
    callback=lambda ctx, param, text: latency_from(text, "--latency"),
    help=f"Wait this long before every request, as a remote instance would (0.02: 20 ms; default 0; "
    f"also ${LATENCY_VARIABLE}).",
)
@click.option(
    "--report",
    "report",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Show this run report (what a run writes with --report FILE) on the results viewer's run "
    "summary, read again at each visit: it may be written later.",
)
def serve_command(
    corpus: Path | None,
    port: int,
    db_path: Path | None,
    faults: list[FaultRule],
    api_level: str | None,
    latency: float,
    report: Path | None,
) -> None:
    """Serve CORPUS (YAML or JSON, or a folder of images; default: the demo corpus) until Ctrl+C.

    The results viewer is at the sandbox's address: the corpus tree, each page with what the
    workers made on it, the run summary.
    """
    from arkworker.cli.viewer import report_reader
    from arkworker.sandbox.corpus import CorpusError
    from arkworker.sandbox.serve import serve_forever

    try:
        serve_forever(
            corpus,
            port=port,
            db_path=db_path,
            echo=click.echo,
            faults=faults,
            api_level=api_level,
            latency=latency,
            report=report_reader(report) if report else None,
        )
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
