"""The sandbox's state: one SQLite file per :class:`Store`, and the registry of its tables.

Why a file and never ``:memory:``: the HTTP server answers each request on its own thread,
and an in-memory SQLite database is private to one connection. A file (in a temporary
directory when the user gives no path) is seen identically by every thread, survives a
restart of the server, and can be reopened later (``Sandbox(db_path=...)``).

Why the models are bound per session: several sandboxes may live in one process (pytest
fixtures of different scopes, two corpora side by side), each with its own database, while
peewee binds a database to the *model classes*. :meth:`Store.session` therefore takes a
process-wide re-entrant lock, binds every model to this store's database with
``Database.bind_ctx``, opens a connection and a transaction, and undoes all of it on exit.
Everything that touches the models (request handlers, seeding, the control plane) runs
inside a session, so no thread ever sees models bound to another sandbox's file. The lock
serialises database work across sandboxes; requests are tiny and a worker is sequential,
so that costs nothing measurable and also rules out SQLite "database is locked" errors.
Because queries are lazy, code inside a session must materialise what it returns (lists of
plain dicts), never hand out a query.

Where tables are declared: the core tables, which several families refer to (corpus,
elements, transcriptions, worker run, process...), in :mod:`arkworker.sandbox.tables`; every
other table in the handler module of its family (``handlers/datasets.py``...). Either way a
table subclasses :class:`BaseModel` and is registered with the :func:`register` decorator;
``worker_output`` marks tables that a worker run creates, so that :meth:`Store.created` and
the run report list them. Tables are created from the registry, so their modules must be
imported before a store is initialised (``arkworker.sandbox.handlers`` imports them all).

Conventions: ids are dashed lowercase UUID strings; foreign keys are stored in ``<name>_id``
columns; JSON columns hold ``json.dumps`` text; rows are listed in creation order (SQLite's
``rowid``).

Typing: a ``ForeignKeyField`` named ``corpus`` also gives instances a ``corpus_id`` attribute
(the raw column value) that type checkers cannot see, so each table declares it next to the
field, as a bare annotation (``corpus_id: str``, ``str | None`` for a nullable key). A bare
annotation assigns nothing, so peewee creates no field for it and the schema is unchanged; it
types instance access only (on the class, peewee's accessor still yields the field itself).
"""

from __future__ import annotations

import datetime
import json
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from peewee import (
    SQL,
    CharField,
    DatabaseError,
    Model,
    SqliteDatabase,
    TextField,
)

#: Bumped whenever a table changes; a file written by another version is refused, not migrated.
SCHEMA_VERSION = 5

_LOCK = threading.RLock()

M = TypeVar("M", bound=type["BaseModel"])


def new_id() -> str:
    """A fresh dashed lowercase UUID, the id format of every sandbox object."""
    return str(uuid.uuid4())


def now() -> str:
    """The current UTC time in the ISO 8601 form Arkindex uses in ``created`` fields."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


class JSONField(TextField):
    """A column holding any JSON value (NULL stays NULL)."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value)

    def python_value(self, value: str | None) -> Any:
        return None if value is None else json.loads(value)


def UUIDKey() -> CharField:
    return CharField(primary_key=True, max_length=36)


class BaseModel(Model):
    """Base of every sandbox table.

    ``worker_output`` marks tables whose rows a worker run creates (they carry a
    ``worker_run_id`` column); ``noun`` is the singular used in reports ("1 transcription").
    """

    worker_output: ClassVar[bool] = False
    noun: ClassVar[str] = ""


MODELS: list[type[BaseModel]] = []


def register(model: M) -> M:
    """Add a model to the tables every store creates; use as a class decorator."""
    if any(other._meta.table_name == model._meta.table_name for other in MODELS):
        raise ValueError(f"Two sandbox models use the table name {model._meta.table_name!r}")
    MODELS.append(model)
    return model


class SandboxMeta(BaseModel):
    """Key/value facts about the state itself: schema version, seeded corpus and worker run."""

    key = CharField(primary_key=True)
    value = JSONField(null=True)

    class Meta:
        table_name = "sandbox_meta"


class StateFileError(ValueError):
    """A state file that the sandbox must not touch: not SQLite, foreign tables, other version."""


def row_dict(row: BaseModel) -> dict[str, Any]:
    """A model instance as a plain dict keyed by column name (``element_id``, not ``element``)."""
    return {f.column_name: row.__data__.get(f.name) for f in row._meta.sorted_fields}


