"""The run report: the JSON file ``--report PATH`` writes at the end of a run, and reads back.

The report says what became of each item (element or dataset set) of a run, the totals, and
how long the API calls took by operation, so that a run of thousands of elements can be
looked at afterwards (which failed, and why; where the time went) and its failures retried
(``--retry-failed REPORT``, which :func:`read_failures` serves). It is written when the run
ends, however it ends (failures, a configuration error, a signal), but not after a usage
error: that was no run, and the file named may be the very report being retried.

The file is written under a temporary name and renamed into place, so a reader never sees
half a report; its ``format`` and ``version`` fields say what it is (the README documents
the format, version :data:`VERSION`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arkworker.errors import BadInput, UserError
from arkworker.files import read_json, temporary_beside, written_in_place
from arkworker.models import normalise_uuid
from arkworker.options import parse_set
from arkworker.run import logs
from arkworker.run.observers import COMPLETED, FAILED, SKIPPED, Outcome, RunObserver
from arkworker.run.stopping import Interrupted
from arkworker.version import __version__

if TYPE_CHECKING:
    from arkworker.run.loop import RunResult

logger = logging.getLogger("arkworker")

#: The ``format`` field of every run report.
FORMAT = "arkworker-run-report"

#: The report format this arkworker writes and reads.
VERSION = 1

#: What a report's ``noun`` stands for, in messages.
_KINDS = {"element": "elements", "set": "dataset sets"}


def check_writable(path: Path) -> None:
    """Refuse a ``--report`` path the run could not write at its end, before the run starts.

    Creating (and removing) a file beside it is the one check that also catches a read-only
    file system or a directory without the write permission, whoever the user is.
    """
    if path.is_dir():
        raise BadInput(
            f"--report {path} is a directory: give the path of a file, such as {path / 'report.json'}."
        )
    if not path.parent.is_dir():
        problem = "is not a directory" if path.parent.exists() else "does not exist"
        raise BadInput(
            f"--report {path}: the directory {path.parent} {problem}; create it or give another path."
        )
    try:
        temporary_beside(path).unlink()
    except OSError as exc:
        raise BadInput(
            f"--report {path} cannot be written ({exc.strerror}): give a path in a writable directory."
        ) from None


class RunReport(RunObserver):
    """Records a run's outcomes and writes them as its report."""

    def __init__(self, path: Path, worker: str, noun: str) -> None:
        self.path = path
        self.worker = worker
        self.noun = noun
        #: The number of items the loop announced, None for the queue or before the loop.
        self.total: int | None = None
        self.outcomes: list[Outcome] = []
        self._loop: list[float] = []  # when the loop began and ended

    def begin(self, noun: str, total: int | None) -> None:
        self.noun, self.total = noun, total
        self._loop = [time.monotonic()]

    def done(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    def end(self, result: RunResult) -> None:
        self._loop.append(time.monotonic())

    def content(
        self,
        result: RunResult | None,
        error: BaseException | None,
        *,
        timings: Mapping[str, Any],
        started_at: datetime,
        wall_time: float,
    ) -> dict[str, Any]:
        """The report as JSON values: ``result`` is the run's accounting, None when ``error`` ended it."""
        counts = {status: 0 for status in (COMPLETED, FAILED, SKIPPED)}
        for outcome in self.outcomes:
            counts[outcome.status] += 1
        handled = len(self.outcomes)
        if result is not None:
            total, exit_code, interrupted = result.total, result.exit_code, result.interrupted
        else:
            total = handled if self.total is None else self.total
            exit_code, interrupted = exit_code_of(error), error if isinstance(error, Interrupted) else None
        loop_time = None
        if self._loop:  # the loop began; it has not ended when an error stopped it
            loop_time = (self._loop[1] if len(self._loop) > 1 else time.monotonic()) - self._loop[0]
        return {
            "format": FORMAT,
            "version": VERSION,
            "arkworker_version": __version__,
            "worker": self.worker,
            "noun": self.noun,
            "started_at": _timestamp(started_at),
            "ended_at": _timestamp(datetime.now(timezone.utc)),
            "totals": {
                "total": total,
                **counts,
                "unprocessed": max(0, total - handled),
                "exit_code": exit_code,
                "interrupted": interrupted.name if interrupted is not None else None,
                "wall_time": round(wall_time, 6),
                "loop_time": None if loop_time is None else round(loop_time, 6),
                "rate": round(handled / loop_time, 6) if loop_time else None,
            },
            "error": None if error is None else logs.redact(_describe(error)),
            "items": [
                {
                    "id": outcome.item,
                    "outcome": outcome.status,
                    "duration": round(outcome.duration, 6),
                    "error": None if outcome.error is None else logs.redact(outcome.error),
                }
                for outcome in self.outcomes
            ],
            "api_calls": dict(timings),
        }

    def write(self, content: Mapping[str, Any]) -> None:
        """Write ``content`` to the report's path, whole or not at all."""
        with written_in_place(self.path, suffix=".json") as temporary:
            temporary.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        logger.info("Run report written to %s", self.path)


def exit_code_of(error: BaseException | None) -> int:
    """The code a run that ``error`` ended exits with (as the command line decides it)."""
    if isinstance(error, Interrupted | UserError):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return 130
    return 0 if error is None else 1


def _describe(error: BaseException) -> str:
    """What stopped a run, as the command line says it: a user error's line, else the exception."""
    return str(error) if isinstance(error, UserError | Interrupted) else repr(error)


def _timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def read_report(path: Path, name: str, other_version: str) -> dict[str, Any]:
    """The run report at ``path``, checked to be one of the format and version this arkworker reads.

    ``name`` names the file in the messages (``The <name> report <path>``); ``other_version``
    says what to do with a report of another version. Each problem is one :class:`BadInput`
    line saying what is wrong.
    """
    label = f"The {name} report {path}"
    give = "give the file an earlier run wrote with --report"
    data = read_json(path, f"{name} report {path}", invalid=give, missing=give)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BadInput(
            f'{label} is not an arkworker run report (it has no "format": "{FORMAT}"): give the file '
            "an earlier run wrote with --report."
        )
    version = data.get("version")
    if version != VERSION:
        raise BadInput(
            f"{label} has version {version!r}, which arkworker {__version__} does not read (it reads "
            f"version {VERSION}): {other_version}."
        )
    return data


def read_failures(path: Path, noun: str, worker: str) -> list[str]:
    """The items that failed in the report at ``path``, in their order, each once.

    ``noun`` is what the worker processes (``element`` or ``set``): a report of the other
    kind is refused. Each problem with the file is one :class:`BadInput` line saying what
    is wrong; a report of another worker is only a warning (its elements may well be
    those to retry).
    """
    label = f"The --retry-failed report {path}"
    data = read_report(
        path, "--retry-failed", "retry it with the arkworker that wrote it, or run without --retry-failed"
    )
    if data.get("noun") != noun:
        raise BadInput(
            f"{label} is a report on {_KINDS.get(str(data.get('noun')), repr(data.get('noun')))}, but {worker!r} "
            f"processes {_KINDS[noun]}: give a report of this worker's runs."
        )
    items = data.get("items")
    if not isinstance(items, list):
        raise BadInput(f'{label} is damaged: its "items" is not a list.')
    failed: dict[str, None] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadInput(f"{label} is damaged: item {index} is not an object.")
        if item.get("outcome") == FAILED:
            failed.setdefault(_checked_id(label, index, noun, item.get("id")))
    if data.get("worker") != worker:
        logger.warning(
            "%s is of worker %r, not %r: retrying its failed %ss", label, data.get("worker"), worker, noun
        )
    if not failed:
        logger.warning("%s has no failed %s: there is nothing to retry", label, noun)
    return list(failed)


def _checked_id(label: str, index: int, noun: str, value: Any) -> str:
    """A failed item's ID, checked as ``--element`` or ``--set`` would check it."""
    if noun == "set":
        try:
            dataset_id, name = parse_set(value if isinstance(value, str) else "")
        except ValueError:
            raise BadInput(f"{label} is damaged: item {index} has an invalid set id {value!r}.") from None
        return f"{dataset_id}:{name}"
    element_id = normalise_uuid(value)
    if element_id is None:
        raise BadInput(f"{label} is damaged: item {index} has an invalid element id {value!r}.")
    return element_id
