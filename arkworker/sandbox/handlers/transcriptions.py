"""Transcriptions: CreateTranscription(s), CreateElementTranscriptions and ListTranscriptions.

A transcription created by a worker run stores the run and its worker version, so that
``Sandbox.created()`` and the ``worker_run``/``worker_version`` filters find it.
"""

from __future__ import annotations

import json
from typing import Any

from peewee import SQL

from arkworker.sandbox.handlers.base import (
    Call,
    Listing,
    Reply,
    Rule,
    handles,
    invalid,
    lookup,
    unknown_pk,
    validate,
    validate_list,
)
from arkworker.sandbox.handlers.elements import (
    add_element,
    check_type,
    child_ids,
    clean_polygon,
    element_brief,
    fetch_elements,
)
from arkworker.sandbox.handlers.process import made_by, worker_filters, worker_run_brief
from arkworker.sandbox.report import ReportTable, confidence_cell, element_label, register_table, shorten
from arkworker.sandbox.store import new_id
from arkworker.sandbox.tables import Element, Transcription

ORIENTATIONS = ("horizontal-lr", "horizontal-rl", "vertical-rl", "vertical-lr")

register_table(
    ReportTable(
        "transcriptions",
        "Transcriptions",
        (
            ("Element", lambda row, elements: element_label(row["element_id"], elements)),
            ("Text", lambda row, elements: shorten(row["text"])),
            ("Confidence", lambda row, elements: confidence_cell(row["confidence"])),
            ("Orientation", lambda row, elements: row["orientation"]),
        ),
    )
)


def serialize_transcription(transcription: Transcription, element: Element | None = None) -> dict[str, Any]:
    element = element or transcription.element
    return {
        "id": transcription.id,
        "text": transcription.text,
        "confidence": transcription.confidence,
        "orientation": transcription.orientation,
        "element": element_brief(element),
        "worker_version_id": transcription.worker_version_id,
        "worker_run": worker_run_brief(transcription.worker_run_id),
        "created": transcription.created,
    }


@handles("CreateTranscription")
def create_transcription(call: Call) -> Reply:
    element = lookup(Element, call.path["id"])
    data = validate(
        call.body,
        {
            "text": Rule("str"),
            "worker_run_id": Rule("uuid", required=False, null=True),
            "confidence": Rule("float", required=False, null=True, minimum=0, maximum=1),
            "orientation": Rule("str", required=False, choices=ORIENTATIONS, default="horizontal-lr"),
        },
    )
    transcription = Transcription.create(
        id=new_id(),
        element=element.id,
        text=data["text"],
        confidence=data["confidence"],
        orientation=data["orientation"],
        **made_by(data["worker_run_id"]),
    )
    return Reply(serialize_transcription(transcription, element), status=201)


_BULK_ITEM = {
    "text": Rule("str"),
    "confidence": Rule("float", minimum=0, maximum=1),
    "orientation": Rule("str", required=False, choices=ORIENTATIONS, default="horizontal-lr"),
}


@handles("CreateTranscriptions")
def create_transcriptions(call: Call) -> Reply:
    data = validate(call.body, {"worker_run_id": Rule("uuid"), "transcriptions": Rule("list")})
    items = validate_list(
        data["transcriptions"], "transcriptions", {"element_id": Rule("uuid"), **_BULK_ITEM}
    )
    provenance = made_by(data["worker_run_id"])
    elements = {e.id: e for e in fetch_elements({item["element_id"] for item in items})}
    for index, item in enumerate(items):
        if item["element_id"] not in elements:
            raise unknown_pk(item["element_id"], ["transcriptions", index, "element_id"])
    created = []
    for item in items:
        transcription = Transcription.create(id=new_id(), **provenance, **item)
        created.append(
            {key: getattr(transcription, key) for key in ("id", "text", "orientation", "confidence")}
        )
        created[-1]["element_id"] = item["element_id"]
    return Reply({"worker_run_id": data["worker_run_id"], "transcriptions": created}, status=201)


@handles("CreateElementTranscriptions")
def create_element_transcriptions(call: Call) -> Reply:
    parent = lookup(Element, call.path["id"])
    data = validate(
        call.body,
        {
            "element_type": Rule("str"),
            "worker_run_id": Rule("uuid"),
            "transcriptions": Rule("list"),
            "return_elements": Rule("bool", required=False, default=False),
        },
    )
    items = validate_list(
        data["transcriptions"],
        "transcriptions",
        {
            "polygon": Rule("list"),
            "element_confidence": Rule("float", required=False, null=True, minimum=0, maximum=1),
            **_BULK_ITEM,
        },
    )
    check_type(parent.corpus_id, data["element_type"], ["element_type"])
    image = parent.image
    if image is None:
        raise invalid("The parent element has no image: sub-elements need one.", None)
    for index, item in enumerate(items):
        item["polygon"] = clean_polygon(item["polygon"], ["transcriptions", index, "polygon"], image)
    provenance = made_by(data["worker_run_id"])
    existing = {
        (json.dumps(e.polygon), e.type): e
        for e in fetch_elements(child_ids(parent.id))
        if e.image_id == image.id
    }
    answer = []
    for item in items:
        key = (json.dumps(item["polygon"]), data["element_type"])
        element = existing.get(key)
        created = element is None
        if element is None:
            element = existing[key] = add_element(
                parent,
                corpus=parent.corpus_id,
                type=data["element_type"],
                name=str(len(child_ids(parent.id)) + 1),
                image=image.id,
                polygon=item["polygon"],
                confidence=item["element_confidence"],
                **provenance,
            )
        transcription = Transcription.create(
            id=new_id(),
            element=element.id,
            text=item["text"],
            confidence=item["confidence"],
            orientation=item["orientation"],
            **provenance,
        )
        answer.append({"id": transcription.id, "element_id": element.id, "created": created})
    return Reply(answer if data["return_elements"] else None, status=201)


@handles("ListTranscriptions")
def list_transcriptions(call: Call) -> Listing:
    element = lookup(Element, call.path["id"])
    elements = [element]
    if call.query.get("recursive"):
        elements += fetch_elements(child_ids(element.id, recursive=True))
    if call.query.get("element_type"):
        elements = [e for e in elements if e.type == call.query["element_type"]]
    by_id = {e.id: e for e in elements}
    position = {element_id: index for index, element_id in enumerate(by_id)}
    query = Transcription.select().where(
        Transcription.element.in_(list(by_id)), *worker_filters(Transcription, call.query)
    )
    # Depth-first element order, then creation order within an element.
    transcriptions = sorted(query.order_by(SQL("rowid")), key=lambda t: position[t.element_id])
    return Listing(transcriptions, lambda t: serialize_transcription(t, by_id[t.element_id]))
