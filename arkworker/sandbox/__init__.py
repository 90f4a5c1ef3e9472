"""A local Arkindex-compatible server, to run and test workers without an Arkindex instance.

The sandbox answers the real ``arkindex-client`` over real HTTP with the API operations a
worker uses (the coverage list is :func:`implemented_operations`; other operations answer
a loud 501), backed by a SQLite state seeded from a corpus file. :class:`Sandbox` is the
control plane: start and stop the server, point a worker at it, inspect what the worker
created, inject failures, reset the state::

    from arkindex import ArkindexClient
    from arkworker.sandbox import Sandbox

    with Sandbox("tests/corpus.yml") as sb:
        client = ArkindexClient(base_url=sb.url, token=sb.token)
        page = client.request("RetrieveElement", id=sb.process_element_ids()[0])
        sb.fail("RetrieveElement", status=502, times=2)   # the next two calls fail
        sb.reset_mid_answer("CreateTranscription")       # stored, but the answer is cut
        ...
        assert sb.created() == {"transcriptions": [...]}
        assert [r.operation_id for r in sb.requests][-1] == "RetrieveElement"

``sb.env()`` gives the variables a worker process needs (``ARKINDEX_API_URL`` and co).
The faults a sandbox can inject, and what each does to the state, are described in
:mod:`arkworker.sandbox.faults`. ``sb.viewer_url`` is the results viewer
(:mod:`arkworker.sandbox.viewer`), web pages showing what the workers made on each page.

``Sandbox(api_level="legacy")`` serves a 0.3.7-era instance instead of a current one: its
schema lacks the operations added since (StartWorkerActivity, ListProcessElements,
RetrieveWorkerRunConfiguration, RetrieveTask, RetrieveDatasetSet, RetrieveModelVersion, the
multipart uploads, the corpus exports, and those of today's result helpers: ListElements,
CreateElementChildren, CreateDataset, CreateDatasetElement, DestroyDatasetElement,
CreateEmbedding, ListEmbeddings), which answer 404; it keeps the 0.3.7 entity model
(CreateEntity, ListCorpusEntities, entities placed in transcriptions), which the current
level replaces with spans marked by entity types.

A training worker's model archive goes to the sandbox's object store
(:mod:`arkworker.sandbox.uploads`), as it would go to S3; ``sb.uploaded(version_id)`` gives
the bytes back, and the fault target ``"upload"`` spoils its requests. A current sandbox
builds corpus exports (:mod:`arkworker.sandbox.handlers.exports`): DownloadExport redirects
to the sandbox's storage, a fault target of its own (:data:`STORAGE`).
"""

from __future__ import annotations

import secrets as _secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from arkworker.sandbox.corpus import CorpusError, CorpusSpec, load_corpus
from arkworker.sandbox.faults import (
    FAULT_KINDS,
    IIIF,
    SCHEMA,
    STORAGE,
    UPLOAD,
    Fault,
    FaultRule,
    build_fault,
    check_times,
)
from arkworker.sandbox.handlers import datasets, implemented_operations, tasks
from arkworker.sandbox.handlers.models import archive_object
from arkworker.sandbox.iiif import DEFAULT_MAX_AREA
from arkworker.sandbox.operations import API_LEVELS, DEFAULT_API_LEVEL, check_api_level
from arkworker.sandbox.server import DEFAULT_MAX_BODY_SIZE, RecordedRequest, SandboxApp
from arkworker.sandbox.store import StateFileError, Store
from arkworker.sandbox.transport import ServerThread
from arkworker.sandbox.uploads import find_object
from arkworker.sandbox.viewer import ReportReader

_PLAIN = "text/plain; charset=utf-8"

__all__ = [
    "API_LEVELS",
    "DEFAULT_API_LEVEL",
    "DEFAULT_MAX_AREA",
    "DEFAULT_MAX_BODY_SIZE",
    "FAULT_KINDS",
    "IIIF",
    "SCHEMA",
    "STORAGE",
    "UPLOAD",
    "CorpusError",
    "Fault",
    "FaultRule",
    "RecordedRequest",
    "Sandbox",
    "StateFileError",
    "implemented_operations",
]


