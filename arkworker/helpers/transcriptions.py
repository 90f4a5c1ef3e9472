"""Transcriptions: create_transcription, create_transcriptions, create_element_transcriptions, list_transcriptions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from arkworker.enums import TextOrientation
from arkworker.helpers import validation as check
from arkworker.helpers.base import (
    DEFAULT_BATCH_SIZE,
    HelperMixin,
    Listing,
    Results,
    batches,
    cache_image,
    cached_by_worker,
    logger,
)
from arkworker.models import Element, Transcription
from arkworker.storage.cache import Cache, CachedElement, CachedTranscription, uuid_matches


def _transcription_item(item: Any, prefix: str, *, with_element_id: bool) -> dict[str, Any]:
    """One validated bulk item, copied (the caller's dict is never changed)."""
    item = dict(check.mapping(item, prefix))
    if with_element_id:
        element_id = item.get("element_id")
        if not isinstance(element_id, str) or not element_id:
            raise check.fail(f"element_id must be a non-empty string, got {element_id!r}", prefix)
    item["text"] = check.text(item.get("text"), "text", prefix)
    item["confidence"] = check.confidence(item.get("confidence"), prefix=prefix)
    item["orientation"] = check.orientation(
        item.get("orientation", TextOrientation.HorizontalLeftToRight), prefix
    )
    return item


class TranscriptionMixin(HelperMixin):
    """Write and list transcriptions."""

    def create_transcription(
        self,
        element: Element | CachedElement,
        text: str,
        confidence: float,
        orientation: TextOrientation = TextOrientation.HorizontalLeftToRight,
    ) -> Transcription | None:
        """Create one transcription on ``element``; the API's answer, None in read-only mode."""
        check.element(element)
        body = {
            "text": check.text(text, "text"),
            "worker_run_id": self.worker_run_id,
            "confidence": check.confidence(confidence),
            "orientation": check.orientation(orientation),
        }
        if self._read_only_skip("transcription"):
            return None
        element_id = check.element_id(element)
        with self._write_step():
            created = self.request(
                "CreateTranscription",
                id=element_id,
                body=body,
                landed=partial(self._created_transcription, element_id, body),
            )
            self._cache_write(
                "transcription",
                lambda db: self._cache_transcriptions(db, [{**created, "element_id": element_id}]),
            )
        return Transcription(created)

    def _created_transcription(self, element_id: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """The transcription of a lost CreateTranscription answer: this run's, same text, confidence, orientation.

        Matched by worker run and content, not by date (see the README's "Retry policy").
        """
        wanted = (body["text"], body["confidence"], body["orientation"])
        listing = self.paginate("ListTranscriptions", id=element_id, worker_run=self.worker_run_id)
        return next(
            (item for item in listing if (item["text"], item["confidence"], item["orientation"]) == wanted),
            None,
        )

    def create_transcriptions(
        self, transcriptions: list[dict[str, Any]], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> list[Transcription] | None:
        """Create transcriptions on any elements (``element_id``, ``text``, ``confidence``, ``orientation``).

        Sent ``batch_size`` at a time; the created transcriptions come back in input order.
        """
        items = [
            _transcription_item(
                item, check.item_prefix("Transcription", index, "transcriptions"), with_element_id=True
            )
            for index, item in enumerate(check.non_empty_list(transcriptions, "transcriptions"))
        ]
        size = check.batch_size(batch_size)
        if self._read_only_skip("transcription"):
            return None
        created: list[Transcription] = []
        for batch in batches(items, size):
            with self._write_step():
                answer = self.request(
                    "CreateTranscriptions",
                    body={"worker_run_id": self.worker_run_id, "transcriptions": list(batch)},
                )
                rows = answer["transcriptions"]
                self._cache_write("transcriptions", partial(self._cache_transcriptions, rows=rows))
            created.extend(Transcription(row) for row in rows)
        return created

    def _cache_transcriptions(self, db: Cache, rows: Iterable[Mapping[str, Any]]) -> None:
        """Cache rows from ``id``, ``element_id``, ``text``, ``confidence`` and ``orientation``."""
        for row in rows:
            db.CachedTranscription.create(
                id=row["id"],
                element=row["element_id"],
                text=row["text"],
                confidence=row["confidence"],
                orientation=row["orientation"],
                worker_run_id=self.worker_run_id,
            )

    def create_element_transcriptions(
        self,
        element: Element | CachedElement,
        sub_element_type: str,
        transcriptions: list[dict[str, Any]],
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> list[dict[str, Any]] | None:
        """Create sub-elements of ``element`` (or reuse those with the same polygon) with one transcription each.

        Items: ``polygon``, ``text``, ``confidence``, ``orientation``, ``element_confidence``.
        Returns ``{id, element_id, created}`` per item, in input order.
        """
        check.element(element)
        element_type = check.text(sub_element_type, "sub_element_type")
        items = []
        for index, item in enumerate(check.non_empty_list(transcriptions, "transcriptions")):
            prefix = check.item_prefix("Transcription", index, "transcriptions")
            item = _transcription_item(item, prefix, with_element_id=False)
            item["polygon"] = check.polygon(item.get("polygon"), prefix=prefix)
            if item.get("element_confidence") is not None:
                check.confidence(item["element_confidence"], "element_confidence", prefix)
            items.append(item)
        size = check.batch_size(batch_size)
        if self._read_only_skip("transcriptions"):
            return None
        parent_id = check.element_id(element)
        annotations: list[dict[str, Any]] = []
        for batch in batches(items, size):
            with self._write_step():
                answer = self.request(
                    "CreateElementTranscriptions",
                    id=parent_id,
                    body={
                        "element_type": element_type,
                        "worker_run_id": self.worker_run_id,
                        "transcriptions": list(batch),
                        "return_elements": True,
                    },
                )
                for annotation in answer:
                    if annotation["created"]:
                        logger.debug("A sub_element of %s with type %s was created", parent_id, element_type)
                self._cache_write(
                    "transcriptions",
                    partial(
                        self._cache_element_transcriptions,
                        element=element,
                        element_type=element_type,
                        items=batch,
                        annotations=answer,
                    ),
                )
            annotations.extend(answer)
        return annotations

    def _cache_element_transcriptions(
        self,
        db: Cache,
        element: Element | CachedElement,
        element_type: str,
        items: Iterable[Mapping[str, Any]],
        annotations: Iterable[Mapping[str, Any]],
    ) -> None:
        image_id = cache_image(db, element)
        parent_id = check.element_id(element)
        model = db.CachedElement
        for item, annotation in zip(items, annotations, strict=True):
            if not model.select().where(uuid_matches(model.id, annotation["element_id"])).exists():
                model.create(
                    id=annotation["element_id"],
                    parent_id=parent_id,
                    type=element_type,
                    image=image_id,
                    polygon=item["polygon"],
                    worker_run_id=self.worker_run_id,
                    confidence=item.get("element_confidence"),
                )
            self._cache_transcriptions(
                db, [{**item, "id": annotation["id"], "element_id": annotation["element_id"]}]
            )

    def list_transcriptions(
        self,
        element: Element | CachedElement,
        element_type: str | None = None,
        recursive: bool | None = None,
        worker_version: str | bool | None = None,
        worker_run: str | bool | None = None,
    ) -> Listing[Transcription | CachedTranscription]:
        """The transcriptions of ``element`` (and of its descendants if ``recursive``), lazily.

        ``worker_version``/``worker_run``: an id, or ``False`` for manual transcriptions.
        With the cache, rows of the cache (:class:`CachedTranscription`) are listed instead.
        """
        check.element(element)
        filters: dict[str, Any] = {}
        if element_type is not None:
            filters["element_type"] = check.text(element_type, "element_type")
        if recursive is not None:
            filters["recursive"] = check.boolean(recursive, "recursive")
        for name, value in (("worker_version", worker_version), ("worker_run", worker_run)):
            if value is not None:
                filters[name] = check.worker_filter(value, name)
        if self.cache is not None:
            return _cached_transcriptions(self.cache, element, filters)
        return Results(
            self.paginate("ListTranscriptions", id=check.element_id(element), **filters), Transcription
        )


def _cached_transcriptions(db: Cache, element: Element | CachedElement, filters: Mapping[str, Any]) -> Any:
    """The cache's answer to ``list_transcriptions``: the element's rows, or its whole subtree's."""
    root = check.element_id(element)
    elements, transcriptions = db.CachedElement, db.CachedTranscription
    if filters.get("recursive"):
        tree = (
            elements.select(elements.id, elements.type)
            .where(uuid_matches(elements.id, root))
            .cte("tree", recursive=True, columns=("id", "type"))
        )
        children = elements.alias()
        tree = tree.union_all(
            children.select(children.id, children.type).join(tree, on=(children.parent_id == tree.c.id))
        )
        query = transcriptions.select().join(tree, on=(transcriptions.element == tree.c.id)).with_cte(tree)
        if filters.get("element_type"):
            query = query.where(tree.c.type == filters["element_type"])
    else:
        query = transcriptions.select().where(uuid_matches(transcriptions.element, root))
        if filters.get("element_type"):
            query = query.join(elements).where(elements.type == filters["element_type"])
    return cached_by_worker(query, transcriptions, filters)
