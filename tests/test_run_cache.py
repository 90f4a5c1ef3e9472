"""A run with ``--database``: the cache's initial elements, the fallback, and bad files."""

import hashlib
import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest

from arkworker import Worker
from arkworker.storage import cache
from tests.conftest import requests_of

REFERENCE = Path(__file__).parent / "data" / "reference_cache.sqlite"


@pytest.fixture
def cache_path(tmp_path):
    path = tmp_path / "db.sqlite"
    cache.open_cache(path).close()
    return path


def mark_initial(path, element_ids):
    with sqlite3.connect(path) as connection:
        for element_id in element_ids:
            connection.execute(
                "INSERT INTO elements (id, type, rotation_angle, mirrored, initial) VALUES (?, 'page', 0, 0, 1)",
                (uuid.UUID(element_id).hex,),
            )


def recording_worker(seen):
    app = Worker("cached", cache=True)

    @app.element
    def process(element, ctx):
        seen.append((type(element).__name__, str(element.id), ctx.use_cache))

    return app


def test_initial_elements_of_the_cache_are_processed(arkworker_run, arkworker_sandbox, cache_path):
    ids = arkworker_sandbox.process_element_ids()
    mark_initial(cache_path, [ids[2], ids[0]])
    seen = []
    run = arkworker_run(recording_worker(seen), "--database", str(cache_path))
    assert run.exit_code == 0, run.output
    assert seen == [("CachedElement", ids[2], True), ("CachedElement", ids[0], True)]
    assert requests_of(arkworker_sandbox, "RetrieveElement") == []
    assert sorted(a["element_id"] for a in arkworker_sandbox.objects("activities")) == sorted(
        [ids[0], ids[2]]
    )
    assert "the listed elements are ignored" in run.output
    assert f"Connected to cache on {cache_path}" in run.output


def test_without_initial_elements_the_listed_ones_are_retrieved(arkworker_run, arkworker_sandbox, cache_path):
    seen = []
    run = arkworker_run(recording_worker(seen), "--database", str(cache_path))
    assert run.exit_code == 0, run.output
    assert [kind for kind, _, _ in seen] == ["Element"] * 3
    assert len(requests_of(arkworker_sandbox, "RetrieveElement")) == 3


def test_read_only_runs_never_change_the_cache_file(arkworker_run, arkworker_sandbox, tmp_path):
    path = tmp_path / "bare.sqlite"
    with sqlite3.connect(path) as connection:  # a version table only: a read-write open would add tables
        connection.execute("CREATE TABLE version (version INTEGER NOT NULL PRIMARY KEY)")
        connection.execute("INSERT INTO version VALUES (3)")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    seen = []
    run = arkworker_run(recording_worker(seen), "--dev", "--database", str(path))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert run.exit_code == 1  # no elements table: every element fails, the file is untouched
    assert "no such table: elements" in run.output


def test_read_only_runs_read_the_cache(arkworker_run, arkworker_sandbox, cache_path):
    ids = arkworker_sandbox.process_element_ids()
    mark_initial(cache_path, ids[:1])
    before = hashlib.sha256(cache_path.read_bytes()).hexdigest()
    seen = []
    run = arkworker_run(recording_worker(seen), "--dev", "--database", str(cache_path))
    assert run.exit_code == 0, run.output
    assert seen == [("CachedElement", ids[0], True)]
    assert hashlib.sha256(cache_path.read_bytes()).hexdigest() == before


def test_database_errors_are_one_line(arkworker_run, arkworker_sandbox, make_app, tmp_path, cache_path):
    run = arkworker_run(make_app(name="no-cache"), "--database", str(cache_path))
    assert run.exit_code == 2
    assert run.output == (
        "Error: --database was given but worker 'no-cache' does not use a cache: declare "
        "Worker('no-cache', cache=True) or drop --database.\n"
    )
    run = arkworker_run(recording_worker([]), "--database", str(tmp_path / "none.sqlite"))
    assert run.exit_code == 2
    assert (
        run.output
        == f"Error: The cache database {tmp_path / 'none.sqlite'} does not exist: give the path of a db.sqlite file.\n"
    )
    run = arkworker_run(recording_worker([]), "--database", str(tmp_path))
    assert run.exit_code == 2
    assert run.output == f"Error: Invalid value for '-d' / '--database': File '{tmp_path}' is a directory.\n"
    old = tmp_path / "old.sqlite"
    with sqlite3.connect(old) as connection:
        connection.execute("CREATE TABLE version (version INTEGER PRIMARY KEY)")
        connection.execute("INSERT INTO version VALUES (2)")
    run = arkworker_run(recording_worker([]), "--database", str(old))
    assert run.exit_code == 2
    assert run.output == (
        f"Error: The SQLite database {old} does not have the correct cache version (version 2), it should be 3: "
        "give a version 3 cache ('arkworker cache info' shows one).\n"
    )
    assert arkworker_sandbox.requests == []


@pytest.mark.parametrize("verbose", [[], ["--verbose"]], ids=["quiet", "verbose"])
def test_a_database_that_is_not_sqlite_is_one_line(arkworker_run, arkworker_sandbox, tmp_path, verbose):
    path = tmp_path / "garbage.sqlite"
    path.write_text("this is not a database " * 50)
    run = arkworker_run(recording_worker([]), *verbose, "--database", str(path))
    assert run.exit_code == 2
    assert run.output == (
        f"Error: {path} is not a SQLite database (file is not a database): give a version 3 cache "
        "('arkworker cache info' shows one).\n"
    )
    assert arkworker_sandbox.requests == []


def test_a_run_processes_the_initial_elements_of_a_reference_cache(
    arkworker_run, arkworker_sandbox, tmp_path
):
    path = tmp_path / "db.sqlite"
    shutil.copyfile(REFERENCE, path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    seen = []
    app = Worker("cached", cache=True)

    @app.element
    def process(element, ctx):
        seen.append(
            (element.id.hex, element.type, element.polygon, element.image_url(), element.parent_id.hex)
        )

    run = arkworker_run(app, "--dev", "--database", str(path))
    assert run.exit_code == 0, run.output
    polygon = [[0, 0], [0, 1500], [1000, 1500], [1000, 0], [0, 0]]
    image = "https://iiif.example.com/iiif/2/scan/full/full/0/default.jpg"
    assert seen == [
        ("3" * 32, "page", polygon, image, "2" * 32),
        ("4" * 32, "page", polygon, image, "2" * 32),
    ]
    assert requests_of(arkworker_sandbox, "RetrieveElement") == []
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
