"""Models and their versions, and the multipart uploads of their archives: what a training worker calls.

* CreateModelVersion (``model/{id}/versions/``): a version in state ``created``. Its tag is
  unique among the model's versions (400 ``A version for this model with this tag already
  exists.``); its ``parent``, the version it was trained from, must exist. At the ``legacy``
  level the answer carries ``s3_put_url``, a URL of the sandbox's object store
  (:mod:`arkworker.sandbox.uploads`) where the archive is PUT; at the ``current`` level the
  archive's ``size`` and ``archive_hash`` (MD5) are required, and the archive comes in a
  multipart upload.
* ValidateModelVersion: the archive must be uploaded with that size and MD5 (400 otherwise);
  another available version of the model with the same content ``hash`` is a 409 whose body
  is that version, as Arkindex answers; otherwise the version becomes ``available``.
* UpdateModelVersion changes the fields the body has (the reference sends only those, on a
  PUT); RetrieveModelVersion (``current``); DestroyModelVersion removes the version and its
  archive.
* CreateMultipartUpload opens an upload for a version; CreateMultipartUploadPart signs the URL
  of one part for its MD5; CompleteMultipartUpload assembles the parts listed, in ascending
  order with their ETags (each but the last at least 5 MiB, S3's rule), checks the whole
  against the version's size and archive hash, and makes the version available;
  AbortMultipartUpload drops the parts.

A version's payload has the keys Arkindex gives (``id, model_id, state, parent, tag,
description, configuration, s3_url, s3_put_url, hash, archive_hash, size, created``; no
``hash`` at the ``current`` level). The table records, in ``worker_run_id``, the sandbox's
worker run for the versions created through the API (the sandbox serves that one client),
so ``Sandbox.created()`` and the run report list what a training worker published.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any

from peewee import CharField, ForeignKeyField, IntegerField, TextField

from arkworker.sandbox.handlers.base import (
    Call,
    Reply,
    Rule,
    handles,
    invalid,
    lookup,
    validate,
    validate_list,
)
from arkworker.sandbox.report import ReportTable, register_table
from arkworker.sandbox.store import BaseModel, JSONField, SandboxMeta, UUIDKey, new_id, now, register
from arkworker.sandbox.uploads import delete_objects, find_object, put_object, sign, url_of

#: The states of a model version.
VERSION_STATES = ("created", "available", "error")
#: What Arkindex answers for a tag another version of the model has.
TAG_CONFLICT = "A version for this model with this tag already exists."
#: The smallest part of a multipart upload but the last (S3's rule), and the most parts.
MIN_PART_SIZE, MAX_PARTS = 5 * 1024 * 1024, 10_000
ARCHIVE_CONTENT_TYPE = "application/zstd"

_MD5 = re.compile(r"[0-9a-f]{32}")


@register
class Model(BaseModel):
    id = UUIDKey()
    name = CharField()
    description = TextField(default="")
    created = CharField(default=now)

    class Meta:
        table_name = "models"


@register
class ModelVersion(BaseModel):
    """A version of a model; ``upload_key``/``download_key``: its signed URLs (``s3_put_url``, ``s3_url``).

    ``parent_id`` is not a foreign key: destroying a version leaves its children, parentless.
    """

    worker_output = True
    noun = "model version"

    id = UUIDKey()
    model = ForeignKeyField(Model)
    model_id: str
    parent_id = CharField(null=True)
    tag = CharField(null=True)
    description = TextField(null=True)
    configuration = JSONField(default=dict)
    state = CharField(default="created")
    hash = CharField(null=True)
    archive_hash = CharField(null=True)
    size = IntegerField(null=True)
    upload_key = CharField(null=True)
    download_key = CharField(null=True)
    worker_run_id = CharField(null=True)
    created = CharField(default=now)

    class Meta:
        table_name = "model_versions"


@register
class MultipartUpload(BaseModel):
    """An upload in parts of an object; ``state``: open, completed or aborted."""

    id = UUIDKey()
    object_type = CharField()
    object_id = CharField()
    state = CharField(default="open")
    created = CharField(default=now)

    class Meta:
        table_name = "multipart_uploads"


register_table(
    ReportTable(
        "model_versions",
        "Model versions",
        (
            ("Version", lambda row, elements: row["id"]),
            ("Tag", lambda row, elements: row["tag"] or "-"),
            ("State", lambda row, elements: row["state"]),
            ("Size", lambda row, elements: "-" if row["size"] is None else f"{row['size']} bytes"),
        ),
    )
)


def archive_object(version_id: str) -> str:
    """The name of a version's archive in the object store."""
    return f"model_versions/{version_id}"


