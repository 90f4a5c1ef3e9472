"""Which dataset sets a run processes: the process's sets and ``--set <dataset_uuid>:<set_name>``.

In production the sets come from the process (ListProcessSets) and from the command line;
in read-only mode only from the command line. Unlike the reference, a set listed twice is
processed once, each dataset is retrieved once, and the sets of one dataset are processed
one after the other (in the order the datasets first appear), so that its archive is
downloaded once. The ``--set`` values arrive parsed (:func:`arkworker.options.parse_set`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from arkindex.exceptions import ErrorResponse

from arkworker.errors import BadInput
from arkworker.models import Artifact, Dataset, Set
from arkworker.run.context import Context
from arkworker.storage.dataset_archive import LocalArchive, MissingDatasetArchive

logger = logging.getLogger("arkworker")


def list_sets(ctx: Context, cli_sets: Sequence[tuple[str, str]]) -> list[Set]:
    """The sets to process, without duplicates, grouped by dataset."""
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


class ArchiveKeeper:
    """The archive of the dataset being processed: one at a time, removed when the run moves on."""

    def __init__(self, ctx: Context, directory: Path) -> None:
        self.ctx = ctx
        self.directory = directory
        #: The dataset whose archive is on disk, with that archive; None between datasets.
        self._held: tuple[Dataset, LocalArchive] | None = None

    def prepare(self, dataset: Dataset) -> LocalArchive:
        """Make ``dataset``'s archive available on disk, and reachable as ``dataset.archive``."""
        if self._held is not None and self._held[0].get("id") == dataset.get("id"):
            archive = self._held[1]
        else:
            self.release()
            target = self.directory / dataset.filepath
            downloaded = not target.is_file()
            if downloaded:
                self._download(dataset, target)
            else:
                logger.info("Using the archive %s of %s", target, dataset)
            archive = LocalArchive(
                target, downloaded=downloaded, scratch_dir=self.ctx.work_dir, limits=self.ctx.archive_limits
            )
            self._held = (dataset, archive)
        dataset.attach_archive(archive)
        return archive

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
        """Remove the current archive (when downloaded) and what was extracted from it."""
        if self._held is not None:
            dataset, archive = self._held
            archive.remove()
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
