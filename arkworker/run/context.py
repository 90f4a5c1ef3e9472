"""The run context, ``ctx``: what a handler can read and call during a run.

One context exists per run. It holds what is fixed for the whole run (configuration,
API access, directories); nothing that belongs to a single element is stored on it, so
handlers stay free to process several elements at once.

The context also owns what the run opens (its cache, its download settings, its thread
pools) on one exit stack, the way click's context does (:meth:`Context.with_resource`,
:meth:`Context.call_on_close`): all of it is closed when the run ends, also on failure,
and nothing of a run lives in a module global, so two runs in one process share nothing.

Attribute names follow arkindex-base-worker's ``self.<name>`` so that porting a worker is
mostly replacing ``self.`` with ``ctx.``.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar

from arkworker.api.client import Api, Paginator
from arkworker.enums import ApiLevel
from arkworker.environment import Environment
from arkworker.errors import ConfigurationError
from arkworker.helpers.artifacts import ArtifactMixin
from arkworker.helpers.base import RunLocks
from arkworker.helpers.classifications import ClassificationMixin
from arkworker.helpers.datasets import DatasetMixin
from arkworker.helpers.elements import ElementMixin
from arkworker.helpers.embeddings import EmbeddingMixin
from arkworker.helpers.entities import EntityMixin
from arkworker.helpers.exports import ExportMixin
from arkworker.helpers.metadata import MetaDataMixin
from arkworker.helpers.tasks import TaskMixin
from arkworker.helpers.training import TrainingMixin
from arkworker.helpers.transcriptions import TranscriptionMixin
from arkworker.helpers.worker_versions import WorkerVersionMixin
from arkworker.run.config import Configuration
from arkworker.run.stopping import StopControl
from arkworker.storage.archives import DEFAULT_LIMITS, ArchiveLimits

if TYPE_CHECKING:
    from arkindex import ArkindexClient

    from arkworker.images.downloads import DownloadSettings
    from arkworker.spec import WorkerSpec
    from arkworker.storage.cache import Cache

T = TypeVar("T")


class ContextExecutor(ThreadPoolExecutor):
    """A thread pool whose tasks run in a copy of the context that submitted them.

    A run's download settings and log handler are context variables, which a new thread
    does not inherit (a bare :class:`ThreadPoolExecutor`'s tasks download under the process
    environment's settings, and log as if outside the run); here each task runs in
    :func:`contextvars.copy_context` taken at :meth:`submit` (``map`` included).
    """

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)


class Context(
    ClassificationMixin,
    DatasetMixin,
    ElementMixin,
    EntityMixin,
    MetaDataMixin,
    TranscriptionMixin,
    WorkerVersionMixin,
    TaskMixin,
    ArtifactMixin,
    TrainingMixin,
    EmbeddingMixin,
    ExportMixin,
):
    """Everything a handler can use during a run.

    :ivar args: the parsed command line, built-in and custom options (``ctx.args.threshold``).
    :ivar config: the worker's configuration: the worker run's items on a current instance, the
        merged layers on a legacy one (README, "Configuration").
    :ivar secrets: the worker's secrets by name, parsed according to their extension.
    :ivar logger: a logger that follows ``--verbose``.
    """

    def __init__(
        self,
        app: WorkerSpec,
        args: SimpleNamespace,
        configuration: Configuration,
        api: Api,
        environment: Environment,
        *,
        downloads: DownloadSettings,
        stop: StopControl | None = None,
        archive_limits: ArchiveLimits = DEFAULT_LIMITS,
        api_level: ApiLevel = ApiLevel.LEGACY,
    ) -> None:
        self.app = app
        self.args = args
        self.configuration = configuration
        self.api = api
        self.environment = environment
        self.logger = logging.getLogger("arkworker.worker")
        #: Run-wide values your setup functions prepare (a loaded model, the rows of a final
        #: report): ``ctx.state.model = load(...)``. It lives as long as the run, so module
        #: globals are never needed; per-element values belong in the handler's local variables.
        self.state = SimpleNamespace()
        #: The SQLite cache of the process, None when the run has none: a peewee database
        #: with the cache's models bound to it (``ctx.cache.CachedElement.select()``).
        self.cache: Cache | None = None
        #: How the run's images download: its retry policy and timeout.
        self.downloads = downloads
        #: The run's stop requests (SIGTERM, SIGINT): see :attr:`stop_requested`.
        self.stop = stop or StopControl()
        #: How far the archives the run extracts may expand (``ARKWORKER_MAX_ARCHIVE_SIZE``...).
        self.archive_limits = archive_limits
        #: The Arkindex generation of the instance (see :mod:`arkworker.run.generation`): the
        #: helpers whose calls differ between generations choose by it.
        self.api_level = api_level
        self._store_activity = True
        self._resources = ExitStack()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        # Handlers of several jobs may register resources at once (ctx.executor(), call_on_close).
        self._resources_lock = threading.RLock()
        #: What the helpers load or create once per run is filled under these (see RunLocks).
        self._run_locks = RunLocks()

    # -- Resources ---------------------------------------------------------------------

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def with_resource(self, manager: AbstractContextManager[T]) -> T:
        """Enter ``manager`` and return its value; it is exited when the run ends (last in, first out)."""
        with self._resources_lock:
            return self._resources.enter_context(manager)

    def call_on_close(self, callback: Callable[[], Any]) -> Callable[[], Any]:
        """Call ``callback`` when the run ends, also when it fails (last registered, first called)."""
        with self._resources_lock:
            self._resources.callback(callback)
        return callback

    def close(self) -> None:
        """Close what the run opened: thread pools (waiting for their tasks), the cache..."""
        self._resources.close()

    # -- Threads -----------------------------------------------------------------------

    def executor(self, max_workers: int | None = None) -> ThreadPoolExecutor:
        """A thread pool whose tasks run as the run's own code does (see :class:`ContextExecutor`).

        Use it as ``with ctx.executor(4) as pool:``; the run shuts it down at the latest
        when it ends, waiting for its tasks.
        """
        return self.with_resource(ContextExecutor(max_workers, thread_name_prefix="arkworker"))

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Run ``fn(*args, **kwargs)`` in the run's shared thread pool, as the run's own code runs.

        The pool (``ThreadPoolExecutor``'s default size) is created on first use and shut
        down, waiting for its tasks, when the run ends.
        """
        with self._pool_lock:
            if self._pool is None:
                self._pool = self.executor()
        return self._pool.submit(fn, *args, **kwargs)

    def __repr__(self) -> str:
        mode = "read-only" if self.is_read_only else f"worker run {self.worker_run_id}"
        return f"<Context {self.app.name!r} {mode}>"

    # -- Configuration -----------------------------------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        return self.configuration.config

    @property
    def user_configuration(self) -> dict[str, Any]:
        return self.configuration.user_configuration

    @property
    def model_configuration(self) -> dict[str, Any]:
        return self.configuration.model_configuration

    @property
    def model_version_id(self) -> str | None:
        return self.configuration.model_version_id

    @property
    def model_details(self) -> dict[str, Any]:
        return self.configuration.model_details

    @property
    def worker_details(self) -> dict[str, Any]:
        return self.configuration.worker_details

    @property
    def secrets(self) -> Mapping[str, Any]:
        return self.configuration.secrets

    @property
    def process_information(self) -> dict[str, Any] | None:
        return self.configuration.process_information

    @property
    def worker_run_id(self) -> str | None:
        return self.configuration.worker_run_id

    @property
    def is_read_only(self) -> bool:
        """True with ``--dev`` or without ``ARKINDEX_WORKER_RUN_ID``: nothing is written."""
        return self.configuration.read_only

    @property
    def stop_requested(self) -> bool:
        """True once SIGTERM or SIGINT asked the run to stop.

        The loop takes no new element then; a handler that works for long (a training loop)
        may check it to save its progress and return before the grace period ends.
        """
        return self.stop.requested

    @property
    def store_activity(self) -> bool:
        """Whether element activities are reported to Arkindex for this process.

        The process decides (see :attr:`Configuration.store_activity`); the run may turn
        them off (``--no-worker-activity``, a dataset or export process).
        """
        return self.configuration.store_activity and self._store_activity

    @store_activity.setter
    def store_activity(self, value: bool) -> None:
        self._store_activity = value

    @property
    def use_cache(self) -> bool:
        """Whether this run reads and writes the process's SQLite cache."""
        return self.cache is not None

    @property
    def corpus_id(self) -> str:
        """The corpus of the process (production) or of ``ARKINDEX_CORPUS_ID`` (read-only)."""
        if not self.configuration.corpus_id:
            raise ConfigurationError(
                "Missing ARKINDEX_CORPUS_ID environment variable: set it to the corpus UUID to use "
                "corpus-level helpers in read-only mode."
            )
        return self.configuration.corpus_id

    # -- Directories -------------------------------------------------------------------

    @property
    def work_dir(self) -> Path:
        """A directory for the worker's files: ``$PONOS_DATA/current`` or ``$XDG_DATA_HOME/arkindex``."""
        return self.environment.work_dir

    @property
    def task_data_dir(self) -> Path:
        """Where the process's tasks keep their outputs (``$PONOS_DATA``, else ``/data``)."""
        return self.environment.task_data_dir

    # -- API ---------------------------------------------------------------------------

    @property
    def api_client(self) -> ArkindexClient:
        """The underlying :class:`arkindex.ArkindexClient` (no retry policy of its own)."""
        return self.api.client

    def request(self, operation_id: str, **parameters: Any) -> Any:
        """Call any API operation by its operationId, with the framework's retry policy.

        ``ctx.request("RetrieveElement", id=element_id)``; a JSON body goes in ``body=``.
        """
        self.stop.check_cut_off()
        answer = self.api.request(operation_id, **parameters)
        self.stop.answered()
        return answer

    def _write_step(self) -> AbstractContextManager[None]:
        """An API write and its cache rows, which a stop request does not separate."""
        return self.stop.step()

    def paginate(self, operation_id: str, **parameters: Any) -> Paginator:
        """Iterate lazily over all results of a listing operation, page after page."""
        self.stop.check_cut_off()
        return self.api.paginate(operation_id, **parameters)
