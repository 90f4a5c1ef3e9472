"""Element metadata: CreateMetaData, CreateMetaDataBulk and ListElementMetaData (a plain list).

Values are stored as text, as Arkindex does; ``numeric`` values must read as numbers and
``url`` values must be http(s) URLs. Listed elements carry their metadata with ``with_metadata``.
The API levels differ: a legacy instance links a metadata to an entity (``entity_id``) and
has the ``html`` type; today's has no entities (``entity_id`` is no field: ignored) and
``markdown`` instead of ``html``.
"""

from __future__ import annotations

import math
from typing import Any

from peewee import SQL, CharField, ForeignKeyField, TextField

from arkworker.sandbox.handlers.base import (
    Call,
    Reply,
    Rule,
    handles,
    invalid,
    lookup,
    unknown_pk,
    validate,
    validate_list,
)
from arkworker.sandbox.handlers.elements import LIST_EXTRAS, parent_ids
from arkworker.sandbox.handlers.entities import Entity
from arkworker.sandbox.handlers.process import made_by, worker_run_brief
from arkworker.sandbox.report import ReportTable, element_label, register_table, shorten
from arkworker.sandbox.store import BaseModel, UUIDKey, new_id, now, register
from arkworker.sandbox.tables import Element

#: The metadata types of each API level (today's Arkindex replaced ``html`` with ``markdown``).
LEVEL_META_TYPES = {
    "legacy": ("text", "html", "date", "location", "reference", "numeric", "url"),
    "current": ("text", "markdown", "date", "location", "reference", "numeric", "url"),
}
#: Every type a corpus file may give its metadata.
META_TYPES = ("text", "html", "markdown", "date", "location", "reference", "numeric", "url")


@register
class MetaData(BaseModel):
    worker_output = True
    noun = "metadata"

    id = UUIDKey()
    element = ForeignKeyField(Element)
    element_id: str
    type = CharField()
    name = CharField()
    value = TextField()
    entity = ForeignKeyField(Entity, null=True)
    entity_id: str | None
    worker_version_id = CharField(null=True)
    worker_run_id = CharField(null=True)
    created = CharField(default=now)

    class Meta:
        table_name = "metadata"


def serialize_metadata(metadata: MetaData) -> dict[str, Any]:
    return {
        "id": metadata.id,
        "type": metadata.type,
        "name": metadata.name,
        "value": metadata.value,
        "dates": [],
        "entity_id": metadata.entity_id,
        "worker_version": metadata.worker_version_id,
        "worker_run": worker_run_brief(metadata.worker_run_id),
    }


def element_metadata(element_id: str) -> list[dict[str, Any]]:
    """The ``metadata`` of a listed element (``with_metadata=True``)."""
    query = MetaData.select().where(MetaData.element == element_id).order_by(SQL("rowid"))
    return [serialize_metadata(metadata) for metadata in query]


LIST_EXTRAS["with_metadata"] = ("metadata", element_metadata)

register_table(
    ReportTable(
        "metadata",
        "Metadata",
        (
            ("Element", lambda row, elements: element_label(row["element_id"], elements)),
            ("Type", lambda row, elements: row["type"]),
            ("Name", lambda row, elements: shorten(row["name"], 30)),
            ("Value", lambda row, elements: shorten(row["value"])),
        ),
    )
)


def _item_rules(api_level: str) -> dict[str, Rule]:
    """The fields of one metadata at ``api_level`` (its value is checked apart, by type)."""
    rules = {"type": Rule("str", choices=LEVEL_META_TYPES[api_level]), "name": Rule("str")}
    if api_level == "legacy":
        rules["entity_id"] = Rule("uuid", required=False, null=True)
    return rules


def _clean_value(item: dict[str, Any], raw: Any, attr: list[str | int]) -> str:
    """The value as stored text; 400 for a value its type cannot hold."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise invalid("Not a valid string.", [*attr, "value"])
    value = str(raw)
    if not value.strip():
        raise invalid("This field may not be blank.", [*attr, "value"], "blank")
    if item["type"] == "numeric":
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise invalid(f"{value!r} is not a valid number.", [*attr, "value"])
    if item["type"] == "url" and not value.startswith(("http://", "https://")):
        raise invalid("Enter a valid URL.", [*attr, "value"])
    return value


def _check_entity(entity_id: str | None, element: Element, attr: list[str | int]) -> None:
    if entity_id is None:
        return
    entity = Entity.get_or_none(Entity.id == entity_id)
    if entity is None or entity.corpus_id != element.corpus_id:
        raise unknown_pk(entity_id, [*attr, "entity_id"])


@handles("CreateMetaData")
def create_metadata(call: Call) -> Reply:
    element = lookup(Element, call.path["id"])
    data = validate(
        call.body,
        {
            **_item_rules(call.api_level),
            "value": Rule("str", blank=True),
            "worker_run_id": Rule("uuid", required=False, null=True),
        },
    )
    data["value"] = _clean_value(data, data["value"], [])
    _check_entity(data.get("entity_id"), element, [])
    metadata = MetaData.create(
        id=new_id(),
        element=element.id,
        type=data["type"],
        name=data["name"],
        value=data["value"],
        entity=data.get("entity_id"),
        **made_by(data["worker_run_id"]),
    )
    return Reply(serialize_metadata(metadata), status=201)


@handles("CreateMetaDataBulk")
def create_metadata_bulk(call: Call) -> Reply:
    element = lookup(Element, call.path["id"])
    data = validate(call.body, {"worker_run_id": Rule("uuid"), "metadata_list": Rule("list")})
    items = validate_list(data["metadata_list"], "metadata_list", _item_rules(call.api_level))
    for index, item in enumerate(items):
        if "value" not in data["metadata_list"][index]:
            raise invalid("This field is required.", ["metadata_list", index, "value"], "required")
        item["value"] = _clean_value(
            item, data["metadata_list"][index].get("value"), ["metadata_list", index]
        )
        _check_entity(item.get("entity_id"), element, ["metadata_list", index])
    provenance = made_by(data["worker_run_id"])
    created = []
    for item in items:
        metadata = MetaData.create(
            id=new_id(),
            element=element.id,
            type=item["type"],
            name=item["name"],
            value=item["value"],
            entity=item.get("entity_id"),
            **provenance,
        )
        created.append({**item, "id": metadata.id})
    return Reply({"worker_run_id": data["worker_run_id"], "metadata_list": created}, status=201)


@handles("ListElementMetaData")
def list_element_metadata(call: Call) -> list[dict[str, Any]]:
    element = lookup(Element, call.path["id"])
    element_ids = [element.id]
    if call.query.get("load_parents"):
        element_ids += parent_ids(element.id, recursive=True)
    metadata = []
    for element_id in element_ids:
        metadata += element_metadata(element_id)
    return metadata
