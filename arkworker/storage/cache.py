"""The SQLite cache of an Arkindex process, in arkindex-base-worker's format version 3.

Tasks of one process hand results to each other through ``db.sqlite`` files, and the
tasks around an arkworker worker may be built on arkindex-base-worker: this file format
is a contract. Tables, columns, types, nullability, defaults, constraints and index names
below produce exactly the reference's schema; UUIDs are stored as 32 lowercase hex digits
(dashed and dashless forms are both read), JSON columns as ``json.dumps`` text, booleans as
0/1.

The models below describe the format and are bound to no database. :func:`open_cache`
returns a :class:`Cache`: a peewee database holding its own copy of every model, bound to
it (``db.CachedElement.select()``). peewee binds a database to model *classes*, so copies
are what let two caches be open at once (two runs in one process, two test fixtures)
without either seeing the other's rows; each copy subclasses the model here, so
``isinstance(row, CachedElement)`` holds for the rows of any cache.

Handlers running in several threads (``--jobs``) share the run's cache, and peewee gives
each thread its own connection. SQLite lets one connection write at a time: one that wants
to write while another does waits for it (up to ``timeout``), except when it already holds
the shared lock of a read in progress; waiting could then deadlock, so SQLite answers
"database is locked" at once. A :class:`Cache` therefore lets one thread's transaction run
at a time (:meth:`Cache.atomic`), begins it ``IMMEDIATE`` (the write lock first, then the
reads), and reads every row of a query when it runs, so that no read in progress holds the
shared lock while its thread goes on, to write for instance. The file keeps SQLite's
default rollback journal, the reference's: WAL would let reads and a write overlap, but the
mode is recorded in the file, and ``-wal`` and ``-shm`` files lie beside it as long as a
connection is open, where the next task of the process expects a lone ``db.sqlite``.

    db = open_cache(Path("db.sqlite"))
    try:
        pages = db.CachedElement.select().where(db.CachedElement.type == "page")
    finally:
        db.close()
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from peewee import (
    SQL,
    BooleanField,
    CharField,
    Check,
    CompositeKey,
    Expression,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    SqliteDatabase,
    TextField,
    Value,
    _atomic,
)
from peewee import Field as _Field
from peewee import UUIDField as _UUIDField

from arkworker import images
from arkworker.images.downloads import DownloadSettings
from arkworker.models import PrefetchesImage

#: The version of the cache format; any schema change must bump it.
SQL_VERSION = 3

#: Pragmas of a cache connection: foreign keys and CHECK constraints enforced.
PRAGMAS = {"foreign_keys": 1, "ignore_check_constraints": 0}


class CacheNotOpen(RuntimeError):
    """A query on the format's models rather than on those of an open cache."""


class _NoDatabase(SqliteDatabase):
    """The database of the format's models: none; a query on them says which models to use.

    Porting from arkindex-base-worker, where the models are bound to a global database,
    one writes ``CachedElement.select()``; this turns peewee's bare connection error into
    the fix.
    """

    def _connect(self) -> Any:
        raise CacheNotOpen(
            "The models of arkworker.storage.cache describe the cache format and are bound to no "
            "database: query those of an open cache, e.g. ctx.cache.CachedElement.select() in a "
            "handler, or open_cache(path).CachedElement."
        )


class UUIDField(_UUIDField):
    """A UUID stored as 32 hex digits; text that is not a UUID is kept as it is."""

    def python_value(self, value: Any) -> Any:
        if value is None or isinstance(value, uuid.UUID):
            return value
        try:
            return uuid.UUID(value)
        except (TypeError, ValueError):
            return value


def uuid_matches(field: _Field, *values: Any) -> Expression:
    """``field`` equal to one of ``values``, whether a row stores it dashless or dashed.

    Rows written here hold 32 hex digits, but caches written by other producers may hold
    dashed UUIDs; a plain ``field == value`` would only find the former.
    """
    forms: list[Value] = []
    for value in values:
        try:
            parsed = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        except ValueError:
            forms.append(Value(value, converter=False))
            continue
        forms += [Value(parsed.hex, converter=False), Value(str(parsed), converter=False)]
    return field.in_(forms)


class JSONField(_Field):
    """A JSON document in a ``text`` column (the reference's column type, lowercase)."""

    field_type = "text"

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value)

    def python_value(self, value: str | None) -> Any:
        return None if value is None else json.loads(value)


