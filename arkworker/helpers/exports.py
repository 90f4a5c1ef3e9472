"""Corpus export helpers on ``ctx``: list, start, wait for and download SQLite exports.

Today's Arkindex hands dataset workers their data as a SQLite export of the dataset's
corpus, which the instance builds in the background (arkindex-base-worker 0.6's corpus
helpers, under the same names): ``start_export`` asks for one (or reuses the one running,
or just made), ``get_export`` waits until it is done and downloads it, ``download_export``
downloads a done one, ``list_exports`` lists them, most recent first::

    export_id = ctx.start_export(dataset_id=dataset.id)
    path = ctx.get_export(export_id, dataset_id=dataset.id)   # a SQLite file, yours to delete

Unlike the reference, a failed export is never reused, an export missing from the listing
is an error rather than taken as done, the wait is bounded by ``ARKWORKER_EXPORT_TIMEOUT``
(default 3 hours, the reference's) and ends early when the run is asked to stop, and the
download has timeouts and retries. Starting an export is not refused in read-only mode, as
the reference does not: an export is a snapshot of the corpus, it changes none of its data,
and without it a ``--dev`` run could read no dataset. Each helper takes a keyword-only
``corpus_id`` for a dataset of another corpus than the run's (``ctx.corpus_id`` by default).
"""

from __future__ import annotations

import enum
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arkindex.exceptions import ErrorResponse

from arkworker.api.artifacts import NoRedirect, download_redirected
from arkworker.api.client import LANDED_EARLIER
from arkworker.environment import env_number
from arkworker.errors import InvalidArgument
from arkworker.helpers.base import HelperMixin
from arkworker.models import CorpusExport

if TYPE_CHECKING:
    from arkworker.api.client import Api
    from arkworker.environment import Environment

logger = logging.getLogger("arkworker.helpers")

#: Seconds ``get_export`` waits for an export by default: 3 hours, as the reference.
DEFAULT_EXPORT_TIMEOUT = 3 * 3600.0
#: Seconds between the first checks of an export's state, then :data:`POLL_EVERY` each time.
#: A small export is done within seconds: it is seen soon; a large one is checked once a minute.
POLL_WAITS = (5.0, 10.0, 20.0, 40.0)
POLL_EVERY = 60.0
#: How often a wait checks whether the run was asked to stop (seconds).
_STOP_CHECK = 0.5
#: The refusals of StartExport that point at an export to reuse.
_REUSE_CODES = ("running_export", "existing_export")


class CorpusExportState(enum.Enum):
    """The state of a corpus export, as Arkindex gives it."""

    Created = "created"
    Running = "running"
    Failed = "failed"
    Done = "done"


class ExportError(AssertionError):
    """An export that cannot be had; the message says which and what to do.

    An ``AssertionError``, as the reference's export errors are, so that code written for
    it keeps catching them.
    """


class FailedExportError(ExportError):
    """The export ended in the ``failed`` state."""


class ExportNotFinishedError(ExportError):
    """The export is still ``created`` or ``running`` when the wait ends (or the run stops)."""


class NoExportURLError(ExportError):
    """DownloadExport did not redirect to the export's file."""


def read_export_timeout(env: Mapping[str, str]) -> float:
    """``ARKWORKER_EXPORT_TIMEOUT``: seconds to wait for an export (0: check it once)."""
    expected = (
        "a number of seconds >= 0 (how long to wait for a corpus export to be done, "
        f"default {DEFAULT_EXPORT_TIMEOUT:g}, 3 hours)"
    )
    return float(
        env_number(
            env, "ARKWORKER_EXPORT_TIMEOUT", float, DEFAULT_EXPORT_TIMEOUT, minimum=0, expected=expected
        )
    )


def duration(seconds: float) -> str:
    """``45 s``, ``2 min 5 s``, ``3 h 0 min``: a wait as a log line says it."""
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.1f}".removesuffix(".0") + " s" if seconds < 10 else f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


