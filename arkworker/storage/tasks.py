"""The Ponos task a worker runs in: its parent tasks, the files they left, its own cache.

Inside an Arkindex process every task has a directory ``$PONOS_DATA/<task id>/`` where it
leaves its outputs (the cache ``db.sqlite``, archives...), and the tasks that follow read
their parents' directories. ``RetrieveTaskFromAgent`` tells a task who its parents are.

One deliberate difference from arkindex-base-worker: a worker that supports the cache
always gets a task cache in a Ponos task (the reference only creates it when a parent
left one), so that the tasks after it find the rows it wrote.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path, PurePath

from arkindex.exceptions import ErrorResponse

from arkworker.api.client import Api
from arkworker.environment import Environment, is_task_id
from arkworker.errors import ConfigurationError
from arkworker.storage.cache_files import CacheFileError, merge_caches

logger = logging.getLogger("arkworker")

#: The file name of a task's cache in its directory.
CACHE_NAME = "db.sqlite"


def retrieve_parents(api: Api, task_id: str) -> list[str]:
    """The ids of the parent tasks of ``task_id``, in the API's order.

    The operation is the one the instance offers: ``RetrieveTask`` (what arkindex-base-worker
    calls since 0.4), else ``RetrieveTaskFromAgent`` (0.3.7's), so that an instance of either
    generation answers whatever API level the run was forced to.
    """
    operation = "RetrieveTask" if api.has_operation("RetrieveTask") else "RetrieveTaskFromAgent"
    try:
        task = api.request(operation, id=task_id)
    except ErrorResponse as exc:
        hint = " check PONOS_TASK" if exc.status_code == 404 else ""
        raise ConfigurationError(
            f"Could not retrieve the task {task_id} (HTTP {exc.title}):{hint}."
        ) from None
    parents = task.get("parents") if isinstance(task, dict) else None
    if not isinstance(parents, list) or not all(is_task_id(parent) for parent in parents):
        raise ConfigurationError(
            f"Unexpected answer from {operation}({task_id}): 'parents' is not a list of task ids."
        )
    return parents


def chunk_file_name(filename: str, chunk: str) -> str:
    """``db.sqlite`` → ``db_<chunk>.sqlite``: the chunk goes before the last suffix only."""
    path = PurePath(filename)
    return f"{path.stem}_{chunk}{path.suffix}"


def parent_file_paths(
    task_data_dir: Path, parents: Sequence[str], filename: str, chunk: str | None = None
) -> list[Path]:
    """Existing files named ``filename`` (and its chunk variant) in the parents' directories."""
    names = [filename] if chunk is None else [filename, chunk_file_name(filename, chunk)]
    return [
        task_data_dir / parent / name
        for parent in parents
        for name in names
        if (task_data_dir / parent / name).is_file()
    ]


def prepare_task_cache(environment: Environment, parents: Sequence[str]) -> Path:
    """Create the task's ``db.sqlite`` with every parent cache merged in; return its path.

    An existing task cache (a restarted task) keeps its rows and receives the parents'
    again; the merge replaces the file only once it fully succeeded.
    """
    assert environment.ponos_task is not None
    directory = environment.task_data_dir / environment.ponos_task
    if not environment.task_data_dir.is_dir():
        raise ConfigurationError(
            f"The task data directory {environment.task_data_dir} does not exist: check PONOS_DATA."
        )
    directory.mkdir(exist_ok=True)
    target = directory / CACHE_NAME
    sources = parent_file_paths(environment.task_data_dir, parents, CACHE_NAME, environment.task_chunk)
    if not sources:
        logger.info("No parents cache to use")
    try:
        merge_caches(target, sources)
    except CacheFileError as exc:
        raise ConfigurationError(
            f"Cannot prepare the task cache {target}: {exc}. Nothing was written."
        ) from None
    return target