class CacheModel(Model):
    class Meta:
        database = _NoDatabase("no database")


class Version(CacheModel):
    version = IntegerField(primary_key=True)

    class Meta:
        table_name = "version"


class CachedImage(CacheModel):
    id = UUIDField(primary_key=True)
    width = IntegerField()
    height = IntegerField()
    url = TextField()

    class Meta:
        table_name = "images"


class CachedElement(PrefetchesImage, CacheModel):
    id = UUIDField(primary_key=True)
    parent_id = UUIDField(null=True)
    type = CharField(max_length=50)
    image = ForeignKeyField(CachedImage, backref="elements", null=True)
    polygon = JSONField(null=True)
    rotation_angle = IntegerField(default=0)
    mirrored = BooleanField(default=False)
    initial = BooleanField(default=False)
    worker_version_id = UUIDField(null=True)
    worker_run_id = UUIDField(null=True)
    confidence = FloatField(null=True)
    #: The raw value of the ``image`` key, set by peewee (declared for type checkers).
    image_id: uuid.UUID | None

    class Meta:
        table_name = "elements"

    #: How the rows of a run's cache download their images (None: like any download, see
    #: :func:`arkworker.images.downloads.current_settings`); set on each cache's copy.
    downloads: DownloadSettings | None = None

    def __str__(self) -> str:
        return str(self.id)

    # The image helpers of API elements; the rules live in arkworker.images.

    def image_url(self, size: str = "full") -> str | None:
        """The IIIF URL of the whole image at ``size``, None without an image."""
        image = None if self.image_id is None else self.image
        return None if image is None else images.iiif_url(image.url, "full", size)

    @property
    def requires_tiles(self) -> bool:
        """Always False: the cache does not record the image server's size limits."""
        return False

    def open_image(self, mode: str | None = "RGB", **kwargs: Any) -> Any:
        """Like :meth:`arkworker.models.Element.open_image`; ValueError without an image."""
        prefetched = self._take_prefetched({"mode": mode, **kwargs})
        if prefetched is not None:
            return prefetched
        return images.open_zone(images.cached_zone(self), mode, settings=self.downloads, **kwargs)

    @contextlib.contextmanager
    def open_image_tempfile(self, format: str = "jpeg", **kwargs: Any) -> Iterator[IO[bytes]]:
        """:meth:`open_image` saved in a temporary file (``.name`` is its path), deleted on exit."""
        zone = images.cached_zone(self)
        with images.open_zone_tempfile(zone, format, settings=self.downloads, **kwargs) as file:
            yield file


class CachedTranscription(CacheModel):
    id = UUIDField(primary_key=True)
    element = ForeignKeyField(CachedElement, backref="transcriptions")
    text = TextField()
    confidence = FloatField(null=True)
    orientation = CharField(max_length=50)
    worker_version_id = UUIDField(null=True)
    worker_run_id = UUIDField(null=True)

    class Meta:
        table_name = "transcriptions"


class CachedClassification(CacheModel):
    id = UUIDField(primary_key=True)
    element = ForeignKeyField(CachedElement, backref="classifications")
    class_name = TextField()
    confidence = FloatField()
    state = CharField(max_length=10)
    worker_run_id = UUIDField(null=True)

    class Meta:
        table_name = "classifications"


class CachedEntity(CacheModel):
    id = UUIDField(primary_key=True)
    type = CharField(max_length=50)
    name = TextField()
    validated = BooleanField(default=False)
    metas = JSONField(null=True)
    worker_run_id = UUIDField(null=True)

    class Meta:
        table_name = "entities"


class CachedTranscriptionEntity(CacheModel):
    transcription = ForeignKeyField(CachedTranscription, backref="transcription_entities")
    entity = ForeignKeyField(CachedEntity, backref="transcription_entities")
    offset = IntegerField(constraints=[Check("offset >= 0")])
    length = IntegerField(constraints=[Check("length > 0")])
    worker_run_id = UUIDField(null=True)
    confidence = FloatField(null=True)

    class Meta:
        table_name = "transcription_entities"
        primary_key = CompositeKey("transcription", "entity")


