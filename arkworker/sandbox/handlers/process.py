"""Processes and worker runs: RetrieveWorkerRun, RetrieveWorkerRunConfiguration, RetrieveWorkerVersion
and UpdateWorkerActivity.

Also what every family shares about worker runs: the provenance columns of a created row
(:func:`made_by`), the ``worker_run`` nested in annotations (:func:`worker_run_brief`) and
the ``worker_version``/``worker_run`` filters of listings, where False means manual data
(:func:`worker_filters`).

The activity state machine is the one a worker meets in Arkindex: an element is *started*
once (a second start, from any state but queued, is the 409 that tells a worker another
process owns the element), and only a started element may become *processed* or *error*.
Activities are refused on a process whose ``activity_state`` is not ``ready``. The queue that
starts them on the server's side (StartWorkerActivity) is in :mod:`.process_elements`.

The process payload follows the API level: ``skip_elements_json`` exists only in the current
generation, and is left out when the corpus says null (see :mod:`arkworker.sandbox.corpus.run`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from peewee import Expression, Field

from arkworker.sandbox.handlers.base import (
    ApiError,
    Call,
    Rule,
    error_entry,
    handles,
    invalid,
    lookup,
    not_found,
    validate,
)
from arkworker.sandbox.store import BaseModel, by_key, first, first_fields, new_id, now
from arkworker.sandbox.tables import Activity, Element, Process, WorkerRun, WorkerVersion

ACTIVITY_STATES = ("queued", "started", "processed", "error")

#: state asked for → states it may come from (None: no activity yet).
_ALLOWED_FROM: dict[str, tuple[str | None, ...]] = {
    "queued": (None,),
    "started": (None, "queued"),
    "processed": ("started",),
    "error": ("started",),
}


def worker_run_brief(worker_run_id: str | None) -> dict[str, Any] | None:
    """``{id, summary}`` of a worker run, as nested in annotations; None for manual data."""
    if worker_run_id is None:
        return None
    run = by_key(WorkerRun, worker_run_id)
    return {"id": worker_run_id, "summary": run.summary if run else None}


def made_by(worker_run_id: str | None) -> dict[str, str | None]:
    """The ``worker_run_id`` and ``worker_version_id`` columns of a created row.

    The version is the run's (both None for manual data); an unknown run is the 400 on
    ``worker_run_id``.
    """
    if worker_run_id is None:
        return {"worker_run_id": None, "worker_version_id": None}
    run = lookup(WorkerRun, worker_run_id, ["worker_run_id"])
    return {"worker_run_id": worker_run_id, "worker_version_id": run.version_id}


def worker_condition(column: Field, wanted: str | bool | None) -> Expression:
    """``column`` (a worker run or version id) equal to ``wanted``; False or None: manual data (NULL)."""
    return column.is_null() if wanted is None or wanted is False else column == wanted


def worker_filters(model: type[BaseModel], params: Mapping[str, Any], prefix: str = "") -> list[Expression]:
    """The conditions of the ``worker_version`` / ``worker_run`` query filters present in ``params``.

    Their values are a UUID, or False for manual data; ``prefix`` reads other filters of the
    same form (``transcription_worker_run``...).
    """
    return [
        worker_condition(getattr(model, f"{name}_id"), params[prefix + name])
        for name in ("worker_version", "worker_run")
        if prefix + name in params
    ]


def _serialize_process(process: Process, api_level: str) -> dict[str, Any]:
    payload = {
        "id": process.id,
        "name": process.name,
        "state": "running",
        "mode": process.mode,
        "corpus": process.corpus_id,
        "activity_state": process.activity_state,
        "use_cache": False,
        "use_gpu": False,
        "model_id": None,
        "train_folder_id": None,
        "validation_folder_id": None,
        "test_folder_id": None,
    }
    if api_level != "legacy" and process.skip_elements_json is not None:
        payload["skip_elements_json"] = process.skip_elements_json
    return payload


def serialize_worker_version(version: WorkerVersion, uses_model: bool = False) -> dict[str, Any]:
    worker = version.worker
    return {
        "id": version.id,
        "version": 1,
        "revision": None,
        "state": "available",
        "gpu_usage": "disabled",
        "model_usage": "required" if uses_model else "disabled",
        "docker_image_iid": None,
        "configuration": version.configuration,
        "worker": {"id": worker.id, "name": worker.name, "slug": worker.slug, "type": worker.type},
    }


def check_activities_enabled(process: Process, attr: list[str | int] | None) -> None:
    """The 400 on ``attr`` (None: the whole call) when the process does not use worker activities."""
    if process.activity_state != "ready":
        raise invalid(
            f"Worker activities are not enabled on process {process.id} "
            f"(its activity_state is {process.activity_state!r}, not 'ready').",
            attr,
        )


def set_activity(activity: Activity | None, run: WorkerRun, element_id: str, state: str) -> None:
    """Give the run's activity on an element ``state``: update ``activity``, or create it when None."""
    if activity is None:
        Activity.create(
            id=new_id(), worker_run=run.id, element=element_id, process=run.process_id, state=state
        )
    else:
        activity.write(state=state, updated=now())


@handles("RetrieveWorkerVersion")
def retrieve_worker_version(call: Call) -> dict[str, Any]:
    return serialize_worker_version(lookup(WorkerVersion, call.path["id"]))


@handles("RetrieveWorkerRun")
def retrieve_worker_run(call: Call) -> dict[str, Any]:
    run = lookup(WorkerRun, call.path["id"])
    version = run.version
    return {
        "id": run.id,
        "summary": run.summary,
        "parents": [],
        "process": _serialize_process(run.process, call.api_level),
        "worker_version": serialize_worker_version(version, run.model_version is not None),
        "model_version": run.model_version,
        "configuration": run.configuration,
    }


@handles("RetrieveWorkerRunConfiguration")
def retrieve_worker_run_configuration(call: Call) -> dict[str, Any]:
    """The run's configuration as ``{"configuration": [{key, value, secret}]}``, resolved when seeded."""
    run = lookup(WorkerRun, call.path["id"])
    return {"configuration": run.configuration_items}


@handles("UpdateWorkerActivity")
def update_worker_activity(call: Call) -> dict[str, Any]:
    run = lookup(WorkerRun, call.path["id"])
    data = validate(
        call.body,
        {
            "element_id": Rule("uuid"),
            "process_id": Rule("uuid"),
            "state": Rule("str", choices=ACTIVITY_STATES),
        },
    )
    lookup(Element, data["element_id"], ["element_id"])
    # Not run.process: its element list (a JSON list of every element) is not needed here.
    process = first_fields(Process, ("id", "activity_state"), id=run.process_id)
    if process is None:
        raise not_found("Process")
    if data["process_id"] != process.id:
        raise invalid(
            f"Worker run {run.id} belongs to process {process.id}, not {data['process_id']}.", ["process_id"]
        )
    check_activities_enabled(process, ["process_id"])
    activity = first(Activity, worker_run=run.id, element=data["element_id"])
    current = activity.state if activity else None
    wanted = data["state"]
    if current not in _ALLOWED_FROM[wanted]:
        if wanted == "started":
            detail = f"Element {data['element_id']} is already {current} for worker run {run.id}."
            raise ApiError(409, "client_error", [error_entry(detail, "conflict")])
        origin = "no activity" if current is None else current
        raise invalid(f"An activity cannot go from {origin} to {wanted}.", ["state"], "invalid_transition")
    set_activity(activity, run, data["element_id"], wanted)
    return {"element_id": data["element_id"], "process_id": process.id, "state": wanted}