class Store:
    """One sandbox state: a SQLite file and the sessions that bind the models to it.

    Without a path, the file lives in a temporary directory owned by the store, so that it
    lasts exactly as long as anything (a sandbox, a running server) still uses the store.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        if path is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="arkworker-sandbox-")
            path = Path(self._tempdir.name) / "sandbox.sqlite"
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the server's threads: every use holds the process-wide
        # lock (see session()), so connecting once beats reconnecting per request. WAL with
        # synchronous=NORMAL spares an fsync per request; a crash of the machine (not of the
        # process) may lose the last answers of a throwaway test server, never corrupt it.
        self.database = SqliteDatabase(
            str(self.path),
            pragmas={"foreign_keys": 1, "journal_mode": "wal", "synchronous": "normal"},
            thread_safe=False,
            check_same_thread=False,
        )

    def __repr__(self) -> str:
        return f"<Store {str(self.path)!r}>"

    @contextmanager
    def session(self) -> Iterator[None]:
        """Bind every model to this store for the duration of the block, in one transaction."""
        with (
            _LOCK,
            self.database.bind_ctx([SandboxMeta, *MODELS], bind_refs=False, bind_backrefs=False),
            self.database.atomic(),
        ):
            yield

    def close(self) -> None:
        """Close the shared connection (the next use of the store reopens it)."""
        with _LOCK:
            if not self.database.is_closed():
                self.database.close()

    # -- lifecycle -------------------------------------------------------------------------

    def holds_state(self) -> bool:
        """Whether the file already holds a sandbox state (to be reused as is).

        A missing or empty file holds none; a file with other tables, a file that is not
        SQLite, or a state of another schema version raises :class:`StateFileError`.
        """
        if not self.path.exists() or self.path.stat().st_size == 0:
            return False
        try:
            with self.session():
                tables = set(self.database.get_tables())
                if not tables:
                    return False
                if SandboxMeta._meta.table_name not in tables:
                    raise StateFileError(
                        f"{self.path} is not an arkworker sandbox state (it has other tables: "
                        f"{', '.join(sorted(tables))}); give another db_path"
                    )
                version = self.get_meta("schema_version")
        except (DatabaseError, sqlite3.DatabaseError) as error:
            raise StateFileError(
                f"{self.path} is not a SQLite database ({error}); give another db_path"
            ) from None
        if version != SCHEMA_VERSION:
            raise StateFileError(
                f"{self.path} holds a sandbox state of schema version {version}, this arkworker uses "
                f"version {SCHEMA_VERSION}; delete the file to start afresh"
            )
        return True

    def initialise(self) -> None:
        """Create every table (dropping existing sandbox tables first) and stamp the version."""
        with self.session():
            self.database.drop_tables([SandboxMeta, *MODELS], safe=True)
            self.database.create_tables([SandboxMeta, *MODELS])
            self.set_meta("schema_version", SCHEMA_VERSION)

    # -- meta facts (call inside a session) --------------------------------------------------

    def get_meta(self, key: str) -> Any:
        row = SandboxMeta.get_or_none(SandboxMeta.key == key)
        return None if row is None else row.value

    def set_meta(self, key: str, value: Any) -> None:
        SandboxMeta.replace(key=key, value=value).execute()

    def fact(self, key: str) -> Any:
        """A meta fact, read in its own session (for the control plane)."""
        with self.session():
            return self.get_meta(key)

    # -- inspection ------------------------------------------------------------------------

    @staticmethod
    def kinds() -> list[str]:
        """The names accepted by :meth:`objects`: the table names of the registered models."""
        return [model._meta.table_name for model in MODELS]

    @staticmethod
    def model_for(kind: str) -> type[BaseModel]:
        for model in MODELS:
            if model._meta.table_name == kind:
                return model
        raise ValueError(f"Unknown kind {kind!r}; valid kinds: {', '.join(Store.kinds())}")

    def objects(self, kind: str, /, **filters: Any) -> list[dict[str, Any]]:
        """Rows of one table as plain dicts, in creation order, filtered by column equality."""
        model = self.model_for(kind)
        columns = {f.column_name: f for f in model._meta.sorted_fields}
        for name in filters:
            if name not in columns:
                raise ValueError(f"{kind} have no column {name!r}; columns: {', '.join(columns)}")
        with self.session():  # queries take their database when built: build them bound
            query = model.select()
            for name, value in filters.items():
                column = columns[name]
                query = query.where(column.is_null() if value is None else column == value)
            return [row_dict(row) for row in query.order_by(SQL("rowid"))]

    def created(self, worker_run_id: str) -> dict[str, list[dict[str, Any]]]:
        """Every worker-output row whose ``worker_run_id`` is the given one, per kind (non-empty only)."""
        result = {}
        for model in MODELS:
            if model.worker_output:
                rows = self.objects(model._meta.table_name, worker_run_id=worker_run_id)
                if rows:
                    result[model._meta.table_name] = rows
        return result
