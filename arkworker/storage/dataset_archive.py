"""A dataset's data on disk: its corpus export, or its ``<dataset id>.tar.zst`` archive.

A dataset worker processes the sets of a dataset from the dataset's data. On today's
Arkindex that is a SQLite export of the dataset's corpus, downloaded for the run
(:class:`LocalExport`). On an instance without exports it is the dataset's archive, a
``.tar.zst`` that an Arkindex task built (:class:`LocalArchive`): it is looked for in the
extras directory first (where a local run, or a Ponos task, may already have it); otherwise
it is one of the artifacts of the dataset's task, streamed to disk. Only one dataset's data
is kept at a time: it stays while the sets of its dataset are processed and is removed (with
what was extracted from it) when the run moves to another dataset and at the end. An archive
the run did not download is the user's file: it is never deleted.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path

from arkworker.storage.archives import DEFAULT_LIMITS, ArchiveLimits, extract_tar_zst

logger = logging.getLogger("arkworker")


class DatasetArchiveError(Exception):
    """A dataset archive that cannot be had or used; the message says what to do."""


class MissingDatasetArchive(DatasetArchiveError):
    """The dataset's archive is neither in the extras directory nor an artifact of its task."""


class LocalArchive:
    """A dataset archive on disk, and the directories and databases opened from it."""

    def __init__(
        self, path: Path, *, downloaded: bool, scratch_dir: Path, limits: ArchiveLimits = DEFAULT_LIMITS
    ) -> None:
        self.path = path
        #: Whether the run downloaded the file (and so removes it when done).
        self.downloaded = downloaded
        #: How far the archive may expand when it is extracted (its size, its members).
        self.limits = limits
        self._scratch_dir = scratch_dir
        self._extracted: Path | None = None
        # Held while it is extracted: threads that ask at once share one extraction.
        self._extracting = threading.Lock()
        self._connections: list[sqlite3.Connection] = []

    def __repr__(self) -> str:
        return f"<LocalArchive {str(self.path)!r}{' (downloaded)' if self.downloaded else ''}>"

    def extract(self, destination: str | Path | None = None) -> Path:
        """Unpack the archive into ``destination``, or into a directory removed with the archive."""
        if destination is not None:
            extract_tar_zst(self.path, destination, limits=self.limits)
            return Path(destination)
        with self._extracting:
            if self._extracted is None:
                # Remembered only once complete: a failed extraction fails the next set's call too.
                self._scratch_dir.mkdir(parents=True, exist_ok=True)
                folder = Path(tempfile.mkdtemp(prefix=f"{self.path.name}-", dir=self._scratch_dir))
                try:
                    extract_tar_zst(self.path, folder, limits=self.limits)
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
        return _open_read_only(found[0], self._connections)

    def remove(self) -> None:
        """Close the databases, delete what was extracted, and the file if the run downloaded it."""
        _close_all(self._connections)
        if self._extracted is not None:
            shutil.rmtree(self._extracted, ignore_errors=True)
            self._extracted = None
        if self.downloaded:
            self.path.unlink(missing_ok=True)
            logger.debug("Removed the downloaded archive %s", self.path)


class LocalExport:
    """A corpus export the run downloaded (a SQLite file), and the connections opened to it."""

    def __init__(self, path: Path, export_id: str) -> None:
        self.path = path
        self.export_id = export_id
        self._connections: list[sqlite3.Connection] = []

    def __repr__(self) -> str:
        return f"<LocalExport {self.export_id} {str(self.path)!r}>"

    def open_database(self, name: str | None = None) -> sqlite3.Connection:
        """A read-only connection to the export; ``name`` is for archives, which may hold several."""
        if name is not None:
            raise DatasetArchiveError(
                f"open_database({name!r}): the dataset comes from a corpus export, a single SQLite file "
                "(dataset.downloaded_export); call open_database() without a name."
            )
        return _open_read_only(self.path, self._connections)

    def remove(self) -> None:
        """Close the connections and delete the file."""
        _close_all(self._connections)
        self.path.unlink(missing_ok=True)
        logger.debug("Removed the downloaded export %s", self.path)


def _open_read_only(database: Path, connections: list[sqlite3.Connection]) -> sqlite3.Connection:
    """A read-only connection to ``database`` (rows by column name), kept in ``connections`` to close."""
    connection = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    connections.append(connection)
    return connection


def _close_all(connections: list[sqlite3.Connection]) -> None:
    """Close what :func:`_open_read_only` opened, before the file is removed."""
    for connection in connections:
        connection.close()
    connections.clear()
