"""Entities: types, entities, their places in transcriptions, and the corpus's listings.

Operations: ListCorpusEntityTypes, CreateEntityType, CreateEntity, CreateTranscriptionEntity,
CreateTranscriptionEntities, ListTranscriptionEntities, ListCorpusEntities. As in Arkindex, an
entity's type belongs to its corpus and a transcription entity lies inside the text.

The two API levels have two entity models. ``legacy`` (arkindex-base-worker 0.3.7's time):
entities are objects of the corpus (name, type, metas), placed in transcriptions.
``current`` (0.5 and later): there are no entity objects, a transcription entity is a span
of the text marked with an entity type (``type_id``); CreateEntity and ListCorpusEntities
are gone. A transcription entity row always has its type (the entity's, at the legacy level).
"""

from __future__ import annotations

from typing import Any

from peewee import SQL, BooleanField, CharField, FloatField, ForeignKeyField, IntegerField

from arkworker.sandbox.handlers.base import (
    ApiError,
    Call,
    Listing,
    Reply,
    Rule,
    error_entry,
    handles,
    invalid,
    lookup,
    unknown_pk,
    validate,
    validate_list,
)
from arkworker.sandbox.handlers.elements import child_ids
from arkworker.sandbox.handlers.process import made_by, worker_condition, worker_filters, worker_run_brief
from arkworker.sandbox.report import ReportTable, register_table, shorten
from arkworker.sandbox.store import BaseModel, JSONField, UUIDKey, new_id, now, register
from arkworker.sandbox.tables import Corpus, Element, Transcription


@register
class EntityType(BaseModel):
    id = UUIDKey()
    corpus = ForeignKeyField(Corpus)
    corpus_id: str
    name = CharField()
    color = CharField(default="ff0000")

    class Meta:
        table_name = "entity_types"
        indexes = ((("corpus", "name"), True),)


@register
class Entity(BaseModel):
    worker_output = True
    noun = "entity"

    id = UUIDKey()
    corpus = ForeignKeyField(Corpus)
    corpus_id: str
    type = ForeignKeyField(EntityType)
    type_id: str
    name = CharField()
    metas = JSONField(null=True)
    validated = BooleanField(default=False)
    worker_version_id = CharField(null=True)
    worker_run_id = CharField(null=True)
    created = CharField(default=now)

    class Meta:
        table_name = "entities"


@register
class TranscriptionEntity(BaseModel):
    worker_output = True
    noun = "transcription entity"

    id = UUIDKey()
    transcription = ForeignKeyField(Transcription)
    transcription_id: str
    entity = ForeignKeyField(Entity, null=True)
    entity_id: str | None
    type = ForeignKeyField(EntityType)
    type_id: str
    offset = IntegerField()
    length = IntegerField()
    confidence = FloatField(null=True)
    worker_version_id = CharField(null=True)
    worker_run_id = CharField(null=True)

    class Meta:
        table_name = "transcription_entities"


register_table(
    ReportTable(
        "entities",
        "Entities",
        (
            ("Name", lambda row, elements: shorten(row["name"])),
            ("Validated", lambda row, elements: "yes" if row["validated"] else "no"),
        ),
    )
)


def _type_brief(entity_type: EntityType) -> dict[str, Any]:
    return {"id": entity_type.id, "name": entity_type.name, "color": entity_type.color}


def serialize_entity(entity: Entity) -> dict[str, Any]:
    return {
        "id": entity.id,
        "name": entity.name,
        "type": _type_brief(entity.type),
        "metas": entity.metas,
        "validated": entity.validated,
        "corpus": entity.corpus_id,
        "worker_version_id": entity.worker_version_id,
        "worker_run": worker_run_brief(entity.worker_run_id),
    }


def _entity_type(corpus_id: str, type_id: str, attr: list[str | int]) -> EntityType:
    entity_type = EntityType.get_or_none((EntityType.id == type_id) & (EntityType.corpus == corpus_id))
    if entity_type is None:
        raise unknown_pk(type_id, attr)
    return entity_type


def _check_span(transcription: Transcription, offset: int, length: int, attr: list[str | int]) -> None:
    if offset + length > len(transcription.text):
        raise invalid(
            f"offset + length ({offset + length}) goes past the end of the text ({len(transcription.text)}).",
            [*attr, "length"],
        )


_SPAN = {
    "offset": Rule("int", minimum=0),
    "length": Rule("int", minimum=1),
    "confidence": Rule("float", required=False, null=True, minimum=0, maximum=1),
}


@handles("ListCorpusEntityTypes")
def list_corpus_entity_types(call: Call) -> Listing:
    corpus = lookup(Corpus, call.path["id"])
    types = EntityType.select().where(EntityType.corpus == corpus.id).order_by(EntityType.name)
    return Listing(list(types), _type_brief)


