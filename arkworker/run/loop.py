"""The loops around handlers: configuration, activities, error accounting, exit codes.

A run behaves like an arkindex-base-worker run inside an Arkindex process: same API calls
in the same order, same log lines, same summary (``Ran on N elements: A completed, F
failed``, or ``N sets`` for a dataset worker) and exit codes (1 when there was nothing to
process or everything failed). A handler exception is counted and logged, never allowed
to stop the other elements or sets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from arkindex.exceptions import ErrorResponse

from arkworker.api.client import AmbiguousWrite, ApiSettings
from arkworker.api.transport import DEFAULT_POOL_SIZE
from arkworker.enums import ApiLevel, DatasetState
from arkworker.environment import Environment
from arkworker.errors import BadInput
from arkworker.images import downloads
from arkworker.options import RunOptions
from arkworker.run import generation, logs
from arkworker.run.config import is_read_only, load_configuration, read_config_file
from arkworker.run.context import Context
from arkworker.run.generation import Source
from arkworker.run.inputs import list_elements, retry_sets
from arkworker.run.observers import COMPLETED, FAILED, Outcome, RunObserver
from arkworker.run.sets import ArchiveKeeper, extras_directory, list_sets
from arkworker.run.sources import Elements, elements_for, listed_elements
from arkworker.run.stopping import Interrupted, StopControl
from arkworker.run.units import Engine, Settings
from arkworker.run.watch import RunWatch
from arkworker.spec import WorkerSpec
from arkworker.storage import cache, tasks
from arkworker.storage.archives import ArchiveLimits

logger = logging.getLogger("arkworker")


@dataclass(frozen=True)
class Failure:
    """One item that failed, and why."""

    item: str
    message: str
    exception: BaseException | None = field(default=None, repr=False, compare=False)


@dataclass
class RunResult:
    """The accounting of a run, as summarised in its last log line."""

    noun: str = "element"
    total: int = 0
    completed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    exit_code: int = 0
    #: The signal that stopped the run before its end, None when it ran to the end.
    interrupted: Interrupted | None = None
    #: False when the total was not known up front (the queue): it counts what was handed out.
    counted: bool = True
    #: True when the element source itself failed (the queue answered an error).
    source_failed: bool = False

    @property
    def unprocessed(self) -> int:
        """The items a stop request left untouched (never started)."""
        return self.total - self.completed - self.failed

    @property
    def summary(self) -> str:
        plural = "s" if self.total > 1 else ""
        line = f"Ran on {self.total} {self.noun}{plural}: {self.completed} completed, {self.failed} failed"
        return f"{line}, {self.unprocessed} not processed" if self.interrupted and self.counted else line

    def finish(self) -> RunResult:
        """Log the summary line and set the exit code the way the reference does.

        A run a signal stopped says so after its summary and exits with 128 + the signal
        number, whatever the counts: the task did not run to its end.
        """
        if self.failed or self.interrupted or self.source_failed:
            logger.error(self.summary)
        else:
            logger.info(self.summary)
        if self.interrupted:
            logger.error("%s", self.interrupted)
            self.exit_code = self.interrupted.exit_code
        else:
            failed = self.source_failed or self.total == 0 or self.failed >= self.total
            self.exit_code = 1 if failed else 0
        return self

    def nothing_to_process(self, hint: str | None = None) -> RunResult:
        """Stop before the loop: no summary line, exit code 1, as the reference does.

        ``hint``, after the reference's line, says what to give when the run knows what was missing.
        """
        if hint is None:
            logger.warning("No %ss to process, stopping.", self.noun)
        else:
            logger.warning("No %ss to process, stopping. %s", self.noun, hint)
        self.exit_code = 1
        return self

    def fail(self, item: str, exc: BaseException, *, described_as: str | None = None) -> str:
        """Count ``item`` as failed, log the reference's failure line for it, and return that line.

        ``described_as`` is how the line names the item when that differs from its ID
        (``element <id>``). The traceback is only logged in verbose mode, so that a run
        with many failures stays readable.
        """
        self.failed += 1
        message = describe_failure(described_as or item, exc)
        self.failures.append(Failure(item, message, exc))
        logger.warning(message, exc_info=_verbose())
        return message


def run(
    app: WorkerSpec, options: RunOptions, env: Mapping[str, str], observer: RunObserver | None = None
) -> RunResult:
    """Configure a run of ``app`` and process its elements or dataset sets; return the accounting.

    ``observer`` sees each item's outcome (:mod:`arkworker.run.observers`).

    Raises :class:`~arkworker.errors.BadInput` for unusable inputs (before any API call)
    and :class:`~arkworker.errors.ConfigurationError` when the run cannot be configured.
    Every input (the command line, its files, the environment, ``ARKINDEX_API_URL``) is
    checked before the API client is built; when they show that there is nothing to
    process, the run stops there, without any call.
    """
    if app.handler is None:
        raise BadInput(
            f"Worker {app.name!r} has no handler: decorate the function that processes an element "
            "with @app.element (or a dataset set, with @app.dataset_set)."
        )
    app.freeze()
    environment = Environment.from_env(env)
    read_only = is_read_only(environment, options.dev)
    download_timeout = downloads.read_timeout(env)
    stop = StopControl.from_env(env)
    forced = generation.forced_level(options.api_level, env)
    archive_limits = ArchiveLimits.from_env(env)
    watch = RunWatch.prepare(app, options, env, observer)  # --progress and --report, checked here
    check_extras_dir(options)
    if app.kind == "dataset_set":
        check_dataset_options(app, options)
        options = retry_sets(options, app.name, read_only=read_only)
        element_ids: list[str] = []
    else:
        if options.set:
            raise BadInput(
                f"--set is for dataset workers: {app.name!r} processes elements; give them with --element."
            )
        element_ids = list_elements(
            options.element, options.elements_list, environment.task_elements, options.retry_failed, app.name
        )
    concurrency = engine_settings(app, options)
    local_config = None
    if options.config is not None and read_only:
        local_config = (options.config, read_config_file(options.config))
    cache_path = cache_file(app, options.database)
    api_settings = ApiSettings.from_env(env)  # no ARKINDEX_API_URL, a bad timeout...: still no call
    nothing = nothing_to_process_up_front(app, options, environment, element_ids, forced)
    if nothing is not None:
        return nothing
    # The API tokens are secrets too: no log line or traceback of the run may show them.
    logs.redact_secrets([env.get("ARKINDEX_API_TOKEN") or "", env.get("ARKINDEX_TASK_TOKEN") or ""])
    with stop.installed(), watch:
        api = api_settings.connect(pool_size=max(DEFAULT_POOL_SIZE, concurrency.threads))
        watch.timings = api.timings
        level = generation.api_level(api, forced)
        configuration = load_configuration(
            environment,
            api,
            dev=options.dev,
            local_config=local_config,
            level=level,
            fields=app.configuration,
        )
        logs.redact_secrets(configuration.secrets)
        if options.verbose or configuration.debug:
            logs.enable_debug()
        if environment.ponos_data is None:
            environment.work_dir.mkdir(parents=True, exist_ok=True)
        logger.info("Worker will use %s as working directory", environment.work_dir)

        settings = downloads.DownloadSettings(api.policy, download_timeout)
        context = Context(
            app,
            options.namespace(),
            configuration,
            api,
            environment,
            downloads=settings,
            stop=stop,
            archive_limits=archive_limits,
            api_level=level,
        )
        with context as ctx:
            ctx.with_resource(downloads.using_settings(ctx.downloads))
            ctx.call_on_close(ctx.downloads.sessions.close)
            cache_path = cache_path or task_cache_file(app, ctx)
            if cache_path is not None:
                ctx.cache = cache.open_cache(
                    cache_path, read_only=configuration.read_only, downloads=ctx.downloads
                )
                ctx.call_on_close(ctx.cache.close)
                logger.info("Connected to cache on %s", cache_path)
            if app.kind == "dataset_set":
                return watch.ended(with_lifecycle(app, ctx, lambda: dataset_loop(app, ctx, options, watch)))
            elements = choose_elements(ctx, level, options, element_ids)
            return watch.ended(
                with_lifecycle(app, ctx, lambda: element_loop(app, ctx, elements, watch, concurrency))
            )


def cache_file(app: WorkerSpec, database: Path | None) -> Path | None:
    """The ``--database`` file, checked before the run starts (exists, cache version 3)."""
    if database is None:
        return None
    if not app.cache:
        raise BadInput(
            f"--database was given but worker {app.name!r} does not use a cache: declare "
            f"Worker({app.name!r}, cache=True) or drop --database."
        )
    if not database.is_file():
        raise BadInput(f"The cache database {database} does not exist: give the path of a db.sqlite file.")
    try:
        cache.check_version(database)
    except cache.CacheVersionError as exc:
        raise BadInput(
            f"{exc}: give a version {cache.SQL_VERSION} cache ('arkworker cache info' shows one)."
        ) from None
    return database


def task_cache_file(app: WorkerSpec, ctx: Context) -> Path | None:
    """In a Ponos task, in production: the task's cache, with its parents' caches merged in."""
    if not uses_task_cache(app, ctx.environment, read_only=ctx.is_read_only):
        logger.debug("Cache is disabled")
        return None
    return tasks.prepare_task_cache(ctx.environment, ctx.task_parents)


def uses_task_cache(app: WorkerSpec, environment: Environment, *, read_only: bool) -> bool:
    """Whether the run opens its Ponos task's cache: a cache worker, in production, in a Ponos task."""
    return app.cache and not read_only and environment.ponos_task is not None


