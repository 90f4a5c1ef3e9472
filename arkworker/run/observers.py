"""What watches a run go by: the progress display and the run report see each item's outcome.

The loops tell a :class:`RunObserver` when they know how many items there are
(:meth:`~RunObserver.begin`), when each item is done (:meth:`~RunObserver.done`, with an
:class:`Outcome`), and when the run is over (:meth:`~RunObserver.end`, with its
:class:`~arkworker.run.loop.RunResult`, just before its summary line). With ``--jobs N`` items finish in several threads:
the loop calls ``done`` under its own lock, one outcome at a time, so an observer needs no
lock of its own, but it must be quick (it holds the other threads meanwhile).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arkworker.run.loop import RunResult

#: The outcomes of an item: handled, failed (its handler raised, or a signal cut it), or
#: skipped (another process had already started it: a 409 to ``started``).
COMPLETED, FAILED, SKIPPED = "completed", "failed", "skipped"


@dataclass(frozen=True)
class Outcome:
    """How one item (an element ID, or a dataset set as ``<dataset>:<set>``) ended."""

    item: str
    status: str
    #: Seconds from taking the item to its end (retrieval and activity updates included).
    duration: float
    #: The failure line logged for it, None unless it failed.
    error: str | None = None


class RunObserver:
    """Sees a run's items go by; the base class ignores everything (override what you need)."""

    def begin(self, noun: str, total: int | None) -> None:
        """The loop starts on ``total`` items (``element``s or ``set``s); None when unknown (the queue)."""

    def done(self, outcome: Outcome) -> None:
        """One item ended."""

    def end(self, result: RunResult) -> None:
        """The loop ended: ``result`` is the run's accounting, its summary not logged yet (nor its exit code set)."""


class Observers(RunObserver):
    """Several observers seen as one, told in their order."""

    def __init__(self, observers: Sequence[RunObserver] = ()) -> None:
        self.observers = tuple(observers)

    def begin(self, noun: str, total: int | None) -> None:
        for observer in self.observers:
            observer.begin(noun, total)

    def done(self, outcome: Outcome) -> None:
        for observer in self.observers:
            observer.done(outcome)

    def end(self, result: RunResult) -> None:
        for observer in self.observers:
            observer.end(result)
