"""Rendering the project templates, and writing them without replacing anything by surprise.

Templates are Jinja2: the file names and the contents under ``templates/common/`` and
``templates/<kind>/`` are rendered with the :meth:`Project.variables`, and their ``.jinja``
suffix dropped; a file without that suffix (the sample dataset archive) is copied as is. Jinja2 rather than ``string.Template`` or f-strings because the templates need
conditionals (optional author, kind-specific lines) and escaping filters, and
``StrictUndefined`` turns a misspelt variable into an error instead of an empty string.

In a wheel the templates are ``arkworker/templates`` (mapped there at build time from the
top-level ``templates/`` folder); from a source checkout (editable install) they are read
from that folder directly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import click
import jinja2

from arkworker.errors import BadInput
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
    raise click.ClickException(
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
    return dict(sorted(files.items()))


def conflicts(files: Mapping[str, str | bytes], target: Path) -> list[str]:
    """The files of ``files`` that already exist under ``target``."""
    return [name for name in files if (target / name).exists()]


def write_project(files: Mapping[str, str | bytes], target: Path, *, force: bool = False) -> list[str]:
    """Write ``files`` under ``target``; return the paths that were overwritten.

    A non-empty ``target`` is refused unless ``force``, naming what would be overwritten;
    nothing is written when refused.
    """
    if target.exists() and not target.is_dir():
        raise BadInput(f"{target} is a file, not a directory: give another --dir.")
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
    for name, content in files.items():
        path = target / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        except OSError as exc:
            raise BadInput(f"Cannot write {path} ({exc.strerror or exc}): give another --dir.") from None
    return overwritten
