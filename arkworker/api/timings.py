"""How long a run's API calls took, by operation: for the run report and the benchmarks.

:class:`CallTimings` is the Api's (``api.timings``): every attempt of every call is recorded
with its duration and whether it failed, from any thread (a lock guards the counters; a
record costs a few hundred nanoseconds, nothing next to a request).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class OperationTimes:
    """The attempts of one operation: how many, how many failed, their durations in seconds."""

    calls: int = 0
    failed: int = 0
    durations: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """``calls``, ``failed``, and ``total``/``mean``/``median``/``p95``/``max`` seconds."""
        ordered = sorted(self.durations)
        count = len(ordered)
        total = sum(ordered)
        return {
            "calls": self.calls,
            "failed": self.failed,
            "total": round(total, 6),
            "mean": round(total / count, 6) if count else 0.0,
            "median": round(_quantile(ordered, 0.5), 6),
            "p95": round(_quantile(ordered, 0.95), 6),
            "max": round(ordered[-1], 6) if count else 0.0,
        }


def _quantile(ordered: list[float], q: float) -> float:
    """The nearest-rank quantile of sorted values (0 for none)."""
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))
    return ordered[index]


class CallTimings:
    """The durations of API call attempts, by operation ID; safe to record from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._operations: dict[str, OperationTimes] = {}

    def record(self, operation_id: str, seconds: float, *, failed: bool = False) -> None:
        """Count one attempt of ``operation_id`` that took ``seconds``."""
        with self._lock:
            times = self._operations.get(operation_id)
            if times is None:
                times = self._operations[operation_id] = OperationTimes()
            times.calls += 1
            times.failed += failed
            times.durations.append(seconds)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Each operation's :meth:`OperationTimes.summary`, by operation ID in alphabetical order."""
        with self._lock:
            return {name: self._operations[name].summary() for name in sorted(self._operations)}

    @property
    def calls(self) -> int:
        """All attempts recorded so far."""
        with self._lock:
            return sum(times.calls for times in self._operations.values())
