"""The observers of one run, set up before it starts and closed however it ends.

:class:`RunWatch` joins the caller's observer, the progress display (``--progress``) and the
run report (``--report``). Its options are checked by :meth:`RunWatch.prepare`, before any
API call; as a context manager around the run it closes the progress display and writes
the report at the end, also when an exception ended the run (not after a usage error:
that was no run).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from types import TracebackType
from typing import TYPE_CHECKING

from arkworker.api.timings import CallTimings
from arkworker.errors import BadInput
from arkworker.options import RunOptions
from arkworker.run import progress as progress_display
from arkworker.run.observers import Observers, RunObserver
from arkworker.run.report import RunReport, check_writable
from arkworker.spec import WorkerSpec

if TYPE_CHECKING:
    from arkworker.run.loop import RunResult

logger = logging.getLogger("arkworker")


class RunWatch(Observers):
    """What watches one run: the caller's observer, the progress display, the report."""

    def __init__(
        self,
        observers: list[RunObserver],
        progress: progress_display.Progress | None = None,
        report: RunReport | None = None,
    ) -> None:
        super().__init__(observers)
        self.progress = progress
        self.report = report
        #: The run's API call timings, once it is connected (the report shows them).
        self.timings: CallTimings | None = None
        #: The run's accounting, once it returned one (:meth:`ended`).
        self.result: RunResult | None = None
        self._started = time.monotonic()
        self._started_at = datetime.now(timezone.utc)

    @classmethod
    def prepare(
        cls, app: WorkerSpec, options: RunOptions, env: Mapping[str, str], observer: RunObserver | None = None
    ) -> RunWatch:
        """The watch of a run of ``app`` with ``options``; a bad ``--report`` path or progress
        interval is a :class:`BadInput`, before anything else happens."""
        progress = progress_display.for_run(options.progress, env)
        report = None
        if options.report is not None:
            check_writable(options.report)
            report = RunReport(options.report, app.name, "set" if app.kind == "dataset_set" else "element")
        observers = [item for item in (observer, progress, report) if item is not None]
        return cls(observers, progress, report)

    def ended(self, result: RunResult) -> RunResult:
        """Keep the run's final accounting (for the report) and return it."""
        self.result = result
        return result

    def __enter__(self) -> RunWatch:
        self._started = time.monotonic()
        self._started_at = datetime.now(timezone.utc)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.progress is not None:
            self.progress.close()
        if self.report is None or isinstance(error, BadInput):
            return
        result = self.result if error is None else None
        content = self.report.content(
            result,
            error,
            timings=self.timings.summary() if self.timings is not None else {},
            started_at=self._started_at,
            wall_time=time.monotonic() - self._started,
        )
        try:
            self.report.write(content)
        except OSError as exc:
            logger.error("Could not write the run report to %s: %s", self.report.path, exc)
            if result is not None and result.exit_code == 0:
                result.exit_code = 1  # the report was asked for: a run without it did not do its job
