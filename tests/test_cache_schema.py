"""The cache file format: version 3 of arkindex-base-worker, column for column."""

import sqlite3
import uuid

import pytest

from arkworker.storage import cache


@pytest.fixture
def opened(tmp_path):
    db = cache.open_cache(tmp_path / "db.sqlite")
    yield db
    db.close()


@pytest.fixture
def cache_db(opened, tmp_path):
    return tmp_path / "db.sqlite"


def columns(path, table):
    with sqlite3.connect(path) as connection:
        return [
            (row[1], row[2], bool(row[3]), row[4])
            for row in connection.execute(f"PRAGMA table_info({table})")
        ]


def test_tables_and_version(cache_db, opened):
    with sqlite3.connect(cache_db) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert list(connection.execute("SELECT version FROM version")) == [(3,)]
    assert tables == {
        "version",
        "images",
        "elements",
        "transcriptions",
        "classifications",
        "entities",
        "transcription_entities",
        "datasets",
        "dataset_elements",
    }
    opened.create_schema()  # idempotent: the version row is not inserted twice
    assert cache.read_version(cache_db) == 3


def test_column_types_nullability_and_defaults(cache_db):
    assert columns(cache_db, "elements") == [
        ("id", "TEXT", True, None),
        ("parent_id", "TEXT", False, None),
        ("type", "VARCHAR(50)", True, None),
        ("image_id", "TEXT", False, None),
        ("polygon", "TEXT", False, None),  # the DDL says "text", as the reference
        ("rotation_angle", "INTEGER", True, None),
        ("mirrored", "INTEGER", True, None),
        ("initial", "INTEGER", True, None),
        ("worker_version_id", "TEXT", False, None),
        ("worker_run_id", "TEXT", False, None),
        ("confidence", "REAL", False, None),
    ]
    assert ("state", "VARCHAR(255)", True, "'open'") in columns(cache_db, "datasets")


def test_uuids_are_stored_as_hex_and_read_in_both_forms(cache_db, opened):
    element_id = uuid.uuid4()
    opened.CachedElement.create(id=element_id, type="page", polygon=[[0, 0], [1, 0], [1, 1]])
    with sqlite3.connect(cache_db) as connection:
        connection.execute(
            "INSERT INTO elements (id, type, rotation_angle, mirrored, initial) VALUES (?, 'line', 0, 0, 0)",
            (str(uuid.UUID(int=1)),),
        )
        assert connection.execute("SELECT id, polygon FROM elements").fetchone() == (
            element_id.hex,
            "[[0, 0], [1, 0], [1, 1]]",
        )
    assert {row.id for row in opened.CachedElement.select()} == {element_id, uuid.UUID(int=1)}


def test_version_errors(tmp_path):
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE version (version INTEGER PRIMARY KEY)")
        connection.execute("INSERT INTO version VALUES (2)")
    with pytest.raises(cache.CacheVersionError, match=r"version 2\), it should be 3"):
        cache.check_version(foreign)
    text = tmp_path / "notes.txt"
    text.write_text("not a database" * 100)
    with pytest.raises(cache.CacheVersionError, match="is not a SQLite database"):
        cache.check_version(text)
