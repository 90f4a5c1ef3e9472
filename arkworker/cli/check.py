"""``arkworker check [PATH]``: would Arkindex take this worker project as it is?

For each declaration file of the project (``arkindex/*.yml`` and ``*.yaml``, what
``arkindex worker import`` reads):

1. the file is one YAML document, valid for the format's rules (:mod:`arkworker.manifest`,
   the rules of the validator Arkindex runs: an unknown key is an error);
2. its ``docker.command`` runs a console script of the project's ``pyproject.toml``
   (``[project.scripts]``): the command the image will have once the project is installed;
3. the app loads: the Worker that script runs (``module:app.run``; a script pointing at
   another function of a module holding one Worker finds that Worker), or the one given
   with ``--app``, which is compared with the file of its slug;
4. the app's declaration (slug, names, usages, command, configuration fields) is what the
   file says: the file was written by ``arkworker declare`` and not changed by hand since.

Every problem is one line, ``<file>: <what is wrong>``; the command exits 1 when there is any.
"""

from __future__ import annotations

import importlib
import shlex
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from arkworker.cli.locate import find_worker, locate_app
from arkworker.errors import BadInput, RegistrationError
from arkworker.manifest import (
    DECLARATION_FOLDER,
    DeclarationFileError,
    declaration_differences,
    declaration_files,
    read_declaration,
    validate_declaration,
)
from arkworker.spec import WorkerSpec

PYPROJECT = "pyproject.toml"


class Project:
    """A worker project being checked: its folder, its console scripts, the problems found."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[str] = []
        self._scripts: dict[str, str] | None = None
        self._scripts_read = False

    def problem(self, where: Path | str, message: str) -> None:
        shown = where.relative_to(self.root).as_posix() if isinstance(where, Path) else where
        self.problems.append(f"{shown}: {message}")

    def scripts(self) -> dict[str, str] | None:
        """The console scripts of ``pyproject.toml`` (``{name: "module:attr"}``), None when unreadable
        (the problem is reported once)."""
        if not self._scripts_read:
            self._scripts_read = True
            self._scripts = self._read_scripts()
        return self._scripts

    def _read_scripts(self) -> dict[str, str] | None:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # Python 3.10
            import tomli as tomllib

        path = self.root / PYPROJECT
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.problem(
                PYPROJECT,
                "missing: the console script of docker.command is declared in its [project.scripts]",
            )
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(PYPROJECT, f"cannot be read: {exc}")
            return None
        except tomllib.TOMLDecodeError as exc:
            self.problem(PYPROJECT, f"is not valid TOML: {exc}")
            return None
        project = data.get("project")
        scripts = project.get("scripts", {}) if isinstance(project, Mapping) else {}
        if not isinstance(scripts, Mapping):
            self.problem(PYPROJECT, "[project.scripts] is not a table of 'name = \"module:attr\"' lines")
            return None
        return {str(name): str(target) for name, target in scripts.items()}


def check_project(root: Path, app_reference: str | None = None) -> list[str]:
    """Every problem of the worker project in ``root``, one line each ([] when there is none).

    ``app_reference`` (``module:attr`` or a file) is the app to compare with the file of its
    slug, instead of the apps the files' Docker commands run.
    """
    project = Project(root)
    given = _given_app(project, app_reference) if app_reference else None
    files = declaration_files(root)
    if not files:
        project.problem(
            f"{DECLARATION_FOLDER}/",
            "no declaration file (arkindex/<slug>.yml): write one with 'arkworker declare APP'",
        )
    matched = False
    for path in files:
        try:
            document = read_declaration(path)
        except DeclarationFileError as exc:
            project.problem(path, str(exc))
            continue
        problems = validate_declaration(document)
        for problem in problems:
            project.problem(path, str(problem))
        if problems:
            continue  # compared once valid: the differences would repeat the problems
        app = _app_of(project, path, document, app_reference is None)
        if given is not None and given.slug == document["slug"]:
            app, matched = given, True
        if app is not None:
            _compare(project, path, app, document)
    if given is not None and files and not matched:
        project.problem(
            f"{DECLARATION_FOLDER}/",
            f"no declaration file has the slug {given.slug!r} of {app_reference}: write it with "
            f"'arkworker declare {app_reference}'",
        )
    return project.problems


def _given_app(project: Project, reference: str) -> WorkerSpec | None:
    with _importable(project.root):
        try:
            return locate_app(reference)
        except BadInput as exc:
            project.problem("--app", str(exc))
    return None


def _app_of(project: Project, path: Path, document: Mapping[str, Any], find: bool) -> WorkerSpec | None:
    """The app the file's Docker command runs; problems of the command are reported even when
    the app is not to be found (``find`` False: it was given with ``--app``)."""
    command = (document.get("docker") or {}).get("command")
    if command is None:
        if find:
            project.problem(
                path,
                "no docker.command to find the worker's app from: declare Worker(..., docker_command=...) "
                "and run 'arkworker declare', or give --app",
            )
        return None
    try:
        words = shlex.split(command)
    except ValueError as exc:
        project.problem(path, f"docker.command {command!r} cannot be read as a command: {exc}")
        return None
    if not words:
        project.problem(path, "docker.command is empty: give the console script that runs the worker")
        return None
    scripts = project.scripts()
    if scripts is None:
        return None
    script = words[0]
    if script not in scripts:
        known = f" (it has {', '.join(sorted(scripts))})" if scripts else " (it has none)"
        project.problem(
            path,
            f"docker.command runs {script!r}, which is not a console script of {PYPROJECT}{known}: add "
            f"'{script} = \"module:app.run\"' to its [project.scripts], or fix the command",
        )
        return None
    return _script_app(project, path, script, scripts[script]) if find else None


def _script_app(project: Project, path: Path, script: str, target: str) -> WorkerSpec | None:
    """The Worker a console script's ``module:attr`` target runs."""
    module_name, _, attribute = target.partition(":")
    module_name, attribute = module_name.strip(), attribute.split("[")[0].strip()
    where = f"the console script {script!r} ({target})"
    if not module_name:
        project.problem(PYPROJECT, f"{where} names no module: write it 'module:app.run'")
        return None
    with _importable(project.root):
        try:
            module = _fresh_import(project.root, module_name)
        except Exception as exc:
            project.problem(
                path, f"{where} does not load: importing {module_name} raised {type(exc).__name__}: {exc}"
            )
            return None
    value: Any = module
    for part in filter(None, attribute.split(".")):
        value = getattr(value, part, None)
    if isinstance(value, WorkerSpec):
        return value
    owner = getattr(value, "__self__", None)
    if isinstance(owner, WorkerSpec):  # app.run
        return owner
    try:
        return find_worker(module, module_name, None)
    except BadInput:
        project.problem(
            path,
            f"{where} does not run a Worker, and {module_name} holds no single Worker to compare with: "
            "point it at 'module:app.run', or give --app",
        )
    return None


