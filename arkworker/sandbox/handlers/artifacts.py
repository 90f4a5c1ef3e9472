"""CreateArtifact: a task declares a file it produced, and is answered where to PUT its bytes.

As in Arkindex, the artifact exists (ListArtifacts lists it) as soon as it is created, with
the path, size and content type the worker gave; its bytes go to the ``s3_put_url`` of the
answer, the sandbox's object store (:mod:`arkworker.sandbox.uploads`), under the object
``artifacts/<artifact id>``, and DownloadArtifact serves them once they are there. A task
has one artifact per path: a second one is refused (400), as Arkindex's uniqueness
constraint does. Only the creation answer carries ``s3_put_url``; a listing has null there.

The module stands apart from :mod:`~arkworker.sandbox.handlers.tasks` (where the operation's
family is) because the artifacts' table lives with the datasets, which import the tasks.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from arkworker.sandbox.handlers.base import Call, Reply, Rule, handles, invalid, lookup, validate
from arkworker.sandbox.handlers.datasets import Artifact, serialize_artifact
from arkworker.sandbox.handlers.tasks import Task
from arkworker.sandbox.store import new_id
from arkworker.sandbox.uploads import sign, url_of

_RULES = {
    "path": Rule("str"),
    "content_type": Rule("str"),
    "size": Rule("int", minimum=0),
}


def artifact_object(artifact_id: str) -> str:
    """The name of the stored object holding an uploaded artifact's bytes."""
    return f"artifacts/{artifact_id}"


@handles("CreateArtifact")
def create_artifact(call: Call) -> Reply:
    task = lookup(Task, call.path["id"])
    data = validate(call.body, _RULES)
    path = data["path"]
    if path.startswith("/") or ".." in PurePosixPath(path).parts:
        raise invalid("The path of an artifact is relative to the task, without '..'.", ["path"])
    if Artifact.select().where((Artifact.task_id == task.id) & (Artifact.path == path)).exists():
        raise invalid(f"An artifact with the path {path!r} already exists for this task.", ["path"])
    artifact_id = new_id()
    artifact = Artifact.create(
        id=artifact_id,
        task_id=task.id,
        path=path,
        size=data["size"],
        content_type=data["content_type"],
        object_name=artifact_object(artifact_id),
    )
    key = sign("PUT", artifact_object(artifact_id))
    return Reply({**serialize_artifact(artifact), "s3_put_url": url_of(call.base_url, key)}, status=201)
