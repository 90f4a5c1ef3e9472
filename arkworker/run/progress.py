"""How a run shows its progress: a bar on a terminal, a summary line now and then elsewhere.

A line per element says little once there are thousands of them, floods production logs
(Ponos keeps every task's log) and scrolls the useful lines away on a terminal. So, unless
``--progress none`` asks for those lines, the loop's ``Processing <element>`` line goes to
DEBUG (:func:`item_log_level`) and one of these shows the run instead:

* :class:`Bar`, when the run's log stream is a terminal (``--progress auto``, the default,
  or ``bar``): a tqdm bar with the count, the rate and the ETA (no total nor ETA for the
  process queue, which does not say how many elements it holds). The run's log lines are
  written above the bar through tqdm, so neither breaks the other. tqdm is imported only
  when a bar is shown: a production run never pays for it.
* :class:`Lines`, otherwise (``log``): one INFO line every ``ARKWORKER_PROGRESS_INTERVAL``
  seconds (default 30) with what is done, what failed, the rate and the ETA, and one at the
  end.

The loops call :meth:`Progress.done` one outcome at a time (under their lock with
``--jobs``); the periodic line is written from a thread of its own, so the counters are
read and written under a lock.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from arkworker.environment import env_number
from arkworker.helpers.exports import duration
from arkworker.run import logs
from arkworker.run.observers import FAILED, SKIPPED, Outcome, RunObserver

if TYPE_CHECKING:
    from arkworker.run.loop import RunResult

logger = logging.getLogger("arkworker")

#: Seconds between two progress lines when the log is not a terminal.
DEFAULT_INTERVAL = 30.0


def item_log_level(mode: str) -> int:
    """The level of the loop's per-element ``Processing`` line under ``--progress mode``.

    DEBUG while a progress display says the same thing (``none`` is the only mode without
    one): ``--verbose`` still shows each element.
    """
    return logging.INFO if mode == "none" else logging.DEBUG


def read_interval(env: Mapping[str, str]) -> float:
    """``ARKWORKER_PROGRESS_INTERVAL``: seconds between two progress lines, more than 0."""
    return float(
        env_number(env, "ARKWORKER_PROGRESS_INTERVAL", float, DEFAULT_INTERVAL, minimum=0, inclusive=False)
    )


def for_run(mode: str, env: Mapping[str, str]) -> Progress | None:
    """The progress display ``--progress mode`` asks for in this run (None for ``none``).

    ``auto`` decides from the run's log stream, the one its log handler writes to (standard
    error unless the caller gave another): a bar on a terminal, lines elsewhere. The
    interval is read in every mode, so that a bad value is refused whatever the stream.
    """
    interval = read_interval(env)
    if mode == "none":
        return None
    handler = logs.current_handler()
    if mode == "auto":
        mode = "bar" if handler is not None and is_terminal(handler.stream) else "log"
    return Bar(handler) if mode == "bar" else Lines(interval)


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is a terminal (a closed or detached stream is not)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Progress(RunObserver):
    """Counts the items of a run as they end; :class:`Bar` and :class:`Lines` show the counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.noun = "element"
        #: The number of items, None for the queue.
        self.total: int | None = None
        self.handled = 0
        self.failed = 0
        self.skipped = 0
        self._started: float | None = None

    def begin(self, noun: str, total: int | None) -> None:
        with self._lock:
            self.noun, self.total = noun, total
            self._started = time.monotonic()

    def done(self, outcome: Outcome) -> None:
        with self._lock:
            self.handled += 1
            self.failed += outcome.status == FAILED
            self.skipped += outcome.status == SKIPPED

    def close(self) -> None:
        """Stop showing the progress: the run is over, whichever way it ended (idempotent)."""

    def line(self, *, final: bool = False) -> str:
        """``Progress: 40/100 elements done (2 failed), 3.10 elements/s, ETA 19 s``.

        The final line gives the loop's time instead of an ETA. Without a total (the queue)
        there is no ETA either.
        """
        with self._lock:
            handled, failed, skipped, total = self.handled, self.failed, self.skipped, self.total
            elapsed = time.monotonic() - self._started if self._started is not None else 0.0
        plural = "s" if (handled if total is None else total) != 1 else ""
        count = f"{handled}" if total is None else f"{handled}/{total}"
        problems = f"{failed} failed" + (f", {skipped} skipped" if skipped else "")
        rate = handled / elapsed if elapsed > 0 else 0.0
        text = f"Progress: {count} {self.noun}{plural} done ({problems})"
        if final:
            text += f" in {duration(elapsed)}"
        text += f", {rate:.2f} {self.noun}s/s"
        if not final and total is not None:
            text += f", ETA {duration((total - handled) / rate)}" if rate > 0 else ", ETA unknown"
        return text


