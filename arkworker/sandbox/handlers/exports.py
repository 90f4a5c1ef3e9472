"""Corpus exports: ListExports, StartExport, DownloadExport, and how an export gets built.

Arkindex builds the SQLite export of a corpus (or of one dataset, with ``dataset_id``) in the
background: StartExport answers an export ``created``, which then turns ``running`` and ends
``done`` or ``failed``. The sandbox has no background: an export moves one step each time a
listing shows it, so a test decides how many polls it takes. An export started for a
dataset is listed ``running`` for the dataset's ``export.polls`` listings, then ends in its
``export.outcome`` (the corpus file's ``datasets`` section; by default it is ``done`` at its
first listing). Exports seeded by the corpus (``datasets[].exports``) progress the same way.

StartExport refuses a second export while one of the same corpus and dataset is created or
running (400 ``running_export``), and while a done one is recent (made less than
:data:`RECENT_EXPORT` ago: 400 ``existing_export``), which tells the worker to reuse it; the
sandbox's notion of recent is a stand-in for the instance's own rule.

DownloadExport does not answer the file: it redirects (302) to the sandbox's storage, as
Arkindex redirects to S3. The address carries the export's signature, like a presigned URL,
and the storage refuses a request that also sends an ``Authorization`` header, as S3 does: a
client must download it without the API's token. The file is built from the sandbox's state
when it is downloaded (:mod:`arkworker.sandbox.sql_export`).
"""

from __future__ import annotations

import datetime
import secrets
from typing import Any

from peewee import SQL, AutoField, CharField, ForeignKeyField, IntegerField

from arkworker.sandbox.handlers.base import (
    Call,
    Listing,
    Redirect,
    Reply,
    Rule,
    handles,
    invalid,
    lookup,
    unknown_pk,
    validate,
)
from arkworker.sandbox.handlers.datasets import Dataset
from arkworker.sandbox.sql_export import build_export, moment_of
from arkworker.sandbox.store import BaseModel, UUIDKey, new_id, now, register
from arkworker.sandbox.tables import Corpus

#: The states of an export, in Arkindex's words (``CorpusExportState``).
EXPORT_STATES = ("created", "running", "failed", "done")
#: How an export may end.
EXPORT_OUTCOMES = ("done", "failed")
#: How long a done export counts as recent: StartExport then answers ``existing_export``.
RECENT_EXPORT = datetime.timedelta(hours=1)
#: Where the storage serves export files, under the sandbox's address.
STORAGE_PATH = "storage/exports/"
#: The query parameter holding an export file's signature (as in an S3 presigned URL).
SIGNATURE = "X-Amz-Signature"


def new_signature() -> str:
    return secrets.token_hex(16)


