"""What a dataset handler does with its archive: extract it safely, open its database."""

from __future__ import annotations

import pytest

from arkworker import Worker
from arkworker.models import Dataset
from tests.conftest import PAGES_CORPUS
from tests.test_dataset_loop import build_archive, database_bytes

GOOD = "aaaaaaaa-0000-4000-8000-000000000001"
EVIL = "bbbbbbbb-0000-4000-8000-000000000002"
NO_DB = "cccccccc-0000-4000-8000-000000000003"


@pytest.fixture
def arkworker_corpus(tmp_path):
    files = tmp_path / "archives"
    files.mkdir()
    good = build_archive(
        files / "good.tar.zst", {"db.sqlite": database_bytes(tmp_path, "good"), "images/1.txt": b"one"}
    )
    evil = build_archive(files / "evil.tar.zst", {"../escaped.txt": b"outside"})
    no_db = build_archive(files / "no-db.tar.zst", {"readme.txt": b"no database here"})
    return {
        **PAGES_CORPUS,
        "api_level": "legacy",  # an instance without exports: the datasets' archives
        "datasets": [
            {"id": GOOD, "name": "Good", "sets": {"train": [], "dev": []}, "archive": str(good)},
            {"id": EVIL, "name": "Evil", "sets": {"train": [], "dev": []}, "archive": str(evil)},
            {"id": NO_DB, "name": "No database", "sets": {"train": []}, "archive": str(no_db)},
        ],
    }


def test_extract_and_open_the_database(arkworker_run, tmp_path):
    seen = []
    app = Worker("reader")

    @app.dataset_set
    def read(dataset_set, ctx):
        dataset = dataset_set.dataset
        folder = dataset.extract()
        mine = dataset.extract(tmp_path / "mine" / dataset_set.name)
        database = dataset.open_database()
        seen.append(
            {
                "folder": folder,
                "files": sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()),
                "mine": (mine / "images" / "1.txt").read_bytes(),
                "rows": [tuple(row) for row in database.execute("SELECT name FROM dataset")],
            }
        )

    run = arkworker_run(app, "--dev", "--set", f"{GOOD}:train", f"{GOOD}:dev")
    assert run.summary == "Ran on 2 sets: 2 completed, 0 failed", run.output
    assert seen[0]["files"] == ["db.sqlite", "images/1.txt"]
    assert seen[0]["rows"] == [("good",)]
    assert seen[0]["mine"] == b"one"
    assert seen[0]["folder"] == seen[1]["folder"]  # extracted once per dataset
    assert not seen[0]["folder"].exists()  # removed with the archive
    assert (tmp_path / "mine" / "train" / "db.sqlite").is_file()  # given destinations are kept


def test_an_unsafe_archive_fails_its_set(arkworker_run, tmp_path):
    app = Worker("reader")

    @app.dataset_set
    def read(dataset_set, ctx):
        dataset_set.dataset.extract(tmp_path / "out")

    run = arkworker_run(app, "--dev", "--set", f"{EVIL}:train")
    assert run.summary == "Ran on 1 set: 0 completed, 1 failed"
    assert "../escaped.txt" in run.result.failures[0].message
    assert not (tmp_path / "escaped.txt").exists()


def test_a_failed_extraction_is_not_taken_for_done_by_the_next_set(arkworker_run, tmp_path):
    folders = []
    app = Worker("reader")

    @app.dataset_set
    def read(dataset_set, ctx):
        folders.append(dataset_set.dataset.extract())

    run = arkworker_run(app, "--dev", "--set", f"{EVIL}:train", f"{EVIL}:dev")
    assert run.summary == "Ran on 2 sets: 0 completed, 2 failed", run.output
    assert folders == []
    assert all("../escaped.txt" in failure.message for failure in run.result.failures)
    scratch = tmp_path / "xdg-data" / "arkindex"
    assert not [path for path in scratch.rglob("*") if path.name.startswith(f"{EVIL}.tar.zst-")]


def test_an_archive_without_a_database(arkworker_run):
    app = Worker("reader")

    @app.dataset_set
    def read(dataset_set, ctx):
        dataset_set.dataset.open_database()

    run = arkworker_run(app, "--dev", "--set", f"{NO_DB}:train")
    assert run.summary == "Ran on 1 set: 0 completed, 1 failed"
    assert f"The archive {NO_DB}.tar.zst holds no SQLite database" in run.output


def test_the_archive_is_only_there_during_the_run():
    with pytest.raises(RuntimeError, match="only available while the run processes its sets"):
        assert Dataset(id=GOOD).archive is None