class Sandbox:
    """One sandbox Arkindex: a state file, a corpus to (re)seed it from, and a server.

    ``corpus`` is a YAML/JSON file path, a mapping in the same format, a folder of images
    (imported as ``arkworker sandbox import`` does), or None for the demo corpus; it is
    validated at construction (:class:`CorpusError`). ``db_path`` is the
    SQLite state file: if it already holds a sandbox state, that state is reused as is (not
    re-seeded), otherwise it is created and seeded; without it the state lives in a
    temporary directory removed with the object. ``port`` 0 picks a free port at
    :meth:`start`. ``page_size`` is the default page size of paginated answers (1 to 500).
    ``token`` is the API token clients must send (random by default). ``max_body_size``
    (bytes) and ``iiif_max_area`` (pixels) keep a misbehaving client from bringing the sandbox
    down: a larger request body is answered 413, a larger IIIF image 400. ``api_level`` is
    the Arkindex generation served, ``legacy`` (0.3.7 era) or ``current`` (what
    arkindex-base-worker 0.4 to 0.6 meet); by default the corpus's ``api_level``, else
    ``current``. An unknown level is a ``ValueError``. ``latency`` (seconds, default 0) is
    waited before every request is handled, API, schema, IIIF, uploads and storage alike, as
    on a remote instance (``latency=0.02``: 20 ms per call); unlike a fault it is never used
    up, recorded, or cleared by :meth:`reset`, and :attr:`latency` changes it at any time.
    ``declared_fields`` are the configuration fields of the worker to run (a declaration
    file's ``configuration`` list): the worker run's configuration uses their defaults and
    secret flags for the keys the corpus leaves unset, as an Arkindex instance that imported
    the worker's declaration would.

    The state can be inspected (:meth:`objects`, :meth:`created`) whether or not the server
    runs; :attr:`url` and :meth:`env` need a started server.
    """

    def __init__(
        self,
        corpus: str | Path | Mapping[str, Any] | None = None,
        *,
        db_path: str | Path | None = None,
        port: int = 0,
        page_size: int = 20,
        token: str | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        iiif_max_area: int = DEFAULT_MAX_AREA,
        api_level: str | None = None,
        latency: float = 0.0,
        declared_fields: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        if isinstance(corpus, str | Path) and Path(corpus).is_dir():
            corpus = _import_folder(corpus)
        self._spec: CorpusSpec = load_corpus(corpus, declared_fields)
        #: The Arkindex generation served: ``legacy`` or ``current``.
        self.api_level: str = check_api_level(api_level or self._spec.api_level or DEFAULT_API_LEVEL)
        self.store = Store(db_path)
        self.token: str = token or _secrets.token_hex(20)
        self.port = port
        self.app = SandboxApp(
            self.store,
            token=self.token,
            page_size=page_size,
            max_body_size=max_body_size,
            iiif_max_area=iiif_max_area,
            api_level=self.api_level,
            latency=latency,
        )
        self._server: ServerThread | None = None
        if not self.store.holds_state():
            self._seed()

    def __repr__(self) -> str:
        where = self.url if self._server else "stopped"
        return (
            f"<Sandbox {self.corpus_name!r} {where} api_level={self.api_level} state={str(self.db_path)!r}>"
        )

    def _seed(self) -> None:
        with self.store.session():  # one transaction: a failed seeding leaves no half state
            self.store.initialise()
            self._spec.seed(self.store)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Serve the API on 127.0.0.1 from a background thread; returns the sandbox."""
        if self._server is not None:
            raise RuntimeError(f"The sandbox is already serving at {self.url}")
        self._server = ServerThread(self.app, self.app.stopping, self.port)
        return self

    def stop(self) -> None:
        """Stop serving (the state stays readable); stopping a stopped sandbox does nothing."""
        if self._server is not None:
            self._server.stop()
            self._server = None
            self.store.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """Back to the seeded state: the corpus is re-seeded, requests and faults are cleared."""
        self._seed()
        self.app.clear_requests()
        self.app.faults.clear()

    @property
    def latency(self) -> float:
        """Seconds every request waits before it is handled (0: none); settable, a bad value is a ``ValueError``."""
        return self.app.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.app.latency = seconds

    # -- addresses and ids ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, the base URL to give ``ArkindexClient``."""
        if self._server is None:
            raise RuntimeError("The sandbox is not serving: call start() or use 'with Sandbox(...) as sb:'")
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def db_path(self) -> Path:
        return self.store.path

    @property
    def corpus_id(self) -> str:
        return self.store.fact("corpus_id")

    @property
    def corpus_name(self) -> str:
        return self.store.fact("corpus_name")

    @property
    def worker_run_id(self) -> str:
        return self.store.fact("worker_run_id")

    @property
    def process_id(self) -> str:
        return self.store.fact("process_id")

    def env(self) -> dict[str, str]:
        """The variables that point a worker at this sandbox, in production mode on its worker run.

        ``ARKINDEX_TASK_TOKEN`` wins over ``ARKINDEX_API_TOKEN`` in arkindex-client: leave it
        out of the worker's environment.
        """
        return {
            "ARKINDEX_API_URL": self.url,
            "ARKINDEX_API_TOKEN": self.token,
            "ARKINDEX_WORKER_RUN_ID": self.worker_run_id,
            "ARKINDEX_CORPUS_ID": self.corpus_id,
        }

    @property
    def viewer_url(self) -> str:
        """The results viewer's front page (``<url>/``): the corpus tree, each element's page, the run summary."""
        return f"{self.url}/"

    def show_report(self, reader: ReportReader | None) -> None:
        """Give the viewer's run page a run report: ``reader()`` returns it, at each visit of the page.

        Read at each visit, so a report a run writes later shows up; the reader raises a
        :class:`~arkworker.errors.UserError` whose line the page shows when there is no
        report to show (not written yet, unreadable). None removes it.
        """
        self.app.viewer.report = reader

    def process_element_ids(self) -> list[str]:
        """The elements the sandbox's process runs on, in order (``worker_run.process.elements``).

        They are also what its queue (StartWorkerActivity) hands out, in that order.
        """
        (process,) = self.store.objects("processes", id=self.process_id)
        return list(process["element_ids"])

    def listed_element_ids(self) -> list[str]:
        """The elements a worker is given on its command line: the process's, unless the process
        hands them out itself at the current API level (its queue, ``skip_elements_json`` not
        false; a dataset or export process)."""
        (process,) = self.store.objects("processes", id=self.process_id)
        # A null skip_elements_json is left out of the process's payload: absent means the queue.
        hands_out = process.get("skip_elements_json") is not False or process.get("mode") in (
            "dataset",
            "export",
        )
        if self.api_level == "current" and hands_out:
            return []
        return list(process["element_ids"])

    def add_task(self, slug: str, parents: Sequence[str] = (), *, task_id: str | None = None) -> str:
        """Add a Ponos task to the sandbox's process (``parents``: task ids); return its id."""
        return tasks.add_task(self.store, self.process_id, slug, parents, task_id)

    def set_task_parents(self, task_id: str, parents: Sequence[str]) -> None:
        """Replace the parents a task gets from ``RetrieveTaskFromAgent``."""
        tasks.set_task_parents(self.store, task_id, parents)

    # -- inspection ------------------------------------------------------------------------------

    def objects(self, kind: str, /, **filters: Any) -> list[dict[str, Any]]:
        """Rows of one table (``"elements"``, ``"transcriptions"``, ``"activities"``...) as dicts.

        Filters are equalities on columns (``element_id=...``, ``worker_run_id=None``); rows
        come in creation order with ids as dashed strings and JSON columns decoded.
        """
        return self.store.objects(kind, **filters)

    def created(self, worker_run_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """What a worker run created, per kind (``{"transcriptions": [...]}``), empty kinds omitted.

        Defaults to the sandbox's worker run.
        """
        return self.store.created(worker_run_id or self.worker_run_id)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request answered since the start (or the last clear), oldest first."""
        return self.app.requests

    def clear_requests(self) -> None:
        self.app.clear_requests()

    def uploaded(self, model_version_id: str) -> bytes:
        """The archive uploaded for a model version: PUT to its ``s3_put_url``, or its completed multipart upload.

        A ``LookupError`` when nothing was uploaded for it (none yet, or the version was destroyed).
        """
        with self.store.session():
            stored = find_object(archive_object(model_version_id))
            data = None if stored is None else bytes(stored.data)
        if data is None:
            raise LookupError(f"Nothing was uploaded for model version {model_version_id}")
        return data

    def artifact(self, task_id: str, path: str) -> bytes:
        """The bytes a worker uploaded for its task's artifact ``path`` (CreateArtifact, then a PUT).

        A ``LookupError`` when the task has no such artifact, or its bytes were not uploaded.
        """
        with self.store.session():
            found = datasets.Artifact.get_or_none(
                (datasets.Artifact.task_id == task_id) & (datasets.Artifact.path == path)
            )
            stored = None if found is None or found.object_name is None else find_object(found.object_name)
            data = None if stored is None else bytes(stored.data)
        if data is None:
            raise LookupError(f"Nothing was uploaded for the artifact {path!r} of task {task_id}")
        return data

    # -- fault injection (the kinds and their rules: arkworker.sandbox.faults) ------------------

    def fault(
        self,
        target: str,
        kind: str,
        *,
        times: int | None = 1,
        status: int | None = None,
        body: Any = None,
        content_type: str | None = None,
        seconds: float | None = None,
        after_bytes: int | None = None,
        apply: bool | None = None,
        delay: float | None = None,
    ) -> None:
        """Spoil the next ``times`` requests of ``target`` with a fault of ``kind`` (None: until cleared).

        ``target`` is an operationId, :data:`SCHEMA` (``"schema"``, the schema download),
        :data:`IIIF` (``"iiif"``, the IIIF server), :data:`UPLOAD` (``"upload"``, the object
        store where model archives are uploaded) or :data:`STORAGE` (``"storage"``, the files
        such as exports that answers point to); ``kind`` one of :data:`FAULT_KINDS`:
        ``"error"`` (``status``, ``body``, ``content_type``, ``delay``), ``"reset"``,
        ``"reset-mid-answer"`` and ``"truncate"`` (``after_bytes``), ``"stall"`` and ``"slow"``
        (``seconds``), ``"malformed"`` (``body``, ``content_type``, ``apply``, ``delay``). A
        parameter the kind does not take, or a bad value, raises ``ValueError``::

            sb.fault("CreateTranscription", "reset-mid-answer", times=3)
            sb.fault("RetrieveElement", "error", status=503, times=2)
            sb.fault("RetrieveElement", "stall", seconds=5)

        The shortcuts below say the same in fewer words.
        """
        check_times(times)
        built = build_fault(
            target,
            kind,
            status=status,
            body=body,
            content_type=content_type,
            seconds=seconds,
            after_bytes=after_bytes,
            apply=apply,
            delay=delay,
        )
        self.add_fault(FaultRule(target, built, times))

    def add_fault(self, rule: FaultRule) -> None:
        """Queue a rule built elsewhere (``faults.parse_fault_spec("RetrieveElement:reset")``)."""
        self.app.faults.add(rule)

    def fail(
        self,
        operation_id: str,
        status: int = 500,
        times: int | None = 1,
        body: Any = None,
        delay: float = 0.0,
    ) -> None:
        """Make the next ``times`` calls of ``operation_id`` answer ``status`` after ``delay`` seconds.

        The request is not handled (nor authenticated). The default body is an Arkindex
        ``server_error`` (``client_error`` for a 4xx); a ``str`` body is sent as plain text
        (what a load balancer answers), bytes as they are, anything else as JSON.
        """
        self.fault(operation_id, "error", times=times, status=status, body=body, delay=delay)

    def fail_iiif(
        self, status: int = 500, times: int | None = 1, body: str | bytes | None = None, delay: float = 0.0
    ) -> None:
        """Make the next ``times`` requests to the sandbox's IIIF server answer ``status``.

        ``status=200`` with a ``body`` serves that body as the image (corrupt data); with a
        ``delay`` and no body, the normal answer comes late, to test download timeouts::

            sb.fail_iiif(200, delay=0.5)   # the next IIIF answer is correct but half a second late
        """
        if (
            isinstance(status, bool)
            or not isinstance(status, int)
            or not (status == 200 or 400 <= status <= 599)
        ):
            raise ValueError(
                f"A fault status must be 200 or an HTTP error status (400 to 599), got {status!r}"
            )
        if status != 200:
            self.fault(IIIF, "error", times=times, status=status, body=body, content_type=_PLAIN, delay=delay)
        elif body is not None:
            self.fault(IIIF, "malformed", times=times, body=body, content_type="image/jpeg", delay=delay)
        elif delay:
            self.fault(IIIF, "stall", times=times, seconds=delay)
        else:
            raise ValueError(
                "A 200 fault serves its body as the image, or the normal answer late: "
                "give the body (corrupt bytes) or a delay"
            )

    def truncate(self, operation_id: str = "DownloadArtifact", after: int = 0, times: int | None = 1) -> None:
        """Cut the next ``times`` answers of ``operation_id`` after ``after`` body bytes (a clean close).

        The request is handled; its answer announces the whole body, sends its first
        ``after`` bytes (at most all but one) and closes the connection, as a network failure
        in the middle of a download would::

            sb.truncate("DownloadArtifact", after=1024, times=None)   # every download is cut
        """
        self.fault(operation_id, "truncate", times=times, after_bytes=after)

    def reset_connection(self, target: str, *, times: int | None = 1) -> None:
        """Reset the connection of the next ``times`` requests of ``target`` before reading their body.

        Nothing is handled: the state does not change, and the client gets no answer (a
        ``ConnectionError`` with ``requests``).
        """
        self.fault(target, "reset", times=times)

    def reset_mid_answer(self, target: str, *, after_bytes: int | None = None, times: int | None = 1) -> None:
        """Handle the next ``times`` requests of ``target``, then reset their connection mid-answer.

        The state changes (the transcription is stored...), but the client gets the status
        line, the headers and ``after_bytes`` of the body (default: half), then a reset (a
        ``ChunkedEncodingError`` with ``requests``).
        """
        self.fault(target, "reset-mid-answer", times=times, after_bytes=after_bytes)

    def stall(self, target: str, seconds: float, *, times: int | None = 1) -> None:
        """Handle the next ``times`` requests of ``target``, then hold their answer ``seconds`` before sending it.

        A client whose read timeout is shorter gives up first (``ReadTimeout``); the state
        has changed all the same.
        """
        self.fault(target, "stall", times=times, seconds=seconds)

    def slow(self, target: str, seconds: float, *, times: int | None = 1) -> None:
        """Handle the next ``times`` requests of ``target``, then trickle their answer over ``seconds``.

        A piece comes at least every 50 ms, so a read timeout never fires: what the test
        can catch is a total time budget per call.
        """
        self.fault(target, "slow", times=times, seconds=seconds)

    def malformed(
        self,
        target: str,
        body: Any = None,
        *,
        content_type: str | None = None,
        apply: bool = False,
        times: int | None = 1,
    ) -> None:
        """Answer the next ``times`` requests of ``target`` with a 200 that is not what the schema says.

        The default body is an HTML page (a captive portal); ``body`` may be a str, bytes, or
        a JSON value (``{"id": 3}``). With ``apply=True`` the request is handled first (the
        state changes) and its real answer replaced.
        """
        self.fault(target, "malformed", times=times, body=body, content_type=content_type, apply=apply)

    def pending_faults(self) -> list[FaultRule]:
        """The faults still to apply, target by target, each with its remaining ``times``."""
        return self.app.faults.pending()

    def clear_faults(self) -> None:
        """Drop every pending fault, of every kind and target."""
        self.app.faults.clear()


def _import_folder(directory: str | Path) -> dict[str, Any]:
    """The corpus of a folder of images; its problems raised as :class:`CorpusError`."""
    from arkworker.errors import BadInput
    from arkworker.sandbox.importer import folder_corpus

    try:
        return folder_corpus(directory)
    except BadInput as error:
        raise CorpusError(str(error)) from None
