"""Dataset archives on disk: find or download ``<dataset id>.tar.zst``, then clean up after it.

A dataset worker processes the sets of a dataset from the dataset's archive, a ``.tar.zst``
that an Arkindex task built. The archive is looked for in the extras directory first (where
a local run, or a Ponos task, may already have it); otherwise it is one of the artifacts of
the dataset's task, streamed to disk. Only one archive is kept at a time: it stays while the
sets of its dataset are processed and is removed (with what was extracted from it) when the
run moves to another dataset and at the end. An archive the run did not download is the
user's file: it is never deleted.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from arkworker.models import Artifact, Dataset

if TYPE_CHECKING:
    from arkworker.run.context import Context

logger = logging.getLogger("arkworker")


class DatasetArchiveError(Exception):
    """A dataset archive that cannot be had or used; the message says what to do."""


class MissingDatasetArchive(DatasetArchiveError):
    """The dataset's archive is neither in the extras directory nor an artifact of its task."""


class LocalArchive:
    """A dataset archive on disk, and the directories and databases opened from it."""

    def __init__(self, path: Path, *, downloaded: bool, scratch_dir: Path) -> None:
        self.path = path
        #: Whether the run downloaded the file (and so removes it when done).
        self.downloaded = downloaded
        self._scratch_dir = scratch_dir
        self._extracted: Path | None = None
        self._connections: list[sqlite3.Connection] = []

    def __repr__(self) -> str:
        return f"<LocalArchive {str(self.path)!r}{' (downloaded)' if self.downloaded else ''}>"

    def extract(self, destination: str | Path | None = None) -> Path:
        """Unpack the archive into ``destination``, or into a directory removed with the archive."""
        from arkworker.storage.archives import extract_tar_zst

        if destination is not None:
            extract_tar_zst(self.path, destination)
            return Path(destination)
        if self._extracted is None:
            # Remembered only once complete: a failed extraction fails the next set's call too.
            self._scratch_dir.mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix=f"{self.path.name}-", dir=self._scratch_dir))
            try:
                extract_tar_zst(self.path, folder)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            self._extracted = folder
        return self._extracted

    def open_database(self, name: str | None = None) -> sqlite3.Connection:
        """A read-only connection to the SQLite database inside the archive."""
        directory = self.extract()
        found = sorted(path for path in directory.rglob("*.sqlite") if path.is_file())
        if name is not None:
            found = [
                path for path in found if path.name == name or path.relative_to(directory).as_posix() == name
            ]
        if len(found) != 1:
            listed = ", ".join(path.relative_to(directory).as_posix() for path in found) or "none"
            problem = "no SQLite database" if not found else f"several SQLite databases ({listed})"
            hint = "" if not found else ": pass the one to open, e.g. open_database('db.sqlite')"
            raise DatasetArchiveError(f"The archive {self.path.name} holds {problem}{hint}")
        connection = sqlite3.connect(f"{found[0].as_uri()}?mode=ro", uri=True)
        connection.row_factory = sqlite3.Row
        self._connections.append(connection)
        return connection

    def remove(self) -> None:
        """Close the databases, delete what was extracted, and the file if the run downloaded it."""
        for connection in self._connections:
            connection.close()
        self._connections.clear()
        if self._extracted is not None:
            shutil.rmtree(self._extracted, ignore_errors=True)
            self._extracted = None
        if self.downloaded:
            self.path.unlink(missing_ok=True)
            logger.debug("Removed the downloaded archive %s", self.path)


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
            archive = LocalArchive(target, downloaded=downloaded, scratch_dir=self.ctx.work_dir)
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
