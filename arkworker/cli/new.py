"""The ``arkworker new`` command: ask for what is missing, render, write, say what to do next.

Values not given as options are asked for when standard input is a terminal (or with
``--input``); with ``--no-input`` or without a terminal (CI, scripts) their defaults are
used, so the command never waits for an answer nobody will type.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from arkworker.errors import BadInput
from arkworker.scaffold.project import DEFAULT_DESCRIPTIONS, DEFAULT_TYPES, KINDS, Project, check_slug
from arkworker.scaffold.project import default_name as name_from_slug


def git_identity(key: str) -> str:
    """``git config user.<key>``, the usual default author; empty without git or a value."""
    if shutil.which("git") is None:
        return ""
    completed = subprocess.run(
        ["git", "config", "--get", f"user.{key}"], capture_output=True, text=True, check=False
    )
    return completed.stdout.strip() if completed.returncode == 0 else ""


def ask_slug(value: str) -> str:
    try:
        return check_slug(value.strip())
    except BadInput as exc:
        raise click.BadParameter(exc.message) from None


@click.command("new", short_help="Create a worker project, ready to test and run.")
@click.argument("slug", required=False)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to create the project (default: ./worker-SLUG).",
)
@click.option("--name", help="Display name of the worker in Arkindex (default: from the slug).")
@click.option("--description", help="One sentence saying what the worker does.")
@click.option(
    "--type",
    "worker_type",
    help="Arkindex worker type, e.g. classifier, ner, dla (default: recognizer; dataset-worker for --kind dataset).",
)
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    help="element: a function called on each element (default); dataset: on each dataset set.",
)
@click.option("--author", help="Author name in pyproject.toml (default: git config user.name).")
@click.option("--email", help="Author email in pyproject.toml (default: git config user.email).")
@click.option(
    "--input/--no-input",
    "interactive",
    default=None,
    help="Ask for missing values (default: only when standard input is a terminal).",
)
@click.option(
    "--arkworker-source",
    "source",
    metavar="PATH|URL|index",
    help=(
        "Where the project gets arkworker: a checkout, wheel or sdist (copied into vendor/), a URL "
        "(git+https://...@v0.1.0, https://.../arkworker-0.1.0-py3-none-any.whl), or 'index' "
        "(default: the running arkworker's checkout, else where it was installed from)."
    ),
)
@click.option("--force", is_flag=True, help="Write into a non-empty directory, overwriting files.")
def new_command(
    slug: str | None,
    directory: Path | None,
    name: str | None,
    description: str | None,
    worker_type: str | None,
    kind: str | None,
    author: str | None,
    email: str | None,
    interactive: bool | None,
    source: str | None,
    force: bool,
) -> None:
    """Create a worker project: module, tests, sample corpus, Arkindex declaration, Dockerfile, CI.

    SLUG is the worker's Arkindex slug (lowercase letters, digits and dashes, e.g. ocr-lines).
    """
    if interactive is None:
        interactive = bool(sys.stdin and sys.stdin.isatty())
    if slug is None:
        if not interactive:
            raise BadInput("Give the worker's slug, e.g. 'arkworker new ocr-lines'.")
        slug = click.prompt("Slug (lowercase letters, digits, dashes)", value_proc=ask_slug)
    check_slug(slug)

    def value(given: str | None, label: str, default: Callable[[], str], **prompt: Any) -> str:
        """The option's value, else the answer to a prompt, else the default (computed only then)."""
        if given is not None:
            return given
        if interactive:
            return click.prompt(label, default=default(), show_default=True, **prompt)
        return default()

    kind = value(kind, "Kind", lambda: "element", type=click.Choice(KINDS))
    checked = Project(  # every value checked before a wheel may be built
        slug,
        kind=kind,
        name=value(name, "Display name", lambda: name_from_slug(slug)),
        description=value(description, "Description", lambda: DEFAULT_DESCRIPTIONS[kind]),
        type=value(worker_type, "Arkindex worker type", lambda: DEFAULT_TYPES[kind]),
        author=value(author, "Author", lambda: git_identity("name")),
        email=value(email, "Author email", lambda: git_identity("email")),
    )
    from arkworker.scaffold.render import render_project, write_project  # Jinja2 only when used
    from arkworker.scaffold.source import resolve_source
    from arkworker.version import __version__

    project = dataclasses.replace(checked, source=resolve_source(source, __version__))

    target = directory or Path(project.distribution)
    files = render_project(project)
    overwritten = write_project(files, target, force=force)

    shown = click.format_filename(target)  # a folder name that is not UTF-8 is still printable
    click.echo(f"Created the {project.kind} worker {project.slug!r} in {shown}/ ({len(files)} files).")
    if overwritten:
        click.echo(f"Overwritten: {', '.join(overwritten)}")
    click.echo(f"arkworker comes from {project.arkworker.origin}.")
    if project.arkworker.note:
        click.echo(f"Note: {project.arkworker.note}")
    click.echo(
        "\nNext steps:\n"
        f"  cd {shown}\n"
        "  pip install -e '.[test]'\n"
        "  pytest                                   # the worker's tests, on a sandbox\n"
        f"  arkworker run {project.app_reference} --sandbox tests/corpus.yml\n"
    )
