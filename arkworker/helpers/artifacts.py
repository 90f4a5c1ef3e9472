"""``ctx.upload_artifact``: publish a file of the work directory as an artifact of the Ponos task.

arkindex-base-worker 0.5.2's ``upload_artifact``, with its calls: ``CreateArtifact`` on the
task (``PONOS_TASK``) with the file's path relative to the work directory, its size and
content type, answered a signed ``s3_put_url``, then one PUT of the file there. Later tasks
of the process find it with ``ListArtifacts`` and ``DownloadArtifact``.

Where arkworker differs from the reference:

* the content type is guessed from the file's name (:func:`mimetypes.guess_type`), not its
  bytes (python-magic, a dependency arkworker does not take); a compressed file is the type of
  its compression (``.tar.gz``: ``application/gzip``), an unknown one
  ``application/octet-stream``;
* the PUT goes through :mod:`arkworker.api.uploads`: retried from its first byte on transient
  failures, with the run's timeouts (the reference: no retry, 408 seconds), never carrying the
  API token;
* a lost answer of ``CreateArtifact`` is checked (a task has one artifact per path, so
  ``ListArtifacts`` tells whether it was created) rather than sent again blindly: when it was
  not, the creation is sent again; when it was, the listed artifact's ``s3_put_url`` is used,
  and when the listing has none (the sandbox's has not) the URL was lost with the answer: the
  upload fails with :class:`~arkworker.api.uploads.UploadError` saying so, and the artifact
  exists without its bytes.
"""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arkworker.api.client import Timeouts
from arkworker.api.uploads import UploadError, put, upload_session
from arkworker.errors import ConfigurationError
from arkworker.helpers import validation as check
from arkworker.helpers.base import HelperMixin
from arkworker.images.downloads import verifies_certificate
from arkworker.models import Artifact

if TYPE_CHECKING:
    from arkworker.environment import Environment

logger = logging.getLogger("arkworker.helpers")

#: The content type of a file whose name gives none.
DEFAULT_CONTENT_TYPE = "application/octet-stream"
#: The content type of a compressed file, by the encoding :func:`mimetypes.guess_type` names.
_COMPRESSED = {"gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz"}


def guess_content_type(path: Path) -> str:
    """The media type of a file from its name; ``application/octet-stream`` when unknown."""
    content_type, encoding = mimetypes.guess_type(path.name)
    if encoding is not None:
        return _COMPRESSED.get(encoding, DEFAULT_CONTENT_TYPE)
    return content_type or DEFAULT_CONTENT_TYPE


class ArtifactMixin(HelperMixin):
    """Mixin of :class:`arkworker.Context`: uploading artifacts of the current task."""

    if TYPE_CHECKING:
        environment: Environment

    def upload_artifact(self, path: str | Path) -> Artifact | None:
        """Upload ``path``, a file inside the work directory, as an artifact of the Ponos task.

        The artifact's path is the file's, relative to the work directory (``ctx.work_dir``);
        its content type is guessed from the name (:func:`guess_content_type`). Returns the
        created artifact, or None in read-only mode, where nothing is sent. A file outside
        the work directory is an :class:`~arkworker.errors.InvalidArgument`; a run without
        ``PONOS_TASK`` a :class:`~arkworker.errors.ConfigurationError`; a file the object
        store does not take an :class:`~arkworker.api.uploads.UploadError`.
        """
        file = Path(path)
        if not file.is_file():
            raise check.fail(f"upload_artifact needs an existing file, got {path!r}")
        work_dir = self.environment.work_dir
        try:
            relative = file.resolve().relative_to(work_dir.resolve()).as_posix()
        except ValueError:
            raise check.fail(
                f"upload_artifact uploads files of the work directory {work_dir}: {file} is not inside it"
            ) from None
        if self._read_only_skip("artifact", verb="upload"):
            return None
        task_id = self.environment.ponos_task
        if task_id is None:
            raise ConfigurationError(
                "upload_artifact needs PONOS_TASK, the id of the task the artifact belongs to: "
                "Ponos sets it; set it yourself to upload outside a Ponos task"
            )
        self._require("CreateArtifact", "upload_artifact")
        size = file.stat().st_size
        content_type = guess_content_type(file)
        created = self.request(
            "CreateArtifact",
            id=task_id,
            body={"path": relative, "content_type": content_type, "size": size},
            landed=lambda: self._listed_artifact(task_id, relative),
        )
        url = created.get("s3_put_url")
        what = f"the artifact {relative} of task {task_id}"
        if not url:
            raise UploadError(
                f"The answer creating {what} was lost and the artifact exists without its upload URL: "
                "its bytes cannot be sent (remove the artifact, or upload the file under another path)"
            )
        with upload_session(Timeouts.from_env(self.environment.variables)) as session:
            put(
                session,
                url,
                file,
                policy=self.api.policy,
                what=what,
                headers={"Content-Type": content_type},
                verify=verifies_certificate(url),
            )
        logger.info("Uploaded %s (%d bytes, %s)", what, size, content_type)
        return Artifact(created)

    def _listed_artifact(self, task_id: str, path: str) -> dict[str, Any] | None:
        """The landed check of a lost ``CreateArtifact``: the task's artifact at ``path``, if any."""
        for artifact in self.request("ListArtifacts", id=task_id):
            if artifact.get("path") == path:
                return dict(artifact)
        return None
