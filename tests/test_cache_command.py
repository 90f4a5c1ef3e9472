"""``arkworker cache info`` and ``arkworker cache merge`` on real files."""

import hashlib
import shutil
import sqlite3
from pathlib import Path

from arkworker.cli import cli, invoke

REFERENCE = Path(__file__).parent / "data" / "reference_cache.sqlite"


def arkworker(*args):
    return invoke(cli, list(map(str, args)), prog_name="arkworker")


def test_info_shows_version_counts_and_initial_elements(capsys):
    assert arkworker("cache", "info", REFERENCE) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{REFERENCE}: cache version 3"
    assert "  elements                4" in out
    assert "  transcription_entities  1" in out
    assert out[-1] == "  initial elements: 2"


def test_info_on_another_version_or_an_incomplete_file(tmp_path, capsys):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE version (version INTEGER PRIMARY KEY)")
        connection.execute("INSERT INTO version VALUES (2)")
    connection.close()
    assert arkworker("cache", "info", path) == 0
    out = capsys.readouterr().out
    assert "cache version 2 (arkworker reads version 3)" in out
    assert "  elements                missing" in out
    assert "initial elements: unknown (no elements table)" in out


def test_info_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "text.sqlite").write_text("hello" * 100)
    assert arkworker("cache", "info", tmp_path / "text.sqlite") == 2
    assert (
        capsys.readouterr().err
        == f"Error: {tmp_path / 'text.sqlite'} is not a SQLite database (file is not a database).\n"
    )
    assert arkworker("cache", "info", tmp_path / "none.sqlite") == 2
    assert capsys.readouterr().err == f"Error: The cache file {tmp_path / 'none.sqlite'} does not exist.\n"


def test_merge_writes_a_new_cache_and_refuses_to_overwrite(tmp_path, capsys):
    parent = tmp_path / "parent.sqlite"
    shutil.copyfile(REFERENCE, parent)
    out = tmp_path / "merged.sqlite"
    assert arkworker("cache", "merge", out, parent, REFERENCE) == 0
    assert capsys.readouterr().out.startswith(
        f"Merged 2 cache(s) into {out}, which now holds: images 1, elements 4,"
    )
    before = hashlib.sha256(out.read_bytes()).hexdigest()
    assert arkworker("cache", "merge", out, parent) == 2
    assert capsys.readouterr().err == (
        f"Error: {out} already exists: pass --force to replace it, or choose another file.\n"
    )
    assert hashlib.sha256(out.read_bytes()).hexdigest() == before
    with sqlite3.connect(parent) as connection:
        connection.execute("DELETE FROM dataset_elements")
    connection.close()
    assert arkworker("cache", "merge", "--force", out, parent) == 0
    assert "datasets 1\n" in capsys.readouterr().out  # the old content is gone


def test_merge_errors_are_one_line_and_write_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.sqlite"
    bad.write_text("nope" * 100)
    out = tmp_path / "merged.sqlite"
    assert arkworker("cache", "merge", out, REFERENCE, bad) == 2
    assert capsys.readouterr().err == (
        f"Error: {bad} is not a SQLite database (file is not a database). Nothing was written.\n"
    )
    assert not out.exists()
    assert arkworker("cache", "merge", tmp_path / "missing-dir" / "out.sqlite", REFERENCE) == 2
    assert "does not exist: create it first" in capsys.readouterr().err
    assert arkworker("cache", "merge", out) == 2
    assert "Missing argument 'DATABASES...'" in capsys.readouterr().err


def test_more_bad_inputs_are_one_line(tmp_path, capsys):
    assert arkworker("cache", "info", tmp_path) == 2
    assert (
        capsys.readouterr().err == f"Error: Invalid value for 'DATABASE': File '{tmp_path}' is a directory.\n"
    )
    parent = tmp_path / "parent.sqlite"
    shutil.copyfile(REFERENCE, parent)
    before = hashlib.sha256(parent.read_bytes()).hexdigest()
    assert arkworker("cache", "merge", "--force", parent, REFERENCE, parent) == 2
    assert capsys.readouterr().err == f"Error: {parent} is also an input: write the merge to another file.\n"
    assert hashlib.sha256(parent.read_bytes()).hexdigest() == before
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE things (id INTEGER)")
    connection.close()
    assert arkworker("cache", "merge", tmp_path / "out.sqlite", REFERENCE, foreign) == 2
    assert capsys.readouterr().err == (
        f"Error: The SQLite database {foreign} does not have the correct cache version (no version table), "
        "it should be 3. Nothing was written.\n"
    )
    assert not (tmp_path / "out.sqlite").exists()