def nothing_to_process_up_front(
    app: WorkerSpec,
    options: RunOptions,
    environment: Environment,
    element_ids: Sequence[str],
    forced: ApiLevel | None,
) -> RunResult | None:
    """The run's end when its inputs alone show there is nothing to process; None when the API may give some.

    Known without the API: a ``--retry-failed`` report without failures; a dataset worker
    in read-only mode without ``--set`` (only those sets run there); an element worker
    without listed elements nor a cache that could hold some, when the element list is
    the only source left (:func:`~arkworker.run.generation.source_without_api`). Anything
    else (the process's queue, mode or sets, a cache's initial elements) is for the instance
    to say: the run connects.
    """
    noun = "set" if app.kind == "dataset_set" else "element"
    read_only = is_read_only(environment, options.dev)
    if options.retry_failed is not None and not (element_ids or options.set):
        return RunResult(noun=noun).nothing_to_process()
    if app.kind == "dataset_set":
        if not read_only or options.set:
            return None
        return RunResult(noun=noun).nothing_to_process(
            "In read-only mode only the --set sets are processed: give them as --set <dataset_uuid>:<set_name>."
        )
    if element_ids or options.database is not None or uses_task_cache(app, environment, read_only=read_only):
        return None
    no_elements_list = options.no_elements_list or environment.skip_task_elements
    source = generation.source_without_api(forced, read_only=read_only, no_elements_list=no_elements_list)
    if source is not Source.LIST:
        return None
    queue = (
        "" if forced is ApiLevel.LEGACY else ", or take them from the process queue with --no-elements-list"
    )
    return RunResult(noun=noun).nothing_to_process(
        f"Give them with --element, --elements-list or TASK_ELEMENTS{queue}."
    )


