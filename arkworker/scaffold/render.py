"""Rendering the project templates, and writing them without replacing anything by surprise.

Templates are Jinja2: the file names and the contents under ``templates/common/`` and
``templates/<kind>/`` are rendered with the :meth:`Project.variables`, and their ``.jinja``
suffix dropped; a file without that suffix (the sample dataset archive) is copied as is.
A vendored arkworker wheel (:mod:`arkworker.scaffold.source`) is added to the files.
Jinja2 rather than ``string.Template`` or f-strings because the templates need
conditionals (optional author, kind-specific lines) and escaping filters, and
``StrictUndefined`` turns a misspelt variable into an error instead of an empty string.

In a wheel the templates are ``arkworker/templates`` (mapped there at build time from the
top-level ``templates/`` folder); from a source checkout (editable install) they are read
from that folder directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from arkworker.errors import BadInput, ConfigurationError
from arkworker.scaffold.project import Project

#: Template files whose name ends with this are rendered, and the suffix removed (so that
#: no tool treats them as code); other files are copied byte for byte.
SUFFIX = ".jinja"


def templates_root() -> Path:
    """The folder holding ``common/``, ``element/`` and ``dataset/`` templates."""
    installed = resources.files("arkworker") / "templates"
    if installed.is_dir():
        return Path(str(installed))
    checkout = Path(__file__).resolve().parents[2] / "templates"
    if checkout.is_dir():
        return checkout
    raise ConfigurationError(
        f"The project templates are missing (looked in {installed} and {checkout}): reinstall arkworker."
    )


def quote(value: Any) -> str:
    """A double-quoted string valid in TOML and YAML alike (JSON's escapes are valid in both)."""
    return json.dumps(str(value), ensure_ascii=False)


def python_string(value: Any) -> str:
    """A Python string literal quoted the way ``ruff format`` wants it (fewest escapes)."""
    text = str(value).replace("\\", "\\\\")
    if text.count('"') > text.count("'"):
        return "'" + text.replace("'", "\\'") + "'"
    return '"' + text.replace('"', '\\"') + '"'


def environment(root: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # the outputs are code and configuration, not HTML
    )
    env.filters["quote"] = quote
    env.filters["python_string"] = python_string
    return env


def render_project(project: Project, root: Path | None = None) -> dict[str, str | bytes]:
    """Every file of ``project`` as ``{relative path: text or bytes}``, in path order."""
    root = root or templates_root()
    env = environment(root)
    variables = project.variables()
    files: dict[str, str | bytes] = {}
    for layer in ("common", project.kind):
        for source in sorted((root / layer).rglob("*")):
            if not source.is_file() or "__pycache__" in source.parts:
                continue
            template_name = source.relative_to(root).as_posix()
            relative = source.relative_to(root / layer).as_posix()
            target = env.from_string(relative).render(variables)
            if target.endswith(SUFFIX):
                files[target.removesuffix(SUFFIX)] = env.get_template(template_name).render(variables)
            else:
                files[target] = source.read_bytes()
    arkworker = project.arkworker
    if arkworker.vendored:
        files[arkworker.vendored] = arkworker.content
    return dict(sorted(files.items()))


def conflicts(files: Mapping[str, str | bytes], target: Path) -> list[str]:
    """The files of ``files`` that already exist under ``target``."""
    return [name for name in files if os.path.exists(target / name)]  # os.path: False on OSError


def blocking(files: Mapping[str, str | bytes], target: Path) -> list[str]:
    """Paths under ``target`` that even ``--force`` cannot replace: a file where the project
    needs a folder (``tests``), or a folder where it needs a file."""
    blocked = set()
    for name in files:
        if os.path.isdir(target / name):  # os.path: False on OSError (a name too long...)
            blocked.add(name)
        for parent in Path(name).parents[:-1]:
            if os.path.exists(target / parent) and not os.path.isdir(target / parent):
                blocked.add(parent.as_posix())
    return sorted(blocked)


def write_project(files: Mapping[str, str | bytes], target: Path, *, force: bool = False) -> list[str]:
    """Write ``files`` under ``target``; return the paths that were overwritten.

    A non-empty ``target`` is refused unless ``force``, naming what would be overwritten.
    The files are first written in a staging folder, then moved in place: a refusal or a
    failed write (disk full, permissions, a name too long) leaves no half-written project
    behind. Every failure is a :class:`BadInput` naming the folder.
    """
    try:
        overwritten = check_target(files, target, force=force)
    except OSError as exc:  # the folder cannot even be looked at: a name too long, no permission
        raise BadInput(
            f"Cannot write the project in {target} ({exc.strerror or exc}): give another --dir."
        ) from None
    created: list[Path] = []
    staging, moving = None, False
    try:
        created = [parent for parent in target.absolute().parents if not parent.exists()]
        if target.exists():  # stage inside it: only the target is known to be writable
            staging = target / f".arkworker-new-{secrets.token_hex(4)}"
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = target.parent / f".{target.name}-{secrets.token_hex(4)}"
        staging.mkdir()
        for name, content in files.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        if target.exists():
            moving = True  # from here, files in place may be replaced already (--force only)
            for name in files:
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / name, target / name)
        else:
            staging.rename(target)
            staging = None
    except OSError as exc:
        where = failed_file(exc, [folder for folder in (staging, target) if folder is not None])
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
            staging = None
        for parent in created:  # innermost first, so that each is empty when removed
            with contextlib.suppress(OSError):
                parent.rmdir()
        outcome = "some files were replaced" if moving else "nothing was written"
        raise BadInput(
            f"Cannot write the project in {target} ({where}{exc.strerror or exc}); {outcome}: "
            "give another --dir."
        ) from None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return overwritten


