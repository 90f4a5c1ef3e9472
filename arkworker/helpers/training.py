"""Training workers: publish a model version and its archive, as arkindex-base-worker's TrainingMixin does.

A training worker ends by publishing what it trained: a version of an Arkindex model,
whose archive (the model directory as a ``.tar.zst``) goes to the object store Arkindex
signs URLs for. The two generations of Arkindex do it differently; the helpers pick by
what the instance offers (the same decision for a forced ``--api-level``, since an
instance cannot take an upload it has no operation for):

* **0.3.7-era** (no ``CreateMultipartUpload``), base-worker 0.3.7's order: create the version
  (``CreateModelVersion``, which answers its ``s3_put_url``), archive the directory, PUT the
  archive to that URL, then ``ValidateModelVersion`` with its content hash, size and
  archive hash. A 409 there means another available version of the model has the same
  content: that version is adopted and the pending one destroyed (``DestroyModelVersion``).
* **today's** (base-worker 0.5.2 and later), 0.6.0's order: archive the directory, create the
  version with the archive's size and hash, then upload it in parts (``CreateMultipartUpload``,
  a signed URL per part, ``CompleteMultipartUpload``, after which the version is available;
  ``AbortMultipartUpload`` when anything fails). There is no validation step.

Either way the bytes go to signed URLs through :mod:`arkworker.api.uploads`: retried from
their first byte on transient failures, with timeouts, never with the API token. A tag
that another version of the model already has is dropped with a warning and the creation
sent again (base-worker 0.6.0 does so; arkworker on both generations, since failing the
publication at the end of a training for a tag would lose the training). Arguments are
checked before any request; in read-only mode nothing is sent and each helper says so.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arkindex.exceptions import ErrorResponse

from arkworker.api.client import AmbiguousWrite, Timeouts
from arkworker.api.failures import describe
from arkworker.api.uploads import UploadError, put, upload_session
from arkworker.helpers import validation as check
from arkworker.helpers.base import HelperMixin, logger
from arkworker.images.downloads import verifies_certificate
from arkworker.storage.archives import ArchiveInfo, temporary_tar_zst

if TYPE_CHECKING:
    from arkworker.api.client import Api
    from arkworker.environment import Environment

#: The operation whose presence means the instance takes model archives in parts (0.5.2+).
MULTIPART_OPERATION = "CreateMultipartUpload"
#: What Arkindex answers when a model already has a version with the tag asked for.
TAG_CONFLICT = "A version for this model with this tag already exists."
#: The media type of a model archive sent in one PUT (the reference's).
ARCHIVE_CONTENT_TYPE = "application/zstd"

MIB = 1 << 20
#: Part sizes of a multipart upload: S3 takes at least 5 MiB but for the last part; the
#: reference's client aims at 5 parts and caps them at 50 MiB, and S3 at 10 000 parts.
MIN_PART_SIZE, MAX_PART_SIZE, MAX_PARTS = 5 * MIB, 50 * MIB, 10_000

_MD5 = re.compile(r"[0-9a-f]{32}")

#: The name of the lock under which a run creates and publishes its model version.
_MODEL_VERSION = "model version"


def part_size(total: int) -> int:
    """The size of the parts of a ``total``-byte upload: a fifth of it in whole MiB, within 5 to 50 MiB."""
    return min(MAX_PART_SIZE, max(MIN_PART_SIZE, math.ceil(total / MIB / 5) * MIB))


def _is_tag_conflict(error: ErrorResponse) -> bool:
    """Whether a 400 says the tag is taken, in the old (``non_field_errors``) or the current error format."""
    if error.status_code != 400 or not isinstance(error.content, Mapping):
        return False
    details = list(error.content.get("non_field_errors") or [])
    details += [
        entry.get("detail") for entry in error.content.get("errors") or [] if isinstance(entry, Mapping)
    ]
    return TAG_CONFLICT in details


def _md5(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _MD5.fullmatch(value):
        raise check.fail(f"{name} must be an MD5 hash (32 lowercase hexadecimal digits), got {value!r}")
    return value


def _fields(
    tag: Any, description: Any, configuration: Any, parent: Any, size: Any = None, archive_hash: Any = None
) -> dict[str, Any]:
    """The model version fields that are given (not None), checked: what a creation or update sends."""
    if isinstance(tag, int) and not isinstance(tag, bool):
        raise check.fail(
            f"tag must be a non-empty string, got {tag!r} (int); the archive's size and hash are keyword "
            "arguments: size=..., archive_hash=..."
        )
    if description is not None and not isinstance(description, str):
        raise check.fail(f"description must be a string, got {description!r}")
    if configuration is not None:
        configuration = dict(check.mapping(configuration, "configuration "))
        try:
            json.dumps(configuration)
        except (TypeError, ValueError) as error:
            raise check.fail(f"configuration must hold JSON values only: {error}") from None
    fields: dict[str, Any] = {
        "size": None if size is None else check.integer(size, "size", minimum=1),
        "archive_hash": None if archive_hash is None else _md5(archive_hash, "archive_hash"),
        "tag": check.text(tag, "tag", optional=True),
        "description": description,
        "configuration": configuration,
        "parent": check.uuid_text(parent, "parent", optional=True),
    }
    return {name: value for name, value in fields.items() if value is not None}


class TrainingMixin(HelperMixin):
    """Model versions: create, update, upload, validate, and publish them in one call."""

    if TYPE_CHECKING:
        api: Api
        environment: Environment

        @property
        def model_version_id(self) -> str | None: ...

    #: The model version this run created (or adopted), as Arkindex answered it; None before.
    model_version: dict[str, Any] | None = None

    @property
    def is_finetuning(self) -> bool:
        """True when the worker run trains from a model version (``ctx.model_version_id``)."""
        return bool(self.model_version_id)

    @property
    def _multipart(self) -> bool:
        return self.api.has_operation(MULTIPART_OPERATION)

    # -- the steps --------------------------------------------------------------------------

    def create_model_version(
        self,
        model_id: str,
        tag: str | None = None,
        description: str | None = None,
        configuration: Mapping[str, Any] | None = None,
        parent: str | None = None,
        *,
        size: int | None = None,
        archive_hash: str | None = None,
    ) -> dict[str, Any] | None:
        """Create a version of the model ``model_id``; it becomes :attr:`model_version`, returned.

        ``parent`` is the version it was trained from (fine-tuning). On an instance with
        multipart uploads, the archive's ``size`` (bytes) and ``archive_hash`` (its MD5) are
        given at creation and required; elsewhere they are sent when given. A ``tag`` that
        another version of the model has is dropped, with a warning, and the creation sent
        again. None in read-only mode.
        """
        model_id = check.uuid_text(model_id, "model_id")
        fields = _fields(tag, description, configuration, parent, size, archive_hash)
        if self._multipart and not {"size", "archive_hash"} <= fields.keys():
            raise check.fail(
                f"{self.api.url} takes the archive's size and hash when a model version is created "
                f"({MULTIPART_OPERATION}): pass size= and archive_hash= (bytes, MD5), or use "
                "publish_model_version, which computes them"
            )
        if self._read_only_skip("a model version"):
            return None
        with self._run_locks(_MODEL_VERSION):  # a run creates one: a second thread finds it created
            if self.model_version:
                raise check.fail("A model version has already been created.")
            body = {**fields, "configuration": fields.get("configuration", {})}
            try:
                self.model_version = self.request("CreateModelVersion", id=model_id, body=body)
            except ErrorResponse as error:
                if "tag" not in body or not _is_tag_conflict(error):
                    raise
                logger.warning(
                    "The `%s` tag is already used by another version for this model, publication will be "
                    "retried without it.",
                    body.pop("tag"),
                )
                self.model_version = self.request("CreateModelVersion", id=model_id, body=body)
        logger.info("Model version (%s) was successfully created.", self._version["id"])
        return self.model_version

    def update_model_version(
        self,
        tag: str | None = None,
        description: str | None = None,
        configuration: Mapping[str, Any] | None = None,
        parent: str | None = None,
        *,
        size: int | None = None,
        archive_hash: str | None = None,
    ) -> dict[str, Any] | None:
        """Change the given fields of :attr:`model_version` (``UpdateModelVersion``); it is returned.

        Fields left to None are not sent. None in read-only mode.
        """
        fields = _fields(tag, description, configuration, parent, size, archive_hash)
        if not fields:
            raise check.fail(
                "update_model_version needs a field to change: tag, description, configuration, parent, "
                "size or archive_hash"
            )
        if self._read_only_skip("the model version", "update"):
            return None
        version_id = self._require_version("update it")["id"]
        self.model_version = self.request("UpdateModelVersion", id=version_id, body=fields)
        logger.info("Model version (%s) was successfully updated.", self._version["id"])
        return self.model_version

    def upload_to_s3(self, archive_path: str | Path) -> None:
        """Upload the archive of :attr:`model_version` (a ``.tar.zst`` file) to the object store.

        To its ``s3_put_url`` in one PUT on a 0.3.7-era instance (validate it next with
        :meth:`validate_model_version`); in parts otherwise, after which the version is
        available. Transient failures are retried from the first byte, under the run's
        retry policy; :class:`~arkworker.api.uploads.UploadError` when it cannot be sent.
        """
        path = Path(archive_path)
        if not path.is_file():
            raise check.fail(
                f"archive_path must be an existing file (the model's archive), got {archive_path!r}"
            )
        if self._read_only_skip("the model version archive", "upload"):
            return
        version = self._require_version("upload its archive")
        if version.get("state") == "available":
            raise check.fail("The model is already marked as available.")
        if self._multipart:
            self._upload_in_parts(version, path)
            return
        url = version.get("s3_put_url")
        if not url:
            raise check.fail(
                "S3 PUT URL is not set, please ensure you have the right to validate a model version."
            )
        logger.info(
            "Uploading to S3 the archive of model version %s (%d bytes)", version["id"], path.stat().st_size
        )
        with upload_session(Timeouts.from_env(self.environment.variables)) as session:
            put(
                session,
                url,
                path,
                policy=self.api.policy,
                what=f"the archive of model version {version['id']}",
                headers={"Content-Type": ARCHIVE_CONTENT_TYPE},
                verify=verifies_certificate(url),
            )
        logger.info("The archive of model version %s was uploaded", version["id"])

    def validate_model_version(self, hash: str, size: int, archive_hash: str) -> dict[str, Any] | None:
        """Mark :attr:`model_version` available, its archive uploaded (``ValidateModelVersion``, 0.3.7 era).

        ``hash`` is the content hash of the archive's files, ``size`` its size in bytes,
        ``archive_hash`` its MD5. When another available version of the model has the same
        content (409), that version becomes :attr:`model_version` and the pending one is
        destroyed. A refusal (403) or a failure of the server (500, or an answer lost) is a
        warning to check the version's state. Returns :attr:`model_version` (None in
        read-only mode).
        """
        body: dict[str, Any] = {
            "size": check.integer(size, "size", minimum=1),
            "hash": _md5(hash, "hash"),
            "archive_hash": _md5(archive_hash, "archive_hash"),
        }
        if self._read_only_skip("the model version", "validate"):
            return None
        version = self._require_version("validate it")
        if not self.api.has_operation("ValidateModelVersion"):
            raise check.fail(
                f"{self.api.url} has no ValidateModelVersion: its model versions become available when "
                "their archive's upload completes (upload_to_s3), there is nothing to validate"
            )
        try:
            self.model_version = self.request("ValidateModelVersion", id=version["id"], body=body)
        except (ErrorResponse, AmbiguousWrite) as error:
            status = error.status_code if isinstance(error, ErrorResponse) else 500
            if status in (403, 500):
                logger.warning(
                    "An error occurred while validating model version %s, please check its status.",
                    version["id"],
                )
                return self.model_version
            existing = error.content if isinstance(error, ErrorResponse) else None
            if status != 409 or not isinstance(existing, Mapping) or "id" not in existing:
                raise
            self._adopt(version["id"], dict(existing), body["hash"])
        logger.info("Model version %s is now available.", self._version["id"])
        return self.model_version

    # -- all at once --------------------------------------------------------------------------

    def publish_model_version(
        self,
        model_path: str | Path,
        model_id: str,
        tag: str | None = None,
        description: str | None = None,
        configuration: Mapping[str, Any] | None = None,
        parent: str | None = None,
    ) -> dict[str, Any] | None:
        """Publish the directory ``model_path`` as a version of ``model_id``: archive, upload, make available.

        ``tag``, ``description``, ``configuration`` and ``parent`` (the version it was
        fine-tuned from, often ``ctx.model_version_id``) describe the version; when this run
        already created one (:attr:`model_version`), it is updated with them instead. The
        calls follow the instance's generation (see the module's documentation). Returns
        :attr:`model_version`, available; None in read-only mode.
        """
        path = Path(model_path)
        if not path.is_dir():
            raise check.fail(
                f"model_path must be an existing directory (the model to publish), got {model_path!r}"
            )
        model_id = check.uuid_text(model_id, "model_id")
        fields = _fields(tag, description, configuration, parent)
        if self._read_only_skip("a model version", "publish"):
            return None
        with self._run_locks(_MODEL_VERSION):  # a run publishes one: a second thread finds it available
            return self._publish(path, model_id, fields)

    def _publish(self, path: Path, model_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        """:meth:`publish_model_version` once its arguments are checked, under the model version's lock."""
        if self.model_version:
            if self.model_version.get("model_id") != model_id:
                raise check.fail(
                    f"Given `model_id` does not match the current model version (of model "
                    f"{self.model_version.get('model_id')}, not {model_id})"
                )
            if self.model_version.get("state") == "available":
                raise check.fail(
                    f"Model version {self.model_version['id']} is already available: a run publishes one "
                    "model version"
                )
        if self._multipart:
            logger.info(
                "Publishing %s as a version of model %s: archive, create, multipart upload (the instance has %s)",
                path,
                model_id,
                MULTIPART_OPERATION,
            )
            with temporary_tar_zst(path) as archive:
                _log_archive(path, archive)
                sizes: dict[str, Any] = {"size": archive.size, "archive_hash": archive.archive_md5}
                if self.model_version:
                    self.update_model_version(**fields, **sizes)
                else:
                    self.create_model_version(model_id, **fields, **sizes)
                self.upload_to_s3(archive.path)
            return self.model_version
        logger.info(
            "Publishing %s as a version of model %s: create, archive, upload to S3, validate (the instance has "
            "no %s)",
            path,
            model_id,
            MULTIPART_OPERATION,
        )
        attributes = any(fields.values())
        if not self.model_version:
            self.create_model_version(model_id, **fields)
        elif attributes:
            self.update_model_version(**fields)
        with temporary_tar_zst(path) as archive:
            _log_archive(path, archive)
            self.upload_to_s3(archive.path)
        pending = self._version["id"]
        self.validate_model_version(
            hash=archive.content_md5, size=archive.size, archive_hash=archive.archive_md5
        )
        if self._version["id"] != pending and attributes:
            logger.warning("Updating the existing available model version with the given attributes.")
            self.update_model_version(**fields)
        return self.model_version

    # -- internals ---------------------------------------------------------------------------

    @property
    def _version(self) -> dict[str, Any]:
        """:attr:`model_version`, known to be set (after a creation, an update, a validation)."""
        if not self.model_version:
            raise RuntimeError("No model version: the API answered none")
        return self.model_version

    def _require_version(self, action: str) -> dict[str, Any]:
        if not self.model_version:
            raise check.fail(
                f"No model version has been created yet, so none can {action}: call create_model_version "
                "(or publish_model_version) first."
            )
        return self.model_version

    def _adopt(self, pending_id: str, existing: dict[str, Any], content_hash: str) -> None:
        """Use ``existing``, an available version with the same content, and destroy the pending one."""
        logger.warning(
            "An available model version exists with hash %s, using it instead of the pending version.",
            content_hash,
        )
        self.model_version = existing
        logger.warning("Removing the pending model version.")
        try:
            self.request("DestroyModelVersion", id=pending_id, accept_after_repeat={404})
        except Exception as error:
            message = error.content if isinstance(error, ErrorResponse) else describe(error)
            logger.error("An error occurred removing the pending version %s: %s.", pending_id, message)

    def _upload_in_parts(self, version: dict[str, Any], path: Path) -> None:
        """The multipart upload of ``path`` as the archive of ``version``; aborted if anything fails."""
        total = path.stat().st_size
        size = part_size(total)
        count = max(1, math.ceil(total / size))
        if count > MAX_PARTS:
            raise check.fail(
                f"The archive {path} ({total} bytes) needs more than {MAX_PARTS} parts of "
                f"{MAX_PART_SIZE // MIB} MiB: the object store cannot take it"
            )
        target = {"object_type": "model_version", "object_id": version["id"]}
        upload = self.request(
            "CreateMultipartUpload", body={**target, "checksum_algorithm": None}, landed=_nothing_lasting
        )
        upload_id = upload["upload_id"]
        logger.info(
            "Uploading the archive of model version %s (%d bytes) in %d part(s) of at most %d MiB",
            version["id"],
            total,
            count,
            size // MIB,
        )
        try:
            parts = self._send_parts(target, upload_id, path, size, count)
            landed = self._completed if self.api.has_operation("RetrieveModelVersion") else None
            self.request(
                "CompleteMultipartUpload",
                body={**target, "upload_id": upload_id, "checksum_algorithm": None, "parts": parts},
                landed=landed,
            )
        except BaseException:  # a stop signal too: the upload must not stay open
            self._abort(target, upload_id)
            raise
        self.model_version = {**version, "state": "available"}
        logger.info(
            "Model version (%s) archive was successfully uploaded and is now available.", version["id"]
        )

    def _send_parts(
        self, target: dict[str, Any], upload_id: str, path: Path, size: int, count: int
    ) -> list[dict[str, Any]]:
        parts = []
        with (
            upload_session(Timeouts.from_env(self.environment.variables)) as session,
            path.open("rb") as archive,
        ):
            for number in range(1, count + 1):
                data = archive.read(size)
                md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
                signed = self.request(
                    "CreateMultipartUploadPart",
                    body={
                        **target,
                        "upload_id": upload_id,
                        "checksum_algorithm": None,
                        "part_number": number,
                        "checksum": None,
                        "md5_hash": md5,
                    },
                    landed=_nothing_lasting,
                )
                what = f"part {number} of {count} of the archive of model version {target['object_id']}"
                response = put(
                    session,
                    signed["url"],
                    data,
                    policy=self.api.policy,
                    what=what,
                    headers={"Content-MD5": md5},
                    verify=verifies_certificate(signed["url"]),
                )
                etag = response.headers.get("ETag")
                if not etag:
                    raise UploadError(f"The object store answered {what} without its ETag")
                parts.append({"part_number": number, "etag": etag, "checksum": None, "md5_hash": md5})
                logger.info("Uploaded %s (%d bytes)", what, len(data))
        return parts

    def _completed(self) -> dict[str, Any] | None:
        """The landed check of a lost ``CompleteMultipartUpload``: the version, if it is available now."""
        version = self.request("RetrieveModelVersion", id=self._version["id"])
        return version if isinstance(version, dict) and version.get("state") == "available" else None

    def _abort(self, target: dict[str, Any], upload_id: str) -> None:
        logger.warning("Aborting the multipart upload %s of model version %s", upload_id, target["object_id"])
        try:
            self.request("AbortMultipartUpload", body={**target, "upload_id": upload_id})
        except Exception as error:
            logger.warning("Could not abort the multipart upload %s: %s", upload_id, describe(error))


def _nothing_lasting() -> None:
    """The landed check of a step whose lost answer leaves nothing a repeat would duplicate.

    A multipart upload opened but never told about is empty and expires in the object
    store; a part's signed URL is only a signature. None says: send the request again.
    """
    return None


def _log_archive(path: Path, archive: ArchiveInfo) -> None:
    logger.info(
        "Archived %s: %d bytes, content hash %s, archive hash %s",
        path,
        archive.size,
        archive.content_md5,
        archive.archive_md5,
    )
