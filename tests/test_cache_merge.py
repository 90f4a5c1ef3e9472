"""Merging parent caches on real files: semantics, many parents, safety, atomicity."""

import hashlib
import os
import sqlite3
import stat
import uuid

import pytest

from arkworker.storage.cache_files import CacheFileError, cache_info, create_cache_file, merge_caches


def make_parent(path, elements=(), initial=False):
    """A version-3 cache holding elements with the given ids (type = the file's stem)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    create_cache_file(path)
    with sqlite3.connect(path) as connection:
        connection.executemany(
            "INSERT INTO elements (id, type, rotation_angle, mirrored, initial) VALUES (?, ?, 0, 0, ?)",
            [(element, path.stem, int(initial)) for element in elements],
        )
    connection.close()
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def elements(path):
    with sqlite3.connect(path) as connection:
        return dict(connection.execute("SELECT id, type FROM elements ORDER BY id"))


def test_every_row_is_merged_and_the_last_parent_wins(tmp_path):
    a = make_parent(tmp_path / "a" / "first.sqlite", ["1" * 32, "2" * 32])
    b = make_parent(tmp_path / "b" / "second.sqlite", ["2" * 32, "3" * 32])
    target = tmp_path / "db.sqlite"
    copied = merge_caches(target, [a, b])
    assert elements(target) == {"1" * 32: "first", "2" * 32: "second", "3" * 32: "second"}
    assert copied["elements"] == 4
    with sqlite3.connect(target) as connection:
        assert connection.execute("SELECT version FROM version").fetchall() == [(3,)]


def test_more_parents_than_sqlite_attaches_at_once(tmp_path):
    parents = [make_parent(tmp_path / f"p{index}" / "db.sqlite", [uuid.uuid4().hex]) for index in range(15)]
    merge_caches(tmp_path / "db.sqlite", parents)
    assert len(elements(tmp_path / "db.sqlite")) == 15


def test_parents_are_never_written(tmp_path):
    parent = tmp_path / "parent" / "db.sqlite"
    parent.parent.mkdir()
    with sqlite3.connect(parent) as connection:  # an old parent: only some tables
        connection.execute("CREATE TABLE version (version INTEGER NOT NULL PRIMARY KEY)")
        connection.execute("INSERT INTO version VALUES (3)")
        connection.execute(
            'CREATE TABLE elements ("id" TEXT NOT NULL PRIMARY KEY, "parent_id" TEXT, "type" VARCHAR(50) NOT NULL, '
            '"image_id" TEXT, "polygon" text, "rotation_angle" INTEGER NOT NULL, "mirrored" INTEGER NOT NULL, '
            '"initial" INTEGER NOT NULL, "worker_version_id" TEXT, "worker_run_id" TEXT, "confidence" REAL)'
        )
        connection.execute(
            "INSERT INTO elements (id, type, rotation_angle, mirrored, initial) VALUES ('x', 'p', 0, 0, 1)"
        )
    connection.close()
    before = digest(parent)
    parent.chmod(0o444)
    parent.parent.chmod(0o555)
    try:
        merge_caches(tmp_path / "db.sqlite", [parent])
    finally:
        parent.parent.chmod(0o755)
    assert digest(parent) == before
    assert sorted(p.name for p in parent.parent.iterdir()) == ["db.sqlite"]
    assert elements(tmp_path / "db.sqlite") == {"x": "p"}


def test_a_quote_in_a_parent_path_is_just_a_character(tmp_path):
    parent = make_parent(tmp_path / "it's a dir; DROP TABLE x" / "db.sqlite", ["1" * 32])
    merge_caches(tmp_path / "db.sqlite", [parent])
    assert elements(tmp_path / "db.sqlite") == {"1" * 32: "db"}


def test_columns_are_matched_by_name_not_position(tmp_path):
    parent = tmp_path / "p" / "db.sqlite"
    parent.parent.mkdir()
    with sqlite3.connect(parent) as connection:
        connection.execute("CREATE TABLE version (version INTEGER NOT NULL PRIMARY KEY)")
        connection.execute("INSERT INTO version VALUES (3)")
        connection.execute(
            "CREATE TABLE images (url TEXT NOT NULL, height INTEGER NOT NULL, width INTEGER NOT NULL, id TEXT PRIMARY KEY)"
        )
        connection.execute("INSERT INTO images VALUES ('https://x/iiif', 20, 10, 'img')")
    connection.close()
    merge_caches(tmp_path / "db.sqlite", [parent])
    with sqlite3.connect(tmp_path / "db.sqlite") as connection:
        assert connection.execute("SELECT id, width, height, url FROM images").fetchall() == [
            ("img", 10, 20, "https://x/iiif")
        ]


def test_a_crash_at_the_third_parent_leaves_the_target_unchanged(tmp_path):
    target = make_parent(tmp_path / "task" / "db.sqlite", ["0" * 32])
    before = digest(target)
    good = [make_parent(tmp_path / f"p{index}" / "db.sqlite", [uuid.uuid4().hex]) for index in range(2)]
    broken = tmp_path / "p2" / "db.sqlite"
    broken.parent.mkdir()
    with sqlite3.connect(broken) as connection:
        connection.execute("CREATE TABLE version (version INTEGER NOT NULL PRIMARY KEY)")
        connection.execute("INSERT INTO version VALUES (3)")
        connection.execute("CREATE TABLE elements (id TEXT PRIMARY KEY, type TEXT)")  # incompatible
    connection.close()
    with pytest.raises(CacheFileError, match=rf"{broken} is not compatible: its table elements lacks"):
        merge_caches(target, [*good, broken, *good])
    assert digest(target) == before
    assert sorted(path.name for path in target.parent.iterdir()) == ["db.sqlite"]


def test_a_failed_merge_creates_no_target(tmp_path):
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    with pytest.raises(CacheFileError, match=r"broken\.sqlite"):
        merge_caches(tmp_path / "db.sqlite", [broken])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["broken.sqlite"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"not a database at all, just text" * 10, "is not a SQLite database"),
        (None, "does not exist"),
    ],
    ids=["not-sqlite", "missing"],
)
def test_unusable_parents_are_named(tmp_path, content, problem):
    good = make_parent(tmp_path / "good.sqlite", ["1" * 32])
    bad = tmp_path / "bad.sqlite"
    if content is not None:
        bad.write_bytes(content)
    with pytest.raises(CacheFileError, match=problem) as raised:
        merge_caches(tmp_path / "db.sqlite", [good, bad])
    assert str(bad) in str(raised.value)
    assert not (tmp_path / "db.sqlite").exists()


def test_a_foreign_sqlite_file_or_another_version_is_refused(tmp_path):
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE things (id INTEGER)")
    connection.close()
    with pytest.raises(
        CacheFileError, match=r"foreign.sqlite does not have the correct cache version \(no version"
    ):
        merge_caches(tmp_path / "db.sqlite", [foreign])
    old = make_parent(tmp_path / "old.sqlite")
    with sqlite3.connect(old) as connection:
        connection.execute("UPDATE version SET version = 2")
    connection.close()
    with pytest.raises(
        CacheFileError, match=r"old.sqlite does not have the correct cache version \(version 2\)"
    ):
        merge_caches(tmp_path / "db.sqlite", [old])


def test_an_existing_target_keeps_its_rows_unless_asked(tmp_path):
    target = make_parent(tmp_path / "db.sqlite", ["0" * 32])
    parent = make_parent(tmp_path / "p" / "parent.sqlite", ["1" * 32])
    merge_caches(target, [parent])
    assert set(elements(target)) == {"0" * 32, "1" * 32}
    merge_caches(target, [parent], keep_existing=False)
    assert set(elements(target)) == {"1" * 32}


def test_no_parents_gives_an_empty_cache(tmp_path):
    merge_caches(tmp_path / "db.sqlite", [])
    info = cache_info(tmp_path / "db.sqlite")
    assert info.version == 3
    assert set(info.counts.values()) == {0}
    assert info.initial_elements == 0


def test_cache_info_counts_rows_and_initial_elements(tmp_path):
    path = make_parent(tmp_path / "db.sqlite", ["1" * 32, "2" * 32], initial=True)
    make_parent(path, ["3" * 32])
    info = cache_info(path)
    assert info.counts["elements"] == 3
    assert info.initial_elements == 2
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE datasets")
    connection.close()
    assert cache_info(path).counts["datasets"] is None


def test_the_merged_file_gets_the_mode_of_any_new_file(tmp_path):
    parent = make_parent(tmp_path / "p" / "db.sqlite", ["1" * 32])
    previous = os.umask(0o022)
    try:
        merge_caches(tmp_path / "new.sqlite", [parent])
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "new.sqlite").stat().st_mode) == 0o644  # readable by the next task
    existing = make_parent(tmp_path / "existing.sqlite", ["2" * 32])
    existing.chmod(0o640)
    merge_caches(existing, [parent])
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640


def test_a_target_that_cannot_be_written_is_named(tmp_path):
    parent = make_parent(tmp_path / "p" / "db.sqlite", ["1" * 32])
    (tmp_path / "file").write_text("not a directory")
    target = tmp_path / "file" / "db.sqlite"
    with pytest.raises(
        CacheFileError, match=rf"The cache file {target} cannot be written \(Not a directory\)"
    ):
        merge_caches(target, [parent])


def test_a_parent_corrupt_past_its_version_table_is_named(tmp_path):
    parent = make_parent(tmp_path / "p" / "db.sqlite", [uuid.uuid4().hex for _ in range(20000)])
    data = bytearray(parent.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 40000] = b"\xab" * 40000
    parent.write_bytes(bytes(data))
    target = make_parent(tmp_path / "task" / "db.sqlite", ["0" * 32])
    before = digest(target)
    with pytest.raises(
        CacheFileError, match=rf"The parent cache {parent} cannot be merged \(database disk image"
    ):
        merge_caches(target, [parent])
    assert digest(target) == before
    assert sorted(path.name for path in target.parent.iterdir()) == ["db.sqlite"]
