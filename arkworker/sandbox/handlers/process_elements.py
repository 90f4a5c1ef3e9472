"""How a process hands out its elements: the queue (StartWorkerActivity) and ListProcessElements.

Both exist from the ``current`` API level on. The queue is what the workers of a process
with ``skip_elements_json`` consume instead of a JSON list of elements. Each call of
StartWorkerActivity takes the first of the process's elements (in the process's order)
whose activity for the worker run is still queued (no activity yet, or ``queued``), marks
it ``started`` and answers the element's summary ``{id, type_id, name}``. The worker then
reports ``processed`` or ``error`` with UpdateWorkerActivity, as with a JSON list, but never
``started`` (that would be the 409 of an element already started). Once no element is
queued, the answer is the 404 that tells the worker the queue is empty. An element that
failed is not queued again.

The call has no parameter: Arkindex knows the process from the task's credentials. A
sandbox has one worker run, whose token every task uses, so the queue is that run's.

Why each element is handed out exactly once, even to workers calling at the same time: the
handler reads the next queued element and writes its activity inside one store session,
which holds the process-wide lock and one SQLite transaction, so the calls a server answers
are claims one after the other. (A second server on the same state file could not commit a
claim made on an outdated read either: SQLite refuses the write as busy.)

ListProcessElements lists the process's elements with a cursor, as Arkindex does, which is
how a worker of an ``export`` process gets them (``page_size=500``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from arkworker.sandbox.handlers.base import Call, client_error, cursor_page, handles, lookup
from arkworker.sandbox.handlers.elements import fetch_elements, image_url
from arkworker.sandbox.handlers.process import check_activities_enabled, set_activity
from arkworker.sandbox.store import SandboxMeta
from arkworker.sandbox.tables import Activity, Element, ElementType, Process, WorkerRun


def _type_ids() -> dict[tuple[str, str], str]:
    """Element type ids by (corpus id, slug): elements store their type's slug."""
    return {(row.corpus_id, row.slug): row.id for row in ElementType.select()}


def _summary(element: Element, type_ids: dict[tuple[str, str], str]) -> dict[str, Any]:
    return {"id": element.id, "type_id": type_ids[(element.corpus_id, element.type)], "name": element.name}


@handles("StartWorkerActivity")
def start_worker_activity(call: Call) -> dict[str, Any]:
    run = WorkerRun.get_by_id(SandboxMeta.get_by_id("worker_run_id").value)
    process = run.process
    check_activities_enabled(process, None)
    states = {row.element_id: row for row in Activity.select().where(Activity.worker_run == run.id)}
    queued = [
        element_id
        for element_id in process.element_ids
        if element_id not in states or states[element_id].state == "queued"
    ]
    if not queued:
        raise client_error(
            404, f"No element of process {process.id} is queued for worker run {run.id}.", "not_found"
        )
    element_id = queued[0]
    set_activity(states.get(element_id), run, element_id, "started")
    return _summary(Element.get_by_id(element_id), _type_ids())


def _process_element(
    element: Element, *, type_ids: dict[tuple[str, str], str], with_image: bool, base_url: str
) -> dict[str, Any]:
    """An item of ListProcessElements; the image fields are null unless ``with_image`` is asked."""
    image = element.image if with_image else None
    return {
        **_summary(element, type_ids),
        "confidence": element.confidence,
        "image_id": image.id if image else None,
        "image_width": image.width if image else None,
        "image_height": image.height if image else None,
        "image_url": image_url(image, base_url) if image else None,
        "polygon": element.polygon if image else None,
        "rotation_angle": element.rotation_angle,
        "mirrored": element.mirrored,
    }


@handles("ListProcessElements")
def list_process_elements(call: Call) -> dict[str, Any]:
    process = lookup(Process, call.path["id"])
    elements = fetch_elements(dict.fromkeys(process.element_ids))
    serialize = partial(
        _process_element,
        type_ids=_type_ids(),
        with_image=call.query.get("with_image", False),
        base_url=call.base_url,
    )
    return cursor_page(call, elements, serialize)
