"""The API description the sandbox is built from: one declaration per Arkindex operation.

Everything the sandbox exposes over HTTP is derived from this table, the way moto derives
its routes from botocore: the OpenAPI document (:mod:`arkworker.sandbox.schema`), the URL
routing and the parsing of query parameters (:mod:`arkworker.sandbox.server`). Keeping the
description apart from the handlers means the schema always lists every operation a worker
may call, while only some of them have a handler; the others answer a loud 501 instead of
disappearing from the schema (``arkindex-client`` would then raise a confusing
``ClientError`` before any request is made).

The table holds the 42 operations that arkindex-base-worker 0.3.7 calls, with the paths of
that release, and the operations the current generation (0.4 to 0.6) added, marked
``since="current"``. A sandbox serves one *API level* (see :data:`API_LEVELS`): ``legacy`` is
a 0.3.7-era instance, whose schema lacks the newer operations (their paths answer 404),
``current`` offers them, but not those Arkindex removed since (``until="legacy"``: the
entities of the 0.3.7 entity model). An operation whose path changed is declared once per
level range, under one operationId (``CreateTranscriptionEntity``). Paths are relative to
``/api/v1/``; placeholders use OpenAPI's ``{name}`` syntax. Paginated operations declare
``page`` and ``page_size`` (page numbers), or ``cursor``, ``page_size`` and ``with_count``
(a cursor): that is how the client's ``paginate()`` picks its mode.

Example::

    >>> from arkworker.sandbox.operations import get_operation
    >>> op = get_operation("RetrieveElement")
    >>> op.method, op.path, op.path_params[0].kind
    ('GET', 'element/{id}/', 'uuid')
    >>> "StartWorkerActivity" in {op.operation_id for op in operations_for("legacy")}
    False
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

API_PREFIX = "/api/v1/"

#: The generations of the Arkindex API a sandbox can serve, oldest first: ``legacy`` is what
#: arkindex-base-worker 0.3.7 met, ``current`` what 0.4 to 0.6 meet (a superset). The same
#: words as the runtime's ``--api-level`` option.
API_LEVELS = ("legacy", "current")
DEFAULT_API_LEVEL = "current"


def check_api_level(api_level: str) -> str:
    """``api_level`` if it is one of :data:`API_LEVELS`; otherwise a ``ValueError`` naming them."""
    if api_level not in API_LEVELS:
        raise ValueError(f"Unknown API level {api_level!r}: use {' or '.join(API_LEVELS)}")
    return api_level


#: Kinds of parameter values, with the JSON schema advertised for each in the OpenAPI document.
#: ``uuid_or_false`` is Arkindex's "filter on this worker, or ``False`` for manual data": the client
#: sends Python's ``False`` through ``requests`` unchanged, so it arrives as the text ``False``.
#: ``text`` path parameters may contain ``/`` (secret names, artifact paths).
PARAM_SCHEMAS: dict[str, dict] = {
    "string": {"type": "string"},
    "text": {"type": "string"},
    "uuid": {"type": "string", "format": "uuid"},
    "uuid_or_false": {"type": "string"},
    "boolean": {"type": "boolean"},
    "integer": {"type": "integer"},
}


@dataclass(frozen=True)
class Param:
    """One path or query parameter of an operation."""

    name: str
    kind: str = "string"
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in PARAM_SCHEMAS:
            raise ValueError(
                f"Parameter {self.name!r}: unknown kind {self.kind!r} (valid: {', '.join(PARAM_SCHEMAS)})"
            )


@dataclass(frozen=True)
class Operation:
    """The declaration of one API operation.

    ``path_kinds`` gives the kind of path placeholders that are not UUIDs (every other
    placeholder is a UUID, as in Arkindex). ``family`` groups operations in the schema
    (OpenAPI tags); the handler modules are cut by what a reader looks for, so a family may
    span several (``elements.py`` and ``element_writes.py``) or share one (the process sets
    and artifacts are served by ``datasets.py``, next to the datasets they belong to).
    ``since`` is the first API level offering the operation, ``until`` the last one (None:
    every level since); ``cursor`` marks a listing
    paginated with a cursor rather than page numbers; ``status`` is the success status when
    it is not the method's usual one (200, 201 for POST, 204 for DELETE).
    """

    operation_id: str
    method: str
    path: str
    family: str
    query: tuple[Param, ...] = ()
    body: bool = False
    paginated: bool = False
    path_kinds: Mapping[str, str] = field(default_factory=dict)
    summary: str = ""
    since: str = "legacy"
    until: str | None = None
    cursor: bool = False
    status: int | None = None

    def __post_init__(self) -> None:
        check_api_level(self.since)
        if self.until is not None and API_LEVELS.index(check_api_level(self.until)) < API_LEVELS.index(
            self.since
        ):
            raise ValueError(f"{self.operation_id}: until={self.until!r} comes before since={self.since!r}")

    def offered_at(self, api_level: str) -> bool:
        """Whether an instance of ``api_level`` offers this declaration of the operation."""
        rank = API_LEVELS.index(check_api_level(api_level))
        last = len(API_LEVELS) - 1 if self.until is None else API_LEVELS.index(self.until)
        return API_LEVELS.index(self.since) <= rank <= last

    @property
    def success_status(self) -> int:
        """The status of a successful answer."""
        return self.status or {"POST": 201, "DELETE": 204}.get(self.method, 200)

    @property
    def path_params(self) -> tuple[Param, ...]:
        """The placeholders of :attr:`path`, in order, with their kinds."""
        names = re.findall(r"{([^}]+)}", self.path)
        return tuple(Param(name, self.path_kinds.get(name, "uuid")) for name in names)

    @property
    def query_params(self) -> tuple[Param, ...]:
        """The declared query parameters, including the pagination ones when paginated."""
        if not self.paginated:
            return self.query
        return (*self.query, *(CURSOR_PARAMS if self.cursor else PAGINATION_PARAMS))

    @property
    def full_path(self) -> str:
        return API_PREFIX + self.path


PAGINATION_PARAMS = (
    Param("page", "integer", "A page number within the paginated result set."),
    Param("page_size", "integer", "Number of results to return per page (1 to 500)."),
)
CURSOR_PARAMS = (
    Param("cursor", "string", "The pagination cursor value (from the previous answer's next URL)."),
    Param("page_size", "integer", "Number of results to return per page (1 to 500)."),
    Param("with_count", "boolean", "Include the total number of results (count) in the answer."),
)

_ELEMENT_LIST_FILTERS = (
    Param("folder", "boolean", "Restrict to elements whose type is (or is not) a folder type."),
    Param("name", "string", "Only elements whose name contains this text (case-insensitive)."),
    Param("recursive", "boolean", "List all descendants (or ancestors) instead of the direct ones."),
    Param("type", "string", "Only elements of the type with this slug."),
    Param("with_classes", "boolean", "Include the best classes of each element."),
    Param("with_corpus", "boolean", "Include the corpus of each element."),
    Param("with_has_children", "boolean", "Include whether each element has children."),
    Param("with_metadata", "boolean", "Include the metadata of each element."),
    Param("with_zone", "boolean", "Include the zone of each element."),
    Param("worker_version", "uuid_or_false", "Only elements created by this worker version, False: manual."),
    Param("worker_run", "uuid_or_false", "Only elements created by this worker run, False: manual."),
    Param(
        "transcription_worker_version",
        "uuid_or_false",
        "Only elements with a transcription by this worker version, False: a manual one.",
    ),
    Param(
        "transcription_worker_run",
        "uuid_or_false",
        "Only elements with a transcription by this worker run, False: a manual one.",
    ),
)
_WORKER_FILTERS = (
    Param("worker_version", "uuid_or_false", "Only results of this worker version, False: manual ones."),
    Param("worker_run", "uuid_or_false", "Only results of this worker run, False: manual ones."),
)
_TEXT = {"name": "text"}


def _op(
    operation_id: str,
    method: str,
    path: str,
    family: str,
    *query: Param,
    body: bool = False,
    paginated: bool = False,
    path_kinds: Mapping[str, str] | None = None,
    summary: str = "",
    since: str = "legacy",
    until: str | None = None,
    cursor: bool = False,
    status: int | None = None,
) -> Operation:
    return Operation(
        operation_id,
        method,
        path,
        family,
        query=query,
        body=body,
        paginated=paginated or cursor,
        path_kinds=dict(path_kinds or {}),
        summary=summary,
        since=since,
        until=until,
        cursor=cursor,
        status=status,
    )


OPERATIONS: tuple[Operation, ...] = (
    # Process and worker runs
    _op("RetrieveWorkerRun", "GET", "process/workers/{id}/", "process", summary="Retrieve a worker run."),
    _op(
        "UpdateWorkerActivity",
        "PUT",
        "workers/versions/{id}/activity/",
        "process",
        body=True,
        summary="Update the activity of a worker run on an element (the id is the worker run's).",
    ),
    _op("ListProcessSets", "GET", "process/{id}/sets/", "process", paginated=True),
    _op("RetrieveWorkerVersion", "GET", "workers/versions/{id}/", "process"),
    _op(
        "RetrieveWorkerRunConfiguration",
        "GET",
        "workers/runs/{id}/configuration/",
        "process",
        summary="The configuration of a worker run: a list of {key, value, secret} items.",
        since="current",
    ),
    _op(
        "StartWorkerActivity",
        "POST",
        "process/start-activity/",
        "process",
        summary=(
            "Start the activity of the next queued element of the task's process and answer the element; "
            "404 once none is left."
        ),
        since="current",
        status=200,
    ),
    _op(
        "ListProcessElements",
        "GET",
        "process/{id}/elements/",
        "process",
        Param("with_image", "boolean", "Include the image, zone polygon and image URL of each element."),
        cursor=True,
        summary="List the elements a process runs on.",
        since="current",
    ),
    # Tasks and artifacts
    _op("RetrieveTaskFromAgent", "GET", "task/{id}/from-agent/", "tasks"),
    _op(
        "RetrieveTask",
        "GET",
        "task/{id}/",
        "tasks",
        summary="Retrieve a task and its parents.",
        since="current",
    ),
    _op("ListArtifacts", "GET", "task/{id}/artifacts/", "tasks"),
    _op("CreateArtifact", "POST", "task/{id}/artifacts/", "tasks", body=True, since="current"),
    _op("DownloadArtifact", "GET", "task/{id}/artifact/{path}", "tasks", path_kinds={"path": "text"}),
    # Secrets
    _op("RetrieveSecret", "GET", "secret/{name}", "secrets", path_kinds=_TEXT, summary="Retrieve a secret."),
    # Corpora and elements
    _op("RetrieveCorpus", "GET", "corpus/{id}/", "elements", summary="Retrieve a corpus and its types."),
    _op("CreateElementType", "POST", "elements/type/", "elements", body=True),
    _op("RetrieveElement", "GET", "element/{id}/", "elements", summary="Retrieve an element."),
    _op("PartialUpdateElement", "PATCH", "element/{id}/", "elements", body=True),
    _op("CreateElement", "POST", "elements/create/", "elements", body=True),
    _op("CreateElements", "POST", "element/{id}/children/bulk/", "elements", body=True),
    _op("CreateElementParent", "POST", "element/{child}/parent/{parent}/", "elements"),
    _op(
        "ListElementChildren",
        "GET",
        "elements/{id}/children/",
        "elements",
        *_ELEMENT_LIST_FILTERS,
        paginated=True,
        summary="List the children (or all descendants) of an element.",
    ),
    _op(
        "ListElementParents",
        "GET",
        "elements/{id}/parents/",
        "elements",
        *_ELEMENT_LIST_FILTERS,
        paginated=True,
        summary="List the parents (or all ancestors) of an element.",
    ),
    # Classifications
    _op("ListCorpusMLClasses", "GET", "corpus/{id}/classes/", "classifications", paginated=True),
    _op("CreateMLClass", "POST", "corpus/{id}/classes/", "classifications", body=True),
    _op("CreateClassification", "POST", "classifications/", "classifications", body=True),
    _op("CreateClassifications", "POST", "classification/bulk/", "classifications", body=True),
    # Transcriptions
    _op(
        "CreateTranscription",
        "POST",
        "element/{id}/transcription/",
        "transcriptions",
        body=True,
        summary="Create a transcription on an element.",
    ),
    _op("CreateTranscriptions", "POST", "transcription/bulk/", "transcriptions", body=True),
    _op(
        "CreateElementTranscriptions",
        "POST",
        "element/{id}/transcriptions/bulk/",
        "transcriptions",
        body=True,
    ),
    _op(
        "ListTranscriptions",
        "GET",
        "element/{id}/transcriptions/",
        "transcriptions",
        Param("element_type", "string", "Only transcriptions of elements of the type with this slug."),
        Param("recursive", "boolean", "Include the transcriptions of all descendants."),
        *_WORKER_FILTERS,
        paginated=True,
        summary="List the transcriptions of an element (and of its descendants).",
    ),
    # Entities
    _op("ListCorpusEntityTypes", "GET", "corpus/{id}/entity-types/", "entities", paginated=True),
    _op("CreateEntityType", "POST", "entity/types/", "entities", body=True),
    _op(
        "CreateEntity",
        "POST",
        "entity/",
        "entities",
        body=True,
        summary="Create an entity of a corpus (the 0.3.7 entity model; gone from today's Arkindex).",
        until="legacy",
    ),
    _op(
        "CreateTranscriptionEntity",
        "POST",
        "transcription/{id}/entity/",
        "entities",
        body=True,
        summary="Place an entity in the text of a transcription.",
        until="legacy",
    ),
    _op(
        "CreateTranscriptionEntity",
        "POST",
        "transcription/{id}/entities/",
        "entities",
        body=True,
        summary="Mark a span of the text of a transcription with an entity type.",
        since="current",
    ),
    _op(
        "CreateTranscriptionEntities",
        "POST",
        "transcription/{id}/entities/bulk/",
        "entities",
        body=True,
        summary=(
            "Create entities and place them in a transcription (legacy: entities[{name, type_id, ...}]); "
            "mark spans with entity types (current: transcription_entities[{type_id, ...}])."
        ),
    ),
    _op(
        "ListTranscriptionEntities",
        "GET",
        "transcription/{id}/entities/",
        "entities",
        *_WORKER_FILTERS,
        paginated=True,
    ),
    _op(
        "ListCorpusEntities",
        "GET",
        "corpus/{id}/entities/",
        "entities",
        Param("name", "string", "Only entities whose name contains this text."),
        Param("parent", "uuid", "Only entities linked to this element."),
        paginated=True,
        until="legacy",
    ),
    # Metadata
    _op("CreateMetaData", "POST", "element/{id}/metadata/", "metadata", body=True),
    _op("CreateMetaDataBulk", "POST", "element/{id}/metadata/bulk/", "metadata", body=True),
    _op(
        "ListElementMetaData",
        "GET",
        "element/{id}/metadata/",
        "metadata",
        Param("load_parents", "boolean", "Also list the metadata of the element's ancestors."),
        summary="List the metadata of an element (a plain list, not paginated).",
    ),
    # Datasets
    _op("RetrieveDataset", "GET", "datasets/{id}/", "datasets"),
    _op("PartialUpdateDataset", "PATCH", "datasets/{id}/", "datasets", body=True),
    _op(
        "RetrieveDatasetSet",
        "GET",
        "datasets/{dataset}/sets/{set}/",
        "datasets",
        path_kinds={"set": "string"},
        summary="Retrieve a set of a dataset by its name.",
        since="current",
    ),
    _op(
        "ListDatasetElements",
        "GET",
        "datasets/{id}/elements/",
        "datasets",
        Param("set", "string", "Only elements of the set with this name."),
        paginated=True,
    ),
    # Corpus exports: what a current dataset worker reads its sets from
    _op(
        "ListExports",
        "GET",
        "corpus/{id}/export/",
        "exports",
        Param("dataset_id", "uuid", "Only the exports of this dataset."),
        paginated=True,
        summary="List the SQLite exports of a corpus, most recent first.",
        since="current",
    ),
    _op(
        "StartExport",
        "POST",
        "corpus/{id}/export/",
        "exports",
        body=True,
        summary=(
            "Start a SQLite export of a corpus (of one dataset with dataset_id); 400 running_export or "
            "existing_export when one is running or was just made."
        ),
        since="current",
    ),
    _op(
        "DownloadExport",
        "GET",
        "export/{id}/",
        "exports",
        summary="Redirect (302) to the file of a done export, downloaded without the API's token.",
        since="current",
        status=302,
    ),
    # Models: their versions, and the uploads of their archives. The archive goes to a URL of
    # the object store: the version's s3_put_url, then ValidateModelVersion (0.3.7 era), or a
    # multipart upload (current; the sources of base-worker do not give these paths).
    _op(
        "CreateModelVersion",
        "POST",
        "model/{id}/versions/",
        "models",
        body=True,
        summary="Create a version of a model (current level: with its archive's size and archive_hash).",
    ),
    _op("RetrieveModelVersion", "GET", "modelversion/{id}/", "models", since="current"),
    _op("UpdateModelVersion", "PUT", "modelversion/{id}/", "models", body=True),
    _op(
        "ValidateModelVersion",
        "POST",
        "modelversion/{id}/validate/",
        "models",
        body=True,
        summary="Make a version available once its archive is uploaded; 409 with the version of the same hash.",
        status=200,
    ),
    _op("DestroyModelVersion", "DELETE", "modelversion/{id}/", "models"),
    _op(
        "CreateMultipartUpload",
        "POST",
        "multipart/",
        "models",
        body=True,
        summary="Open the multipart upload of an object (a model version's archive): its upload_id.",
        since="current",
    ),
    _op(
        "CreateMultipartUploadPart",
        "POST",
        "multipart/part/",
        "models",
        body=True,
        summary="The URL where one part of a multipart upload is PUT, signed for its MD5.",
        since="current",
        status=200,
    ),
    _op(
        "CompleteMultipartUpload",
        "POST",
        "multipart/complete/",
        "models",
        body=True,
        summary="Assemble the uploaded parts, in order; a model version is then available.",
        since="current",
        status=200,
    ),
    _op(
        "AbortMultipartUpload",
        "POST",
        "multipart/abort/",
        "models",
        body=True,
        summary="Drop a multipart upload and its parts.",
        since="current",
        status=204,
    ),
    # Today's result helpers (arkindex-base-worker 0.4 to 0.6): elements, datasets, embeddings
    _op(
        "ListElements",
        "GET",
        "corpus/{corpus}/elements/",
        "elements",
        *(param for param in _ELEMENT_LIST_FILTERS if param.name != "recursive"),
        Param("top_level", "boolean", "Only elements without a parent (or, False, with one)."),
        paginated=True,
        summary="List the elements of a corpus.",
        since="current",
    ),
    _op(
        "CreateElementChildren",
        "POST",
        "element/parent/{id}/",
        "elements",
        body=True,
        summary="Link existing elements ({children: [ids]}) to one more parent.",
        since="current",
    ),
    _op(
        "CreateDataset",
        "POST",
        "corpus/{id}/datasets/",
        "datasets",
        body=True,
        summary="Create a dataset in a corpus, with its sets.",
        since="current",
    ),
    _op(
        "CreateDatasetElement",
        "POST",
        "datasets/{id}/elements/",
        "datasets",
        body=True,
        summary="Add an element to a set of a dataset ({set, element_id}).",
        since="current",
    ),
    _op(
        "DestroyDatasetElement",
        "DELETE",
        "datasets/{dataset}/elements/{element}/",
        "datasets",
        Param("set", "string", "The name of the set to remove the element from."),
        summary="Remove an element from a set of a dataset.",
        since="current",
    ),
    _op(
        "CreateEmbedding",
        "POST",
        "element/{id}/embedding/",
        "embeddings",
        body=True,
        summary="Store a vector (an embedding) computed by a worker run for an element.",
        since="current",
    ),
    _op(
        "ListEmbeddings",
        "GET",
        "element/{id}/embedding/",
        "embeddings",
        paginated=True,
        summary="List the embeddings of an element.",
        since="current",
    ),
)


def _index(operations: tuple[Operation, ...]) -> dict[str, tuple[Operation, ...]]:
    """The declarations of each operationId; refuses one declared twice at a level."""
    by_id: dict[str, tuple[Operation, ...]] = {}
    for operation in operations:
        by_id[operation.operation_id] = (*by_id.get(operation.operation_id, ()), operation)
    for level in API_LEVELS:
        offered = [op.operation_id for op in operations if op.offered_at(level)]
        if len(offered) != len(set(offered)):  # pragma: no cover - guards edits of the table above
            raise RuntimeError(f"An operationId is declared twice at the {level} level in the sandbox table")
    return by_id


_BY_ID = _index(OPERATIONS)


class UnknownOperationError(LookupError):
    """An operationId that is not in the table (a typo, or an operation the sandbox does not know)."""


def get_operation(operation_id: str, api_level: str | None = None) -> Operation:
    """The declaration of ``operation_id`` at ``api_level`` (None: its newest declaration).

    An unknown id, or one the level does not offer, raises :class:`UnknownOperationError`.
    """
    declarations = _BY_ID.get(operation_id)
    if declarations is None:
        close = difflib.get_close_matches(operation_id, _BY_ID, n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise UnknownOperationError(
            f"Unknown Arkindex operation {operation_id!r} (not among the {len(_BY_ID)} operations "
            f"the sandbox declares{hint})"
        )
    if api_level is None:
        return declarations[-1]
    for operation in declarations:
        if operation.offered_at(api_level):
            return operation
    raise UnknownOperationError(f"The {api_level} API level does not offer {operation_id}")


def operation_ids() -> list[str]:
    """Every declared operationId, in declaration order (each once, whatever its levels)."""
    return list(_BY_ID)


def operations_for(api_level: str) -> tuple[Operation, ...]:
    """The operations an instance of ``api_level`` offers, in declaration order."""
    check_api_level(api_level)
    return tuple(op for op in OPERATIONS if op.offered_at(api_level))