@handles("CreateEntityType")
def create_entity_type(call: Call) -> Reply:
    data = validate(
        call.body,
        {"name": Rule("str"), "corpus": Rule("uuid"), "color": Rule("str", required=False, default="ff0000")},
    )
    corpus = lookup(Corpus, data["corpus"], ["corpus"])
    if (
        EntityType.select()
        .where((EntityType.corpus == corpus.id) & (EntityType.name == data["name"]))
        .exists()
    ):
        raise invalid(f"Entity Type {data['name']} already exists in this corpus.", ["name"], "unique")
    created = EntityType.create(id=new_id(), corpus=corpus.id, name=data["name"], color=data["color"])
    return Reply({**_type_brief(created), "corpus": corpus.id}, status=201)


@handles("CreateEntity")
def create_entity(call: Call) -> Reply:
    data = validate(
        call.body,
        {
            "name": Rule("str"),
            "type_id": Rule("uuid"),
            "metas": Rule("dict", required=False, null=True),
            "validated": Rule("bool", required=False, null=True),
            "corpus": Rule("uuid"),
            "worker_run_id": Rule("uuid", required=False, null=True),
        },
    )
    corpus = lookup(Corpus, data["corpus"], ["corpus"])
    entity_type = _entity_type(corpus.id, data["type_id"], ["type_id"])
    entity = Entity.create(
        id=new_id(),
        corpus=corpus.id,
        type=entity_type.id,
        name=data["name"],
        metas=data["metas"],
        validated=bool(data["validated"]),
        **made_by(data["worker_run_id"]),
    )
    return Reply(serialize_entity(entity), status=201)


def _duplicate_span(
    transcription: Transcription, what: Any, offset: int, length: int, worker_run_id: str | None
) -> bool:
    """Whether the worker run already placed ``what`` (an entity, or a type at the current level) there."""
    column = TranscriptionEntity.entity if isinstance(what, Entity) else TranscriptionEntity.type
    return (
        TranscriptionEntity.select()
        .where(
            (TranscriptionEntity.transcription == transcription.id)
            & (column == what.id)
            & (TranscriptionEntity.offset == offset)
            & (TranscriptionEntity.length == length)
            & worker_condition(TranscriptionEntity.worker_run_id, worker_run_id)
        )
        .exists()
    )


def _unique_set_error(first: str) -> ApiError:
    detail = f"The fields transcription, {first}, offset, length, worker_run must make a unique set."
    return ApiError(400, "validation_error", [error_entry(detail, "unique")])


def serialize_span(link: TranscriptionEntity) -> dict[str, Any]:
    """A transcription entity of the current level: a span of the text and its entity type."""
    return {
        "id": link.id,
        "type": _type_brief(link.type),
        "offset": link.offset,
        "length": link.length,
        "confidence": link.confidence,
        "worker_version_id": link.worker_version_id,
        "worker_run": worker_run_brief(link.worker_run_id),
    }


@handles("CreateTranscriptionEntity")
def create_transcription_entity(call: Call) -> Reply:
    transcription = lookup(Transcription, call.path["id"])
    if call.api_level != "legacy":
        return _create_span(call, transcription)
    data = validate(
        call.body, {"entity": Rule("uuid"), "worker_run_id": Rule("uuid", required=False, null=True), **_SPAN}
    )
    entity = Entity.get_or_none(Entity.id == data["entity"])
    if entity is None or entity.corpus_id != transcription.element.corpus_id:
        raise unknown_pk(data["entity"], ["entity"])
    _check_span(transcription, data["offset"], data["length"], [])
    if _duplicate_span(transcription, entity, data["offset"], data["length"], data["worker_run_id"]):
        raise _unique_set_error("entity")
    TranscriptionEntity.create(
        id=new_id(),
        transcription=transcription.id,
        entity=entity.id,
        type=entity.type_id,
        offset=data["offset"],
        length=data["length"],
        confidence=data["confidence"],
        **made_by(data["worker_run_id"]),
    )
    return Reply(data, status=201)


def _create_span(call: Call, transcription: Transcription) -> Reply:
    """CreateTranscriptionEntity at the current level: ``type_id`` instead of an entity."""
    data = validate(
        call.body,
        {"type_id": Rule("uuid"), "worker_run_id": Rule("uuid", required=False, null=True), **_SPAN},
    )
    entity_type = _entity_type(transcription.element.corpus_id, data["type_id"], ["type_id"])
    _check_span(transcription, data["offset"], data["length"], [])
    if _duplicate_span(transcription, entity_type, data["offset"], data["length"], data["worker_run_id"]):
        raise _unique_set_error("type")
    link = TranscriptionEntity.create(
        id=new_id(),
        transcription=transcription.id,
        type=entity_type.id,
        offset=data["offset"],
        length=data["length"],
        confidence=data["confidence"],
        **made_by(data["worker_run_id"]),
    )
    return Reply(serialize_span(link), status=201)


