"""Transcriptions: CreateTranscription and ListTranscriptions.

A transcription created by a worker run stores the run and its worker version, so that
``Sandbox.created()`` and the ``worker_run``/``worker_version`` filters find it.
"""

from __future__ import annotations

from typing import Any

from peewee import SQL

from arkworker.sandbox.handlers.base import Call, Listing, Reply, Rule, handles, invalid, validate
from arkworker.sandbox.handlers.elements import child_ids, element_brief, fetch_elements, get_element
from arkworker.sandbox.handlers.process import worker_run_brief
from arkworker.sandbox.store import Element, Transcription, WorkerRun, new_id

ORIENTATIONS = ("horizontal-lr", "horizontal-rl", "vertical-rl", "vertical-lr")


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
    element = get_element(call.path["id"])
    data = validate(
        call.body,
        {
            "text": Rule("str"),
            "worker_run_id": Rule("uuid", required=False, null=True),
            "confidence": Rule("float", required=False, null=True, minimum=0, maximum=1),
            "orientation": Rule("str", required=False, choices=ORIENTATIONS, default="horizontal-lr"),
        },
    )
    worker_version_id = None
    if data["worker_run_id"] is not None:
        run = WorkerRun.get_or_none(WorkerRun.id == data["worker_run_id"])
        if run is None:
            detail = f'Invalid pk "{data["worker_run_id"]}" - object does not exist.'
            raise invalid(detail, ["worker_run_id"], "does_not_exist")
        worker_version_id = run.version_id
    transcription = Transcription.create(
        id=new_id(),
        element=element.id,
        text=data["text"],
        confidence=data["confidence"],
        orientation=data["orientation"],
        worker_run_id=data["worker_run_id"],
        worker_version_id=worker_version_id,
    )
    return Reply(serialize_transcription(transcription, element), status=201)


@handles("ListTranscriptions")
def list_transcriptions(call: Call) -> Listing:
    element = get_element(call.path["id"])
    elements = [element]
    if call.query.get("recursive"):
        elements += fetch_elements(child_ids(element.id, recursive=True))
    if call.query.get("element_type"):
        elements = [e for e in elements if e.type == call.query["element_type"]]
    by_id = {e.id: e for e in elements}
    position = {element_id: index for index, element_id in enumerate(by_id)}
    query = Transcription.select().where(Transcription.element.in_(list(by_id)))
    for field in ("worker_version", "worker_run"):
        if field in call.query:
            column = getattr(Transcription, f"{field}_id")
            wanted = call.query[field]
            query = query.where(column.is_null() if wanted is False else column == wanted)
    # Depth-first element order, then creation order within an element.
    transcriptions = sorted(query.order_by(SQL("rowid")), key=lambda t: position[t.element_id])
    return Listing(transcriptions, lambda t: serialize_transcription(t, by_id[t.element_id]))