def choose_elements(
    ctx: Context, level: ApiLevel, options: RunOptions, element_ids: Sequence[str]
) -> Elements:
    """Decide where the elements come from (logged once), and whether activities are reported."""
    listed = listed_elements(ctx, element_ids)
    source = generation.element_source(
        level,
        ctx.api,
        None if ctx.is_read_only else ctx.process_information,
        listed=bool(listed),
        no_elements_list=options.no_elements_list or ctx.environment.skip_task_elements,
    )
    logger.info("Elements come from %s", source.description)
    if options.no_worker_activity:
        ctx.store_activity = False
    elif source in (Source.DATASET, Source.EXPORT) and ctx.store_activity:
        logger.info("Activities are not reported in a %s process", source.value)
        ctx.store_activity = False
    return elements_for(ctx, source, listed)


def with_lifecycle(app: WorkerSpec, ctx: Context, loop: Callable[[], RunResult]) -> RunResult:
    """Run the setup functions, then ``loop``, then the teardown functions whatever happened.

    A signal during the setup functions skips the loop (the teardowns still run): the run
    exits with the signal's code, without a summary since nothing was processed.
    """
    result = RunResult(exit_code=1)
    try:
        for spec in app.setup_handlers:
            try:
                spec(ctx=ctx)
            except Exception as exc:
                logger.error("Setup function %s failed: %r", spec.name, exc, exc_info=_verbose())
                return result
            except Interrupted as exc:
                result.interrupted = exc
        if result.interrupted is None and ctx.stop.requested:
            result.interrupted = ctx.stop.interrupted
        if result.interrupted is not None:
            logger.error("%s during setup: no element was processed", result.interrupted)
            result.exit_code = result.interrupted.exit_code
            return result
        result = loop()
        finish(app, ctx, result)
    finally:
        for spec in reversed(app.teardown_handlers):
            try:
                spec(ctx=ctx)
            except Exception as exc:
                logger.error("Teardown function %s failed: %r", spec.name, exc, exc_info=_verbose())
                result.exit_code = 1
    return result


