"""ML classes and classifications: ListCorpusMLClasses, CreateMLClass, CreateClassification(s).

A worker run may set a class on an element once: a second time is the 400 Arkindex gives
("The fields element, worker_run, ml_class must make a unique set."), which the helpers
turn into a warning. Listed elements carry their classifications with ``with_classes``.
"""

from __future__ import annotations

from typing import Any

from peewee import SQL, BooleanField, CharField, FloatField, ForeignKeyField

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
from arkworker.sandbox.handlers.elements import LIST_EXTRAS
from arkworker.sandbox.handlers.process import made_by, worker_condition, worker_run_brief
from arkworker.sandbox.store import BaseModel, UUIDKey, new_id, now, register
from arkworker.sandbox.tables import Corpus, Element

UNIQUE_DETAIL = "The fields element, worker_run, ml_class must make a unique set."


@register
class MLClass(BaseModel):
    id = UUIDKey()
    corpus = ForeignKeyField(Corpus)
    corpus_id: str
    name = CharField()

    class Meta:
        table_name = "ml_classes"
        indexes = ((("corpus", "name"), True),)


@register
class Classification(BaseModel):
    worker_output = True
    noun = "classification"

    id = UUIDKey()
    element = ForeignKeyField(Element)
    element_id: str
    ml_class = ForeignKeyField(MLClass)
    ml_class_id: str
    confidence = FloatField()
    high_confidence = BooleanField(default=False)
    state = CharField(default="pending")
    worker_version_id = CharField(null=True)
    worker_run_id = CharField(null=True)
    created = CharField(default=now)

    class Meta:
        table_name = "classifications"


def _serialize(classification: Classification) -> dict[str, Any]:
    return {
        "id": classification.id,
        "ml_class": {"id": classification.ml_class_id, "name": classification.ml_class.name},
        "state": classification.state,
        "confidence": classification.confidence,
        "high_confidence": classification.high_confidence,
        "worker_version": classification.worker_version_id,
        "worker_run": worker_run_brief(classification.worker_run_id),
    }


def element_classes(element_id: str) -> list[dict[str, Any]]:
    """The ``classes`` of a listed element (``with_classes=True``)."""
    query = Classification.select().where(Classification.element == element_id).order_by(SQL("rowid"))
    return [_serialize(classification) for classification in query]


LIST_EXTRAS["with_classes"] = ("classes", element_classes)


def _ml_class(corpus_id: str, class_id: str, attr: list[str | int]) -> MLClass:
    ml_class = MLClass.get_or_none((MLClass.id == class_id) & (MLClass.corpus == corpus_id))
    if ml_class is None:
        raise unknown_pk(class_id, attr)
    return ml_class


def _check_unique(element_id: str, class_id: str, worker_run_id: str | None) -> None:
    query = Classification.select().where(
        Classification.element == element_id,
        Classification.ml_class == class_id,
        worker_condition(Classification.worker_run_id, worker_run_id),
    )
    if query.exists():
        raise ApiError(400, "validation_error", [error_entry(UNIQUE_DETAIL, "unique")])


@handles("ListCorpusMLClasses")
def list_corpus_ml_classes(call: Call) -> Listing:
    corpus = lookup(Corpus, call.path["id"])
    classes = MLClass.select().where(MLClass.corpus == corpus.id).order_by(MLClass.name)
    return Listing(list(classes), lambda c: {"id": c.id, "name": c.name})


@handles("CreateMLClass")
def create_ml_class(call: Call) -> Reply:
    corpus = lookup(Corpus, call.path["id"])
    data = validate(call.body, {"name": Rule("str")})
    if MLClass.select().where((MLClass.corpus == corpus.id) & (MLClass.name == data["name"])).exists():
        raise invalid("A class with this name already exists in this corpus.", ["name"], "unique")
    created = MLClass.create(id=new_id(), corpus=corpus.id, name=data["name"])
    return Reply({"id": created.id, "name": created.name}, status=201)


@handles("CreateClassification")
def create_classification(call: Call) -> Reply:
    data = validate(
        call.body,
        {
            "element": Rule("uuid"),
            "ml_class": Rule("uuid"),
            "worker_run_id": Rule("uuid", required=False, null=True),
            "confidence": Rule("float", minimum=0, maximum=1),
            "high_confidence": Rule("bool", required=False, default=False),
        },
    )
    element = lookup(Element, data["element"], ["element"])
    _ml_class(element.corpus_id, data["ml_class"], ["ml_class"])
    provenance = made_by(data["worker_run_id"])
    _check_unique(element.id, data["ml_class"], data["worker_run_id"])
    created = Classification.create(
        id=new_id(),
        element=element.id,
        ml_class=data["ml_class"],
        confidence=data["confidence"],
        high_confidence=data["high_confidence"],
        **provenance,
    )
    return Reply({**data, "id": created.id, "state": created.state}, status=201)


@handles("CreateClassifications")
def create_classifications(call: Call) -> Reply:
    data = validate(
        call.body, {"parent": Rule("uuid"), "worker_run_id": Rule("uuid"), "classifications": Rule("list")}
    )
    items = validate_list(
        data["classifications"],
        "classifications",
        {
            "ml_class": Rule("uuid"),
            "confidence": Rule("float", minimum=0, maximum=1),
            "high_confidence": Rule("bool", required=False, default=False),
        },
    )
    parent = lookup(Element, data["parent"], ["parent"])
    seen: set[str] = set()
    for index, item in enumerate(items):
        _ml_class(parent.corpus_id, item["ml_class"], ["classifications", index, "ml_class"])
        if item["ml_class"] in seen:
            raise invalid("Duplicated ML classes are not allowed.", ["classifications", index, "ml_class"])
        seen.add(item["ml_class"])
        _check_unique(parent.id, item["ml_class"], data["worker_run_id"])
    provenance = made_by(data["worker_run_id"])
    created = []
    for item in items:
        row = Classification.create(id=new_id(), element=parent.id, **provenance, **item)
        created.append({**item, "id": row.id, "state": row.state})
    return Reply(
        {"parent": parent.id, "worker_run_id": data["worker_run_id"], "classifications": created}, status=201
    )
