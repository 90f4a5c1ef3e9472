"""Where an element worker's elements come from, once the run knows its Arkindex.

:func:`arkworker.run.generation.element_source` decides; this module hands out the
elements of each source to the element loop as an :class:`Elements`:

* the list (``--element``, ``--elements-list``, ``TASK_ELEMENTS``), or the cache's
  initial elements when it has some: element IDs (or cache rows), counted up front;
* the process queue: ``StartWorkerActivity`` again and again, each answer the next element,
  already ``started`` by the server, until a 400 or 404 says the queue is empty; the total
  is unknown;
* a ``dataset`` process: the elements of each of its dataset sets, as API elements;
* an ``export`` process: ``ListProcessElements``, 500 a page, each element once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence

from arkindex.exceptions import ErrorResponse

from arkworker.models import Element
from arkworker.run.context import Context
from arkworker.run.generation import Source
from arkworker.run.sets import list_sets
from arkworker.storage.cache import CachedElement

logger = logging.getLogger("arkworker")

#: What the loop is handed: an element ID to retrieve, a cache row, or an API element.
Item = str | CachedElement | Element

#: The queue's answers that mean "no element left".
QUEUE_EMPTY = (400, 404)

#: ListProcessElements' page size, the largest the API allows.
EXPORT_PAGE_SIZE = 500


class QueueError(Exception):
    """The queue answered something else than an element or "empty": the loop cannot go on."""


class Elements:
    """The elements of a run, in the order they are processed, handed out by :meth:`take`.

    ``take`` may be called from several threads at once (``--jobs N``): a list is handed
    out under a lock; the queue's ``StartWorkerActivity`` calls go out in parallel.
    """

    def __init__(
        self,
        take: Callable[[], Item | None],
        total: int | None,
        *,
        started_by_server: bool = False,
    ) -> None:
        self._take = take
        #: How many there are; None for the queue, which does not say.
        self.total = total
        #: True for the queue: its elements arrive ``started``, the loop does not send it.
        self.started_by_server = started_by_server

    @classmethod
    def listed(cls, items: Iterable[Item], total: int) -> Elements:
        """Elements known up front, handed out in their order."""
        iterator = iter(items)
        lock = threading.Lock()

        def take() -> Item | None:
            with lock:
                return next(iterator, None)

        return cls(take, total)

    def take(self) -> Item | None:
        """The next element; None when there is none left. Raises :class:`QueueError`."""
        return self._take()


def elements_for(ctx: Context, source: Source, listed: Sequence[Item]) -> Elements:
    """The elements ``source`` gives; ``listed`` are those of the list (:func:`listed_elements`)."""
    if source is Source.QUEUE:
        return Elements(Queue(ctx).take, None, started_by_server=True)
    if source is Source.DATASET:
        found: list[Item] = [
            element for dataset_set in list_sets(ctx, ()) for element in ctx.list_set_elements(dataset_set)
        ]
        return Elements.listed(found, len(found))
    if source is Source.EXPORT:
        ids = export_elements(ctx)
        return Elements.listed(ids, len(ids))
    return Elements.listed(listed, len(listed))


def listed_elements(ctx: Context, element_ids: Sequence[str]) -> list[Item]:
    """The cache's initial elements when it has some, else the listed element IDs."""
    if ctx.cache is None:
        return list(element_ids)
    initial = ctx.cache.initial_elements()
    if not initial:
        return list(element_ids)
    if element_ids:
        logger.info(
            "Using the %d initial elements of the cache; the listed elements are ignored", len(initial)
        )
    return list(initial)


class Queue:
    """The process queue: one ``StartWorkerActivity`` per element, until it answers "empty".

    Several threads may ask at once; once one learnt that the queue is empty (or failing),
    the others get None without asking again.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._ended = False

    def take(self) -> Item | None:
        if self._ended:
            return None
        try:
            answer = self.ctx.request("StartWorkerActivity", landed=_lost_hand_out)
        except ErrorResponse as exc:
            self._ended = True
            if exc.status_code in QUEUE_EMPTY:
                return None
            raise QueueError(
                f"Failed to start a new worker activity of element due to an API error: {exc.title} - "
                f"{exc.content}"
            ) from exc
        except Exception as exc:
            self._ended = True
            raise QueueError(f"Failed to start a new worker activity of element: {exc}") from exc
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
            self._ended = True
            raise QueueError(f"StartWorkerActivity answered {answer!r}, not an element with an id")
        return str(answer["id"])


def _lost_hand_out() -> None:
    """After a lost answer, the queue is asked again: the element it may have started is lost.

    Nothing lists the activities a worker run started, so that element cannot be found;
    not asking again would lose every element after it too.
    """
    logger.warning(
        "The answer of StartWorkerActivity was lost: the element it may have started stays started "
        "in Arkindex; asking the queue for the next one"
    )


def export_elements(ctx: Context) -> list[str]:
    """The IDs of an export process's elements, each once, in the order the API lists them."""
    assert ctx.process_information is not None
    pages = ctx.paginate("ListProcessElements", id=ctx.process_information["id"], page_size=EXPORT_PAGE_SIZE)
    return list(dict.fromkeys(str(item["id"]) for item in pages))
