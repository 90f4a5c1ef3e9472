"""The cache in a Ponos task: parents from RetrieveTask (RetrieveTaskFromAgent), their caches merged."""

import hashlib
import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest

from arkworker import Worker
from arkworker.storage.cache_files import cache_info
from tests.conftest import PAGES_CORPUS, requests_of

REFERENCE = Path(__file__).parent / "data" / "reference_cache.sqlite"


def recording_worker(seen, cache=True):
    app = Worker("cached", cache=cache)

    @app.element
    def process(element, ctx):
        seen.append((type(element).__name__, str(element.id), ctx.use_cache))

    return app


def task_requests(sandbox):
    """The operations of the requests asking for a task's parents."""
    return [
        record.operation_id
        for record in sandbox.requests
        if record.operation_id in ("RetrieveTask", "RetrieveTaskFromAgent")
    ]


def add_elements(path, ids, initial=True, kind="page"):
    with sqlite3.connect(path) as connection:
        connection.executemany(
            "INSERT INTO elements (id, type, rotation_angle, mirrored, initial) VALUES (?, ?, 0, 0, ?)",
            [(uuid.UUID(element_id).hex, kind, int(initial)) for element_id in ids],
        )
    connection.close()


@pytest.mark.parametrize(
    ("arkworker_corpus", "operation"),
    [(PAGES_CORPUS, "RetrieveTask"), ({**PAGES_CORPUS, "api_level": "legacy"}, "RetrieveTaskFromAgent")],
    ids=["current", "legacy"],
)
def test_parent_caches_are_merged_and_their_initial_elements_processed(
    arkworker_run, arkworker_sandbox, arkworker_ponos, operation
):
    ids = arkworker_sandbox.process_element_ids()
    first = arkworker_ponos.add_parent("init")
    second = arkworker_ponos.add_parent("other")
    add_elements(first / "db.sqlite", ids[:2])
    add_elements(second / "db.sqlite", [str(uuid.uuid4())], initial=False, kind="line")
    parent_bytes = [hashlib.sha256((p / "db.sqlite").read_bytes()).digest() for p in (first, second)]
    seen = []
    run = arkworker_run(recording_worker(seen))
    assert run.exit_code == 0, run.output
    assert seen == [("CachedElement", ids[0], True), ("CachedElement", ids[1], True)]
    assert requests_of(arkworker_sandbox, "RetrieveElement") == []
    assert task_requests(arkworker_sandbox) == [operation]
    info = cache_info(arkworker_ponos.cache_path)
    assert (info.counts["elements"], info.initial_elements) == (3, 2)
    assert f"Merging parent db {first / 'db.sqlite'} into {arkworker_ponos.cache_path}" in run.output
    assert f"Connected to cache on {arkworker_ponos.cache_path}" in run.output
    assert [hashlib.sha256((p / "db.sqlite").read_bytes()).digest() for p in (first, second)] == parent_bytes


def test_without_parent_caches_the_task_cache_is_still_created(
    arkworker_run, arkworker_sandbox, arkworker_ponos
):
    arkworker_ponos.add_parent("files-only", cache=False)
    seen = []
    run = arkworker_run(recording_worker(seen))
    assert run.exit_code == 0, run.output
    assert [kind for kind, _, use_cache in seen] == ["Element"] * 3
    assert all(use_cache for _, _, use_cache in seen)
    assert "No parents cache to use" in run.output
    assert cache_info(arkworker_ponos.cache_path).version == 3


def test_chunk_caches_and_many_parents(arkworker_run, arkworker_sandbox, arkworker_ponos):
    ids = arkworker_sandbox.process_element_ids()
    directories = [arkworker_ponos.add_parent(chunk="2") for _ in range(12)]
    add_elements(directories[0] / "db_2.sqlite", ids[:1])
    add_elements(directories[11] / "db_2.sqlite", ids[2:])
    seen = []
    run = arkworker_run(recording_worker(seen), env={"ARKINDEX_TASK_CHUNK": "2"})
    assert run.exit_code == 0, run.output
    assert [element_id for _, element_id, _ in seen] == [ids[0], ids[2]]


def test_a_corrupt_parent_cache_stops_the_run_by_name(arkworker_run, arkworker_sandbox, arkworker_ponos):
    broken = arkworker_ponos.add_parent(cache=False) / "db.sqlite"
    broken.write_text("definitely not SQLite " * 20)
    run = arkworker_run(recording_worker([]))
    assert run.exit_code == 1
    assert run.output.endswith(
        f"Error: Cannot prepare the task cache {arkworker_ponos.cache_path}: {broken} is not a SQLite "
        "database (file is not a database). Nothing was written.\n"
    )
    assert not arkworker_ponos.cache_path.exists()


def test_workers_without_cache_and_read_only_runs_leave_no_cache(
    arkworker_run, arkworker_sandbox, arkworker_ponos
):
    arkworker_ponos.add_parent()
    assert arkworker_run(recording_worker([], cache=False)).exit_code == 0
    assert arkworker_run(recording_worker([]), "--dev").exit_code == 0
    assert task_requests(arkworker_sandbox) == []
    assert not arkworker_ponos.cache_path.exists()


def test_database_option_wins_over_the_parents(arkworker_run, arkworker_sandbox, arkworker_ponos, tmp_path):
    parent = arkworker_ponos.add_parent()
    run = arkworker_run(recording_worker([]), "--database", str(parent / "db.sqlite"))
    assert run.exit_code == 0, run.output
    assert task_requests(arkworker_sandbox) == []
    assert not arkworker_ponos.cache_path.exists()


def test_an_unknown_task_is_one_line(arkworker_run, arkworker_sandbox, arkworker_ponos):
    run = arkworker_run(recording_worker([]), env={"PONOS_TASK": str(uuid.uuid4())})
    assert run.exit_code == 1
    assert "Could not retrieve the task" in run.output
    assert "check PONOS_TASK" in run.output


def test_a_restarted_task_keeps_its_cache_rows(arkworker_run, arkworker_sandbox, arkworker_ponos):
    ids = arkworker_sandbox.process_element_ids()
    add_elements(arkworker_ponos.add_parent() / "db.sqlite", ids[:1])
    assert arkworker_run(recording_worker([])).exit_code == 0
    add_elements(arkworker_ponos.cache_path, [str(uuid.uuid4())], initial=False, kind="line")
    assert arkworker_run(recording_worker([])).exit_code == 0
    assert cache_info(arkworker_ponos.cache_path).counts["elements"] == 2


def test_parent_ids_that_are_not_task_ids_are_refused(arkworker_run, arkworker_sandbox, arkworker_ponos):
    outside = arkworker_ponos.data_dir.parent / "outside"
    outside.mkdir()
    shutil.copyfile(REFERENCE, outside / "db.sqlite")
    arkworker_sandbox.add_task("evil", task_id="../outside")
    arkworker_sandbox.set_task_parents(arkworker_ponos.task_id, ["../outside"])
    run = arkworker_run(recording_worker([]))
    assert run.exit_code == 1
    assert run.output.endswith(
        f"Error: Unexpected answer from RetrieveTask({arkworker_ponos.task_id}): "
        "'parents' is not a list of task ids.\n"
    )
    assert not arkworker_ponos.cache_path.exists()