@handles("CreateTranscriptionEntities")
def create_transcription_entities(call: Call) -> Reply:
    transcription = lookup(Transcription, call.path["id"])
    if call.api_level != "legacy":
        return _create_spans(call, transcription)
    data = validate(call.body, {"worker_run_id": Rule("uuid"), "entities": Rule("list")})
    items = validate_list(
        data["entities"], "entities", {"name": Rule("str"), "type_id": Rule("uuid"), **_SPAN}
    )
    corpus_id = transcription.element.corpus_id
    seen: set[tuple[Any, ...]] = set()
    for index, item in enumerate(items):
        _entity_type(corpus_id, item["type_id"], ["entities", index, "type_id"])
        _check_span(transcription, item["offset"], item["length"], ["entities", index])
        key = (item["offset"], item["length"], item["name"], item["type_id"])
        if key in seen:
            raise invalid("Duplicated entities are not allowed.", ["entities", index])
        seen.add(key)
    provenance = made_by(data["worker_run_id"])
    answer = []
    for item in items:
        entity = Entity.create(
            id=new_id(),
            corpus=corpus_id,
            type=item["type_id"],
            name=item["name"],
            metas=None,
            **provenance,
        )
        link = TranscriptionEntity.create(
            id=new_id(),
            transcription=transcription.id,
            entity=entity.id,
            type=item["type_id"],
            offset=item["offset"],
            length=item["length"],
            confidence=item["confidence"],
            **provenance,
        )
        answer.append({"transcription_entity_id": link.id, "entity_id": entity.id})
    return Reply({"entities": answer}, status=201)


def _create_spans(call: Call, transcription: Transcription) -> Reply:
    """CreateTranscriptionEntities at the current level: ``transcription_entities`` of types, no names."""
    data = validate(call.body, {"worker_run_id": Rule("uuid"), "transcription_entities": Rule("list")})
    items = validate_list(
        data["transcription_entities"], "transcription_entities", {"type_id": Rule("uuid"), **_SPAN}
    )
    corpus_id = transcription.element.corpus_id
    seen: set[tuple[Any, ...]] = set()
    for index, item in enumerate(items):
        attr: list[str | int] = ["transcription_entities", index]
        entity_type = _entity_type(corpus_id, item["type_id"], [*attr, "type_id"])
        _check_span(transcription, item["offset"], item["length"], attr)
        key = (item["offset"], item["length"], item["type_id"])
        if key in seen or _duplicate_span(
            transcription, entity_type, item["offset"], item["length"], data["worker_run_id"]
        ):
            raise invalid("Duplicated transcription entities are not allowed.", attr, "unique")
        seen.add(key)
    provenance = made_by(data["worker_run_id"])
    links = [
        TranscriptionEntity.create(
            id=new_id(),
            transcription=transcription.id,
            type=item["type_id"],
            offset=item["offset"],
            length=item["length"],
            confidence=item["confidence"],
            **provenance,
        )
        for item in items
    ]
    return Reply({"transcription_entities": [serialize_span(link) for link in links]}, status=201)


@handles("ListTranscriptionEntities")
def list_transcription_entities(call: Call) -> Listing:
    transcription = lookup(Transcription, call.path["id"])
    legacy = call.api_level == "legacy"
    query = TranscriptionEntity.select().where(
        TranscriptionEntity.transcription == transcription.id,
        *worker_filters(TranscriptionEntity, call.query),
        *([TranscriptionEntity.entity.is_null(False)] if legacy else []),  # spans of a current state file
    )

    def serialize(link: TranscriptionEntity) -> dict[str, Any]:
        if not legacy:
            return serialize_span(link)
        assert link.entity is not None  # the query keeps the placed entities only
        return {
            "entity": serialize_entity(link.entity),
            "offset": link.offset,
            "length": link.length,
            "confidence": link.confidence,
            "worker_version_id": link.worker_version_id,
            "worker_run": worker_run_brief(link.worker_run_id),
        }

    return Listing(list(query.order_by(TranscriptionEntity.offset, SQL("rowid"))), serialize)


@handles("ListCorpusEntities")
def list_corpus_entities(call: Call) -> Listing:
    corpus = lookup(Corpus, call.path["id"])
    entities = list(Entity.select().where(Entity.corpus == corpus.id))
    if call.query.get("name"):
        needle = call.query["name"].casefold()
        entities = [entity for entity in entities if needle in entity.name.casefold()]
    if "parent" in call.query:
        parent = lookup(Element, call.query["parent"])
        element_ids = [parent.id, *child_ids(parent.id, recursive=True)]
        linked = {
            link.entity_id
            for link in TranscriptionEntity.select(TranscriptionEntity.entity)
            .join(Transcription)
            .where(Transcription.element.in_(element_ids))
        }
        entities = [entity for entity in entities if entity.id in linked]
    return Listing(entities, serialize_entity)
