"""The element loop's engine: one element at a time, N at once, in batches, fetched ahead.

A run processes *units*: one element, or a batch of ``batch_size`` elements for a batched
handler (``@app.element(batch_size=16)``). For each element of a unit, in this order:
``RetrieveElement`` (unless the source handed the element over whole), the ``started``
activity (unless the queue started it; a 409 skips the element), the handler call (once
for the unit), then ``processed`` or ``error``. Accounting, log lines and the summary are
per element whatever the unit.

Where the elements are fetched (:class:`Supply`): by the thread about to process them
(``--prefetch 0``, the default with one element at a time), or ahead of it by fetcher
threads that keep at most ``prefetch`` elements (and their images, with
``prefetch_images``) ready (:class:`Prefetcher`). The process queue is never read ahead:
each element it hands out is already ``started`` in Arkindex, and one fetched ahead of a
stop request would be left so.

Who processes them (:class:`Engine`): the main thread, with ``--jobs 1``, exactly as a
sequential run always did (signals interrupt the handler after the grace period); or
``jobs`` worker threads while the main thread waits, with what :mod:`.stopping` says about
cutting them off. Every count and every observer call happens under one lock.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arkworker.enums import ActivityState
from arkworker.models import Element
from arkworker.run import logs
from arkworker.run.activities import update_activity
from arkworker.run.observers import COMPLETED, FAILED, SKIPPED, Outcome, RunObserver
from arkworker.run.progress import item_log_level
from arkworker.run.sources import Elements, Item, QueueError
from arkworker.run.stopping import Interrupted
from arkworker.storage.cache import CachedElement

if TYPE_CHECKING:
    from arkworker.run.context import Context
    from arkworker.run.loop import RunResult
    from arkworker.spec import HandlerSpec

logger = logging.getLogger("arkworker")

#: The most threads fetching elements ahead, and sending a batch's activity updates at once.
MAX_FETCHERS = 8
MAX_UPDATERS = 8


def _id_of(element: Any) -> str:
    return str(element.id if not isinstance(element, str) else element)


class Batch(list[Any]):
    """The elements of one call of a batched handler, in the order they came.

    A handler that raises fails every element of the batch; one that can tell which
    elements went wrong calls :meth:`fail` for them and returns normally: the others are
    marked ``processed``.
    """

    def __init__(self, elements: Iterable[Any]) -> None:
        super().__init__(elements)
        self._failures: dict[str, BaseException | str] = {}

    def fail(self, element: Any, error: BaseException | str) -> None:
        """Count ``element`` (an element of this batch, or its ID) failed, because of ``error``.

        ``error`` is the exception that made it fail, or a message; either is logged in
        the element's failure line, as for an element whose handler raised.
        """
        element_id = _id_of(element)
        if all(_id_of(member) != element_id for member in self):
            raise ValueError(f"batch.fail(): element {element_id} is not in this batch")
        self._failures[element_id] = error

    @property
    def failures(self) -> Mapping[str, BaseException | str]:
        """The elements :meth:`fail` was called for, by ID, and why."""
        return dict(self._failures)


@dataclass(eq=False)
class Work:
    """One element on its way through the loop."""

    item: Item
    element_id: str
    #: Its rank in the run (from 1), as the ``Processing … (i/N)`` line shows it.
    index: int
    #: When it was taken from the source (``time.monotonic()``): its outcome's duration runs from it.
    taken: float
    element: Element | CachedElement | None = None
    #: True once a thread processes it (it is no longer only fetched ahead).
    in_unit: bool = False
    #: True once its outcome is counted (by its thread, or by the main thread cutting it off).
    final: bool = False


class FailedBatchElement(Exception):
    """What ``batch.fail(element, "message")`` stands for in the element's failure line."""

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Settings:
    """How the engine runs: ``jobs`` units at once, ``batch_size`` elements a unit, ``prefetch`` ahead."""

    jobs: int = 1
    batch_size: int = 1
    #: Whether the handler takes a :class:`Batch` (of ``batch_size`` elements, 1 included).
    batched: bool = False
    prefetch: int = 0

    @property
    def threads(self) -> int:
        """The most threads that may call the API at once: jobs, fetchers, a batch's updaters."""
        fetchers = min(self.prefetch, MAX_FETCHERS)
        updaters = min(self.batch_size, MAX_UPDATERS) if self.batch_size > 1 else 0
        return self.jobs + updaters + fetchers


