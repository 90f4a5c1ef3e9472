"""What a worker run created, as text for a human (after ``arkworker run APP --sandbox``).

The first line counts the rows of every worker-output table (any family registered in the
store appears without touching this module); then each kind that has a registered
:class:`ReportTable` is shown as a plain-text table::

    Created by worker run 5b0c...: 2 transcriptions
    Transcriptions
      Element          Text                     Confidence  Orientation
      page Page 1      Dear Sir, I received...  0.93        horizontal-lr

Families add their table with :func:`register_table` next to their handlers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arkworker.sandbox.store import Store

if TYPE_CHECKING:
    from arkworker.sandbox import Sandbox

#: A cell: the row, and the corpus elements by id (to name the element a row belongs to).
Cell = Callable[[Mapping[str, Any], Mapping[str, Mapping[str, Any]]], str]

TEXT_WIDTH = 50


@dataclass(frozen=True)
class ReportTable:
    """How the rows of one kind are shown: a title and (header, cell) columns."""

    kind: str
    title: str
    columns: tuple[tuple[str, Cell], ...]


REPORT_TABLES: dict[str, ReportTable] = {}


def register_table(table: ReportTable) -> ReportTable:
    """Show ``table.kind`` rows as a table in reports (one table per kind)."""
    if table.kind in REPORT_TABLES:
        raise ValueError(f"A report table for {table.kind!r} is already registered")
    REPORT_TABLES[table.kind] = table
    return table


def shorten(text: str, width: int = TEXT_WIDTH) -> str:
    """One line of at most ``width`` characters, with an ellipsis when cut."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def element_label(element_id: str | None, elements: Mapping[str, Mapping[str, Any]]) -> str:
    """``<type> <name>`` of an element, or its id when unknown."""
    element = elements.get(element_id or "")
    return f"{element['type']} {element['name']}" if element else str(element_id)


def confidence_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _render(
    table: ReportTable, rows: list[dict[str, Any]], elements: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    headers = [header for header, _ in table.columns]
    cells = [[cell(row, elements) for _, cell in table.columns] for row in rows]
    widths = [max(len(line[i]) for line in [headers, *cells]) for i in range(len(headers))]
    lines = [table.title]
    for line in [headers, *cells]:
        lines.append(
            "  " + "  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip()
        )
    return lines


def _count(kind: str, number: int) -> str:
    noun = Store.model_for(kind).noun or kind
    return f"{number} {noun if number == 1 else kind}"


def format_report(sandbox: Sandbox, worker_run_id: str | None = None) -> str:
    """A few lines telling what ``worker_run_id`` (default: the sandbox's run) created."""
    run_id = worker_run_id or sandbox.worker_run_id
    created = sandbox.created(run_id)
    if not created:
        return f"Worker run {run_id} created nothing."
    counts = ", ".join(_count(kind, len(rows)) for kind, rows in created.items())
    lines = [f"Created by worker run {run_id}: {counts}"]
    tables = [kind for kind in created if kind in REPORT_TABLES]
    if tables:
        elements = {row["id"]: row for row in sandbox.objects("elements")}
        for kind in tables:
            lines += _render(REPORT_TABLES[kind], created[kind], elements)
    return "\n".join(lines)
