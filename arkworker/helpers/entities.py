"""Entities: entity types, entities, their places in transcriptions, and the corpus's listings."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from arkworker.errors import MissingEntityType
from arkworker.helpers import validation as check
from arkworker.helpers.base import (
    DEFAULT_BATCH_SIZE,
    HelperMixin,
    Listing,
    Results,
    batches,
    logger,
    worker_run_of,
)
from arkworker.models import ApiModel, Element, Transcription
from arkworker.storage.cache import CachedTranscription


def _transcription_id(value: Any) -> str:
    if isinstance(value, CachedTranscription):
        return str(value.id)
    return str(check.transcription(value)["id"])


class EntityMixin(HelperMixin):
    """Entity types and entities of the corpus, and entities in transcriptions."""

    @property
    def entity_types(self) -> dict[str, str]:
        """The corpus's entity types loaded so far, ``{name: id}``."""
        return self.__dict__.setdefault("_entity_types", {})

    @entity_types.setter
    def entity_types(self, value: dict[str, str]) -> None:
        self.__dict__["_entity_types"] = dict(value)

    @property
    def entities(self) -> dict[str, ApiModel]:
        """The corpus entities of the last :meth:`list_corpus_entities`, ``{id: entity}``."""
        return self.__dict__.setdefault("_entities", {})

    @entities.setter
    def entities(self, value: dict[str, ApiModel]) -> None:
        self.__dict__["_entities"] = dict(value)

    def list_corpus_entity_types(self) -> dict[str, str]:
        """Load every entity type of the corpus into :attr:`entity_types` (and return it)."""
        self.entity_types = {
            item["name"]: item["id"] for item in self.paginate("ListCorpusEntityTypes", id=self.corpus_id)
        }
        logger.info("Loaded %d entity types in corpus (%s)", len(self.entity_types), self.corpus_id)
        return self.entity_types

    def check_required_entity_types(self, entity_types: list[str], create_missing: bool = True) -> None:
        """Check that the corpus has these entity types; create the missing ones unless told not to.

        Raises :class:`MissingEntityType` for a missing type when ``create_missing`` is False.
        In read-only mode, missing types are only reported.
        """
        names = [
            check.text(name, "entity type") for name in check.non_empty_list(entity_types, "entity_types")
        ]
        check.boolean(create_missing, "create_missing")
        if not self.entity_types:
            self.list_corpus_entity_types()
        for name in names:
            if name in self.entity_types:
                continue
            if not create_missing:
                raise MissingEntityType(
                    f"Entity type `{name}` was not in the corpus: create it, or call "
                    "check_required_entity_types(..., create_missing=True)."
                )
            if self._read_only_skip(f"entity type `{name}`"):
                continue
            created = self.request("CreateEntityType", body={"name": name, "corpus": self.corpus_id})
            self.entity_types[name] = created["id"]
            logger.info("Created a new entity type with name `%s`", name)

    def create_entity(
        self,
        name: str,
        type: str,
        metas: dict[str, Any] | None = None,
        validated: bool | None = None,
    ) -> str | None:
        """Create an entity of the corpus; its id, None in read-only mode."""
        check.text(name, "name")
        check.text(type, "type")
        if metas and not isinstance(metas, dict):
            raise check.fail(f"metas must be a dict, got {metas!r}")
        check.boolean(validated, "validated", optional=True)
        if self._read_only_skip("entity"):
            return None
        if not self.entity_types:
            self.list_corpus_entity_types()
        if type not in self.entity_types:
            raise check.fail(
                f"Entity type `{type}` not found in the corpus: call check_required_entity_types([{type!r}]) first."
            )
        body = {
            "name": name,
            "type_id": self.entity_types[type],
            "metas": metas or {},
            "validated": validated,
            "corpus": self.corpus_id,
            "worker_run_id": self.worker_run_id,
        }
        with self._write_step():
            created = self.request("CreateEntity", body=body, landed=partial(self._created_entity, body))
            self._cache_write(
                "entity",
                lambda db: db.CachedEntity.create(
                    id=created["id"],
                    type=type,
                    name=name,
                    validated=bool(validated),
                    metas=body["metas"],
                    worker_run_id=self.worker_run_id,
                ),
            )
        return created["id"]

    def _created_entity(self, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """The entity of a lost CreateEntity answer: this run's, same name, type, metas and validation."""
        return next(
            (
                entity
                for entity in self.paginate("ListCorpusEntities", id=body["corpus"], name=body["name"])
                if entity["name"] == body["name"]
                and entity["type"]["id"] == body["type_id"]
                and (entity.get("metas") or {}) == body["metas"]
                and bool(entity.get("validated")) == bool(body["validated"])
                and worker_run_of(entity) == self.worker_run_id
            ),
            None,
        )

    def create_transcription_entity(
        self,
        transcription: Transcription,
        entity: str,
        offset: int,
        length: int,
        confidence: float | None = None,
    ) -> dict[str, Any] | None:
        """Place an entity in a transcription's text, from ``offset`` over ``length`` characters."""
        transcription_id = _transcription_id(transcription)
        body: dict[str, Any] = {
            "entity": check.text(entity, "entity"),
            "length": check.integer(length, "length", minimum=1),
            "offset": check.integer(offset, "offset"),
            "worker_run_id": self.worker_run_id,
        }
        if confidence is not None:
            body["confidence"] = check.confidence(confidence)
        if self._read_only_skip("transcription entity"):
            return None
        with self._write_step():
            created = self.request(
                "CreateTranscriptionEntity",
                id=transcription_id,
                body=body,
                landed=partial(self._created_transcription_entity, transcription_id, body),
            )
            self._cache_write(
                "transcription entity",
                lambda db: db.CachedTranscriptionEntity.create(
                    transcription=transcription_id,
                    entity=entity,
                    offset=offset,
                    length=length,
                    worker_run_id=self.worker_run_id,
                    confidence=confidence,
                ),
            )
        return created

    def _created_transcription_entity(
        self, transcription_id: str, body: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The answer of a lost CreateTranscriptionEntity: this run's same entity at the same place."""
        wanted = (body["entity"], body["offset"], body["length"], body.get("confidence"))
        for item in self.paginate(
            "ListTranscriptionEntities", id=transcription_id, worker_run=self.worker_run_id
        ):
            if (item["entity"]["id"], item["offset"], item["length"], item.get("confidence")) == wanted:
                return {
                    "entity": item["entity"]["id"],
                    "offset": item["offset"],
                    "length": item["length"],
                    "confidence": item.get("confidence"),
                    "worker_run_id": self.worker_run_id,
                }
        return None

    def create_transcription_entities(
        self,
        transcription: Transcription,
        entities: list[dict[str, Any]],
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> list[dict[str, str]] | None:
        """Create entities and place them in a transcription (``name``, ``type_id``, ``offset``, ``length``, ``confidence``).

        Sent ``batch_size`` at a time; ``{transcription_entity_id, entity_id}`` per item, in input order.
        """
        transcription_id = _transcription_id(transcription)
        items = []
        seen: set[tuple[Any, ...]] = set()
        for index, item in enumerate(check.non_empty_list(entities, "entities")):
            prefix = check.item_prefix("Entity", index, "entities")
            item = dict(check.mapping(item, prefix))
            check.text(item.get("name"), "name", prefix)
            check.text(item.get("type_id"), "type_id", prefix)
            check.integer(item.get("offset"), "offset", prefix)
            check.integer(item.get("length"), "length", prefix, minimum=1)
            check.confidence(item.get("confidence"), prefix=prefix, optional=True)
            key = (item["offset"], item["length"], item["name"], item["type_id"])
            if key in seen:
                raise check.fail("the same entity (offset, length, name, type_id) is given twice", prefix)
            seen.add(key)
            items.append(item)
        size = check.batch_size(batch_size)
        if self._read_only_skip("transcription entities in bulk"):
            return None
        created: list[dict[str, str]] = []
        for batch in batches(items, size):
            answer = self.request(
                "CreateTranscriptionEntities",
                id=transcription_id,
                body={"worker_run_id": self.worker_run_id, "entities": list(batch)},
            )
            created.extend(answer["entities"])
        return created

    def list_transcription_entities(
        self,
        transcription: Transcription,
        worker_version: str | bool | None = None,
        worker_run: str | bool | None = None,
    ) -> Listing[ApiModel]:
        """The entities placed in a transcription, lazily; worker filters take an id or ``False`` (manual)."""
        filters = {}
        for name, value in (("worker_version", worker_version), ("worker_run", worker_run)):
            if value is not None:
                filters[name] = check.worker_filter(value, name)
        return Results(
            self.paginate("ListTranscriptionEntities", id=_transcription_id(transcription), **filters),
            ApiModel,
        )

    def list_corpus_entities(
        self, name: str | None = None, parent: Element | None = None
    ) -> dict[str, ApiModel]:
        """Load the corpus's entities (whose name contains ``name``, linked to ``parent``) into :attr:`entities`."""
        filters: dict[str, Any] = {}
        if name is not None:
            filters["name"] = check.text(name, "name")
        if parent is not None:
            filters["parent"] = check.element_id(check.element(parent, "parent"))
        self.entities = {
            item["id"]: ApiModel(item)
            for item in self.paginate("ListCorpusEntities", id=self.corpus_id, **filters)
        }
        logger.info("Loaded %d entities in corpus (%s)", len(self.entities), self.corpus_id)
        return self.entities
