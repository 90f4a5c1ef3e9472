"""The sandbox's tables for datasets, their sets and elements, process sets and task artifacts.

Kept apart from the handlers so that corpus parsing (:mod:`arkworker.sandbox.corpus.datasets`)
can build rows for them without importing every handler family.
"""

from __future__ import annotations

from peewee import CharField, ForeignKeyField, IntegerField, TextField

from arkworker.sandbox.store import BaseModel, Corpus, Element, Process, UUIDKey, now, register

#: The states of a dataset; only a complete dataset can be processed by a dataset worker.
DATASET_STATES = ("open", "building", "complete", "error")


@register
class Dataset(BaseModel):
    """A dataset; ``task_id`` is the task that built its archive (an artifact of that task)."""

    id = UUIDKey()
    corpus = ForeignKeyField(Corpus)
    name = CharField()
    description = TextField(default="")
    state = CharField(default="complete")
    task_id = CharField(null=True)
    creator = CharField(default="Sandbox user")
    created = CharField(default=now)
    updated = CharField(default=now)

    class Meta:
        table_name = "datasets"


@register
class DatasetSet(BaseModel):
    id = UUIDKey()
    dataset = ForeignKeyField(Dataset)
    name = CharField()

    class Meta:
        table_name = "dataset_sets"
        indexes = ((("dataset", "name"), True),)


@register
class DatasetElement(BaseModel):
    id = UUIDKey()
    dataset_set = ForeignKeyField(DatasetSet)
    element = ForeignKeyField(Element)

    class Meta:
        table_name = "dataset_elements"
        indexes = ((("dataset_set", "element"), True),)


@register
class ProcessSet(BaseModel):
    """A dataset set a process runs on (what ListProcessSets lists)."""

    id = UUIDKey()
    process = ForeignKeyField(Process)
    dataset_set = ForeignKeyField(DatasetSet)

    class Meta:
        table_name = "process_sets"


@register
class Artifact(BaseModel):
    """A file a task produced; ``file`` is the local file the sandbox serves for it."""

    id = UUIDKey()
    task_id = CharField()
    path = CharField()
    size = IntegerField()
    content_type = CharField(default="application/octet-stream")
    file = CharField()
    created = CharField(default=now)

    class Meta:
        table_name = "artifacts"
        indexes = ((("task_id", "path"), True),)