def finish(app: WorkerSpec, ctx: Context, result: RunResult) -> None:
    """Call the finish functions with the run's result, unless a signal stopped the loop.

    A finish function that fails makes the run exit 1; one that a signal interrupts (after
    the grace period, as for an element) makes it exit with the signal's code.
    """
    if not app.finish_handlers:
        return
    if result.interrupted is not None:
        logger.warning("The finish functions are skipped: %s", result.interrupted)
        return
    for spec in app.finish_handlers:
        try:
            with ctx.stop.working_on(f"finish function {spec.name}"):
                spec(result, ctx=ctx)
        except Exception as exc:
            logger.error("Finish function %s failed: %r", spec.name, exc, exc_info=_verbose())
            result.exit_code = 1
            return
        except Interrupted as exc:
            logger.error("%s during finish function %s", exc, spec.name)
            result.interrupted = exc
            result.exit_code = exc.exit_code
            return


def element_loop(
    app: WorkerSpec,
    ctx: Context,
    elements: Elements,
    observer: RunObserver | None = None,
    settings: Settings | None = None,
) -> RunResult:
    """Process the elements (``settings``: how many at once), reporting activities and counting failures.

    The items are element IDs, fetched with RetrieveElement, or elements (of the cache, of
    dataset sets) handed over as they are. Queue elements arrive started: the loop sends
    no ``started`` for them. A queue that fails ends the loop: the summary is logged and
    the run exits 1.
    """
    result = RunResult(noun="element", total=elements.total or 0, counted=elements.total is not None)
    if elements.total == 0:
        return result.nothing_to_process()
    if not ctx.store_activity:
        logger.info("No worker activity will be stored as it is disabled for this process")
    observer = observer or RunObserver()
    observer.begin(result.noun, elements.total)
    assert app.handler is not None
    engine = Engine(app.handler, ctx, elements, result, observer, settings or Settings())
    result.interrupted = engine.run()
    if engine.taken == 0 and not result.interrupted and not result.source_failed:
        return result.nothing_to_process()
    observer.end(result)  # before the summary, which stays the run's last line
    return result.finish()


def engine_settings(app: WorkerSpec, options: RunOptions) -> Settings:
    """How many elements at once (``--jobs``, else the app's), per call, and ahead (``--prefetch``).

    By default nothing is fetched ahead of a run that processes one element at a time (it
    then behaves exactly as the reference does); otherwise as many elements as are
    processed at once are kept ready.
    """
    handler = app.handler
    assert handler is not None
    jobs = options.jobs or app.jobs
    if jobs > 1 and not handler.thread_safe:
        raise BadInput(
            f"--jobs {jobs}: the handler {handler.name} of {app.name!r} is declared thread_safe=False, so "
            "it processes one element at a time: drop --jobs (or jobs= on the Worker)."
        )
    batch_size = handler.batch_size or 1
    if options.prefetch is not None:
        prefetch = options.prefetch
    elif jobs == 1 and batch_size == 1 and handler.prefetch_images is None:
        prefetch = 0
    else:
        prefetch = jobs * batch_size
    return Settings(
        jobs=jobs, batch_size=batch_size, prefetch=prefetch, batched=handler.batch_size is not None
    )


def check_extras_dir(options: RunOptions) -> None:
    """Refuse an ``--extras-dir`` that is not a directory, for every kind of worker."""
    if options.extras_dir is not None and not options.extras_dir.is_dir():
        raise BadInput(
            f"The --extras-dir directory {options.extras_dir} does not exist: create it or fix the path."
        )