class Lines(Progress):
    """A progress line every ``interval`` seconds while the loop runs, and one at its end."""

    def __init__(self, interval: float) -> None:
        super().__init__()
        self.interval = interval
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def begin(self, noun: str, total: int | None) -> None:
        super().begin(noun, total)
        # In a copy of the run's context, so that the lines go to this run's log (logs.py).
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._tick,), name="arkworker-progress", daemon=True
        )
        self._thread.start()

    def _tick(self) -> None:
        while not self._stopped.wait(self.interval):
            logger.info("%s", self.line())

    def end(self, result: RunResult) -> None:
        """Stop the periodic lines, and give the loop's time and rate, unless a signal stopped
        the run: then its last line stays the one saying so."""
        self.close()
        if result.interrupted is None:
            logger.info("%s", self.line(final=True))

    def close(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


class Bar(Progress):
    """A tqdm bar on the run's log stream, the run's log lines written above it.

    ``handler`` is the run's log handler: while the bar is shown, it writes to an
    :class:`_AboveBar` stream. Without one (a run outside :func:`~arkworker.run.logs.run_logging`)
    the bar goes to standard error and logging is left alone.
    """

    def __init__(self, handler: logging.StreamHandler[Any] | None) -> None:
        super().__init__()
        self.handler = handler
        self._bar: Any = None
        self._stream: TextIO | None = None
        self._shown_problems = (0, 0)

    def begin(self, noun: str, total: int | None) -> None:
        from tqdm import tqdm  # only a bar needs it

        super().begin(noun, total)
        self._stream = self.handler.stream if self.handler is not None else sys.stderr
        self._bar = tqdm(
            total=total,
            desc=f"{noun.capitalize()}s",
            unit=noun,
            file=self._stream,
            dynamic_ncols=True,
            leave=True,
            disable=False,  # shown when asked for, also on a stream that is not a terminal
        )
        if self.handler is not None:
            self.handler.setStream(_AboveBar(self._stream, tqdm))

    def done(self, outcome: Outcome) -> None:
        super().done(outcome)
        if self._bar is None:
            return
        problems = (self.failed, self.skipped)
        if problems != self._shown_problems:
            self._shown_problems = problems
            postfix = f"failed={self.failed}" + (f", skipped={self.skipped}" if self.skipped else "")
            self._bar.set_postfix_str(postfix, refresh=False)
        self._bar.update(1)

    def end(self, result: RunResult) -> None:
        self.close()

    def close(self) -> None:
        """Leave the bar's last state on screen and give the log handler its stream back."""
        if self._bar is None:
            return
        self._bar.close()
        self._bar = None
        if self.handler is not None and self._stream is not None:
            self.handler.setStream(self._stream)


class _AboveBar:
    """The stream a run's log handler writes to while a bar is shown: each line goes above the bar.

    ``tqdm.write`` clears the bars drawn on the same stream, writes, and draws them again,
    under tqdm's lock: lines logged from several threads cannot cut the bar either.
    """

    def __init__(self, stream: TextIO, tqdm_class: Any) -> None:
        self.stream = stream
        self._tqdm = tqdm_class

    def write(self, text: str) -> int:
        self._tqdm.write(text, file=self.stream, end="")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()
