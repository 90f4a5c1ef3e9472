"""The ``worker_run`` section: the worker, version, process and run a sandboxed worker runs as.

Every key is optional: a corpus without ``worker_run`` still gets a worker run (on a
process over all its elements), since a worker cannot start without one.

The process's ``skip_elements_json`` says where its workers take their elements from:
``false`` (the default, what Arkindex sends for a process with an element list) a JSON
list of ``elements``; ``true`` the queue of those elements (StartWorkerActivity); ``null``
leaves the field out of the answers, as an instance that predates it does (current workers
then use the queue too). At the ``legacy`` API level the field is never sent. The worker
version's ``fields`` and the run's values give RetrieveWorkerRunConfiguration its answer
(:mod:`.configuration`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from arkworker.sandbox.corpus.configuration import configuration_items, with_declared_defaults

if TYPE_CHECKING:
    from arkworker.sandbox.corpus.parser import Parser

#: A process's ``activity_state`` (not an element's activity: see handlers/process.py).
PROCESS_ACTIVITY_STATES = ("ready", "disabled", "pending", "error")
PROCESS_MODES = ("workers", "files", "template", "s3", "local", "dataset", "export")


def parse_worker_run(p: Parser, value: Any, loc: str) -> None:
    """Fill the worker, version, process and worker run of ``p.spec``; needs the elements parsed."""
    run = p.mapping(
        value, loc, ("id", "summary", "process", "worker", "version", "model_version", "configuration")
    )
    worker = p.mapping(run.get("worker") or {}, f"{loc}.worker", ("id", "name", "slug", "type"))
    p.spec.worker = {
        "id": p.identifier(worker, f"{loc}.worker", "workers"),
        "name": p.string(worker.get("name", "Sandbox worker"), f"{loc}.worker.name"),
        "slug": p.string(worker.get("slug", "sandbox-worker"), f"{loc}.worker.slug"),
        "type": p.string(worker.get("type", "worker"), f"{loc}.worker.type"),
    }
    version = p.mapping(run.get("version") or {}, f"{loc}.version", ("id", "configuration", "fields"))
    configuration = p.dictionary(version.get("configuration", {}), f"{loc}.version.configuration")
    _check_version_configuration(p, configuration, f"{loc}.version.configuration")
    configuration = with_declared_defaults(configuration, p.declared_fields)
    p.spec.version = {
        "id": p.identifier(version, f"{loc}.version", "worker_versions"),
        "worker": p.spec.worker["id"],
        "configuration": configuration,
    }
    p.spec.process = _process(p, run.get("process") or {}, f"{loc}.process")
    run_id = p.identifier(run, loc, "worker_runs")
    summary = run.get("summary", f"Worker {p.spec.worker['name']} @ {p.spec.version['id'][:6]}")
    run_configuration = _run_configuration(p, run.get("configuration"), f"{loc}.configuration")
    values = run_configuration["configuration"] if run_configuration else {}
    p.spec.worker_run = {
        "id": run_id,
        "process": p.spec.process["id"],
        "version": p.spec.version["id"],
        "summary": p.string(summary, f"{loc}.summary"),
        "model_version": _model_version(p, run.get("model_version"), f"{loc}.model_version"),
        "configuration": run_configuration,
        "configuration_items": configuration_items(p, version, configuration, values, loc, p.declared_fields),
    }


def _check_version_configuration(p: Parser, configuration: Mapping[str, Any], loc: str) -> None:
    if "configuration" in configuration:
        p.dictionary(configuration["configuration"], f"{loc}.configuration")
    if "user_configuration" in configuration:
        specs = p.dictionary(configuration["user_configuration"], f"{loc}.user_configuration")
        for name, spec in specs.items():
            p.dictionary(spec, f"{loc}.user_configuration.{name}")
    if "secrets" in configuration:
        for index, name in enumerate(p.sequence(configuration["secrets"], f"{loc}.secrets")):
            p.string(name, f"{loc}.secrets[{index}]")


def _process(p: Parser, value: Any, loc: str) -> dict[str, Any]:
    keys = ("id", "name", "mode", "activity_state", "skip_elements_json", "elements")
    process = p.mapping(value, loc, keys)
    if process.get("elements") is None:
        element_ids = [row["id"] for row in p.spec.elements]
    else:
        references = p.sequence(process["elements"], f"{loc}.elements")
        element_ids = [p.resolve_element(ref, f"{loc}.elements[{i}]") for i, ref in enumerate(references)]
    return {
        "id": p.identifier(process, loc, "processes"),
        "name": p.string(process.get("name", "Sandbox process"), f"{loc}.name"),
        "corpus": p.spec.corpus["id"],
        "mode": p.string(process.get("mode", "workers"), f"{loc}.mode", choices=PROCESS_MODES),
        "activity_state": p.string(
            process.get("activity_state", "ready"), f"{loc}.activity_state", choices=PROCESS_ACTIVITY_STATES
        ),
        "skip_elements_json": _skip_elements_json(p, process, f"{loc}.skip_elements_json"),
        "element_ids": element_ids,
    }


def _skip_elements_json(p: Parser, process: Mapping[str, Any], loc: str) -> bool | None:
    """False when the key is left out, None (the field is not sent) for an explicit null."""
    if "skip_elements_json" not in process:
        return False
    value = process["skip_elements_json"]
    return None if value is None else p.boolean(value, loc)


def _model_version(p: Parser, value: Any, loc: str) -> dict[str, Any] | None:
    if value is None:
        return None
    entry = p.mapping(value, loc, ("id", "model", "configuration"))
    model = p.mapping(entry.get("model") or {}, f"{loc}.model", ("id", "name"))
    return {
        "id": p.identifier(entry, loc, "model_versions"),
        "model": {
            "id": p.identifier(model, f"{loc}.model", "models"),
            "name": p.string(model.get("name", "Sandbox model"), f"{loc}.model.name"),
        },
        "state": "available",
        "configuration": p.dictionary(entry.get("configuration", {}), f"{loc}.configuration"),
    }


def _run_configuration(p: Parser, value: Any, loc: str) -> dict[str, Any] | None:
    if value is None:
        return None
    entry = p.mapping(value, loc, ("id", "name", "configuration"))
    return {
        "id": p.identifier(entry, loc, "worker_configurations"),
        "name": p.string(entry.get("name", "Sandbox configuration"), f"{loc}.name"),
        "configuration": p.dictionary(entry.get("configuration", {}), f"{loc}.configuration"),
    }
