"""Which dataset sets a run processes, and the data of the dataset being processed.

In production the sets come from the process (ListProcessSets) and from the command line;
in read-only mode only from the command line. Unlike the reference, a set listed twice is
processed once, each dataset is retrieved once, and the sets of one dataset are processed
one after the other (in the order the datasets first appear), so that its data is had
once. The ``--set`` values arrive parsed (:func:`arkworker.options.parse_set`).

The data of a dataset (:class:`ArchiveKeeper`) is, on today's Arkindex, a SQLite export of
its corpus, started (or reused) for every dataset once the sets are listed, then waited for
and downloaded when its sets come; on an instance without exports, its ``.tar.zst`` archive,
from the extras directory or the artifacts of the dataset's task.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from arkindex.exceptions import ErrorResponse

from arkworker.api.failures import describe
from arkworker.enums import ApiLevel
from arkworker.errors import BadInput
from arkworker.helpers.exports import duration
from arkworker.models import Artifact, Dataset, Set
from arkworker.run.context import Context
from arkworker.storage.dataset_archive import LocalArchive, LocalExport, MissingDatasetArchive

logger = logging.getLogger("arkworker")


def list_sets(ctx: Context, cli_sets: Sequence[tuple[str, str]]) -> list[Set]:
    """The sets to process, without duplicates, grouped by dataset.

    Where their data comes from is decided (and logged) here; with corpus exports, the
    export of each dataset is started once the sets are known, as the reference does, so
    that the instance builds the next datasets' while the first ones are processed.
    """
    datasets: dict[str, Dataset] = {}
    by_dataset: dict[str, dict[str, Set]] = {}

    def add(dataset: Dataset, dataset_set: Set, origin: str) -> None:
        dataset_id = str(dataset["id"])
        dataset = datasets.setdefault(dataset_id, dataset)
        sets = by_dataset.setdefault(dataset_id, {})
        if dataset_set["name"] in sets:
            logger.info("%s is listed more than once (%s); it is processed once", dataset_set, origin)
            return
        dataset_set["dataset"] = dataset  # one Dataset object per dataset, shared by its sets
        sets[dataset_set["name"]] = dataset_set

    if not ctx.is_read_only:
        for dataset_set in ctx.list_process_sets():
            add(dataset_set.dataset, dataset_set, "by the process")
    for dataset_id, name in cli_sets:
        dataset = datasets.get(dataset_id) or retrieve_dataset(ctx, dataset_id, name)
        check_set_name(dataset, name)
        add(dataset, Set(name=name, dataset=dataset), "with --set")
    if reads_exports(ctx):
        start_exports(ctx, list(datasets.values()))
    else:
        missing = [name for name in EXPORT_OPERATIONS if not ctx.api.has_operation(name)]
        reason = f"the instance has no {missing[0]}" if missing else "API level legacy"
        logger.info("Dataset sets are read from dataset archives (%s)", reason)
    return [dataset_set for sets in by_dataset.values() for dataset_set in sets.values()]


def retrieve_dataset(ctx: Context, dataset_id: str, set_name: str) -> Dataset:
    """RetrieveDataset for a ``--set`` value; an unknown dataset is a usage error."""
    try:
        return Dataset(ctx.request("RetrieveDataset", id=dataset_id))
    except ErrorResponse as exc:
        if exc.status_code == 404:
            raise BadInput(
                f"--set {dataset_id}:{set_name}: there is no dataset {dataset_id} (or it is not visible "
                "with this token); check the dataset UUID."
            ) from None
        raise


def check_set_name(dataset: Dataset, name: str) -> None:
    """A ``--set`` name its dataset does not have is a usage error, found before any download."""
    known = [str(item["name"] if isinstance(item, Mapping) else item) for item in dataset.get("sets") or []]
    if known and name not in known:
        raise BadInput(
            f"--set {dataset['id']}:{name}: {dataset} ({dataset.get('name')}) has no set {name!r} "
            f"(its sets: {', '.join(known)}); check the set name."
        )


#: The operations a dataset worker reads its sets through on today's Arkindex.
EXPORT_OPERATIONS = ("StartExport", "ListExports", "DownloadExport")


def reads_exports(ctx: Context) -> bool:
    """Whether the sets are read from corpus exports: at the ``current`` level, when the instance has them.

    Both are needed. The level is what a user may force: ``--api-level legacy`` keeps the
    archives that the dataset tasks of an instance built. The operations are what the
    instance offers: one of the current level without exports keeps the archive path instead
    of failing every set on a 404.
    """
    return ctx.api_level is ApiLevel.CURRENT and all(map(ctx.api.has_operation, EXPORT_OPERATIONS))


def start_exports(ctx: Context, datasets: Sequence[Dataset]) -> None:
    """Start (or reuse) the export of each dataset, its id in ``export_id``.

    A dataset whose export cannot be started now is tried again when its sets come, where a
    failure fails its sets only (the reference let it abort the run).
    """
    # A bad ARKWORKER_EXPORT_TIMEOUT stops the run here, before any export is started.
    logger.info(
        "Dataset sets are read from corpus exports (the instance has StartExport); each export is "
        "waited for up to %s",
        duration(ctx.export_timeout),
    )
    for dataset in datasets:
        try:
            dataset["export_id"] = ctx.start_export(dataset_id=dataset["id"], corpus_id=_corpus_of(dataset))
        except Exception as exc:
            logger.warning(
                "Could not start the export of %s (%s): trying again when its sets come",
                dataset,
                describe(exc),
            )
            continue
        logger.info("Using the SQL export (%s) of %s", dataset["export_id"], dataset)


def _corpus_of(dataset: Dataset) -> str | None:
    """The dataset's corpus, which its export is of (None: the run's, when the payload has none)."""
    return dataset.get("corpus_id") or None


class ArchiveKeeper:
    """The data of the dataset being processed: one dataset at a time, removed when the run moves on.

    The data is the dataset's corpus export when :func:`reads_exports`, else its archive.
    An export is had once per dataset: when it cannot be (a failed export, a timeout, a cut
    download), that failure is raised again for the dataset's other sets, without waiting
    for the instance again (the reference polled again for each set, up to 3 hours each).
    An archive that could not be had is tried again by the next set: that costs a request.
    """

    def __init__(self, ctx: Context, directory: Path) -> None:
        self.ctx = ctx
        self.directory = directory
        self.exports = reads_exports(ctx)
        #: The dataset whose data is on disk, with that data; None between datasets.
        self._held: tuple[Dataset, LocalArchive | LocalExport] | None = None
        #: The dataset whose export could not be had, and why.
        self._failed: tuple[str, Exception] | None = None

    def prepare(self, dataset: Dataset) -> LocalArchive | LocalExport:
        """Make ``dataset``'s data available on disk, and reachable from the ``Dataset``."""
        dataset_id = str(dataset.get("id"))
        if self._failed is not None and self._failed[0] == dataset_id:
            raise self._failed[1]
        if self._held is None or str(self._held[0].get("id")) != dataset_id:
            self.release()
            if self.exports:
                try:
                    data: LocalArchive | LocalExport = self._export(dataset)
                except Exception as exc:
                    self._failed = (dataset_id, exc)
                    raise
            else:
                data = self._archive(dataset)
            self._held = (dataset, data)
        data = self._held[1]
        if isinstance(data, LocalExport):
            dataset.attach_export(data)
        else:
            dataset.attach_archive(data)
        return data

    def _export(self, dataset: Dataset) -> LocalExport:
        """Wait until the dataset's export is done (starting it if that failed before), download it."""
        corpus_id = _corpus_of(dataset)
        if not dataset.get("export_id"):
            dataset["export_id"] = self.ctx.start_export(dataset_id=dataset["id"], corpus_id=corpus_id)
            logger.info("Using the SQL export (%s) of %s", dataset["export_id"], dataset)
        export_id = str(dataset["export_id"])
        path = self.ctx.get_export(export_id, dataset_id=dataset["id"], corpus_id=corpus_id)
        return LocalExport(path, export_id)

    def _archive(self, dataset: Dataset) -> LocalArchive:
        """The archive in the extras directory, or downloaded from the dataset's task."""
        target = self.directory / dataset.filepath
        downloaded = not target.is_file()
        if downloaded:
            self._download(dataset, target)
        else:
            logger.info("Using the archive %s of %s", target, dataset)
        return LocalArchive(
            target, downloaded=downloaded, scratch_dir=self.ctx.work_dir, limits=self.ctx.archive_limits
        )

    def _download(self, dataset: Dataset, target: Path) -> None:
        task_id = dataset.get("task_id")
        if not task_id:
            raise MissingDatasetArchive(
                f"{dataset} has no archive: it is not in {self.directory} and the dataset has no task "
                "to take it from. Build the dataset in Arkindex, or put the archive at that path."
            )
        logger.info("Downloading artifact for %s", dataset)
        artifacts = self.ctx.list_artifacts(task_id)
        artifact = next((item for item in artifacts if item.get("path") == dataset.filepath), None)
        if artifact is None:
            listed = ", ".join(str(item.get("path")) for item in artifacts) or "none"
            raise MissingDatasetArchive(
                f"The archive of {dataset} was not found: task {task_id} has no artifact "
                f"{dataset.filepath} (its artifacts: {listed}) and {target} does not exist. "
                "Rebuild the dataset in Arkindex, or put the archive at that path."
            )
        self.ctx.download_artifact(task_id, Artifact(artifact), destination=target)

    def release(self) -> None:
        """Remove the current data (an export, a downloaded archive) and what was extracted from it."""
        if self._held is not None:
            dataset, data = self._held
            data.remove()
            if isinstance(data, LocalExport):
                dataset.attach_export(None)
            else:
                dataset.attach_archive(None)
            self._held = None


def extras_directory(ctx: Context) -> Path:
    """Where dataset archives are looked for and downloaded to: ``ctx.extras_dir``.

    A local run that names no extras directory (no ``extras_dir`` configuration key, no
    ``--extras-dir``) uses the work directory instead of failing as the reference does: a
    dataset worker can download its archives without one.
    """
    local = ctx.environment.ponos_task is None
    if local and not ctx.config.get("extras_dir") and getattr(ctx.args, "extras_dir", None) is None:
        return ctx.work_dir
    return ctx.extras_dir
