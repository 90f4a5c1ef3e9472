"""Which elements a run processes: ``--element``, ``--elements-list``, ``TASK_ELEMENTS``, or
those that failed in a run report (``--retry-failed``, which gives a dataset worker its sets).

Everything is checked before the first API call, so a typo in an ID or a broken JSON file
stops the run at once with one line (exit code 2) instead of failing element by element.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from arkworker.errors import BadInput
from arkworker.files import read_json
from arkworker.models import normalise_uuid
from arkworker.options import RunOptions, parse_set
from arkworker.run.report import read_failures

logger = logging.getLogger("arkworker")

EXAMPLE = '[{"id": "<element uuid>", "type": "page"}]'


def list_elements(
    element_ids: Sequence[str],
    elements_list: Path | None,
    task_elements: Path | None,
    retry_failed: Path | None = None,
    worker: str = "",
) -> list[str]:
    """The element IDs to process, from the command line or a JSON list, duplicates removed.

    ``task_elements`` is the ``TASK_ELEMENTS`` variable, the default of ``--elements-list``.
    ``retry_failed`` is a ``--retry-failed`` report of ``worker``'s: its failed elements
    replace the others (an empty list when it has none: then there is nothing to process).
    """
    if retry_failed is not None:
        if element_ids or elements_list is not None:
            option = "--element" if element_ids else "--elements-list"
            raise BadInput(
                f"--retry-failed and {option} cannot be used together: --retry-failed gives the elements "
                "(those that failed in its report)."
            )
        failed = read_failures(retry_failed, "element", worker)
        if task_elements is not None:
            logger.info("TASK_ELEMENTS is ignored: --retry-failed gives the elements")
        return failed
    source = elements_list or task_elements
    if element_ids and source is not None:
        origin = "--elements-list" if elements_list else f"TASK_ELEMENTS ({task_elements})"
        raise BadInput(f"--element and {origin} cannot be used together: give the elements one way only.")
    if source is None:
        return _unique(element_ids)
    name = "--elements-list" if elements_list else "TASK_ELEMENTS"
    return _unique(read_elements_list(source, name))


def retry_sets(options: RunOptions, worker: str, *, read_only: bool) -> RunOptions:
    """A dataset worker's options with ``--retry-failed``'s failed sets as its ``--set`` values.

    Only in read-only mode, where the ``--set`` sets are the only ones: in production the
    process's sets always run too, and "only the failed sets" could not hold.
    """
    if options.retry_failed is None:
        return options
    if options.set:
        raise BadInput(
            "--retry-failed and --set cannot be used together: --retry-failed gives the sets (those "
            "that failed in its report)."
        )
    if not read_only:
        raise BadInput(
            "--retry-failed retries a dataset worker's sets in read-only mode only (add --dev): in "
            "production the process's sets always run."
        )
    failed = read_failures(options.retry_failed, "set", worker)
    return replace(options, set=tuple(parse_set(item) for item in failed))


def read_elements_list(path: Path, option: str = "--elements-list") -> list[str]:
    """Read a JSON list of ``{"id": ...}`` objects, as Arkindex writes for a task."""
    label = f"{option} file {path}"
    data = read_json(path, label, invalid=f"expected a list like {EXAMPLE}")
    if not isinstance(data, list):
        raise BadInput(f"The {label} must hold a JSON list like {EXAMPLE}, not a {_json_type(data)}.")
    if not data:
        raise BadInput(f"The {label} is an empty list: there is no element to process.")
    ids = []
    for index, entry in enumerate(data):
        if not isinstance(entry, dict) or not entry.get("id"):
            raise BadInput(
                f"In the {label}, entry {index} has no 'id': each entry must be an object like "
                f'{{"id": "<element uuid>"}}.'
            )
        element_id = normalise_uuid(entry["id"])
        if element_id is None:
            raise BadInput(
                f"In the {label}, entry {index} has an invalid id {entry['id']!r}: expected a UUID."
            )
        ids.append(element_id)
    return ids


def _unique(ids: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for element_id in ids:
        if element_id in seen:
            logger.warning("Element %s is listed more than once; it is processed once", element_id)
        seen.setdefault(element_id)
    return list(seen)


def _json_type(value: Any) -> str:
    return {dict: "object", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")