def _parts_prefix(upload_id: str) -> str:
    return f"multipart/{upload_id}/"


def _part_object(upload_id: str, number: int) -> str:
    return f"{_parts_prefix(upload_id)}{number}"


def serialize_version(version: ModelVersion, call: Call) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": version.id,
        "model_id": version.model_id,
        "parent": version.parent_id,
        "tag": version.tag,
        "description": version.description,
        "configuration": version.configuration,
        "state": version.state,
        "size": version.size,
        "archive_hash": version.archive_hash,
        "s3_url": url_of(call.base_url, version.download_key) if version.download_key else None,
        "s3_put_url": (
            url_of(call.base_url, version.upload_key)
            if version.upload_key and version.state != "available"
            else None
        ),
        "created": version.created,
    }
    if call.api_level == "legacy":
        payload["hash"] = version.hash
    return payload


def _check_md5(value: str, attr: list[str | int]) -> None:
    if not _MD5.fullmatch(value):
        raise invalid("Enter an MD5 hash: 32 lowercase hexadecimal digits.", attr)


def _check_tag(model_id: str, tag: str | None, version_id: str | None = None) -> None:
    if tag is None:
        return
    query = ModelVersion.select().where((ModelVersion.model == model_id) & (ModelVersion.tag == tag))
    if version_id is not None:
        query = query.where(ModelVersion.id != version_id)
    if query.exists():
        raise invalid(TAG_CONFLICT, None, "unique")


def _version_rules(call: Call) -> dict[str, Rule]:
    """The fields a creation or update takes; the archive's size and hash at the current level only."""
    rules = {
        "tag": Rule("str", required=False, null=True),
        "description": Rule("str", required=False, null=True, blank=True),
        "configuration": Rule("dict", required=False),
        "parent": Rule("uuid", required=False, null=True),
    }
    if call.api_level == "current":
        rules["size"] = Rule("int", required=False, minimum=1)
        rules["archive_hash"] = Rule("str", required=False)
    return rules


def _make_available(version: ModelVersion) -> None:
    version.state = "available"
    version.download_key = sign("GET", archive_object(version.id))
    version.save()


@handles("CreateModelVersion")
def create_model_version(call: Call) -> Reply:
    model = lookup(Model, call.path["id"])
    data = validate(call.body, _version_rules(call))
    current = call.api_level == "current"
    if current:
        missing = [name for name in ("size", "archive_hash") if data.get(name) is None]
        if missing:
            raise invalid("This field is required.", [missing[0]], "required")
        _check_md5(data["archive_hash"], ["archive_hash"])
    if data["parent"] is not None:
        lookup(ModelVersion, data["parent"], ["parent"])
    _check_tag(model.id, data["tag"])
    version_id = new_id()
    meta = SandboxMeta.get_or_none(SandboxMeta.key == "worker_run_id")
    version = ModelVersion.create(
        id=version_id,
        model=model.id,
        parent_id=data["parent"],
        tag=data["tag"],
        description=data["description"],
        configuration=data["configuration"] or {},
        size=data.get("size"),
        archive_hash=data.get("archive_hash"),
        upload_key=None if current else sign("PUT", archive_object(version_id)),
        worker_run_id=meta.value if meta else None,
    )
    return Reply(serialize_version(version, call), status=201)


@handles("RetrieveModelVersion")
def retrieve_model_version(call: Call) -> dict[str, Any]:
    return serialize_version(lookup(ModelVersion, call.path["id"]), call)


