"""The sandbox's state: one SQLite file per :class:`Store`, and the registry of its tables.

Why a file and never ``:memory:``: the HTTP server answers each request on its own thread,
and an in-memory SQLite database is private to one connection. A file (in a temporary
directory when the user gives no path) is seen identically by every thread, survives a
restart of the server, and can be reopened later (``Sandbox(db_path=...)``).

Why the models are bound per session: several sandboxes may live in one process (pytest
fixtures of different scopes, two corpora side by side), each with its own database, while
peewee binds a database to the *model classes*. :meth:`Store.session` therefore takes a
process-wide re-entrant lock, binds every model to this store's database (unless they are
bound to it already: rebinding some forty models per request cost more than most requests),
and opens a transaction. Everything that touches the models (request handlers, seeding, the
control plane) runs inside a session, so no thread ever sees models bound to another
sandbox's file. The lock serialises database work across sandboxes and across the server's
threads; requests are short, and it rules out SQLite "database is locked" errors whatever
the number of clients. Because queries are lazy, code inside a session must materialise what
it returns (lists of plain dicts), never hand out a query.

Why :func:`first`: peewee builds and compiles a query to SQL on every call, which costs
several times what SQLite takes to answer it. The lookups every request makes (a row by its
id, a foreign key followed) go through :func:`first` (or :func:`first_fields`), which
compiles the query of each model and set of columns once; so do :meth:`BaseModel.create`
(every insert) and :meth:`BaseModel.write` (an update by primary key).

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
import functools
import json
import operator
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from peewee import (
    SQL,
    AutoField,
    CharField,
    DatabaseError,
    Field,
    ForeignKeyAccessor,
    ForeignKeyField,
    Model,
    SqliteDatabase,
    TextField,
)

if TYPE_CHECKING:
    from typing_extensions import Self

#: Bumped whenever a table changes; a file written by another version is refused, not migrated.
SCHEMA_VERSION = 5

_LOCK = threading.RLock()
#: What the lock guards: the database the models are bound to, and those of the sessions open
#: in the thread holding the lock, innermost last (a session of one store inside another's).
_BOUND: list[SqliteDatabase | None] = [None]
_OPEN: list[SqliteDatabase] = []

M = TypeVar("M", bound=type["BaseModel"])
R = TypeVar("R", bound=Model)


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
    #: Peewee's names of the fields changed since the row was read or saved (typed here only).
    _dirty: set[str]

    @classmethod
    def create(cls, **query: Any) -> Self:
        """``Model.create``: the row with its defaults, inserted; the INSERT of each set of fields compiled once."""
        row: Any = cls(**query)
        data = row.__data__
        fields = cls._meta.fields
        names = tuple(data)
        sql = _INSERTS.get((cls, names))
        if sql is None:
            columns = [fields[name] for name in names]
            sql, params = cls.insert_many([[SQL("?")] * len(columns)], fields=columns).sql()
            if params:  # a default peewee would add: the values would not match the columns
                raise ValueError(f"Cannot compile an insert of {cls.__name__} with {', '.join(names)}")
            _INSERTS[cls, names] = sql
        cursor = cls._meta.database.execute_sql(
            sql, [fields[name].db_value(value) for name, value in data.items()]
        )
        key = cls._meta.primary_key
        if isinstance(key, AutoField) and data.get(key.name) is None:
            setattr(row, key.name, cursor.lastrowid)
        row._dirty.clear()
        return row

    def write(self, **values: Any) -> None:
        """Give this row these values and store them (an UPDATE by primary key), compiled once per set of fields.

        As ``Model.update(**values).where(<primary key> == ...).execute()``, without building
        and compiling the query each time.
        """
        cls = type(self)
        names = tuple(values)
        sql = _UPDATES.get((cls, names))
        fields = cls._meta.fields
        key = cls._meta.primary_key
        if not isinstance(key, Field):
            raise TypeError(f"{cls.__name__} has no primary key")
        if sql is None:
            query = cls.update({fields[name]: SQL("?") for name in names}).where(key == SQL("?"))
            sql, params = query.sql()
            if params:  # a value peewee would add: the values would not match the placeholders
                raise ValueError(f"Cannot compile an update of {cls.__name__} with {', '.join(names)}")
            _UPDATES[cls, names] = sql
        for name, value in values.items():
            setattr(self, name, value)  # a row given for a foreign key is kept as its id
        data = self.__data__
        stored = [fields[name].db_value(data[name]) for name in names]
        cls._meta.database.execute_sql(sql, [*stored, key.db_value(data[key.name])])
        self._dirty.difference_update(names)


_INSERTS: dict[tuple[type[BaseModel], tuple[str, ...]], str] = {}
_UPDATES: dict[tuple[type[BaseModel], tuple[str, ...]], str] = {}
MODELS: list[type[BaseModel]] = []


def register(model: M) -> M:
    """Add a model to the tables every store creates; use as a class decorator.

    Its foreign keys fetch the rows they point to with :func:`first`.
    """
    if any(other._meta.table_name == model._meta.table_name for other in MODELS):
        raise ValueError(f"Two sandbox models use the table name {model._meta.table_name!r}")
    for field in model._meta.refs:
        setattr(model, field.name, _ForeignKeyAccessor(model, field, field.name))
    with _LOCK:
        MODELS.append(model)
        _BOUND[0] = None  # the next session binds the new model too
    return model


@dataclass(frozen=True)
class _Lookup:
    """The compiled SQL of one kind of :func:`first` lookup, and how to read its answer."""

    sql: str
    #: The fields compared, in the order of their ``?``.
    compared: tuple[Field, ...]
    #: The fields selected, in the order of the row's columns.
    selected: tuple[Field, ...]


_LOOKUPS: dict[tuple[type[Model], tuple[str, ...], tuple[str, ...] | None], _Lookup] = {}


def _compile_lookup(model: type[Model], names: tuple[str, ...], only: tuple[str, ...] | None) -> _Lookup:
    fields = model._meta.fields
    selected = tuple(model._meta.sorted_fields) if only is None else tuple(fields[name] for name in only)
    condition = functools.reduce(operator.and_, (getattr(model, name) == SQL("?") for name in names))
    sql, params = model.select(*selected).where(condition).sql()
    if params:  # every value is a placeholder: a compiled parameter would be reused wrongly
        raise ValueError(f"Cannot compile a lookup of {model.__name__} by {', '.join(names)}")
    compiled = _Lookup(f"{sql} LIMIT 1", tuple(fields[name] for name in names), selected)
    _LOOKUPS[model, names, only] = compiled
    return compiled


def first(model: type[R], **equal: Any) -> R | None:
    """The row of ``model`` whose fields equal these values (``id=...``), or None; inside a session.

    As ``model.get_or_none(...)`` with equalities, but the SQL of each model and set of fields
    is compiled once (``?`` for the values), and the row is made an instance as peewee's own
    cursor wrapper does (without dirty fields), without building a query each time.
    """
    return _first(model, None, equal)


def first_fields(model: type[R], only: tuple[str, ...], **equal: Any) -> R | None:
    """As :func:`first`, the row with only the fields ``only`` read (the others None).

    For a lookup that needs a few small fields of a row that also holds a large one (a
    process's element list), to read only those.
    """
    return _first(model, only, equal)


def _first(model: type[R], only: tuple[str, ...] | None, equal: dict[str, Any]) -> R | None:
    names = tuple(equal)
    lookup = _LOOKUPS.get((model, names, only)) or _compile_lookup(model, names, only)
    values = [field.db_value(value) for field, value in zip(lookup.compared, equal.values(), strict=True)]
    row = model._meta.database.execute_sql(lookup.sql, values).fetchone()
    if row is None:
        return None
    found: Any = model(
        __no_default__=1, **{f.name: f.python_value(v) for f, v in zip(lookup.selected, row, strict=True)}
    )
    found._dirty.clear()
    return found


def by_key(model: type[R], value: Any) -> R | None:
    """The row of ``model`` whose primary key is ``value``, or None (:func:`first`)."""
    key = model._meta.primary_key
    if not isinstance(key, Field):
        raise TypeError(f"{model.__name__} has no primary key")
    return first(model, **{key.name: value})


class _ForeignKeyAccessor(ForeignKeyAccessor):
    """Peewee's accessor of a foreign key (``run.process``), fetching the row with :func:`first`."""

    field: ForeignKeyField

    def get_rel_instance(self, instance: Model) -> Any:
        value = instance.__data__.get(self.name)
        if value is not None and self.name not in instance.__rel__ and self.field.lazy_load:
            row = first(self.rel_model, **{self.field.rel_field.name: value})
            if row is None:
                raise self.rel_model.DoesNotExist(f"{self.rel_model.__name__} {value} does not exist")
            instance.__rel__[self.name] = row
        return super().get_rel_instance(instance)


class SandboxMeta(BaseModel):
    """Key/value facts about the state itself: schema version, seeded corpus and worker run."""

    key = CharField(primary_key=True)
    value = JSONField(null=True)

    class Meta:
        table_name = "sandbox_meta"


class StateFileError(ValueError):
    """A state file that the sandbox must not touch: not SQLite, foreign tables, other version."""


def _bind(database: SqliteDatabase) -> None:
    """Bind every model to ``database`` unless they are already (hold ``_LOCK``)."""
    if _BOUND[0] is not database:
        models: list[type[BaseModel]] = [SandboxMeta, *MODELS]
        for model in models:
            model.bind(database, bind_refs=False, bind_backrefs=False)
        _BOUND[0] = database


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
        # synchronous=OFF never waits for the disk: a crash of the process loses nothing that
        # was answered, and a state is a test fixture, which a crash of the machine may spoil
        # (then delete the file). NORMAL cost 0.1 ms per write, the checkpoints' syncs amortised.
        self.database = SqliteDatabase(
            str(self.path),
            pragmas={"foreign_keys": 1, "journal_mode": "wal", "synchronous": "off"},
            thread_safe=False,
            check_same_thread=False,
        )

    def __repr__(self) -> str:
        return f"<Store {str(self.path)!r}>"

    @contextmanager
    def session(self) -> Iterator[None]:
        """Bind every model to this store for the duration of the block, in one transaction."""
        with _LOCK:
            _OPEN.append(self.database)
            try:
                _bind(self.database)
                with self.database.atomic():
                    yield
            finally:
                _OPEN.pop()
                if _OPEN:  # back to the session this one was nested in
                    _bind(_OPEN[-1])

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
