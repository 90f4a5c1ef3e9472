"""Running a worker against a sandbox: ``arkworker run APP --sandbox [CORPUS|DIR]`` and the fixtures.

The run is a production run (a worker run, activities, the same API calls) pointed at a
sandbox started in this process on a free port; the caller's own Arkindex variables are
left out so that a run on the sandbox can never write to a real instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TextIO

import click

from arkworker.app import Worker
from arkworker.errors import BadInput
from arkworker.run import loop as runner
from arkworker.run.loop import RunOptions, RunResult
from arkworker.sandbox import Sandbox
from arkworker.sandbox.corpus import CorpusError
from arkworker.sandbox.importer import corpus_source
from arkworker.sandbox.report import format_report

#: Variables of a real Arkindex task that must not leak into a sandbox run.
_TASK_PREFIXES = ("ARKINDEX_", "PONOS_")
_TASK_VARIABLES = {"TASK_ELEMENTS"}


def sandbox_environment(env: Mapping[str, str], sandbox: Sandbox) -> dict[str, str]:
    """``env`` without any Arkindex task variable, plus those pointing at ``sandbox``."""
    kept = {
        name: value
        for name, value in env.items()
        if not name.startswith(_TASK_PREFIXES) and name not in _TASK_VARIABLES
    }
    return {**kept, **sandbox.env()}


def open_sandbox(corpus: str | Path | None) -> Sandbox:
    """A sandbox seeded from ``corpus`` (the demo corpus when empty), bad files as one line.

    A folder is imported on the fly (``arkworker sandbox import``), for a run on one's own scans.
    """
    if corpus and not Path(corpus).exists():
        raise BadInput(
            f"The sandbox corpus file {corpus} does not exist: give a YAML or JSON corpus file, "
            "or a folder of images."
        )
    try:
        return Sandbox(corpus=corpus_source(corpus) if corpus else None)
    except CorpusError as exc:
        raise BadInput(str(exc)) from None


def run_on_sandbox(
    app: Worker, options: RunOptions, env: Mapping[str, str], *, out: TextIO | None = None
) -> RunResult:
    """Run ``app`` on a fresh sandbox, then print what the run created."""
    with open_sandbox(options.sandbox) as sandbox:
        elements = tuple(options.element)
        if not elements and options.elements_list is None and app.kind != "dataset_set":
            elements = tuple(sandbox.process_element_ids())
        result = runner.run(app, replace(options, element=elements), sandbox_environment(env, sandbox))
        click.echo(format_report(sandbox), file=out)
    return result
