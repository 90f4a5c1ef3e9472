"""Ponos tasks: RetrieveTaskFromAgent and RetrieveTask, which tell a task who its parent tasks are.

Tasks belong to the sandbox's process; their ids are what a worker receives in
``PONOS_TASK``. Only what a worker reads is modelled (slug, state, parents). Workers of
0.3.7 ask RetrieveTaskFromAgent; newer ones RetrieveTask (``current`` API level), which
answers the same task.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from peewee import CharField, ForeignKeyField, IntegerField

from arkworker.sandbox.handlers.base import Call, handles, lookup
from arkworker.sandbox.store import BaseModel, JSONField, Store, UUIDKey, new_id, register
from arkworker.sandbox.tables import Process


@register
class Task(BaseModel):
    id = UUIDKey()
    process = ForeignKeyField(Process)
    process_id: str
    slug = CharField()
    state = CharField(default="running")
    depth = IntegerField(default=0)
    #: Ids of the parent tasks, in order.
    parents = JSONField(default=list)

    class Meta:
        table_name = "tasks"


@handles("RetrieveTaskFromAgent")
@handles("RetrieveTask")
def retrieve_task(call: Call) -> dict[str, Any]:
    task = lookup(Task, call.path["id"])
    return {
        "id": task.id,
        "run": 0,
        "depth": task.depth,
        "slug": task.slug,
        "state": task.state,
        "parents": list(task.parents),
        "process_id": task.process_id,
        "shm_size": None,
        "requires_gpu": False,
        "extra_files": {},
    }


def add_task(store: Store, process_id: str, slug: str, parents: Sequence[str], task_id: str | None) -> str:
    """Insert a task of ``process_id`` whose parents are the given task ids; return its id."""
    with store.session():
        known = {task.id: task for task in Task.select().where(Task.id.in_(list(parents)))}
        unknown = [parent for parent in parents if parent not in known]
        if unknown:
            raise ValueError(f"Unknown parent task(s): {', '.join(unknown)}; add them first.")
        task = Task.create(
            id=task_id or new_id(),
            process=process_id,
            slug=slug,
            depth=max((known[parent].depth + 1 for parent in parents), default=0),
            parents=list(parents),
        )
        return task.id


def set_task_parents(store: Store, task_id: str, parents: Sequence[str]) -> None:
    """Replace the parents of a task (ids of existing tasks)."""
    with store.session():
        depths = [task.depth for task in Task.select().where(Task.id.in_(list(parents)))]
        if len(depths) != len(set(parents)):
            raise ValueError(f"Unknown parent task among {', '.join(parents)}; add them first.")
        updated = (
            Task.update(parents=list(parents), depth=max((depth + 1 for depth in depths), default=0))
            .where(Task.id == task_id)
            .execute()
        )
        if not updated:
            raise ValueError(f"Unknown task {task_id}.")