class StorageError(Exception):
    """A storage request that gets no file: its status and S3's error code say why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@register
class CorpusExport(BaseModel):
    """An export of a corpus, or of one of its datasets; ``polls`` and ``outcome`` say how it ends."""

    id = UUIDKey()
    corpus = ForeignKeyField(Corpus)
    corpus_id: str
    dataset = ForeignKeyField(Dataset, null=True)
    dataset_id: str | None
    state = CharField(default="created")
    #: How many more listings show the export ``running`` before it reaches its outcome.
    polls = IntegerField(default=0)
    outcome = CharField(default="done")
    #: The key of the file's address: the storage serves the file only to a URL carrying it.
    signature = CharField(default=new_signature)
    created = CharField(default=now)
    updated = CharField(default=now)

    class Meta:
        table_name = "corpus_exports"


@register
class ExportPlan(BaseModel):
    """How the exports started for a dataset progress (the corpus file's ``datasets[].export``)."""

    id = AutoField()
    dataset = ForeignKeyField(Dataset, unique=True)
    dataset_id: str
    polls = IntegerField(default=0)
    outcome = CharField(default="done")

    class Meta:
        table_name = "export_plans"


def serialize_export(export: CorpusExport) -> dict[str, Any]:
    """An export as ListExports and StartExport answer it."""
    return {
        "id": export.id,
        "corpus_id": export.corpus_id,
        "dataset_id": export.dataset_id,
        "state": export.state,
        "source": "default",
        "user": {"id": 1, "display_name": "Sandbox user"},
        "created": export.created,
        "updated": export.updated,
    }


def _advance(export: CorpusExport) -> None:
    """One step of an export being built: ``running`` while polls are left, then its outcome."""
    if export.polls > 0:
        export.state = "running"
        export.polls -= 1
    else:
        export.state = export.outcome
    export.updated = now()
    export.save()


def _same_target(corpus_id: str, dataset_id: str | None) -> Any:
    query = CorpusExport.select().where(CorpusExport.corpus == corpus_id)
    if dataset_id is None:
        return query.where(CorpusExport.dataset.is_null())
    return query.where(CorpusExport.dataset == dataset_id)


def _is_recent(created: str) -> bool:
    return datetime.datetime.now(datetime.timezone.utc) - moment_of(created) < RECENT_EXPORT


@handles("ListExports")
def list_exports(call: Call) -> Listing:
    corpus = lookup(Corpus, call.path["id"])
    query = CorpusExport.select().where(CorpusExport.corpus == corpus.id)
    if "dataset_id" in call.query:
        query = query.where(CorpusExport.dataset == call.query["dataset_id"])
    # Most recent first; of two made at the same time, the later one.
    latest = list(query.order_by(SQL("rowid DESC")))
    exports = sorted(latest, key=lambda export: moment_of(export.created), reverse=True)
    for export in exports:
        if export.state in ("created", "running"):
            _advance(export)
    return Listing(exports, serialize_export)


@handles("StartExport")
def start_export(call: Call) -> Reply:
    corpus = lookup(Corpus, call.path["id"])
    data = validate(call.body, {"dataset_id": Rule("uuid", required=False, null=True)})
    dataset_id = data["dataset_id"]
    if (
        dataset_id is not None
        and not Dataset.select().where((Dataset.id == dataset_id) & (Dataset.corpus == corpus.id)).exists()
    ):
        raise unknown_pk(dataset_id, ["dataset_id"])
    previous = list(_same_target(corpus.id, dataset_id))
    if any(export.state in ("created", "running") for export in previous):
        raise invalid("An export is already running for this corpus.", None, "running_export")
    if any(export.state == "done" and _is_recent(export.created) for export in previous):
        hours = RECENT_EXPORT.total_seconds() / 3600
        raise invalid(
            f"An export of this corpus was made less than {hours:g} hour ago.", None, "existing_export"
        )
    plan = None if dataset_id is None else ExportPlan.get_or_none(ExportPlan.dataset == dataset_id)
    export = CorpusExport.create(
        id=new_id(),
        corpus=corpus.id,
        dataset=dataset_id,
        polls=plan.polls if plan else 0,
        outcome=plan.outcome if plan else "done",
    )
    return Reply(serialize_export(export), 201)


@handles("DownloadExport")
def download_export(call: Call) -> Redirect:
    export = lookup(CorpusExport, call.path["id"])
    if export.state != "done":
        raise invalid(
            f"The export is {export.state}: only a done export can be downloaded.", None, "export_not_done"
        )
    return Redirect(f"{call.base_url}{STORAGE_PATH}{export.id}.sqlite?{SIGNATURE}={export.signature}")


def export_file(export_id: str, signature: str | None, base_url: str) -> bytes:
    """The SQLite file an address of the storage names; :class:`StorageError` when there is none.

    ``signature`` is the address's :data:`SIGNATURE`: the one DownloadExport gave, or the
    storage refuses it, as S3 refuses a presigned URL whose signature does not match.
    """
    export = CorpusExport.get_or_none(CorpusExport.id == export_id)
    if export is None or export.state != "done":
        raise StorageError(404, "NoSuchKey", "The specified key does not exist.")
    if signature is None or not secrets.compare_digest(signature, export.signature):
        raise StorageError(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    return build_export(export.corpus_id, export.dataset_id, base_url)
