"""Fault injection: the sandbox answering badly on purpose, to test a worker's error handling.

Three kinds of fault, set through :class:`~arkworker.sandbox.Sandbox` and all dropped by
``Sandbox.clear_faults()`` (and ``Sandbox.reset()``):

* ``fail(operation_id, status=500, times=1, body=None, delay=0.0)``: the next ``times``
  calls of an API operation answer an error ``status`` (400 to 599) after ``delay`` seconds,
  before authentication, with an Arkindex error body by default (a ``str`` body is sent as
  plain text, what a load balancer answers; anything else as JSON);
* ``fail_iiif(status=500, times=1, body=None, delay=0.0)``: the same for every request to
  the sandbox's IIIF server (``info.json`` and images); ``status=200`` serves ``body`` as
  the image (corrupt data), or without a body the normal answer ``delay`` seconds late (to
  test download timeouts);
* ``truncate(operation_id="DownloadArtifact", after=0, times=1)``: the next ``times`` file
  downloads of the operation announce the whole file, send its first ``after`` bytes and
  close the connection (a download cut in the middle).

``times=None`` keeps a fault until it is cleared. Faults of one target apply in the order
they were added; a faulty answer is recorded in ``Sandbox.requests`` like any other.
:class:`Faults` holds the pending faults of one sandbox; the server and the IIIF server
:meth:`~Faults.take` them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from arkworker.sandbox.handlers.base import error_entry
from arkworker.sandbox.operations import get_operation

#: The target of the IIIF server's faults (API faults are keyed by operationId).
IIIF = "iiif"
_CUT = "cut:"


@dataclass(frozen=True)
class Fault:
    """An answer to give instead of the normal one, after ``delay`` seconds."""

    status: int
    #: The body to send; for the IIIF server, None serves the normal answer (late).
    body: Any
    delay: float


class Faults:
    """The pending faults of one sandbox, per target; thread-safe (one thread per request)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, list[list[Any]]] = {}

    def fail(
        self,
        operation_id: str,
        status: int = 500,
        times: int | None = 1,
        body: Any = None,
        delay: float = 0.0,
    ) -> None:
        """Queue an error answer for the next ``times`` calls of ``operation_id``."""
        get_operation(operation_id)
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"A fault status must be an HTTP error status (400 to 599), got {status!r}")
        _check_times(times)
        _check_delay(delay)
        if body is None:
            kind = "server_error" if status >= 500 else "client_error"
            detail = f"Fault injected by sandbox.fail({operation_id!r}, status={status})"
            body = {"type": kind, "errors": [error_entry(detail, "injected_fault")]}
        self._add(operation_id, Fault(status, body, float(delay)), times)

    def fail_iiif(
        self, status: int = 500, times: int | None = 1, body: str | bytes | None = None, delay: float = 0.0
    ) -> None:
        """Queue an answer of the IIIF server: an error, corrupt image data, or a late answer."""
        if (
            isinstance(status, bool)
            or not isinstance(status, int)
            or not (status == 200 or 400 <= status <= 599)
        ):
            raise ValueError(
                f"A fault status must be 200 or an HTTP error status (400 to 599), got {status!r}"
            )
        if status == 200 and body is None and not delay:
            raise ValueError(
                "A 200 fault serves its body as the image, or the normal answer late: "
                "give the body (corrupt bytes) or a delay"
            )
        _check_times(times)
        _check_delay(delay)
        if body is None and status != 200:
            body = f"Fault injected by sandbox.fail_iiif(status={status})"
        self._add(IIIF, Fault(status, body, float(delay)), times)

    def truncate(self, operation_id: str, after: int, times: int | None = 1) -> None:
        """Queue a cut after ``after`` bytes for the next ``times`` file downloads of ``operation_id``."""
        get_operation(operation_id)
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise ValueError(f"after must be a number of bytes (0 or more), got {after!r}")
        _check_times(times)
        self._add(_CUT + operation_id, after, times)

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()

    def take(self, target: str) -> Fault | None:
        """The fault to apply to this request of ``target`` (an operationId or :data:`IIIF`), or None."""
        return self._take(target)

    def take_cut(self, operation_id: str) -> int | None:
        """After how many bytes to cut this file download of ``operation_id``; None: send it whole."""
        return self._take(_CUT + operation_id)

    def _add(self, target: str, fault: Any, times: int | None) -> None:
        with self._lock:
            self._queues.setdefault(target, []).append([fault, times])

    def _take(self, target: str) -> Any:
        with self._lock:
            queue = self._queues.get(target)
            if not queue:
                return None
            fault, remaining = queue[0]
            if remaining is not None:
                queue[0][1] = remaining - 1
                if remaining == 1:
                    queue.pop(0)
            return fault


def _check_times(times: int | None) -> None:
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise ValueError(f"times must be a positive integer or None (until clear_faults()), got {times!r}")


def _check_delay(delay: float) -> None:
    if delay < 0:
        raise ValueError(f"delay must be zero or more seconds, got {delay!r}")