class ExportMixin(HelperMixin):
    """Mixin of :class:`arkworker.Context`: corpus exports."""

    if TYPE_CHECKING:
        api: Api
        environment: Environment

        @property
        def stop_requested(self) -> bool: ...

    @cached_property
    def export_timeout(self) -> float:
        """Seconds :meth:`get_export` waits for an export (``ARKWORKER_EXPORT_TIMEOUT``, default 3 h)."""
        return read_export_timeout(self.environment.variables)

    def list_exports(
        self, dataset_id: uuid.UUID | str | None = None, *, corpus_id: str | None = None
    ) -> list[CorpusExport]:
        """The exports of the corpus (of one dataset with ``dataset_id``), most recent first."""
        parameters: dict[str, Any] = {"id": self._export_corpus(corpus_id)}
        if dataset_id is not None:
            parameters["dataset_id"] = _uuid(dataset_id, "dataset_id")
        exports = [CorpusExport(item) for item in self.paginate("ListExports", **parameters)]
        return sorted(exports, key=lambda export: str(export.get("created")), reverse=True)

    def start_export(self, dataset_id: uuid.UUID | str | None = None, *, corpus_id: str | None = None) -> str:
        """Start an export of the corpus (of one dataset with ``dataset_id``); the export's id.

        When the instance refuses because an export is running or was just made
        (``running_export``, ``existing_export``), that export is used instead: the most
        recent one that has not failed. The refusal also makes the call safe to repeat when
        its answer is lost: the repeat is refused if the first attempt started one.
        """
        corpus = self._export_corpus(corpus_id)
        dataset = None if dataset_id is None else _uuid(dataset_id, "dataset_id")
        body = {} if dataset is None else {"dataset_id": dataset}
        try:
            answer = self.request("StartExport", id=corpus, body=body, accept_after_repeat=_names_an_export)
        except ErrorResponse as exc:
            if not _names_an_export(exc):
                raise
            detail = _refusal(exc)[1]
        else:
            if answer is not LANDED_EARLIER:
                return str(answer["id"])
            detail = "The first attempt of StartExport started an export (its answer was lost)."
        exports = self.list_exports(dataset, corpus_id=corpus)
        if dataset is None:  # the listing of a corpus holds the exports of its datasets too
            exports = [export for export in exports if export.get("dataset_id") is None]
        usable = [e for e in exports if e.get("state") != CorpusExportState.Failed.value] or exports
        if not usable:
            scope = f"corpus {corpus}" if dataset is None else f"dataset {dataset} of corpus {corpus}"
            raise ExportError(f"{detail} Yet ListExports lists no export of {scope}: start one again.")
        export = usable[0]
        logger.warning(
            "%s Using the existing export (%s, %s) rather than starting a new one.",
            detail,
            export["id"],
            export.get("state"),
        )
        return str(export["id"])

    def get_export(
        self, export_id: str, dataset_id: uuid.UUID | str | None = None, *, corpus_id: str | None = None
    ) -> Path:
        """Wait until the export is done, then download it (see :meth:`download_export`); its path.

        The state is checked at once, then after 5, 10, 20 and 40 seconds, then every minute
        (the waits scale with ``ARKWORKER_RETRY_BACKOFF``), one log line per check, until
        :attr:`export_timeout` has passed. Raises :class:`FailedExportError` for a failed
        export, :class:`ExportNotFinishedError` when the time is up or the run is asked to stop.
        """
        export_id = _uuid(export_id, "export_id")
        corpus = self._export_corpus(corpus_id)
        timeout = self.export_timeout
        started = time.monotonic()
        checks = 0
        while True:
            checks += 1
            exports = self.list_exports(dataset_id, corpus_id=corpus)
            export = next((item for item in exports if item.get("id") == export_id), None)
            if export is None:
                raise ExportError(
                    f"The SQL export ({export_id}) is not among the exports of corpus {corpus}: it may have "
                    "been deleted. Start a new one."
                )
            state = export.get("state")
            if state == CorpusExportState.Done.value:
                break
            if state == CorpusExportState.Failed.value:
                raise FailedExportError(
                    f"The SQL export ({export_id}) is in the `failed` state. Select another export or start "
                    "a new one."
                )
            elapsed = time.monotonic() - started
            if elapsed >= timeout:
                raise ExportNotFinishedError(
                    f"After {duration(elapsed)}, the SQL export ({export_id}) is still {state} "
                    f"(ARKWORKER_EXPORT_TIMEOUT={timeout:g}): once it is done, run again to use it, or "
                    "wait longer with a higher ARKWORKER_EXPORT_TIMEOUT."
                )
            wait = min(self._poll_wait(checks), timeout - elapsed)
            logger.info(
                "The SQL export (%s) is %s after %s; checking again in %s",
                export_id,
                state,
                duration(elapsed),
                duration(wait),
            )
            if not self._wait(wait):
                raise ExportNotFinishedError(
                    f"Stopped waiting for the SQL export ({export_id}), still {state}: the run was asked to stop."
                )
        return self.download_export(export_id)

    def download_export(self, export_id: str, destination: str | Path | None = None) -> Path:
        """Download a done export (DownloadExport's redirect, followed without the API's token).

        The file is written to ``destination``, complete or not at all, or without it to a new
        temporary file (``arkworker-export-*.sqlite``) that is yours to delete; its path.
        """
        export_id = _uuid(export_id, "export_id")
        if destination is None:
            descriptor, name = tempfile.mkstemp(prefix="arkworker-export-", suffix=".sqlite")
            os.close(descriptor)
            target = Path(name)
        else:
            target = Path(destination)
        logger.info("Downloading export (%s)...", export_id)
        try:
            try:
                download_redirected(self.api, "DownloadExport", target, id=export_id)
            except NoRedirect as exc:
                raise NoExportURLError(f"Failed to get the URL of the export ({export_id}): {exc}") from exc
        except BaseException:
            if destination is None:
                target.unlink(missing_ok=True)
            raise
        logger.info("Downloaded export (%s) @ `%s`", export_id, target)
        return target

    def _export_corpus(self, corpus_id: str | None) -> str:
        return self.corpus_id if corpus_id is None else _uuid(corpus_id, "corpus_id")

    def _poll_wait(self, checks: int) -> float:
        """Seconds before the check after check number ``checks``."""
        wait = POLL_WAITS[checks - 1] if checks <= len(POLL_WAITS) else POLL_EVERY
        return wait * self.api.policy.backoff

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds``, or less if the run is asked to stop; False when it was."""
        deadline = time.monotonic() + seconds
        while not self.stop_requested:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(left, _STOP_CHECK))
        return False


def _refusal(exc: ErrorResponse) -> tuple[str | None, str]:
    """The code and detail of the first error of a 400 answer (``None`` and its text otherwise)."""
    content = exc.content
    if exc.status_code == 400 and isinstance(content, Mapping):
        errors = content.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
            return errors[0].get("code"), str(errors[0].get("detail", ""))
    return None, str(content)


def _names_an_export(exc: ErrorResponse) -> bool:
    """Whether StartExport refused because an export to reuse exists."""
    return _refusal(exc)[0] in _REUSE_CODES


def _uuid(value: Any, name: str) -> str:
    """The canonical text of a UUID given as ``uuid.UUID`` or text; anything else is refused."""
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except ValueError:
        raise InvalidArgument(f"{name} must be a UUID (uuid.UUID or its text), got {value!r}") from None