class Engine:
    """Processes the elements of one run (see the module's docstring); :meth:`run` returns a stop signal."""

    def __init__(
        self,
        handler: HandlerSpec,
        ctx: Context,
        elements: Elements,
        result: RunResult,
        observer: RunObserver,
        settings: Settings,
    ) -> None:
        self.handler = handler
        self.ctx = ctx
        self.elements = elements
        self.result = result
        self.observer = observer
        self.settings = settings
        self.taken = 0
        self._lock = threading.RLock()
        self._in_progress: set[Work] = set()
        self._crash: BaseException | None = None
        self._batches = 0
        # DEBUG while a progress display shows the run.
        self._item_level = item_log_level(ctx.args.progress)
        self._updaters: ThreadPoolExecutor | None = None
        if settings.batch_size > 1 and ctx.store_activity:
            self._updaters = ThreadPoolExecutor(
                min(settings.batch_size, MAX_UPDATERS), thread_name_prefix="arkworker-activity"
            )
        self.supply: Supply = (
            Prefetcher(self, settings.prefetch)
            if settings.prefetch and not elements.started_by_server
            else Supply(self)
        )

    # -- The drivers ---------------------------------------------------------------------

    def run(self) -> Interrupted | None:
        """Process every element; the signal that stopped the run, None when it ran to the end."""
        self.supply.start()
        try:
            if self.settings.jobs == 1:
                return self._run_in_main_thread()
            return self._run_in_threads()
        finally:
            self.supply.close()
            if self._updaters is not None:
                self._updaters.shutdown(wait=False)

    def _run_in_main_thread(self) -> Interrupted | None:
        stop = self.ctx.stop
        while True:
            if stop.requested:
                return stop.interrupted
            if not self.settings.batched:
                work = self.supply.next_work()
                if work is None:
                    return None
                # As always: the element's retrieval is part of the element in progress.
                with stop.working_on(f"element {work.element_id}"):
                    try:
                        fetched = work.element is not None or self.supply.fetch(work)
                    except Interrupted as exc:
                        return exc
                    stopped = self._run_unit([work] if fetched else [])
            else:
                with stop.working_on(f"a batch of up to {self.settings.batch_size} elements"):
                    works = self._gather()
                    if not works:
                        return None
                    stopped = self._run_unit(works)
            if stopped is not None:
                return stopped

    def _run_in_threads(self) -> Interrupted | None:
        threads = [
            threading.Thread(
                target=contextvars.copy_context().run,
                args=(self._consume,),
                name=f"arkworker-job-{number}",
                daemon=True,  # a thread cut off at the end of the grace must not hold the exit
            )
            for number in range(1, self.settings.jobs + 1)
        ]
        stop = self.ctx.stop
        with stop.working_on(f"the elements in progress ({self.settings.jobs} jobs)"):
            try:
                for thread in threads:
                    thread.start()
                for thread in threads:
                    while thread.is_alive():
                        thread.join(0.5)
            except Interrupted as exc:
                self._cut_off(exc)
                return exc
        if self._crash is not None:
            raise self._crash
        return stop.interrupted

    def _consume(self) -> None:
        """A worker thread: units until there are none left, or a stop request."""
        try:
            while not self.ctx.stop.requested:
                works = self._gather()
                if not works or self._run_unit(works) is not None:
                    return
        except Interrupted:
            return  # cut off: the main thread counted its elements
        except BaseException as exc:  # a bug of the engine: the run must not end as if complete
            logger.error("A job thread stopped: %r", exc, exc_info=True)
            with self._lock:
                self._crash = self._crash or exc

    def _gather(self) -> list[Work]:
        """The next unit: up to ``batch_size`` fetched elements (fewer at the end of the source)."""
        works: list[Work] = []
        while len(works) < self.settings.batch_size:
            if works and self.ctx.stop.requested:
                break
            work = self.supply.next_fetched()
            if work is None:
                break
            works.append(work)
        with self._lock:
            for work in works:
                work.in_unit = True
        return works

    def _cut_off(self, exc: Interrupted) -> None:
        """The grace is over: count the elements still in progress as interrupted, mark them ``error``."""
        self.ctx.stop.cut_off()
        with self._lock:
            pending = [work for work in self._in_progress if not work.final]
            for work in pending:
                if not work.in_unit:
                    work.final = True  # only fetched ahead: not processed, as any element left
        for work in sorted((work for work in pending if work.in_unit), key=lambda work: work.index):
            self._fail(work, exc)

    # -- One unit ------------------------------------------------------------------------

    def _run_unit(self, works: Sequence[Work]) -> Interrupted | None:
        """Report ``started``, call the handler once, report ``processed`` or ``error``: per element."""
        if not works:
            return None
        try:
            live = [work for work, ok in zip(works, self._each(self._start, works), strict=True) if ok]
            if not live:
                return None
            failures = self._call(live)
            if failures is None:
                return None
            self._each(lambda work: self._end(work, failures.get(work.element_id)), live)
            return None
        except Interrupted as exc:
            for work in works:
                self._fail(work, exc)
            return exc

    def _start(self, work: Work) -> bool:
        """Log the element and report it ``started``; False when it is not to be processed further."""
        with self._about(work):
            if self.result.counted:
                logger.log(
                    self._item_level, "Processing %s (%d/%d)", work.element, work.index, self.result.total
                )
            else:
                logger.log(self._item_level, "Processing %s (n°%d)", work.element, work.index)
            if self.elements.started_by_server:
                return True
            try:
                started = update_activity(self.ctx, work.element_id, ActivityState.Started)
            except Exception as exc:
                self._fail(work, exc)
                return False
            if not started:
                logger.info("Skipping element %s as it was already processed", work.element_id)
                self._finalize(work, SKIPPED)
            return started

    def _call(self, live: list[Work]) -> Mapping[str, BaseException | str] | None:
        """Call the handler on the unit; the elements it failed by ID, None when it raised."""
        if not self.settings.batched:
            with self._about(live[0]):
                try:
                    self.handler(live[0].element, ctx=self.ctx)
                except Exception as exc:
                    self._fail(live[0], exc)
                    return None
            return {}
        batch = Batch(work.element for work in live)
        with self._lock:
            self._batches += 1
            number = self._batches
        with logs.about(f"batch {number}" if self.settings.jobs > 1 else None):
            try:
                self.handler(batch, ctx=self.ctx)
            except Exception as exc:
                error = exc
                self._each(lambda work: self._fail(work, error), live)
                return None
        return batch.failures

    def _end(self, work: Work, failure: BaseException | str | None) -> None:
        """Report ``processed`` and count the element completed, or fail it as its batch said."""
        if failure is not None:
            self._fail(work, FailedBatchElement(failure) if isinstance(failure, str) else failure)
            return
        try:
            update_activity(self.ctx, work.element_id, ActivityState.Processed)
        except Exception as exc:
            self._fail(work, exc)
            return
        self._finalize(work, COMPLETED)

    def _each(self, step: Callable[[Work], Any], works: Sequence[Work]) -> list[Any]:
        """``step`` on every element of a unit: at once when the unit is a batch, else in this thread."""
        if self._updaters is None or len(works) == 1:
            return [step(work) for work in works]
        contexts = [contextvars.copy_context() for _ in works]  # a context is entered by one thread at a time
        return list(self._updaters.map(lambda context, work: context.run(step, work), contexts, works))

    # -- Accounting ----------------------------------------------------------------------

    def _about(self, work: Work) -> Any:
        """Name the element in the lines logged for it, when several are processed at once."""
        return logs.about(work.element_id if self.settings.jobs > 1 else None)

    def taken_work(self, item: Item) -> Work:
        """Count an item the source handed out, and follow it until its outcome."""
        element_id = str(item.id) if isinstance(item, CachedElement | Element) else item
        with self._lock:
            self.taken += 1
            if not self.result.counted:
                self.result.total = self.taken
            work = Work(item, element_id, self.taken, time.monotonic())
            self._in_progress.add(work)
        return work

    def source_failed(self, exc: QueueError) -> None:
        with self._lock:
            if not self.result.source_failed:
                logger.error("%s", exc)
            self.result.source_failed = True

    def dropped(self, work: Work) -> None:
        """An element fetched ahead that a stop request leaves unprocessed."""
        with self._lock:
            work.final = True
            self._in_progress.discard(work)

    def _finalize(self, work: Work, status: str, exc: BaseException | None = None) -> bool:
        """Count the element's outcome, once (False when it was already counted)."""
        with self._lock:
            if work.final:
                return False
            work.final = True
            self._in_progress.discard(work)
            message = None
            if status == FAILED:
                assert exc is not None
                message = self.result.fail(work.element_id, exc, described_as=f"element {work.element_id}")
            elif status == SKIPPED:
                self.result.skipped += 1
                self.result.completed += 1
            else:
                self.result.completed += 1
            self.observer.done(Outcome(work.element_id, status, time.monotonic() - work.taken, message))
            return True

    def _fail(self, work: Work, exc: BaseException) -> None:
        """Count the element failed and, once it was retrieved, mark it ``error`` (best effort)."""
        with self._about(work):
            if not self._finalize(work, FAILED, exc) or work.element is None:
                return
            try:
                update_activity(self.ctx, work.element_id, ActivityState.Error)
            except Exception:
                logger.debug("Could not mark element %s as errored", work.element_id, exc_info=True)


