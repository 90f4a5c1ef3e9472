"""Graceful stop: SIGTERM and SIGINT end a run cleanly instead of killing it mid-element.

Docker and Ponos stop a task with SIGTERM and, about 10 seconds later, SIGKILL. Dying at
the first signal would leave the element being processed ``started`` for ever, skip the
teardown functions and lose the summary. So, while a run holds the signals:

* the first SIGTERM or SIGINT asks the run to stop: no new element or set is taken, and
  the one in progress gets a grace period (``ARKWORKER_STOP_GRACE`` seconds, default
  :data:`DEFAULT_GRACE`, below Docker's 10 s so that teardowns and the last activity
  updates fit before the SIGKILL) to finish normally;
* when the grace period ends, or at a second signal, :class:`Interrupted` is raised in the
  main thread, wherever the handler is: the loop marks the element ``error``, the teardown
  functions run, the summary is logged and the exit code is 128 + the signal number (143
  for SIGTERM, 130 for SIGINT), as a shell reports a process a signal ended.

Signals are only delivered to the main thread, so a run started from another thread (two
runs in one test process) leaves the process's handlers alone and cannot be stopped this way.

With ``--jobs N`` the elements run in other threads, which no signal can interrupt: the
main thread waits for them, and when the grace period ends it counts the elements still in
progress as interrupted, marks them ``error`` and calls :meth:`StopControl.cut_off`: from
then on, any API call of those threads raises :class:`Interrupted` before it is sent, so
nothing more is written for an element already marked ``error``.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator, Mapping
from types import FrameType

from arkworker.environment import env_number

logger = logging.getLogger("arkworker")

#: Seconds the element in progress may take to finish after the first signal.
DEFAULT_GRACE = 7.0

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(BaseException):
    """The run was stopped by a signal; a ``BaseException`` so that ``except Exception`` in a
    handler does not swallow it (as for :class:`KeyboardInterrupt`)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        return f"Interrupted by {self.name}"


class StopControl:
    """The stop requests of one run: set by its signal handlers, read by its loops."""

    def __init__(self, grace: float = DEFAULT_GRACE) -> None:
        self.grace = grace
        #: The first signal received, None while the run may go on.
        self.signum: int | None = None
        # Reentrant: the handler runs in the main thread, which may hold the lock when a signal comes.
        self._lock = threading.RLock()
        self._busy: str | None = None
        self._item = 0  # counts the items marked in progress, to match a grace timer to its item
        self._expiring: int | None = None  # the item whose grace timer interrupted the main thread
        self._timer: threading.Timer | None = None
        # A write step (see step()): its depth, whether its API answer came, a deferred stop.
        self._steps = 0
        self._answered = False
        self._deferred: Interrupted | None = None
        # The thread that cut the others off (see cut_off()), None while none did.
        self._cut_by: threading.Thread | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StopControl:
        """Read ``ARKWORKER_STOP_GRACE`` (seconds, 0 or more)."""
        return cls(env_number(env, "ARKWORKER_STOP_GRACE", float, DEFAULT_GRACE, minimum=0))

    @property
    def requested(self) -> bool:
        """True once a signal asked the run to stop: take no new element."""
        return self.signum is not None

    @property
    def interrupted(self) -> Interrupted | None:
        """The exception standing for the stop request, None without one."""
        return None if self.signum is None else Interrupted(self.signum)

    @contextlib.contextmanager
    def working_on(self, what: str) -> Iterator[None]:
        """Mark ``what`` (``element <id>``) as in progress: a stop request waits for it, up to the grace."""
        with self._lock:
            self._busy = what
            self._item += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy = None
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """A write step: an API write, then the cache rows that record it.

        An interruption that comes once the API answered (see :meth:`answered`) waits for
        the end of the step, so the cache never misses a row of a result the API holds;
        before the answer it is raised at once, like anywhere else. Main thread only: it
        is the one signals interrupt.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self._steps += 1
        try:
            yield
        finally:
            self._steps -= 1
            if not self._steps:
                self._answered = False
                deferred, self._deferred = self._deferred, None
                if deferred is not None:
                    raise deferred

    def cut_off(self) -> None:
        """Refuse, from now on, any API call of a thread other than this one (the grace is over)."""
        self._cut_by = threading.current_thread()

    def check_cut_off(self) -> None:
        """Raise :class:`Interrupted` in a thread the run cut off (see :meth:`cut_off`)."""
        cut_by = self._cut_by
        if cut_by is not None and threading.current_thread() is not cut_by:
            raise Interrupted(self.signum or signal.SIGTERM)

    def answered(self) -> None:
        """The API answered a call: in a write step, what remains of it must not be cut."""
        if self._steps and threading.current_thread() is threading.main_thread():
            self._answered = True

    def _interrupt(self, signum: int) -> None:
        """Raise :class:`Interrupted`, or defer it to the end of an answered write step."""
        interrupted = Interrupted(signum)
        if self._steps and self._answered:
            self._deferred = interrupted
            return
        raise interrupted

    def handle(self, signum: int, frame: FrameType | None = None) -> None:
        """The signal handler: a first signal asks to stop, the grace's end or a second one interrupts."""
        name = signal.Signals(signum).name
        with self._lock:
            if self._expiring is not None:
                # The grace timer's call: void if its item finished meanwhile.
                item, self._expiring = self._expiring, None
                if self._busy is None or item != self._item:
                    return
                logger.error("%s did not finish within %g s: interrupting it", self._busy, self.grace)
                self._interrupt(self.signum or signum)
                return
            if self.signum is not None:
                self._interrupt(self.signum)
                return
            self.signum = signum
            if self._busy is None:
                logger.warning("Received %s: stopping before the next item", name)
                return
            if self.grace <= 0:
                self._interrupt(signum)
                return
            logger.warning(
                "Received %s: stopping after %s, which has %g s to finish (send %s again to stop now)",
                name,
                self._busy,
                self.grace,
                name,
            )
            self._timer = threading.Timer(self.grace, self._expire, (self._item, signum))
            self._timer.daemon = True
            self._timer.start()

    def _expire(self, item: int, signum: int) -> None:
        """The grace period of ``item`` is over: interrupt the main thread if it still works on it."""
        with self._lock:
            if self._busy is None or item != self._item:
                return
            self._expiring = item
        # A real signal to the main thread: unlike _thread.interrupt_main(), it also wakes a
        # blocking system call (a sleep, a socket read) with EINTR, so the handler runs now.
        signal.pthread_kill(threading.main_thread().ident or 0, signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopControl]:
        """Handle SIGTERM and SIGINT with :meth:`handle` (main thread only), restoring the old handlers."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {signum: signal.signal(signum, self.handle) for signum in SIGNALS}
        try:
            yield self
        finally:
            with self._lock:
                if self._timer is not None:
                    self._timer.cancel()
                self._expiring = None
            for signum, handler in previous.items():
                signal.signal(signum, handler)
