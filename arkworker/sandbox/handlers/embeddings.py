"""Embeddings (``current`` API level): CreateEmbedding and ListEmbeddings.

An embedding is a vector of numbers a worker run computed for an element (to search
elements by similarity). It is a worker's output: CreateEmbedding needs the worker run, and
the value is a non-empty list of finite numbers.
"""

from __future__ import annotations

import math
from typing import Any

from peewee import SQL, CharField, ForeignKeyField

from arkworker.sandbox.handlers.base import (
    Call,
    Listing,
    Reply,
    Rule,
    ValidationFailed,
    error_entry,
    handles,
    invalid,
    lookup,
    validate,
)
from arkworker.sandbox.handlers.process import made_by, worker_run_brief
from arkworker.sandbox.report import ReportTable, element_label, register_table
from arkworker.sandbox.store import BaseModel, JSONField, UUIDKey, new_id, now, register
from arkworker.sandbox.tables import Element


@register
class Embedding(BaseModel):
    worker_output = True
    noun = "embedding"

    id = UUIDKey()
    element = ForeignKeyField(Element)
    element_id: str
    value = JSONField()
    worker_version_id = CharField(null=True)
    worker_run_id = CharField(null=True)
    created = CharField(default=now)

    class Meta:
        table_name = "embeddings"


register_table(
    ReportTable(
        "embeddings",
        "Embeddings",
        (
            ("Element", lambda row, elements: element_label(row["element_id"], elements)),
            ("Dimension", lambda row, elements: str(len(row["value"]))),
        ),
    )
)


def serialize_embedding(embedding: Embedding) -> dict[str, Any]:
    return {
        "id": embedding.id,
        "element_id": embedding.element_id,
        "value": embedding.value,
        "worker_version_id": embedding.worker_version_id,
        "worker_run": worker_run_brief(embedding.worker_run_id),
        "created": embedding.created,
    }


def _vector(value: list[Any]) -> list[float]:
    """A non-empty list of finite numbers, as floats; one 400 naming every bad point."""
    if not value:
        raise invalid("This list may not be empty.", ["value"], "empty")
    errors = [
        error_entry("A valid number is required.", "invalid", ["value", index])
        for index, point in enumerate(value)
        if isinstance(point, bool) or not isinstance(point, int | float) or not math.isfinite(point)
    ]
    if errors:
        raise ValidationFailed(errors)
    return [float(point) for point in value]


@handles("CreateEmbedding")
def create_embedding(call: Call) -> Reply:
    element = lookup(Element, call.path["id"])
    data = validate(call.body, {"worker_run_id": Rule("uuid"), "value": Rule("list")})
    embedding = Embedding.create(
        id=new_id(), element=element.id, value=_vector(data["value"]), **made_by(data["worker_run_id"])
    )
    return Reply(serialize_embedding(embedding), status=201)


@handles("ListEmbeddings")
def list_embeddings(call: Call) -> Listing:
    element = lookup(Element, call.path["id"])
    rows = Embedding.select().where(Embedding.element == element.id).order_by(SQL("rowid"))
    return Listing(list(rows), serialize_embedding)