@handles("UpdateModelVersion")
def update_model_version(call: Call) -> dict[str, Any]:
    version = lookup(ModelVersion, call.path["id"])
    rules = _version_rules(call)
    data = validate(call.body, rules)
    given = [name for name in rules if name in call.body]
    if "parent" in given and data["parent"] is not None:
        if data["parent"] == version.id:
            raise invalid("A model version cannot be its own parent.", ["parent"])
        lookup(ModelVersion, data["parent"], ["parent"])
    if "archive_hash" in given:
        _check_md5(data["archive_hash"], ["archive_hash"])
    if version.state == "available" and {"size", "archive_hash"} & set(given):
        raise invalid("The archive of an available model version cannot change.", None)
    if "tag" in given:
        _check_tag(version.model_id, data["tag"], version.id)
    for name in given:
        setattr(version, "parent_id" if name == "parent" else name, data[name])
    version.save()
    return serialize_version(version, call)


@handles("ValidateModelVersion")
def validate_model_version(call: Call) -> Any:
    version = lookup(ModelVersion, call.path["id"])
    data = validate(
        call.body, {"hash": Rule("str"), "size": Rule("int", minimum=1), "archive_hash": Rule("str")}
    )
    _check_md5(data["hash"], ["hash"])
    _check_md5(data["archive_hash"], ["archive_hash"])
    if version.state == "available":
        raise invalid("This model version is already available.", None)
    archive = find_object(archive_object(version.id))
    if archive is None:
        raise invalid(
            "The archive of this model version was not uploaded: PUT it to its s3_put_url first.", None
        )
    if archive.size != data["size"]:
        raise invalid(f"The uploaded archive has {archive.size} bytes, not {data['size']}.", ["size"])
    if archive.md5 != data["archive_hash"]:
        raise invalid(
            f"The uploaded archive's MD5 is {archive.md5}, not {data['archive_hash']}.", ["archive_hash"]
        )
    same = (
        ModelVersion.select()
        .where(
            (ModelVersion.model == version.model_id)
            & (ModelVersion.state == "available")
            & (ModelVersion.hash == data["hash"])
            & (ModelVersion.id != version.id)
        )
        .first()
    )
    if same is not None:
        return Reply(serialize_version(same, call), status=409)
    version.hash, version.size, version.archive_hash = data["hash"], data["size"], data["archive_hash"]
    _make_available(version)
    return serialize_version(version, call)


@handles("DestroyModelVersion")
def destroy_model_version(call: Call) -> Reply:
    version = lookup(ModelVersion, call.path["id"])
    delete_objects(archive_object(version.id))
    ModelVersion.update(parent_id=None).where(ModelVersion.parent_id == version.id).execute()
    version.delete_instance()
    return Reply(None, status=204)


# -- multipart uploads ------------------------------------------------------------------------------

_TARGET = {
    "object_type": Rule("str", choices=("model_version",)),
    "object_id": Rule("uuid"),
}
_ALGORITHM = {"checksum_algorithm": Rule("str", required=False, null=True)}


def _upload_target(data: dict[str, Any]) -> ModelVersion:
    if data.get("checksum_algorithm") is not None:
        raise invalid(
            "The sandbox checks MD5 hashes only: send checksum_algorithm null.", ["checksum_algorithm"]
        )
    return lookup(ModelVersion, data["object_id"], ["object_id"])


def _open_upload(data: dict[str, Any]) -> MultipartUpload:
    upload = lookup(MultipartUpload, data["upload_id"], ["upload_id"])
    if upload.object_type != data["object_type"] or upload.object_id != data["object_id"]:
        raise invalid("This multipart upload is not one of this object.", ["upload_id"])
    if upload.state != "open":
        raise invalid(f"This multipart upload is {upload.state}.", ["upload_id"])
    return upload


@handles("CreateMultipartUpload")
def create_multipart_upload(call: Call) -> Reply:
    data = validate(call.body, {**_TARGET, **_ALGORITHM})
    version = _upload_target(data)
    if version.state == "available":
        raise invalid("This model version is already available.", ["object_id"])
    upload = MultipartUpload.create(id=new_id(), object_type=data["object_type"], object_id=version.id)
    return Reply({"upload_id": upload.id}, status=201)


