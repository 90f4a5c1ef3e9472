"""Datasets and task artifacts: what a dataset worker reads, and the one write it makes.

ListProcessSets, RetrieveDataset, RetrieveDatasetSet (``current`` API level: a set by its
name, ``{id, name}``), ListDatasetElements and PartialUpdateDataset follow the payloads of
Arkindex (a dataset lists its sets as ``{id, name}`` objects). ListArtifacts
answers a plain JSON list, as Arkindex does; DownloadArtifact streams the artifact's file
from disk (:class:`~arkworker.sandbox.handlers.base.FileReply`), so a download can be cut
in the middle by ``Sandbox.truncate``, or the object a worker PUT for an artifact it created
(CreateArtifact, :mod:`arkworker.sandbox.handlers.artifacts`). The tables of datasets, their sets and elements,
process sets and artifacts are declared here too; the corpus file's ``datasets`` section
(:mod:`arkworker.sandbox.corpus.datasets`) fills them.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from peewee import SQL, BooleanField, CharField, ForeignKeyField, IntegerField, TextField

from arkworker.sandbox.handlers.base import (
    BytesReply,
    Call,
    FileReply,
    Listing,
    Rule,
    handles,
    invalid,
    lookup,
    not_found,
    validate,
)
from arkworker.sandbox.handlers.elements import serialize_element
from arkworker.sandbox.handlers.tasks import Task
from arkworker.sandbox.store import BaseModel, UUIDKey, now, register
from arkworker.sandbox.tables import Corpus, Element, Process
from arkworker.sandbox.uploads import find_object

#: The states of a dataset; only a complete dataset can be processed by a dataset worker.
DATASET_STATES = ("open", "building", "complete", "error")


@register
class Dataset(BaseModel):
    """A dataset; ``task_id`` is the task that built its archive (an artifact of that task)."""

    id = UUIDKey()
    corpus = ForeignKeyField(Corpus)
    corpus_id: str
    name = CharField()
    description = TextField(default="")
    state = CharField(default="complete")
    task_id = CharField(null=True)
    #: Whether an element may be in one set of the dataset only (CreateDatasetElement checks it).
    unique_elements = BooleanField(default=True)
    creator = CharField(default="Sandbox user")
    created = CharField(default=now)
    updated = CharField(default=now)

    class Meta:
        table_name = "datasets"


@register
class DatasetSet(BaseModel):
    id = UUIDKey()
    dataset = ForeignKeyField(Dataset)
    dataset_id: str
    name = CharField()

    class Meta:
        table_name = "dataset_sets"
        indexes = ((("dataset", "name"), True),)


@register
class DatasetElement(BaseModel):
    id = UUIDKey()
    dataset_set = ForeignKeyField(DatasetSet)
    dataset_set_id: str
    element = ForeignKeyField(Element)
    element_id: str

    class Meta:
        table_name = "dataset_elements"
        indexes = ((("dataset_set", "element"), True),)


@register
class ProcessSet(BaseModel):
    """A dataset set a process runs on (what ListProcessSets lists)."""

    id = UUIDKey()
    process = ForeignKeyField(Process)
    process_id: str
    dataset_set = ForeignKeyField(DatasetSet)
    dataset_set_id: str

    class Meta:
        table_name = "process_sets"


@register
class Artifact(BaseModel):
    """A file a task produced; ``file`` is the local file the sandbox serves for it.

    An artifact a worker created (CreateArtifact) has no file but ``object_name``: the stored
    object its signed URL PUTs to (:mod:`arkworker.sandbox.uploads`).
    """

    id = UUIDKey()
    task_id = CharField()
    path = CharField()
    size = IntegerField()
    content_type = CharField(default="application/octet-stream")
    file = CharField(default="")
    object_name = CharField(null=True)
    created = CharField(default=now)

    class Meta:
        table_name = "artifacts"
        indexes = ((("task_id", "path"), True),)


def serialize_dataset(dataset: Dataset) -> dict[str, Any]:
    """The RetrieveDataset payload."""
    sets = DatasetSet.select().where(DatasetSet.dataset == dataset.id).order_by(SQL("rowid"))
    return {
        "id": dataset.id,
        "name": dataset.name,
        "description": dataset.description,
        "sets": [{"id": row.id, "name": row.name} for row in sets],
        "state": dataset.state,
        "corpus_id": dataset.corpus_id,
        "creator": dataset.creator,
        "task_id": dataset.task_id,
        "created": dataset.created,
        "updated": dataset.updated,
    }


def serialize_artifact(artifact: Artifact) -> dict[str, Any]:
    return {
        "id": artifact.id,
        "path": artifact.path,
        "size": artifact.size,
        "content_type": artifact.content_type,
        "s3_put_url": None,
        "created": artifact.created,
        "updated": artifact.created,
    }


@handles("ListProcessSets")
def list_process_sets(call: Call) -> Listing:
    lookup(Process, call.path["id"])
    rows = list(ProcessSet.select().where(ProcessSet.process == call.path["id"]).order_by(SQL("rowid")))

    def item(row: ProcessSet) -> dict[str, Any]:
        dataset_set = row.dataset_set
        return {
            "id": row.id,
            "dataset": serialize_dataset(dataset_set.dataset),
            "set_name": dataset_set.name,
        }

    return Listing(rows, item)


@handles("RetrieveDataset")
def retrieve_dataset(call: Call) -> dict[str, Any]:
    return serialize_dataset(lookup(Dataset, call.path["id"]))


@handles("RetrieveDatasetSet")
def retrieve_dataset_set(call: Call) -> dict[str, Any]:
    dataset = lookup(Dataset, call.path["dataset"])
    row = DatasetSet.get_or_none((DatasetSet.dataset == dataset.id) & (DatasetSet.name == call.path["set"]))
    if row is None:
        raise not_found("DatasetSet")
    return {"id": row.id, "name": row.name}


@handles("PartialUpdateDataset")
def partial_update_dataset(call: Call) -> dict[str, Any]:
    dataset = lookup(Dataset, call.path["id"])
    rules = {
        "name": Rule("str", required=False),
        "description": Rule("str", required=False, blank=True),
        "state": Rule("str", required=False, choices=DATASET_STATES),
    }
    data = validate(call.body, rules)
    for name in rules:
        if name in call.body:
            setattr(dataset, name, data[name])
    dataset.updated = now()
    dataset.save()
    return serialize_dataset(dataset)


@handles("ListDatasetElements")
def list_dataset_elements(call: Call) -> Listing:
    dataset = lookup(Dataset, call.path["id"])
    sets = {row.name: row for row in DatasetSet.select().where(DatasetSet.dataset == dataset.id)}
    wanted = call.query.get("set")
    if wanted is not None and wanted not in sets:
        known = ", ".join(sets) or "none"
        raise invalid(f"{wanted!r} is not a set of this dataset (its sets: {known}).", ["set"])
    set_ids = [row.id for name, row in sets.items() if wanted is None or name == wanted]
    query = DatasetElement.select().where(DatasetElement.dataset_set.in_(set_ids))
    rows = list(query.order_by(SQL("rowid")))

    def item(row: DatasetElement) -> dict[str, Any]:
        return {"set": row.dataset_set.name, "element": serialize_element(row.element, call.base_url)}

    return Listing(rows, item)


def _task_artifacts(task_id: str) -> list[Artifact]:
    artifacts = list(Artifact.select().where(Artifact.task_id == task_id).order_by(SQL("rowid")))
    known = (
        artifacts
        or Dataset.select().where(Dataset.task_id == task_id).exists()
        or Task.select().where(Task.id == task_id).exists()
    )
    if not known:
        raise not_found("Task")
    return artifacts


@handles("ListArtifacts")
def list_artifacts(call: Call) -> list[dict[str, Any]]:
    return [serialize_artifact(artifact) for artifact in _task_artifacts(call.path["id"])]


@handles("DownloadArtifact")
def download_artifact(call: Call) -> FileReply | BytesReply:
    for artifact in _task_artifacts(call.path["id"]):
        if artifact.path == call.path["path"]:
            if artifact.object_name is not None:
                return _stored_artifact(artifact, artifact.object_name)
            file = Path(artifact.file)
            if not file.is_file():
                raise not_found(f"file {file} behind the artifact")
            content_type = artifact.content_type or mimetypes.guess_type(artifact.path)[0]
            return FileReply(file, content_type or "application/octet-stream", Path(artifact.path).name)
    raise not_found("Artifact")


def _stored_artifact(artifact: Artifact, object_name: str) -> BytesReply:
    stored = find_object(object_name)
    if stored is None:
        raise not_found("upload of the artifact (its s3_put_url was not PUT to)")
    return BytesReply(bytes(stored.data), artifact.content_type, Path(artifact.path).name)