class CachedDataset(CacheModel):
    id = UUIDField(primary_key=True)
    name = CharField(max_length=255)
    state = CharField(max_length=255, default="open", constraints=[SQL("DEFAULT 'open'")])
    sets = TextField()

    class Meta:
        table_name = "datasets"


class CachedDatasetElement(CacheModel):
    id = UUIDField(primary_key=True)
    element = ForeignKeyField(CachedElement, backref="dataset_elements")
    dataset = ForeignKeyField(CachedDataset, backref="dataset_elements")
    set_name = CharField(max_length=255)

    class Meta:
        table_name = "dataset_elements"


#: The data tables, in the order a merge copies them (parents before children).
MODELS: tuple[type[CacheModel], ...] = (
    CachedImage,
    CachedElement,
    CachedTranscription,
    CachedClassification,
    CachedEntity,
    CachedTranscriptionEntity,
    CachedDataset,
    CachedDatasetElement,
)


def read_only_uri(path: Path) -> str:
    """The SQLite URI that opens ``path`` read-only (special characters escaped)."""
    return f"{Path(path).resolve().as_uri()}?mode=ro"


class CacheVersionError(ValueError):
    """A file that is not a cache of the expected version."""


def read_version(path: Path) -> int | None:
    """The cache version stored in ``path``; None when it has no version table.

    Opened read-only, so that inspecting a parent task's file never alters it.
    """
    try:
        connection = sqlite3.connect(read_only_uri(path), uri=True)
    except sqlite3.Error as exc:
        raise CacheVersionError(f"{path} cannot be opened ({exc})") from None
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "version" not in tables:
            return None
        rows = connection.execute("SELECT version FROM version").fetchall()
    except sqlite3.DatabaseError as exc:
        raise CacheVersionError(f"{path} is not a SQLite database ({exc})") from None
    finally:
        connection.close()
    if len(rows) != 1:
        raise CacheVersionError(f"{path} has {len(rows)} rows in its version table, expected 1")
    return rows[0][0]


def check_version(path: Path) -> None:
    """Refuse a file that is not a cache of version :data:`SQL_VERSION`."""
    version = read_version(path)
    if version != SQL_VERSION:
        found = "no version table" if version is None else f"version {version}"
        raise CacheVersionError(
            f"The SQLite database {path} does not have the correct cache version ({found}), it should be {SQL_VERSION}"
        )


class _OneWriter(_atomic):
    """peewee's atomic block, which one thread of the process at a time is inside (see :meth:`Cache.atomic`)."""

    db: Cache

    def __enter__(self) -> Any:
        self.db._writing.acquire()
        try:
            return super().__enter__()
        except BaseException:
            self.db._writing.release()
            raise

    def __exit__(self, *exc_info: Any) -> None:
        try:
            super().__exit__(*exc_info)
        finally:
            self.db._writing.release()


class _ReadRows:
    """A cursor whose rows were all read when it ran: its statement is over and holds no lock on the file.

    Everything but the rows (``description``, ``lastrowid``...) is the real cursor's.
    """

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor
        self._rows = iter(cursor.fetchall())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def __iter__(self) -> _ReadRows:
        return self

    def __next__(self) -> Any:
        return next(self._rows)

    def fetchone(self) -> Any:
        return next(self._rows, None)

    def fetchmany(self, size: int | None = None) -> list[Any]:
        return list(itertools.islice(self._rows, self._cursor.arraysize if size is None else size))

    def fetchall(self) -> list[Any]:
        return list(self._rows)


