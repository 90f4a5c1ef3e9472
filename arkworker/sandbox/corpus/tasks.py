"""The ``tasks`` section of a corpus file: the Ponos tasks of the sandbox's process.

::

    tasks:
      - {slug: init}                            # id optional, derived like every other id
      - {slug: worker, parents: [init]}         # parents by slug or id, declared earlier

A worker run in one of these tasks (``PONOS_TASK=<id>``) gets its parents from
``RetrieveTaskFromAgent``. A parent must be declared before its children, so the tasks
form a graph without cycles, and its depth is one more than its deepest parent's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from arkworker.sandbox.corpus.section import Section
from arkworker.sandbox.handlers.tasks import Task

if TYPE_CHECKING:
    from arkworker.sandbox.corpus.parser import Parser
    from arkworker.sandbox.corpus.spec import Rows

_TASK_KEYS = ("id", "slug", "parents", "state")
TASK_STATES = ("unscheduled", "pending", "running", "completed", "failed", "error", "stopped")


class Tasks(Section):
    """The tasks of the process, each after its parents."""

    keys = ("tasks",)

    def __init__(self, parser: Parser) -> None:
        super().__init__(parser)
        self.tasks: list[dict[str, Any]] = []

    def parse(self, top: Mapping[str, Any]) -> None:
        self.tasks = _parse_tasks(
            self.parser, top.get("tasks") or [], "tasks", self.parser.spec.process["id"]
        )

    def rows(self) -> list[Rows]:
        return [(Task, self.tasks)]


def _parse_tasks(parser: Parser, value: Any, loc: str, process_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    by_reference: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(parser.sequence(value, loc)):
        here = f"{loc}[{index}]"
        entry = parser.mapping(entry, here, _TASK_KEYS)
        if "slug" not in entry:
            parser.fail(here, "missing 'slug'")
        slug = parser.string(entry["slug"], f"{here}.slug")
        if slug in by_reference:
            parser.fail(f"{here}.slug", f"duplicate task slug {slug!r}")
        parents = []
        for position, reference in enumerate(parser.sequence(entry.get("parents", []), f"{here}.parents")):
            parent = by_reference.get(parser.string(reference, f"{here}.parents[{position}]"))
            if parent is None:
                parser.fail(
                    f"{here}.parents[{position}]",
                    f"unknown task {reference!r} (declare parent tasks before their children)",
                )
            parents.append(parent)
        row: dict[str, Any] = {
            "id": parser.identifier(entry, here, "tasks", derive_from=f"tasks\n{slug}"),
            "process": process_id,
            "slug": slug,
            "state": parser.string(entry.get("state", "running"), f"{here}.state", choices=TASK_STATES),
            "depth": max((parent["depth"] + 1 for parent in parents), default=0),
            "parents": [parent["id"] for parent in parents],
        }
        rows.append(row)
        by_reference[slug] = by_reference[row["id"]] = row
    return rows
