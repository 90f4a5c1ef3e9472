"""What every helper family shares: read-only guard, cache writes and reads, batches, lazy results.

The mixins only rely on what :class:`arkworker.run.context.Context` provides (declared below
for type checkers), so each family stays a small module that reads on its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from peewee import IntegrityError, Model

from arkworker.errors import OperationUnavailable
from arkworker.models import Element
from arkworker.storage.cache import Cache, CachedElement, uuid_matches

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from arkworker.api.client import Api, Paginator
    from arkworker.enums import ApiLevel
    from arkworker.images.downloads import DownloadSettings

logger = logging.getLogger("arkworker.helpers")

#: How many items a bulk helper sends per request unless told otherwise.
DEFAULT_BATCH_SIZE = 50

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Listing(Protocol[T_co]):
    """What a listing helper returns: iterate it (lazily, page by page), or ``len()`` it for the count.

    API listings are :class:`Results`; with the cache they are peewee queries over its rows,
    which iterate and count the same way.
    """

    def __iter__(self) -> Iterator[T_co]: ...

    def __len__(self) -> int: ...


class RunLocks:
    """The locks of what a run's helpers load or create once, one per name, made on first use.

    A run's handlers may run in several threads that share its context (``--jobs``). What a
    helper fills once per run (the corpus's ML classes, its entity types...) is filled
    under the lock of its name, so that two threads neither load it twice nor create one
    class twice: the second waits, then finds it. Re-entrant, so that a helper holding a
    lock may call another that takes it. Owned by the run's context, like all run state.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.RLock] = {}

    def __call__(self, name: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(name, threading.RLock())


class HelperMixin:
    """The part of the run context the helper families use.

    The context is shared by the threads of a run: a helper that fills run-wide state does
    it under :attr:`_run_locks`, and replaces a shared dict rather than changing it, so that
    a thread reading it never sees it change under it.
    """

    if TYPE_CHECKING:
        api: Api
        api_level: ApiLevel
        cache: Cache | None
        downloads: DownloadSettings
        _run_locks: RunLocks

        @property
        def is_read_only(self) -> bool: ...

        @property
        def worker_run_id(self) -> str | None: ...

        @property
        def corpus_id(self) -> str: ...

        def request(self, operation_id: str, **parameters: Any) -> Any: ...

        def _write_step(self) -> AbstractContextManager[None]: ...

        def paginate(self, operation_id: str, **parameters: Any) -> Paginator: ...

    def _read_only_skip(self, what: str, verb: str = "create") -> bool:
        """True (after saying so) when the run is read-only and ``what`` must not be written."""
        if self.is_read_only:
            logger.warning("Cannot %s %s as this worker is in read-only mode", verb, what)
            return True
        return False

    def _require(self, operation_id: str, helper: str, *, replaced_by: str | None = None) -> None:
        """Refuse, before any request, a helper whose operation the instance does not offer.

        Without the check, a helper of today's Arkindex on a legacy instance would fail with
        the client's "not found in schema". ``replaced_by`` is for an operation that today's
        Arkindex removed: what to do instead.
        """
        if self.api.has_operation(operation_id):
            return
        if replaced_by is None:
            why = "it came with today's Arkindex (arkindex-base-worker 0.4 to 0.6)"
        else:
            why = f"today's Arkindex removed it: {replaced_by}"
        raise OperationUnavailable(
            f"ctx.{helper}() needs the {operation_id} operation, which {self.api.url} "
            f"(API level {self.api_level.value}) does not offer: {why}."
        )

    @property
    def _writes_cache(self) -> bool:
        return self.cache is not None and not self.is_read_only

    def _element(self, payload: Mapping[str, Any]) -> Element:
        """An API element of this run: its images download under the run's settings, in any thread."""
        return Element(payload).attach_downloads(self.downloads)

    def _cache_write(self, what: str, write: Callable[[Cache], Any]) -> None:
        """Run ``write(cache)`` in one cache transaction after the API accepted the data.

        The API is the source of truth: a row the cache refuses (an element it does not
        hold, a duplicate) is a warning, never a failure of the element.
        """
        if not self._writes_cache:
            return
        assert self.cache is not None
        try:
            with self.cache.atomic():
                write(self.cache)
        except IntegrityError as exc:
            logger.warning("Couldn't save the created %s in the local cache: %s", what, exc)


def image_of(element: Element | CachedElement) -> str | None:
    """The id of an element's image, API or cached (the reference only handled cached ones)."""
    if isinstance(element, CachedElement):
        return None if element.image_id is None else str(element.image_id)
    zone = element.get("zone")
    return zone["image"]["id"] if zone else None


def cache_image(db: Cache, element: Element | CachedElement) -> str | None:
    """The id of the element's image, its cache row created from an API element's zone if missing.

    New sub-elements reference that row: without it, the cache would refuse them.
    """
    if isinstance(element, CachedElement) or not element.get("zone"):
        return image_of(element)
    image = element["zone"]["image"]
    db.CachedImage.get_or_create(
        id=image["id"], defaults={"width": image["width"], "height": image["height"], "url": image["url"]}
    )
    return image["id"]


def cached_by_worker(query: Any, model: type[Model], filters: Mapping[str, Any]) -> Any:
    """``query`` narrowed by the ``worker_version``/``worker_run`` filters (``False``: manual rows)."""
    for name in ("worker_version", "worker_run"):
        if name in filters:
            column = getattr(model, f"{name}_id")
            query = query.where(
                column.is_null() if filters[name] is False else uuid_matches(column, filters[name])
            )
    return query


def worker_run_of(item: Mapping[str, Any]) -> str | None:
    """The id of the worker run that made a listed item (``worker_run: {id, summary}``), None if manual."""
    run = item.get("worker_run")
    return run.get("id") if isinstance(run, Mapping) else None


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Results(Generic[T]):
    """A lazy iterator over every result of a listing, each wrapped in a model; ``len()`` is the count."""

    def __init__(self, source: Paginator | Iterable[Any], wrap: Callable[[Any], T]) -> None:
        self._source = source
        self._wrap = wrap

    def __iter__(self) -> Iterator[T]:
        return (self._wrap(item) for item in self._source)

    def __len__(self) -> int:
        return len(self._source)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"<Results of {self._source!r}>"