def _compare(project: Project, path: Path, app: WorkerSpec, document: Mapping[str, Any]) -> None:
    try:
        expected = app.declaration()
    except RegistrationError as exc:
        project.problem(path, str(exc))
        return
    lines = declaration_differences(expected, document)
    for line in lines:
        project.problem(path, line)
    if lines:
        project.problem(path, f"differs from worker {app.name!r}: run 'arkworker declare' to write it again")


@contextmanager
def _importable(root: Path) -> Iterator[None]:
    """The project's modules importable (its root, and ``src/`` for a src layout) for the block only."""
    saved = list(sys.path)
    sys.path[:0] = [str(folder) for folder in (root, root / "src") if folder.is_dir()]
    importlib.invalidate_caches()  # files written since the last import in this process
    try:
        yield
    finally:
        sys.path[:] = saved


def _fresh_import(root: Path, name: str) -> ModuleType:
    """Import ``name`` from the project, not a module of the same name another project loaded earlier."""
    top = name.partition(".")[0]
    resolved = root.resolve()
    for loaded in [key for key in sys.modules if key == top or key.startswith(f"{top}.")]:
        where = getattr(sys.modules[loaded], "__file__", None)
        if where is None or not Path(where).resolve().is_relative_to(resolved):
            del sys.modules[loaded]
    return importlib.import_module(name)


@click.command("check", short_help="Check a worker project: its Arkindex declaration, its app, its command.")
@click.argument(
    "path", required=False, default=".", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--app",
    "app_reference",
    metavar="APP",
    help="The app to compare with the file of its slug ('module:attr' or a file, from PATH), instead "
    "of the apps the files' docker commands run.",
)
def check_command(path: Path, app_reference: str | None) -> None:
    """Check the worker project in PATH (default: the current directory).

    Each arkindex/*.yml file must be valid for Arkindex ('arkindex worker import' refuses it
    otherwise), its docker command a console script of pyproject.toml, and the app that
    script runs must declare what the file says. One line per problem; exit 1 when any.
    """
    problems = check_project(path, app_reference)
    for line in problems:
        click.echo(line)
    if problems:
        click.echo(f"{len(problems)} problem{'s' if len(problems) > 1 else ''} found.", err=True)
        raise click.exceptions.Exit(1)  # exit 1 in click's standalone mode too
    count = len(declaration_files(path))
    click.echo(
        f"{click.format_filename(path)}: {count} declaration file{'s' if count > 1 else ''}, no problem found."
    )
