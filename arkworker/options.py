"""The built-in options of every worker command, declared once.

Each field of :class:`RunOptions` is one option: its name is the click parameter name and
the attribute handlers read as ``ctx.args.<name>``, its default is the value of a run that
did not give it, and its metadata holds click's declaration. The command line
(:func:`click_options`), the runner (``RunOptions``) and the registration check that refuses
an ``@app.option`` of the same name (:data:`BUILTIN_OPTION_NAMES`) all read this one table,
so a new built-in option is one field.

This module sits in the declaration layer beside :mod:`arkworker.spec`: importing a worker
module must not import the command line or the runner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click

from arkworker.enums import ApiLevel
from arkworker.models import normalise_uuid

#: The values of ``--api-level`` (and ``ARKWORKER_API_LEVEL``): ``auto`` decides from the instance.
API_LEVEL_CHOICES = ("auto", *(level.value for level in ApiLevel))

#: The values of ``--progress``: ``auto`` is ``bar`` on a terminal, ``log`` elsewhere.
PROGRESS_CHOICES = ("auto", "bar", "log", "none")

#: What a malformed ``--set`` is told to look like.
SET_EXAMPLE = "--set 0f5d3c43-5f5e-5b3e-9d5a-61726b776f72:train"


def parse_set(value: str) -> tuple[str, str]:
    """``<dataset_uuid>:<set_name>`` as (canonical UUID, set name); ValueError saying what is wrong."""
    head, colon, name = value.partition(":")
    if not colon:
        raise ValueError(f"{value!r} is not <dataset_uuid>:<set_name> (e.g. {SET_EXAMPLE})")
    dataset_id = normalise_uuid(head)
    if dataset_id is None:
        raise ValueError(f"{head!r} in {value!r} is not a dataset UUID (e.g. {SET_EXAMPLE})")
    if not name.strip():
        raise ValueError(f"{value!r} has no set name after the ':' (e.g. {SET_EXAMPLE})")
    return dataset_id, name


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


def _uuids_as_text(ctx: click.Context, param: click.Parameter, values: Sequence[Any]) -> tuple[str, ...]:
    """``--element`` values as the canonical text the runner and the API use."""
    return tuple(str(value) for value in values)


def _option(*param_decls: str, **attrs: Any) -> dict[str, Any]:
    """The metadata that makes a :class:`RunOptions` field a click option with these declarations."""
    return {"param_decls": param_decls, "attrs": attrs}


_FILE = click.Path(dir_okay=False, path_type=Path)


@dataclass(frozen=True)
class RunOptions:
    """The built-in options of a worker command, and the worker's own under ``custom``."""

    config: Path | None = field(
        default=None,
        metadata=_option(
            "-c",
            "--config",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="YAML configuration for a read-only (local) run; ignored in production.",
        ),
    )
    database: Path | None = field(
        default=None,
        metadata=_option(
            "-d",
            "--database",
            type=_FILE,
            help="Use this SQLite cache database instead of the parent tasks' caches.",
        ),
    )
    verbose: bool = field(
        default=False,
        metadata=_option(
            "-v",
            "--verbose",
            "--debug",
            is_flag=True,
            help="Debug logging; failures are logged with their traceback.",
        ),
    )
    dev: bool = field(
        default=False,
        metadata=_option("--dev", is_flag=True, help="Read-only mode, even with ARKINDEX_WORKER_RUN_ID set."),
    )
    extras_dir: Path | None = field(
        default=None,
        metadata=_option(
            "--extras-dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="Directory of extra files (models...) for local runs.",
        ),
    )
    element: Sequence[str] = field(
        default=(),
        metadata=_option(
            "--element",
            type=click.UUID,
            multiple=True,
            metavar="UUID",
            callback=_uuids_as_text,
            help="Element to process; repeat the option or list several UUIDs after it.",
        ),
    )
    elements_list: Path | None = field(
        default=None,
        metadata=_option(
            "--elements-list",
            type=_FILE,
            metavar="FILE",
            help='JSON list of elements ([{"id": "<uuid>"}, ...]); default: $TASK_ELEMENTS.',
        ),
    )
    no_elements_list: bool = field(
        default=False,
        metadata=_option(
            "--no-elements-list",
            is_flag=True,
            help="Take the elements from the process queue (StartWorkerActivity) in a local run; "
            "default: true when SKIP_TASK_ELEMENTS is set. In production the process decides.",
        ),
    )
    no_worker_activity: bool = field(
        default=False,
        metadata=_option("--no-worker-activity", is_flag=True, help="Do not report worker activities."),
    )
    progress: str = field(
        default="auto",
        metadata=_option(
            "--progress",
            type=click.Choice(PROGRESS_CHOICES),
            help="How the run shows its progress: a bar with rate and ETA (bar), a summary line "
            "every $ARKWORKER_PROGRESS_INTERVAL seconds (log), or one line per element (none); "
            "auto, the default: a bar when the log goes to a terminal, else log.",
        ),
    )
    report: Path | None = field(
        default=None,
        metadata=_option(
            "--report",
            type=click.Path(path_type=Path),
            metavar="PATH",
            help="Write a JSON report of the run there at its end: each element's outcome, "
            "duration and error, the totals, the API calls' timings.",
        ),
    )
    retry_failed: Path | None = field(
        default=None,
        metadata=_option(
            "--retry-failed",
            type=click.Path(path_type=Path),
            metavar="REPORT",
            help="Process only the elements (dataset sets) that failed in this --report file of "
            "an earlier run, instead of --element, --elements-list or $TASK_ELEMENTS.",
        ),
    )
    api_level: str | None = field(
        default=None,
        metadata=_option(
            "--api-level",
            type=click.Choice(API_LEVEL_CHOICES),
            help="The Arkindex generation to speak: legacy (0.3.7), current (0.4 to 0.6) or auto "
            "(the default: decided from the instance's schema); default: $ARKWORKER_API_LEVEL.",
        ),
    )
    jobs: int | None = field(
        default=None,
        metadata=_option(
            "-j",
            "--jobs",
            type=click.IntRange(1, 256),
            metavar="N",
            help="Process N elements at once, in threads (default: the app's jobs=, 1).",
        ),
    )
    prefetch: int | None = field(
        default=None,
        metadata=_option(
            "--prefetch",
            type=click.IntRange(0, 4096),
            metavar="N",
            help="Retrieve up to N elements (and their images, if the handler asks) ahead of the ones "
            "in progress (default: as many as are processed at once; 0 with one at a time).",
        ),
    )
    #: ``--set`` values, as (dataset UUID, set name).
    set: Sequence[tuple[str, str]] = field(
        default=(),
        metadata=_option(
            "--set",
            type=DatasetSetType(),
            multiple=True,
            metavar="UUID:NAME",
            help="Dataset set to process, as <dataset_uuid>:<set_name>; repeat it or list several.",
        ),
    )
    sandbox: str | None = field(
        default=None,
        metadata=_option(
            "--sandbox",
            is_flag=False,
            flag_value="",
            metavar="[CORPUS|DIR]",
            help="Run on a local sandbox Arkindex seeded from CORPUS, or from the images in the "
            "folder DIR (default: a demo corpus).",
        ),
    )
    keep: bool = field(
        default=False,
        metadata=_option(
            "--keep",
            is_flag=True,
            help="With --sandbox: keep the run's temporary work directory (its path is printed at the "
            "end) instead of removing it.",
        ),
    )
    view: bool = field(
        default=False,
        metadata=_option(
            "--view",
            is_flag=True,
            help="With --sandbox: after the run, serve the results viewer (each page's image with the "
            "polygons, texts and classes made, the run summary) and print its URL, until Ctrl+C.",
        ),
    )
    #: The worker's own ``@app.option`` values, by parameter name.
    custom: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> RunOptions:
        """The options of a parsed command line: the built-in ones, the rest as ``custom``."""
        builtins = {name: value for name, value in values.items() if name in _BUILTIN_FIELDS}
        custom = {name: value for name, value in values.items() if name not in _BUILTIN_FIELDS}
        return cls(**builtins, custom=custom)

    def namespace(self) -> SimpleNamespace:
        """What handlers see as ``ctx.args``."""
        builtins = {name: getattr(self, name) for name in _BUILTIN_FIELDS}
        return SimpleNamespace(**builtins, **self.custom)


_BUILTIN_FIELDS = tuple(item.name for item in fields(RunOptions) if "param_decls" in item.metadata)

#: Parameter names an ``@app.option`` cannot take: the built-in options, and ``--help``.
BUILTIN_OPTION_NAMES = frozenset({*_BUILTIN_FIELDS, "help"})

#: Options that accept several values after one flag, like argparse's nargs="+".
GREEDY_OPTIONS = tuple(
    decl
    for item in fields(RunOptions)
    if item.metadata.get("attrs", {}).get("multiple")
    for decl in item.metadata["param_decls"]
    if decl.startswith("--")
)


def click_options() -> list[click.Option]:
    """Fresh click options for the built-in fields, named after them, in the table's order."""
    return [
        click.Option(
            [*item.metadata["param_decls"], item.name], default=item.default, **item.metadata["attrs"]
        )
        for item in fields(RunOptions)
        if "param_decls" in item.metadata
    ]
