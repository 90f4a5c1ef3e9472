"""``arkworker declare APP``: the worker's Arkindex declaration file, written from its code.

``arkindex worker import`` creates a worker version from ``arkindex/<slug>.yml``; writing
that file by hand repeats what the code declares (its name, description, configuration
fields), and the two drift apart. This command writes it from the app instead
(:meth:`~arkworker.spec.WorkerSpec.declaration`), deterministically, and ``--check`` says
how a file differs from what the app declares (for CI), without writing anything.

The functions are also what ``arkworker new`` uses to write a new project's declaration::

    spec = WorkerSpec("ocr-lines", description=..., docker_command="worker-ocr-lines", configuration=[...])
    files["arkindex/ocr-lines.yml"] = declaration_text(spec, "worker_ocr_lines:app")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from arkworker.cli.locate import locate_app
from arkworker.errors import BadInput, RegistrationError
from arkworker.files import written_in_place
from arkworker.manifest import (
    DECLARATION_FOLDER,
    DeclarationFileError,
    declaration_differences,
    dump_declaration,
    read_declaration,
    validate_declaration,
)
from arkworker.spec import WorkerSpec


def declared_document(app: WorkerSpec) -> dict[str, Any]:
    """``app``'s declaration, checked with the format's rules; a problem is one :class:`BadInput` line."""
    try:
        document = app.declaration()
    except RegistrationError as exc:
        raise BadInput(str(exc)) from None
    problems = validate_declaration(document)  # attributes changed after the Worker was made
    if problems:
        problem = str(problems[0]).rstrip(".")
        raise BadInput(f"The declaration of worker {app.name!r} is not valid for Arkindex: {problem}.")
    return document


def declaration_text(app: WorkerSpec, source: str | None = None) -> str:
    """The text of ``app``'s declaration file; ``source`` is the APP to name in its header comment."""
    command = f"arkworker declare {source}" if source else "arkworker declare"
    header = (
        f"The Arkindex declaration of the worker {app.slug}, written by `{command}` from its code:\n"
        "change the Worker, then run the command again (`arkworker check` compares the two).\n"
        "`arkindex worker import <docker image>` creates a worker version from this file."
    )
    return dump_declaration(declared_document(app), header=header)


def default_path(app: WorkerSpec) -> Path:
    """``arkindex/<slug>.yml``, relative to the current directory (the project's root)."""
    document = declared_document(app)
    return Path(DECLARATION_FOLDER) / f"{document['slug']}.yml"


def write_declaration(app: WorkerSpec, path: Path, source: str | None = None) -> None:
    """Write ``app``'s declaration to ``path`` (its folder created), whole or not at all."""
    text = declaration_text(app, source)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with written_in_place(path) as temporary:
            temporary.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"Cannot write {path} ({exc.strerror or exc}): give another --output.") from None


def stale_lines(app: WorkerSpec, path: Path) -> list[str]:
    """How the file at ``path`` differs from ``app``'s declaration, one line each, naming the file."""
    expected = declared_document(app)
    if not path.is_file():
        return [f"{path}: missing; write it with 'arkworker declare'"]
    try:
        document = read_declaration(path)
    except DeclarationFileError as exc:
        return [f"{path}: {exc}"]
    return [f"{path}: {line}" for line in declaration_differences(expected, document)]


@click.command("declare", short_help="Write the worker's Arkindex declaration, arkindex/<slug>.yml.")
@click.argument("app_reference", metavar="APP")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write (default: arkindex/<slug>.yml); with --check, the file to compare.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1, with one line per difference, when the file is not what APP declares.",
)
def declare_command(app_reference: str, output: Path | None, check: bool) -> None:
    """Write the Arkindex declaration of the worker APP ('path/to/file.py[:attr]' or 'module[:attr]').

    The file is what 'arkindex worker import' reads: the worker's slug, display name, type,
    description, GPU and model usage, Docker command and configuration fields, all taken
    from the Worker.
    """
    app = locate_app(app_reference)
    path = output or default_path(app)
    if check:
        lines = stale_lines(app, path)
        for line in lines:
            click.echo(line)
        if lines:
            click.echo(
                f"{path} is not what {app_reference} declares: run 'arkworker declare {app_reference}'.",
                err=True,
            )
            raise click.exceptions.Exit(1)  # exit 1 in click's standalone mode too
        click.echo(f"{path} is up to date.")
        return
    write_declaration(app, path, app_reference)
    count = len(app.configuration)
    click.echo(
        f"Wrote {path}: the worker {app.slug!r}, {count} configuration field{'s' if count != 1 else ''}."
    )
