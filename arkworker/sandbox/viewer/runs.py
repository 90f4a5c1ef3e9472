"""The run page's reading of a run report (the JSON file ``--report PATH`` writes).

The report comes from whoever set the viewer's report reader (``arkworker run --view``,
``arkworker sandbox serve --report FILE``), already checked for its format and version; this
module only picks what the page shows, reading every field defensively: a field missing or of
another type shows as unknown instead of failing the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The slowest items the page lists.
SLOWEST = 10


@dataclass
class ReportView:
    worker: str
    noun: str
    started_at: str
    ended_at: str
    totals: dict[str, Any]
    error: str | None
    #: The failed items, each ``{id, error, duration, element}`` (``element``: the row when it exists).
    failed: list[dict[str, Any]]
    slowest: list[dict[str, Any]]
    #: ``(operation, {calls, failed, total, mean, median, p95, max})``, in the report's order.
    api_calls: list[tuple[str, dict[str, Any]]]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "?"


def _items(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = report.get("items")
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def item_ids(report: Mapping[str, Any]) -> list[str]:
    """The ids of the report's items, to look their elements up."""
    return [item["id"] for item in _items(report) if isinstance(item.get("id"), str)]


def _duration(item: Mapping[str, Any]) -> float:
    value = item.get("duration")
    return float(value) if isinstance(value, int | float) else 0.0


def report_view(report: Mapping[str, Any], elements: Mapping[str, Mapping[str, Any]]) -> ReportView:
    """What the run page shows of ``report``; ``elements`` by id, to link items to their page."""
    items = [{**item, "element": elements.get(str(item.get("id")))} for item in _items(report)]
    totals = report.get("totals")
    calls = report.get("api_calls")
    return ReportView(
        worker=_text(report.get("worker")),
        noun=_text(report.get("noun")),
        started_at=_text(report.get("started_at")),
        ended_at=_text(report.get("ended_at")),
        totals=dict(totals) if isinstance(totals, dict) else {},
        error=report["error"] if isinstance(report.get("error"), str) else None,
        failed=[item for item in items if item.get("outcome") == "failed"],
        slowest=sorted(items, key=_duration, reverse=True)[:SLOWEST],
        api_calls=[
            (operation, stats)
            for operation, stats in (calls.items() if isinstance(calls, dict) else ())
            if isinstance(stats, dict)
        ],
    )