def check_target(files: Mapping[str, str | bytes], target: Path, *, force: bool) -> list[str]:
    """Refuse a ``target`` the project cannot be written in; return the files it would replace.

    Raises :class:`OSError` when ``target`` cannot be looked at (a name too long, a folder
    that cannot be read).
    """
    for folder in (target, *target.absolute().parents):  # the nearest one that exists
        if folder.is_symlink() and not folder.exists():
            raise BadInput(
                f"{folder} is a broken symbolic link (to {os.readlink(folder)}): remove it or give another --dir."
            )
        if folder.exists():
            if not folder.is_dir():
                raise BadInput(f"{folder} is a file, not a directory: give another --dir.")
            break
    existing = sorted(p.name for p in target.iterdir()) if target.is_dir() else []
    overwritten = conflicts(files, target)
    if existing and not force:
        if overwritten:
            shown = ", ".join(overwritten[:10]) + (", ..." if len(overwritten) > 10 else "")
            what = f"{len(overwritten)} of its files would be overwritten ({shown})"
        else:
            what = f"it holds {', '.join(existing[:5])}{', ...' if len(existing) > 5 else ''}"
        raise BadInput(
            f"The directory {target} is not empty: {what}. Give another --dir, or --force to "
            "write the project into it anyway."
        )
    blocked = blocking(files, target)
    if blocked:
        raise BadInput(
            f"Cannot write the project in {target}: {', '.join(blocked)} must be a folder where it "
            "is a file, or a file where it is a folder. Move them away or give another --dir."
        )
    return overwritten


def failed_file(error: OSError, folders: list[Path]) -> str:
    """``'<path in the project>: '`` for the file ``error`` is about, or ``''`` for a folder itself.

    Paths are shown relative to the project: the staging folder's name means nothing to the user.
    """
    if not error.filename:
        return ""
    failed = Path(os.fsdecode(error.filename))
    for folder in folders:
        if failed != folder and failed.is_relative_to(folder):
            return f"{failed.relative_to(folder).as_posix()}: "
    return ""