def check_dataset_options(app: WorkerSpec, options: RunOptions) -> None:
    """Refuse the element options for a dataset worker."""
    if options.jobs is not None or options.prefetch is not None:
        option = "--jobs" if options.jobs is not None else "--prefetch"
        raise BadInput(
            f"{option} is for element workers: {app.name!r} processes dataset sets, one at a time; drop {option}."
        )
    if options.element or options.elements_list is not None:
        option = "--element" if options.element else "--elements-list"
        raise BadInput(
            f"{option} is for element workers: {app.name!r} processes dataset sets; give them with "
            "--set <dataset_uuid>:<set_name>."
        )


def dataset_loop(
    app: WorkerSpec, ctx: Context, options: RunOptions, observer: RunObserver | None = None
) -> RunResult:
    """Process each dataset set in turn from its dataset's archive, counting failures.

    A set fails (and the others still run) when its dataset is not complete, when the
    archive cannot be had, or when the handler raises. The archive of a dataset stays on
    disk while its sets are processed and is removed when the run moves on.
    """
    sets = list_sets(ctx, options.set)
    result = RunResult(noun="set", total=len(sets))
    if not sets:
        return result.nothing_to_process()
    observer = observer or RunObserver()
    observer.begin(result.noun, result.total)
    handler = app.handler
    assert handler is not None
    keeper = ArchiveKeeper(ctx, extras_directory(ctx))
    # The state as listed: a handler may change it (update_dataset_state) for the next sets.
    states = {dataset_set.dataset.get("id"): dataset_set.dataset.get("state") for dataset_set in sets}
    try:
        for index, dataset_set in enumerate(sets, start=1):
            if ctx.stop.requested:
                result.interrupted = ctx.stop.interrupted
                break
            started = time.monotonic()
            item = f"{dataset_set.dataset.get('id')}:{dataset_set.get('name')}"  # as --set takes it
            try:
                dataset = dataset_set.dataset
                state = states[dataset.get("id")]
                if state != DatasetState.Complete.value:
                    if keeper.exports:
                        # An export reads the corpus as it is: today's Arkindex (base-worker
                        # 0.5.2 on) only warns, and its datasets may carry no state at all.
                        if state is not None:
                            logger.warning("%s is in state %r, not complete", dataset, state)
                    else:
                        raise DatasetNotComplete(
                            f"{dataset} ({dataset.get('name')}) is in state {state!r}: only a complete "
                            "dataset's archive can be trusted; build it in Arkindex first."
                        )
                logger.info("Retrieving data for %s (%d/%d)", dataset_set, index, result.total)
                keeper.prepare(dataset)
                logger.info("Processing %s (%d/%d)", dataset_set, index, result.total)
                with ctx.stop.working_on(str(dataset_set)):
                    handler(dataset_set, ctx=ctx)
                result.completed += 1
                observer.done(Outcome(item, COMPLETED, time.monotonic() - started))
            except Exception as exc:
                message = result.fail(str(dataset_set), exc)
                observer.done(Outcome(item, FAILED, time.monotonic() - started, message))
            except Interrupted as exc:
                message = result.fail(str(dataset_set), exc)
                observer.done(Outcome(item, FAILED, time.monotonic() - started, message))
                result.interrupted = exc
                break
    finally:
        keeper.release()
    observer.end(result)  # before the summary, which stays the run's last line
    return result.finish()


class DatasetNotComplete(Exception):
    """A set's dataset is not in the complete state, so its archive cannot be trusted."""


def describe_failure(item: str, exc: BaseException) -> str:
    """The reference's per-item failure line; ``item`` is ``element <id>`` or a set's text form."""
    if isinstance(exc, ErrorResponse):
        return f"An API error occurred while processing {item}: {exc.title} - {exc.content}"
    if isinstance(exc, Interrupted):
        return f"{exc} while processing {item}"
    if isinstance(exc, AmbiguousWrite):
        return f"Failed running worker on {item}: {exc}"
    return f"Failed running worker on {item}: {exc!r}"


def _verbose() -> bool:
    return logs.is_verbose()