class Supply:
    """Elements for the engine, fetched by the thread that asks for them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def take(self) -> Work | None:
        """The next element of the source, not fetched yet; None at its end (or its failure)."""
        try:
            item = self.engine.elements.take()
        except QueueError as exc:
            self.engine.source_failed(exc)
            return None
        return None if item is None else self.engine.taken_work(item)

    def fetch(self, work: Work) -> bool:
        """Retrieve the element (and its image, when the handler asks); False when it failed."""
        engine = self.engine
        try:
            if isinstance(work.item, CachedElement | Element):
                work.element = work.item
            else:
                answer = engine.ctx.request("RetrieveElement", id=work.element_id)
                work.element = Element(answer).attach_downloads(engine.ctx.downloads)
        except (Exception, Interrupted) as exc:
            engine._fail(work, exc)  # a no-op for an element a cut-off already counted
            if isinstance(exc, Interrupted):
                raise
            return False
        arguments = engine.handler.prefetch_images
        if arguments is not None:
            try:
                work.element.prefetch_image(**arguments)
            except Exception:  # the handler's own open_image() will raise it, in its element's name
                logger.debug("Could not fetch the image of element %s ahead", work.element_id, exc_info=True)
        return True

    def next_work(self) -> Work | None:
        """The next element, taken from the source; not fetched yet (see :meth:`fetch`)."""
        if self.engine.ctx.stop.requested and not self.engine.elements.started_by_server:
            return None
        return self.take()

    def start(self) -> None:
        """Nothing runs in the background."""

    def next_fetched(self) -> Work | None:
        """The next element, fetched; None when there are no more (elements that fail are counted)."""
        while True:
            if self.engine.ctx.stop.requested and not self.engine.elements.started_by_server:
                return None
            work = self.take()
            if work is None:
                return None
            if self.fetch(work):
                return work

    def close(self) -> None:
        """Nothing runs in the background."""


_END = object()


class Prefetcher(Supply):
    """Fetcher threads keeping up to ``bound`` elements retrieved ahead of the ones in progress.

    A fetcher holds one of ``bound`` slots from before it takes an element until a worker
    takes that element out of the ready queue, so no more than ``bound`` elements are ever
    taken from the source and not yet processed.
    """

    def __init__(self, engine: Engine, bound: int) -> None:
        super().__init__(engine)
        self.bound = bound
        self._slots = threading.Semaphore(bound)
        self._ready: queue.Queue[Any] = queue.Queue()
        self._closed = threading.Event()
        self._running = min(bound, MAX_FETCHERS)
        self._count_lock = threading.Lock()
        self._threads = [
            threading.Thread(
                target=contextvars.copy_context().run,
                args=(self._fetch_ahead,),
                name=f"arkworker-fetch-{number}",
                daemon=True,
            )
            for number in range(1, self._running + 1)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def next_work(self) -> Work | None:
        return self.next_fetched()

    def _fetch_ahead(self) -> None:
        stop = self.engine.ctx.stop
        try:
            while not self._closed.is_set() and not stop.requested:
                if not self._slots.acquire(timeout=0.2):
                    continue
                if self._closed.is_set() or self.engine.ctx.stop.requested:
                    self._slots.release()
                    return
                work = self.take()
                if work is None:
                    self._slots.release()
                    return
                if self.fetch(work):
                    self._ready.put(work)
                else:
                    self._slots.release()
        except Interrupted:
            return
        finally:
            with self._count_lock:
                self._running -= 1
                last = self._running == 0
            if last:
                self._ready.put(_END)

    def next_fetched(self) -> Work | None:
        while True:
            got = self._ready.get()
            if got is _END:
                self._ready.put(_END)  # for the other workers
                return None
            self._slots.release()
            if self.engine.ctx.stop.requested:
                self.engine.dropped(got)
                continue
            return got

    def close(self) -> None:
        self._closed.set()
        while True:  # what was fetched ahead and never processed is left, uncounted
            try:
                got = self._ready.get_nowait()
            except queue.Empty:
                return
            if got is not _END:
                self.engine.dropped(got)
