"""Entities: entity types, entities, their places in transcriptions, and the corpus's listings.

Arkindex has had two entity models, and the helpers follow the instance's (``ctx.api_level``).
On a legacy instance (arkindex-base-worker 0.3.7's time), an entity is an object of the corpus
(``create_entity``), placed in a transcription's text. Today's Arkindex (0.5 and later) has no
entity objects: a transcription entity is a span of the text marked with an entity type
(``create_transcription_entity(transcription, type_id, offset, length)``), and
``create_entity`` and ``list_corpus_entities`` are gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from arkindex.exceptions import ErrorResponse

from arkworker.enums import ApiLevel
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

#: The name of the lock under which a run loads and creates entity types.
_ENTITY_TYPES = "entity types"

#: What replaced the operations of the legacy entity model, for the error of a helper that needs one.
_NO_ENTITY_OBJECTS = (
    "entities are spans of a transcription marked with an entity type, "
    "ctx.create_transcription_entity(transcription, type_id, offset, length)"
)


def _transcription_id(value: Any) -> str:
    if isinstance(value, CachedTranscription):
        return str(value.id)
    return str(check.transcription(value)["id"])


class EntityMixin(HelperMixin):
    """Entity types and entities of the corpus, and entities in transcriptions."""

    @property
    def entity_types(self) -> dict[str, str]:
        """The corpus's entity types loaded so far, ``{name: id}`` (replaced, never changed, when one is added)."""
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
        with self._run_locks(_ENTITY_TYPES):
            self.entity_types = {
                item["name"]: item["id"] for item in self.paginate("ListCorpusEntityTypes", id=self.corpus_id)
            }
            loaded = self.entity_types
        logger.info("Loaded %d entity types in corpus (%s)", len(loaded), self.corpus_id)
        return loaded

    def create_entity_type(self, name: str) -> None:
        """Create an entity type in the corpus and add it to :attr:`entity_types`.

        If Arkindex refuses it (400: another process created it meanwhile), the corpus's
        entity types are reloaded and the type picked up; :class:`MissingEntityType` if still absent.
        """
        name = check.text(name, "name")
        if self._read_only_skip(f"entity type `{name}`"):
            return
        with self._run_locks(_ENTITY_TYPES):
            try:
                created = self.request(
                    "CreateEntityType",
                    body={"name": name, "corpus": self.corpus_id},
                    landed=partial(self._corpus_entity_type, name),
                )
            except ErrorResponse as error:
                if error.status_code != 400:
                    raise
                logger.warning(
                    "Unable to create the entity type `%s`. Refreshing corpus entity types cache.", name
                )
                if name not in self.list_corpus_entity_types():
                    raise MissingEntityType(
                        f"Missing entity type `{name}` even after refreshing the corpus's entity types: "
                        f"Arkindex refused it ({error.content})"
                    ) from error
                return
            self.entity_types = {**self.entity_types, name: created["id"]}
        logger.info("Created a new entity type with name `%s`.", name)

    def _corpus_entity_type(self, name: str) -> dict[str, Any] | None:
        """The entity type of a lost CreateEntityType answer: the corpus's type with that name (unique)."""
        types = self.paginate("ListCorpusEntityTypes", id=self.corpus_id)
        return next((item for item in types if item["name"] == name), None)

    def check_required_entity_types(self, entity_types: list[str], create_missing: bool = True) -> None:
        """Check that the corpus has these entity types; create the missing ones unless told not to.

        Raises :class:`MissingEntityType` for a missing type when ``create_missing`` is False.
        In read-only mode, missing types are only reported. Threads of a run checking one
        missing type create it once: the first creates it, the others wait and find it.
        """
        names = [
            check.text(name, "the type name", check.item_prefix("Entity type", index, "entity_types"))
            for index, name in enumerate(check.non_empty_list(entity_types, "entity_types"))
        ]
        check.boolean(create_missing, "create_missing")
        known = self.entity_types
        if known and all(name in known for name in names):
            return
        with self._run_locks(_ENTITY_TYPES):
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
                self.create_entity_type(name)

    def create_entity(
        self,
        name: str,
        type: str,
        metas: dict[str, Any] | None = None,
        validated: bool | None = None,
    ) -> str | None:
        """Create an entity of the corpus; its id, None in read-only mode (legacy instances only)."""
        check.text(name, "name")
        check.text(type, "type")
        if metas and not isinstance(metas, dict):
            raise check.fail(f"metas must be a dict, got {metas!r}")
        check.boolean(validated, "validated", optional=True)
        self._require("CreateEntity", "create_entity", replaced_by=_NO_ENTITY_OBJECTS)
        if self._read_only_skip("entity"):
            return None
        if not self.entity_types:
            with self._run_locks(_ENTITY_TYPES):  # loaded by one thread while the others wait
                if not self.entity_types:
                    self.list_corpus_entity_types()
        type_id = self.entity_types.get(type)
        if type_id is None:
            raise check.fail(
                f"Entity type `{type}` not found in the corpus: call check_required_entity_types([{type!r}]) first."
            )
        body = {
            "name": name,
            "type_id": type_id,
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
        type_id: str | None = None,
        offset: int | None = None,
        length: int | None = None,
        confidence: float | None = None,
        *,
        entity: str | None = None,
    ) -> dict[str, Any] | None:
        """Mark ``length`` characters of a transcription's text, from ``offset``; the API's answer.

        Today's Arkindex marks them with an entity type (``type_id``, arkindex-base-worker 0.5
        and later); a legacy one places an entity there (0.3.7's form: the second argument, or
        ``entity=``, is the entity's id). Only the legacy form has a cache row (the cache's
        table holds entities).
        """
        transcription_id = _transcription_id(transcription)
        legacy = self.api_level is ApiLevel.LEGACY
        field, value = self._span_target(type_id, entity, legacy=legacy)
        body: dict[str, Any] = {
            field: value,
            "length": check.integer(length, "length", minimum=1),
            "offset": check.integer(offset, "offset"),
            "worker_run_id": self.worker_run_id,
        }
        if confidence is not None:
            body["confidence"] = check.confidence(confidence)
        if self._read_only_skip("transcription entity"):
            return None
        if not legacy:
            landed = partial(self._created_span, transcription_id, body)
            return self.request("CreateTranscriptionEntity", id=transcription_id, body=body, landed=landed)
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
                    entity=value,
                    offset=offset,
                    length=length,
                    worker_run_id=self.worker_run_id,
                    confidence=confidence,
                ),
            )
        return created

    def _span_target(self, type_id: Any, entity: Any, *, legacy: bool) -> tuple[str, str]:
        """The body field placing a span and its value: ``type_id`` (current), ``entity`` (legacy).

        The second argument is both forms' (0.3.7's entity, today's entity type): only
        ``entity=`` and a known entity type id given to a legacy instance tell them apart.
        """
        if entity is not None and type_id is not None:
            raise check.fail(
                "give the entity type (type_id, today's Arkindex) or the entity (entity=, a legacy "
                "Arkindex), not both"
            )
        if not legacy:
            if entity is not None:
                raise check.fail(
                    f"entity= is arkindex-base-worker 0.3.7's form, but {self.api.url} is today's Arkindex, "
                    "which has no entity objects: mark the span with an entity type, "
                    "create_transcription_entity(transcription, type_id, offset, length)"
                )
            return "type_id", check.text(type_id, "type_id")
        value = check.text(type_id if entity is None else entity, "entity")
        known = {known_id: name for name, known_id in self.entity_types.items()}
        if value in known:
            raise check.fail(
                f"{value} is the id of the entity type `{known[value]}`, but {self.api.url} is a legacy "
                "Arkindex, which places entities (arkindex-base-worker 0.3.7's form): create one with "
                f"ctx.create_entity(name, {known[value]!r}) and give its id"
            )
        return "entity", value

    def _created_span(self, transcription_id: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """The answer of a lost CreateTranscriptionEntity (today's): this run's span of that type, there."""
        wanted = (body["type_id"], body["offset"], body["length"], body.get("confidence"))
        listing = self.paginate(
            "ListTranscriptionEntities", id=transcription_id, worker_run=self.worker_run_id
        )
        return next(
            (
                item
                for item in listing
                if (item["type"]["id"], item["offset"], item["length"], item.get("confidence")) == wanted
            ),
            None,
        )

    def _created_transcription_entity(
        self, transcription_id: str, body: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The answer of a lost CreateTranscriptionEntity (legacy): this run's same entity at the same place."""
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
    ) -> list[dict[str, Any]] | None:
        """Mark spans of a transcription's text in bulk; the created items, in input order.

        Items of today's Arkindex: ``type_id``, ``offset``, ``length``, ``confidence`` (the
        answer: the transcription entities). A legacy instance also creates an entity per
        item: add its ``name`` (the answer: ``{transcription_entity_id, entity_id}`` per item).
        Sent ``batch_size`` at a time.
        """
        transcription_id = _transcription_id(transcription)
        legacy = self.api_level is ApiLevel.LEGACY
        items = []
        seen: set[tuple[Any, ...]] = set()
        for index, item in enumerate(check.non_empty_list(entities, "entities")):
            prefix = check.item_prefix("Entity", index, "entities")
            item = dict(check.mapping(item, prefix))
            if legacy and "name" not in item:
                raise check.fail(
                    f"name is required by {self.api.url}, a legacy Arkindex, which creates an entity "
                    "per item: add the entity's name",
                    prefix,
                )
            if not legacy and "name" in item:
                raise check.fail(
                    f"name is arkindex-base-worker 0.3.7's, but {self.api.url} is today's Arkindex, which "
                    "has no entity names (an item marks a span with an entity type): drop it",
                    prefix,
                )
            names = (check.text(item["name"], "name", prefix),) if legacy else ()
            check.text(item.get("type_id"), "type_id", prefix)
            check.integer(item.get("offset"), "offset", prefix)
            check.integer(item.get("length"), "length", prefix, minimum=1)
            check.confidence(item.get("confidence"), prefix=prefix, optional=True)
            key = (item["offset"], item["length"], *names, item["type_id"])
            if key in seen:
                what = "(offset, length, name, type_id)" if legacy else "(offset, length, type_id)"
                raise check.fail(f"the same entity {what} is given twice", prefix)
            seen.add(key)
            items.append(item)
        size = check.batch_size(batch_size)
        if self._read_only_skip("transcription entities in bulk"):
            return None
        field = "entities" if legacy else "transcription_entities"
        created: list[dict[str, Any]] = []
        for batch in batches(items, size):
            answer = self.request(
                "CreateTranscriptionEntities",
                id=transcription_id,
                body={"worker_run_id": self.worker_run_id, field: list(batch)},
            )
            created.extend(answer[field])
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
        """Load the corpus's entities (whose name contains ``name``, linked to ``parent``) into :attr:`entities`.

        Legacy instances only: today's Arkindex has no entity objects.
        """
        filters: dict[str, Any] = {}
        if name is not None:
            filters["name"] = check.text(name, "name")
        if parent is not None:
            filters["parent"] = check.element_id(check.element(parent, "parent"))
        self._require("ListCorpusEntities", "list_corpus_entities", replaced_by=_NO_ENTITY_OBJECTS)
        self.entities = {
            item["id"]: ApiModel(item)
            for item in self.paginate("ListCorpusEntities", id=self.corpus_id, **filters)
        }
        logger.info("Loaded %d entities in corpus (%s)", len(self.entities), self.corpus_id)
        return self.entities