class Cache(SqliteDatabase):
    """One open cache file: a peewee database, and a copy of each model bound to it alone.

    ``db.CachedElement``, ``db.CachedTranscription``... query and write this file only;
    :attr:`models` lists the data models in merge order. Rows of ``db.CachedElement`` open
    their images under ``downloads`` (the settings of the run that opened the cache), from
    whichever thread calls them. Threads share it safely (see the module's documentation):
    write in a :meth:`atomic` block.
    """

    def __init__(self, database: str, *, downloads: DownloadSettings | None = None, **kwargs: Any) -> None:
        super().__init__(database, pragmas=PRAGMAS, check_same_thread=False, timeout=30, **kwargs)
        # Held by the thread whose transaction is open (see atomic()).
        self._writing = threading.RLock()
        bound = _bound_models(self, downloads)
        self.Version = bound[Version]
        self.CachedImage = bound[CachedImage]
        self.CachedElement = bound[CachedElement]
        self.CachedTranscription = bound[CachedTranscription]
        self.CachedClassification = bound[CachedClassification]
        self.CachedEntity = bound[CachedEntity]
        self.CachedTranscriptionEntity = bound[CachedTranscriptionEntity]
        self.CachedDataset = bound[CachedDataset]
        self.CachedDatasetElement = bound[CachedDatasetElement]
        #: The data models, in the order a merge copies them (as :data:`MODELS`).
        self.models: tuple[type[CacheModel], ...] = tuple(bound[model] for model in MODELS)

    def atomic(self, *args: Any, **kwargs: Any) -> _atomic:
        """A transaction (a savepoint when nested), which one thread of the process at a time is in.

        The others wait for it to end, then begin theirs. An outermost transaction begins
        ``IMMEDIATE`` unless told otherwise (``lock_type=``): it holds the file's write lock
        from its start, so reading before writing cannot deadlock with another process's
        writer.
        """
        if not args and "lock_type" not in kwargs:
            kwargs["lock_type"] = "IMMEDIATE"
        return _OneWriter(self, *args, **kwargs)

    def execute_sql(self, sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        """Run one statement; a query's rows are all read at once (see :class:`_ReadRows`).

        Its cursor then holds no lock on the file while the caller goes through its rows,
        so a thread writing while it iterates a query (its own writes included) never
        waits on one that will not end. The cost: a whole query's rows in memory at once,
        as peewee keeps the rows it yields anyway.
        """
        cursor = super().execute_sql(sql, params, *args, **kwargs)
        return cursor if cursor.description is None else _ReadRows(cursor)

    def create_schema(self) -> None:
        """Create the version table (with its row) and the data tables, idempotently."""
        with self.atomic():
            self.create_tables([self.Version, *self.models], safe=True)
            self.Version.insert(version=SQL_VERSION).on_conflict_ignore().execute()

    def initial_elements(self) -> list[CachedElement]:
        """The elements an initialisation task marked as the process's input, in insertion order."""
        model = self.CachedElement
        return list(model.select().where(model.initial == True).order_by(SQL("rowid")))  # noqa: E712


def _bound_models(database: Cache, downloads: DownloadSettings | None) -> dict[type[CacheModel], Any]:
    """A subclass of each model bound to ``database``, foreign keys pointing at each other.

    Inherited fields are copies, but a foreign key would still reference the format's
    model (bound to no database) and install its backref there under another name: each
    is pointed at the copy of its target instead.
    """
    bound: dict[type[CacheModel], Any] = {}
    models: tuple[type[CacheModel], ...] = (Version, *MODELS)
    for model in models:
        meta: dict[str, Any] = {"database": database, "table_name": model._meta.table_name}
        key_of: Any = model._meta.primary_key  # a CompositeKey when composite_key is set
        if model._meta.composite_key:
            meta["primary_key"] = CompositeKey(*key_of.field_names)
        attrs: dict[str, Any] = {"__module__": __name__, "Meta": type("Meta", (), meta)}
        for field in model._meta.refs:
            # A copy keeps every option and the declaration order (the DDL's column order);
            # binding it to the copy resolves its target's key and backref there.
            key = copy.deepcopy(field)
            key.rel_model, key.rel_field = bound[field.rel_model], None
            key.declared_backref, key.backref = field.backref, None
            attrs[field.name] = key
        if model is CachedElement:
            attrs["downloads"] = downloads
        bound[model] = type(model.__name__, (model,), attrs)
    return bound


def open_cache(path: Path, *, read_only: bool = False, downloads: DownloadSettings | None = None) -> Cache:
    """Open ``path`` as a cache and return it; the caller closes it (:meth:`Cache.close`).

    Missing tables are created, unless ``read_only``: a read-only run opens the file in
    SQLite's read-only mode, so that it cannot change it in any way. ``downloads`` are the
    settings under which the cache's elements open their images.
    """
    if read_only:
        db = Cache(read_only_uri(path), uri=True, downloads=downloads)
    else:
        db = Cache(str(path), downloads=downloads)
    db.connect(reuse_if_open=True)
    if not read_only:
        try:
            db.create_schema()
        except BaseException:
            db.close()
            raise
    return db
