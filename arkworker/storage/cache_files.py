"""Cache files as files: merging parent caches into a task's cache, and describing one.

A task of an Arkindex process starts from the caches its parent tasks left in
``$PONOS_DATA/<parent>/db.sqlite``; they are merged, table by table, into the task's own
``db.sqlite``. This merge does what arkindex-base-worker's does (every row of every parent;
on a primary key present in several parents, the last parent wins) without its weaknesses:

* parent paths are bound as SQL parameters, never pasted into a statement;
* each parent is attached read-only (``mode=ro``), so a parent task's file is never
  modified, and detached once copied, so any number of parents works (SQLite allows ten
  attached databases at once);
* columns are named in every copy, so the physical column order of a parent does not
  matter, and a table that lacks a column is reported, not copied into the wrong place;
* the result is built in a temporary file next to the target and renamed over it at the
  end: a failed merge (a corrupt or foreign parent, a full disk) leaves the target exactly
  as it was.

Rows are copied over plain :mod:`sqlite3` connections of their own, never a run's cache
connection, so all of this is safe to call before the cache is opened; tables are created
by the models, through a cache opened on the file for that alone (:func:`create_cache_file`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from peewee import DatabaseError as PeeweeDatabaseError

from arkworker.files import put_in_place, temporary_beside
from arkworker.storage import cache

logger = logging.getLogger("arkworker")

#: The data tables and their columns, in merge order (referenced tables first).
TABLES: dict[str, tuple[str, ...]] = {
    model._meta.table_name: tuple(field.column_name for field in model._meta.sorted_fields)
    for model in cache.MODELS
}


class CacheFileError(ValueError):
    """A cache file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class CacheInfo:
    """What a cache file holds: its version, rows per table (None: no such table), initial elements."""

    path: Path
    version: int | None
    counts: dict[str, int | None]
    initial_elements: int | None


def check_cache_file(path: Path) -> None:
    """Refuse, by name, a file that is missing, not SQLite, or not a cache of the current version."""
    if not Path(path).is_file():
        raise CacheFileError(f"The cache file {path} does not exist")
    try:
        cache.check_version(Path(path))
    except cache.CacheVersionError as exc:
        raise CacheFileError(str(exc)) from None


def create_cache_file(path: Path) -> None:
    """Create (or complete) a cache file: every table of the schema and the version row.

    Idempotent: on a file that already has the tables and the row, nothing changes.
    """
    cache.open_cache(Path(path)).close()


def merge_caches(target: Path, parents: Sequence[Path], *, keep_existing: bool = True) -> dict[str, int]:
    """Merge every ``parents`` cache into ``target``; return the rows copied per table.

    Each parent is checked first (exists, SQLite, version 3), all before anything is
    written. ``target`` is created when missing; when it exists, its rows are kept
    (``keep_existing``) or discarded. On any failure :class:`CacheFileError` names the
    parent at fault and ``target`` is left untouched.
    """
    target = Path(target)
    for parent in parents:
        check_cache_file(parent)
    if keep_existing and target.exists():
        check_cache_file(target)
    try:
        temporary = temporary_beside(target, suffix=".merge")
    except OSError as exc:
        raise CacheFileError(
            f"The cache file {target} cannot be written ({exc.strerror}): check its directory {target.parent}"
        ) from None
    copied = dict.fromkeys(TABLES, 0)
    try:
        if keep_existing and target.exists():
            shutil.copyfile(target, temporary)
        try:
            create_cache_file(temporary)
        except (sqlite3.DatabaseError, PeeweeDatabaseError) as exc:
            raise CacheFileError(f"The cache file {target} cannot be merged into ({exc})") from None
        connection = sqlite3.connect(Path(temporary).resolve().as_uri(), uri=True, isolation_level=None)
        try:
            # The file is private until renamed: crash safety comes from the rename, so no
            # journal is kept (an in-memory one grew with every page a parent's rows touched).
            connection.execute("PRAGMA synchronous = OFF")
            connection.execute("PRAGMA journal_mode = OFF")
            for parent in parents:
                logger.info("Merging parent db %s into %s", parent, target)
                for table, rows in _merge_one(connection, Path(parent)).items():
                    copied[table] += rows
        finally:
            connection.close()
        put_in_place(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return copied


def cache_info(path: Path) -> CacheInfo:
    """Describe a cache file without changing it (opened read-only)."""
    if not Path(path).is_file():
        raise CacheFileError(f"The cache file {path} does not exist")
    try:
        version = cache.read_version(Path(path))
    except cache.CacheVersionError as exc:
        raise CacheFileError(str(exc)) from None
    connection = sqlite3.connect(cache.read_only_uri(path), uri=True)
    try:
        present = _tables(connection, "main")
        counts = {
            table: connection.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
            if table in present
            else None
            for table in TABLES
        }
        initial = None
        if "elements" in present:
            initial = connection.execute("SELECT COUNT(*) FROM elements WHERE initial = 1").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise CacheFileError(f"The cache file {path} cannot be read ({exc})") from None
    finally:
        connection.close()
    return CacheInfo(Path(path), version, counts, initial)


def _merge_one(connection: sqlite3.Connection, parent: Path) -> dict[str, int]:
    """Copy one parent's rows into the connection's database; the parent is only read."""
    try:
        connection.execute("ATTACH DATABASE ? AS parent", (cache.read_only_uri(parent),))
    except sqlite3.DatabaseError as exc:
        raise CacheFileError(f"The parent cache {parent} cannot be opened ({exc})") from None
    copied: dict[str, int] = {}
    try:
        with _transaction(connection):
            present = _tables(connection, "parent")
            for table, columns in TABLES.items():
                if table not in present:
                    continue  # the reference would create it empty: nothing to copy
                missing = set(columns) - _columns(connection, table)
                if missing:
                    raise CacheFileError(
                        f"The parent cache {parent} is not compatible: its table {table} lacks the "
                        f"column(s) {', '.join(sorted(missing))}"
                    )
                names = ", ".join(f'"{column}"' for column in columns)
                cursor = connection.execute(
                    f'INSERT OR REPLACE INTO main."{table}" ({names}) SELECT {names} FROM parent."{table}"'
                )
                copied[table] = cursor.rowcount
    except sqlite3.DatabaseError as exc:
        raise CacheFileError(f"The parent cache {parent} cannot be merged ({exc})") from None
    finally:
        connection.execute("DETACH DATABASE parent")
    return copied


@contextlib.contextmanager
def _transaction(connection: sqlite3.Connection):
    connection.execute("BEGIN")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _tables(connection: sqlite3.Connection, schema: str) -> set[str]:
    query = f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table'"
    return {row[0] for row in connection.execute(query)}


def _columns(connection: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in connection.execute(f'PRAGMA parent.table_info("{table}")')}