@handles("CreateMultipartUploadPart")
def create_multipart_upload_part(call: Call) -> dict[str, Any]:
    rules = {
        **_TARGET,
        **_ALGORITHM,
        "upload_id": Rule("uuid"),
        "part_number": Rule("int", minimum=1, maximum=MAX_PARTS),
        "checksum": Rule("str", required=False, null=True),
        "md5_hash": Rule("str"),
    }
    data = validate(call.body, rules)
    _upload_target(data)
    upload = _open_upload(data)
    try:
        valid = len(base64.b64decode(data["md5_hash"], validate=True)) == 16
    except binascii.Error:
        valid = False
    if not valid:
        raise invalid("Enter the base64 text of an MD5 digest (16 bytes).", ["md5_hash"])
    key = sign("PUT", _part_object(upload.id, data["part_number"]), content_md5=data["md5_hash"])
    return {"url": url_of(call.base_url, key)}


@handles("CompleteMultipartUpload")
def complete_multipart_upload(call: Call) -> dict[str, Any]:
    data = validate(call.body, {**_TARGET, **_ALGORITHM, "upload_id": Rule("uuid"), "parts": Rule("list")})
    version = _upload_target(data)
    upload = _open_upload(data)
    part_rules = {
        "part_number": Rule("int", minimum=1, maximum=MAX_PARTS),
        "etag": Rule("str"),
        "checksum": Rule("str", required=False, null=True),
        "md5_hash": Rule("str", required=False, null=True),
    }
    parts = validate_list(data["parts"], "parts", part_rules, min_length=0)
    if not parts:
        raise invalid("No part has been uploaded yet.", ["parts"])
    numbers = [part["part_number"] for part in parts]
    if numbers != sorted(set(numbers)):
        raise invalid("List the parts in ascending order of part_number, each once.", ["parts"])
    pieces = []
    for index, part in enumerate(parts):
        stored = find_object(_part_object(upload.id, part["part_number"]))
        if stored is None:
            raise invalid(f"Part {part['part_number']} was not uploaded.", ["parts", index, "part_number"])
        if part["etag"].strip('"') != stored.md5:
            raise invalid(
                f"The ETag of part {part['part_number']} is {stored.md5}, not {part['etag']}.",
                ["parts", index, "etag"],
            )
        if index < len(parts) - 1 and stored.size < MIN_PART_SIZE:
            raise invalid(
                f"Part {part['part_number']} has {stored.size} bytes: every part but the last needs "
                f"{MIN_PART_SIZE} bytes at least (S3's EntityTooSmall).",
                ["parts", index, "part_number"],
            )
        pieces.append(bytes(stored.data))
    archive = b"".join(pieces)
    if version.size is not None and len(archive) != version.size:
        raise invalid(
            f"The parts hold {len(archive)} bytes; the model version's size is {version.size}.", ["parts"]
        )
    md5 = hashlib.md5(archive, usedforsecurity=False).hexdigest()
    if version.archive_hash is not None and md5 != version.archive_hash:
        raise invalid(
            f"The parts' MD5 is {md5}; the model version's archive_hash is {version.archive_hash}.", ["parts"]
        )
    put_object(archive_object(version.id), archive, ARCHIVE_CONTENT_TYPE)
    delete_objects(_parts_prefix(upload.id))
    upload.state = "completed"
    upload.save()
    _make_available(version)
    return serialize_version(version, call)


@handles("AbortMultipartUpload")
def abort_multipart_upload(call: Call) -> Reply:
    data = validate(call.body, {**_TARGET, "upload_id": Rule("uuid")})
    lookup(ModelVersion, data["object_id"], ["object_id"])
    upload = lookup(MultipartUpload, data["upload_id"], ["upload_id"])
    if upload.state == "completed":
        raise invalid("This multipart upload is completed.", ["upload_id"])
    delete_objects(_parts_prefix(upload.id))
    upload.state = "aborted"
    upload.save()
    return Reply(None, status=204)
