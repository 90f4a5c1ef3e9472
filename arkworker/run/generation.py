"""Which Arkindex a run talks to: the 0.3.7 generation, or today's (arkindex-base-worker 0.4 to 0.6).

One worker code serves both. The decision is made from what the instance offers, never
from a version number it would have to announce:

* the **API level** comes from the schema: an instance that has
  ``RetrieveWorkerRunConfiguration`` (Arkindex since base-worker 0.5.1's time) is
  ``current``: the configuration is read from the worker run's configuration items;
  otherwise ``legacy``: it is read from the worker version, as 0.3.7 did;
* the **element source** comes from the command line and, in production, the process:
  see :func:`element_source` (README, "Two Arkindex generations", has the whole table).

``--api-level`` or ``ARKWORKER_API_LEVEL`` forces the level (``legacy``, ``current``;
``auto`` is the default). The decisions are logged once, at the start of the run.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from typing import Any

from arkworker.api.client import Api
from arkworker.enums import ApiLevel
from arkworker.errors import BadInput
from arkworker.options import API_LEVEL_CHOICES

logger = logging.getLogger("arkworker")

#: The operation whose presence makes an instance ``current``.
CURRENT_MARKER = "RetrieveWorkerRunConfiguration"
#: The queue's operation.
QUEUE_OPERATION = "StartWorkerActivity"


def parse_api_level(value: str | None, source: str) -> ApiLevel | None:
    """The forced level (None for ``auto`` or unset); a bad value is one line naming ``source``."""
    if value is None or value == "" or value == "auto":
        return None
    try:
        return ApiLevel(value)
    except ValueError:
        raise BadInput(
            f"{source}={value!r} is not valid: expected one of {', '.join(API_LEVEL_CHOICES)}."
        ) from None


def forced_level(option: str | None, env: Mapping[str, str]) -> ApiLevel | None:
    """``--api-level`` when given, else ``ARKWORKER_API_LEVEL``; None: decide from the instance."""
    if option is not None:
        return parse_api_level(option, "--api-level")
    return parse_api_level(env.get("ARKWORKER_API_LEVEL"), "ARKWORKER_API_LEVEL")


def api_level(api: Api, forced: ApiLevel | None) -> ApiLevel:
    """The level of the instance behind ``api`` (or the forced one), logged once."""
    has_marker = api.has_operation(CURRENT_MARKER)
    if forced is not None:
        logger.info("Arkindex API level: %s (forced)", forced.value)
        if forced is ApiLevel.CURRENT and not has_marker:
            logger.warning(
                "The API level is forced to current but %s has no %s: configuration calls will fail",
                api.url,
                CURRENT_MARKER,
            )
        return forced
    level = ApiLevel.CURRENT if has_marker else ApiLevel.LEGACY
    reason = "has" if has_marker else "has no"
    logger.info("Arkindex API level: %s (the instance %s %s)", level.value, reason, CURRENT_MARKER)
    return level


class Source(enum.Enum):
    """Where the elements of an element worker come from."""

    LIST = "list"  # --element, --elements-list, TASK_ELEMENTS
    QUEUE = "queue"  # StartWorkerActivity, until the queue is empty
    DATASET = "dataset"  # the elements of the process's dataset sets
    EXPORT = "export"  # ListProcessElements

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    Source.LIST: "the element list",
    Source.QUEUE: "the process queue (StartWorkerActivity)",
    Source.DATASET: "the process's dataset sets",
    Source.EXPORT: "the process's elements (ListProcessElements)",
}


def element_source(
    level: ApiLevel,
    api: Api,
    process: Mapping[str, Any] | None,
    *,
    listed: bool,
    no_elements_list: bool,
) -> Source:
    """Where an element worker's elements come from.

    ``listed``: the command line or ``TASK_ELEMENTS`` named elements, which always win (a
    user who names elements means them). Otherwise, on a current instance: a ``dataset``
    process gives its sets' elements, an ``export`` process its elements; a process whose
    ``skip_elements_json`` is not ``false`` (absent counts as true), or ``--no-elements-list``
    without a process, gives the queue. A legacy instance only knows the list.
    """
    if listed:
        return Source.LIST
    if level is ApiLevel.LEGACY:
        if no_elements_list:
            raise _no_queue(api.url)
        return Source.LIST
    mode = process.get("mode") if process else None
    if mode == "dataset":
        return Source.DATASET
    if mode == "export":
        return Source.EXPORT
    queued = process.get("skip_elements_json", True) is not False if process else no_elements_list
    if queued and not api.has_operation(QUEUE_OPERATION):
        if process:
            logger.warning(
                "The process asks for its queue but %s has no %s: using the element list",
                api.url,
                QUEUE_OPERATION,
            )
            return Source.LIST
        raise _no_queue(api.url)
    return Source.QUEUE if queued else Source.LIST


def source_without_api(forced: ApiLevel | None, *, read_only: bool, no_elements_list: bool) -> Source | None:
    """The source :func:`element_source` gives when no element is listed, if known before any call; else None.

    Only the list can be known up front: at a forced legacy level, which knows nothing else
    (the queue asked for is then refused at once), and in read-only mode without
    ``--no-elements-list``, where no process is asked. Otherwise the instance decides:
    whether it has the queue, and in production the process's mode and ``skip_elements_json``.
    """
    if forced is ApiLevel.LEGACY:
        if no_elements_list:
            raise _no_queue("API level legacy (forced)")
        return Source.LIST
    if read_only and not no_elements_list:
        return Source.LIST
    return None


def _no_queue(instance: str) -> BadInput:
    return BadInput(
        f"--no-elements-list needs the process queue ({QUEUE_OPERATION}), which {instance} does not "
        "have: give the elements with --element or --elements-list."
    )
