"""Dataset workers on today's Arkindex: each dataset's sets read from a SQLite export of its corpus.

The export is started (or reused), waited for, downloaded without the API's token, kept
while the dataset's sets run and removed after; what goes wrong with one dataset's export
fails that dataset's sets, one line each, and the others go on.
"""

from __future__ import annotations

import signal
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest

from arkworker import InvalidArgument, Worker
from arkworker.helpers.exports import ExportError, ExportNotFinishedError, FailedExportError, NoExportURLError
from arkworker.storage.dataset_archive import DatasetArchiveError
from tests.conftest import PAGES_CORPUS, requests_of
from tests.test_dataset_loop import build_archive, database_bytes

A = "aaaaaaaa-0000-4000-8000-000000000001"
B = "bbbbbbbb-0000-4000-8000-000000000002"
RUNNING = "aaaaaaaa-1111-4000-8000-000000000001"
OLD_DONE = "aaaaaaaa-2222-4000-8000-000000000001"
FAILED = "aaaaaaaa-3333-4000-8000-000000000001"


def corpus(a: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    """PAGES_CORPUS with dataset A (train, dev; what ``a`` adds) and dataset B (train)."""
    return {
        **PAGES_CORPUS,
        **top,
        "datasets": [
            {"id": A, "name": "A", "sets": {"train": ["Page 1", "Page 2"], "dev": ["Page 3"]}, **(a or {})},
            {"id": B, "name": "B", "sets": {"train": ["Page 3"]}},
        ],
    }


@pytest.fixture
def arkworker_corpus():
    return corpus()


@pytest.fixture(autouse=True)
def temporary_files(tmp_path, monkeypatch) -> Path:
    """Where downloaded exports go (the system's temporary directory), private to the test."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


class Reader:
    """A dataset worker that reads its set's rows from the dataset's database."""

    def __init__(self, fail_on: str | None = None, interrupt: bool = False) -> None:
        self.seen: list[dict[str, Any]] = []
        self.fail_on = fail_on
        self.interrupt = interrupt
        self.app = Worker("export-reader")
        self.app.dataset_set(self.process)

    def process(self, dataset_set, ctx):
        dataset = dataset_set.dataset
        database = dataset.open_database()
        rows = database.execute(
            "SELECT element.name FROM dataset_element JOIN element ON element.id = element_id "
            "WHERE dataset_id = ? AND set_name = ? ORDER BY element.name",
            (dataset.id, dataset_set.name),
        )
        self.seen.append(
            {
                "set": f"{dataset.name}:{dataset_set.name}",
                "export_id": dataset.export_id,
                "path": dataset.downloaded_export,
                "exists": dataset.downloaded_export.is_file(),
                "rows": [name for (name,) in rows],
                "database": database,
            }
        )
        if self.interrupt:
            raise KeyboardInterrupt
        if dataset_set.name == self.fail_on:
            raise ValueError("handler failure")


def storage_requests(sandbox) -> list:
    return [record for record in sandbox.requests if record.path.startswith("/storage/")]


def test_each_dataset_is_exported_once_read_and_removed(arkworker_run, arkworker_sandbox, temporary_files):
    worker = Reader()
    run = arkworker_run(worker.app)
    assert run.exit_code == 0, run.output
    assert run.summary == "Ran on 3 sets: 3 completed, 0 failed"
    assert [(seen["set"], seen["rows"]) for seen in worker.seen] == [
        ("A:train", ["Page 1", "Page 2"]),
        ("A:dev", ["Page 3"]),
        ("B:train", ["Page 3"]),
    ]
    exports = {row["dataset_id"]: row for row in arkworker_sandbox.objects("corpus_exports")}
    assert [seen["export_id"] for seen in worker.seen] == [exports[A]["id"]] * 2 + [exports[B]["id"]]
    # One file per dataset, shared by its sets, removed when the run moved on: nothing is left.
    assert worker.seen[0]["path"] == worker.seen[1]["path"] != worker.seen[2]["path"]
    assert all(seen["exists"] for seen in worker.seen)
    assert list(temporary_files.iterdir()) == []
    assert len(requests_of(arkworker_sandbox, "StartExport")) == 2
    assert len(requests_of(arkworker_sandbox, "DownloadExport")) == 2
    assert len(storage_requests(arkworker_sandbox)) == 2  # fetched without the token: else a 400
    assert requests_of(arkworker_sandbox, "DownloadArtifact") == []
    assert "Dataset sets are read from corpus exports (the instance has StartExport)" in run.output
    assert f"Using the SQL export ({exports[A]['id']}) of Dataset ({A})" in run.output
    # The connections the handler opened are closed with the file.
    with pytest.raises(sqlite3.ProgrammingError):
        worker.seen[0]["database"].execute("SELECT 1")


def test_the_dataset_tells_what_it_is_made_of(arkworker_run):
    problems = []
    app = Worker("archive-reader")

    @app.dataset_set
    def process(dataset_set, ctx):
        for call in (lambda: dataset_set.dataset.archive, dataset_set.dataset.extract):
            with pytest.raises(RuntimeError) as info:
                call()
            problems.append(str(info.value))
        with pytest.raises(DatasetArchiveError, match="call open_database\\(\\) without a name"):
            dataset_set.dataset.open_database("db.sqlite")

    run = arkworker_run(app, "--dev", "--set", f"{A}:train")
    assert run.summary == "Ran on 1 set: 1 completed, 0 failed", run.output
    assert (
        problems
        == [
            f"Dataset ({A}) comes from a corpus export, not an archive (this Arkindex builds no dataset "
            "archives): its SQLite file is dataset.downloaded_export, which dataset.open_database() opens."
        ]
        * 2
    )


@pytest.mark.parametrize(
    "arkworker_corpus",
    [corpus({"exports": [{"id": OLD_DONE, "state": "done", "created": "2020-01-01T00:00:00Z"}]})],
)
def test_an_old_export_is_not_reused(arkworker_run, arkworker_sandbox):
    worker = Reader()
    run = arkworker_run(worker.app, "--dev", "--set", f"{A}:train")
    assert run.summary == "Ran on 1 set: 1 completed, 0 failed", run.output
    assert worker.seen[0]["export_id"] != OLD_DONE
    assert len(arkworker_sandbox.objects("corpus_exports", dataset_id=A)) == 2


@pytest.mark.parametrize(
    ("arkworker_corpus", "code", "detail"),
    [
        (
            corpus({"exports": [{"id": FAILED, "state": "failed"}, {"id": RUNNING, "state": "running"}]}),
            "running",
            "An export is already running for this corpus.",
        ),
        (
            corpus({"exports": [{"id": FAILED, "state": "failed"}, {"id": RUNNING, "state": "done"}]}),
            "done",
            "An export of this corpus was made less than 1 hour ago.",
        ),
    ],
)
def test_a_running_or_recent_export_is_reused_never_a_failed_one(
    arkworker_run, arkworker_sandbox, code, detail
):
    worker = Reader()
    run = arkworker_run(worker.app, "--dev", "--set", f"{A}:train", f"{A}:dev")
    assert run.summary == "Ran on 2 sets: 2 completed, 0 failed", run.output
    assert [seen["export_id"] for seen in worker.seen] == [RUNNING, RUNNING]
    # The refusal's detail, then which export: the seeded failed one is listed first.
    assert f"{detail} Using the existing export ({RUNNING}, " in run.output
    assert len(arkworker_sandbox.objects("corpus_exports", dataset_id=A)) == 2  # none started
    assert worker.seen[0]["rows"] == ["Page 1", "Page 2"]


@pytest.mark.parametrize("arkworker_corpus", [corpus({"export": {"polls": 3}})])
def test_the_run_waits_for_the_export_one_line_per_check(arkworker_run, arkworker_sandbox):
    worker = Reader()
    run = arkworker_run(worker.app)
    assert run.summary == "Ran on 3 sets: 3 completed, 0 failed", run.output
    (export,) = arkworker_sandbox.objects("corpus_exports", dataset_id=A)
    waits = [line for line in run.output.splitlines() if "checking again in" in line]
    assert len(waits) == 3
    assert all(f"The SQL export ({export['id']}) is running after " in line for line in waits)
    assert waits[0].endswith("checking again in 0 s")  # the waits scale with ARKWORKER_RETRY_BACKOFF=0
    listings = [r for r in requests_of(arkworker_sandbox, "ListExports") if r.query.get("dataset_id") == A]
    assert len(listings) == 4  # 3 running, then done


@pytest.mark.parametrize("arkworker_corpus", [corpus({"export": {"polls": 1, "outcome": "failed"}})])
def test_a_failed_export_fails_its_dataset_s_sets_once_and_the_others_go_on(arkworker_run, arkworker_sandbox):
    worker = Reader()
    run = arkworker_run(worker.app)
    assert run.exit_code == 0
    assert run.summary == "Ran on 3 sets: 1 completed, 2 failed"
    (export,) = arkworker_sandbox.objects("corpus_exports", dataset_id=A)
    message = (
        f"FailedExportError('The SQL export ({export['id']}) is in the `failed` state. Select another "
        "export or start a new one.')"
    )
    assert [failure.message for failure in run.result.failures] == [
        f"Failed running worker on Set ({name}) from Dataset ({A}): {message}" for name in ("train", "dev")
    ]
    assert [seen["set"] for seen in worker.seen] == ["B:train"]
    # The dev set did not ask again: one start, two listings (running, failed) for A.
    assert len(requests_of(arkworker_sandbox, "StartExport")) == 2
    listings = [r for r in requests_of(arkworker_sandbox, "ListExports") if r.query.get("dataset_id") == A]
    assert len(listings) == 2


@pytest.mark.parametrize("arkworker_corpus", [corpus({"export": {"polls": 5}})])
def test_an_export_not_done_in_time_fails_its_sets(arkworker_run, arkworker_sandbox):
    worker = Reader()
    run = arkworker_run(worker.app, env={"ARKWORKER_EXPORT_TIMEOUT": "0"})
    assert run.summary == "Ran on 3 sets: 1 completed, 2 failed", run.output
    (export,) = arkworker_sandbox.objects("corpus_exports", dataset_id=A)
    assert run.result.failures[0].message == (
        f"Failed running worker on Set (train) from Dataset ({A}): ExportNotFinishedError('After 0 s, the SQL "
        f"export ({export['id']}) is still running (ARKWORKER_EXPORT_TIMEOUT=0): once it is done, run again "
        "to use it, or wait longer with a higher ARKWORKER_EXPORT_TIMEOUT.')"
    )
    assert [seen["set"] for seen in worker.seen] == ["B:train"]  # B's export was done at once
    assert "each export is waited for up to 0 s" in run.output


@pytest.mark.parametrize("value", ["soon", "-1", "inf"])
def test_a_bad_export_timeout_is_one_line_and_exit_2(arkworker_run, arkworker_sandbox, value):
    run = arkworker_run(Reader().app, env={"ARKWORKER_EXPORT_TIMEOUT": value})
    assert run.exit_code == 2
    assert run.output.splitlines()[-1] == (
        f"Error: ARKWORKER_EXPORT_TIMEOUT={value!r} is not valid: expected a number of seconds >= 0 (how "
        "long to wait for a corpus export to be done, default 10800, 3 hours)."
    )
    assert requests_of(arkworker_sandbox, "StartExport") == []


def test_a_download_cut_once_is_asked_for_again_and_completes(arkworker_run, arkworker_sandbox):
    arkworker_sandbox.truncate("storage", after=1000)
    worker = Reader()
    run = arkworker_run(worker.app, "--dev", "--set", f"{A}:train")
    assert run.summary == "Ran on 1 set: 1 completed, 0 failed", run.output
    assert (
        "Downloading with DownloadExport failed (the download was cut before the end of the file"
        in run.output
    )
    assert len(requests_of(arkworker_sandbox, "DownloadExport")) == 2  # a new address for each attempt
    assert [record.fault for record in storage_requests(arkworker_sandbox)] == ["truncate", None]


def test_a_download_always_cut_fails_its_sets_and_leaves_nothing(
    arkworker_run, arkworker_sandbox, temporary_files
):
    arkworker_sandbox.truncate("storage", after=1000, times=5)  # every attempt for A, none for B
    worker = Reader()
    run = arkworker_run(worker.app)
    assert run.summary == "Ran on 3 sets: 1 completed, 2 failed", run.output
    assert all(
        "the download was cut before the end of the file" in failure.message
        for failure in run.result.failures
    )
    assert [failure.item for failure in run.result.failures] == [
        f"Set (train) from Dataset ({A})",
        f"Set (dev) from Dataset ({A})",
    ]
    assert len(storage_requests(arkworker_sandbox)) == 6  # 5 attempts for A, once for dev: none
    assert list(temporary_files.iterdir()) == []


def test_every_export_is_started_once_the_sets_are_listed(arkworker_run, arkworker_sandbox):
    run = arkworker_run(Reader().app)
    assert run.summary == "Ran on 3 sets: 3 completed, 0 failed", run.output
    # Both started before the first set: the instance builds B's while A's sets run.
    calls = [
        r.operation_id for r in arkworker_sandbox.requests if r.operation_id in ("StartExport", "ListExports")
    ]
    assert calls[:3] == ["StartExport", "StartExport", "ListExports"]


def test_a_start_refused_at_first_is_tried_again_when_its_sets_come(arkworker_run, arkworker_sandbox):
    arkworker_sandbox.fail("StartExport", status=403)
    run = arkworker_run(Reader().app)
    assert run.summary == "Ran on 3 sets: 3 completed, 0 failed", run.output
    assert (
        f"Could not start the export of Dataset ({A}) (HTTP 403 Forbidden): trying again when its sets come"
        in (run.output)
    )
    # A (refused), B, then A again when its first set comes.
    assert [r.status for r in requests_of(arkworker_sandbox, "StartExport")] == [403, 201, 201]
    assert requests_of(arkworker_sandbox, "StartExport")[2].body == {"dataset_id": A}


def test_a_start_always_refused_fails_the_sets_with_the_api_error(arkworker_run, arkworker_sandbox):
    arkworker_sandbox.fail("StartExport", status=403, times=None)
    run = arkworker_run(Reader().app)
    assert run.exit_code == 1
    assert run.summary == "Ran on 3 sets: 0 completed, 3 failed"
    assert [failure.message.split(": 403")[0] for failure in run.result.failures] == [
        f"An API error occurred while processing Set ({name}) from Dataset ({dataset})"
        for name, dataset in (("train", A), ("dev", A), ("train", B))
    ]
    # Once when listed, once when its sets come: the dev set of A does not ask again.
    assert len(requests_of(arkworker_sandbox, "StartExport")) == 4  # A, B, then A and B again


def test_a_lost_start_answer_uses_the_export_it_started(arkworker_run, arkworker_sandbox):
    arkworker_sandbox.reset_mid_answer("StartExport")
    worker = Reader()
    run = arkworker_run(worker.app, "--dev", "--set", f"{A}:train")
    assert run.summary == "Ran on 1 set: 1 completed, 0 failed", run.output
    (export,) = arkworker_sandbox.objects("corpus_exports", dataset_id=A)
    assert worker.seen[0]["export_id"] == export["id"]
    # Sent again, and refused: the first attempt had started the export, which is used.
    assert [record.status for record in requests_of(arkworker_sandbox, "StartExport")] == [201, 400]
    assert (
        "StartExport: the repeat was answered HTTP 400 Bad Request: an earlier attempt was applied"
        in run.output
    )
    assert f"(its answer was lost). Using the existing export ({export['id']}, done)" in run.output


def test_a_failing_handler_keeps_the_export_for_the_next_sets(
    arkworker_run, arkworker_sandbox, temporary_files
):
    worker = Reader(fail_on="train")
    run = arkworker_run(worker.app)
    assert run.summary == "Ran on 3 sets: 1 completed, 2 failed"
    assert worker.seen[0]["path"] == worker.seen[1]["path"]
    assert len(requests_of(arkworker_sandbox, "DownloadExport")) == 2
    assert list(temporary_files.iterdir()) == []


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, SystemExit])
def test_an_interrupted_run_removes_its_export(arkworker_run, temporary_files, interruption):
    seen = []
    app = Worker("interrupted")

    @app.dataset_set
    def process(dataset_set, ctx):
        seen.append(dataset_set.dataset.downloaded_export)
        assert seen[-1].is_file()
        raise interruption()

    try:
        arkworker_run(app, "--dev", "--set", f"{A}:train", f"{B}:train")
    except SystemExit:
        assert interruption is SystemExit
    assert len(seen) == 1
    assert list(temporary_files.iterdir()) == []


def test_read_only_runs_export_the_dataset_s_own_corpus(arkworker_run, arkworker_sandbox):
    worker = Reader()
    # No ARKINDEX_CORPUS_ID: the corpus is the dataset's.
    run = arkworker_run(worker.app, "--dev", "--set", f"{B}:train", env={"ARKINDEX_CORPUS_ID": ""})
    assert run.summary == "Ran on 1 set: 1 completed, 0 failed", run.output
    (start,) = requests_of(arkworker_sandbox, "StartExport")
    assert start.path == f"/api/v1/corpus/{arkworker_sandbox.corpus_id}/export/"
    assert start.body == {"dataset_id": B}


@pytest.mark.parametrize("arkworker_corpus", [{**corpus(), "datasets": []}])
def test_an_instance_forced_to_the_legacy_level_reads_the_archives(
    arkworker_run, arkworker_sandbox, tmp_path
):
    files = tmp_path / "files"
    files.mkdir()
    archive = build_archive(files / "a.tar.zst", {"db.sqlite": database_bytes(tmp_path, "A")})
    seen = []
    app = Worker("archives")

    @app.dataset_set
    def process(dataset_set, ctx):
        seen.append(dataset_set.dataset.open_database().execute("SELECT name FROM dataset").fetchall())

    # The archive is an artifact of the dataset's task: seeded by a corpus, so start another sandbox.
    from arkworker.sandbox import Sandbox

    with Sandbox(corpus({"archive": str(archive)})) as current:
        env = {**current.env(), "ARKWORKER_RETRY_BACKOFF": "0"}
        run = arkworker_run(app, "--dev", "--api-level", "legacy", "--set", f"{A}:train", env=env)
        assert run.summary == "Ran on 1 set: 1 completed, 0 failed", run.output
        assert [tuple(row) for row in seen[0]] == [("A",)]
        assert "Dataset sets are read from dataset archives (API level legacy)" in run.output
        assert requests_of(current, "StartExport") == []
        assert len(requests_of(current, "DownloadArtifact")) == 1


@pytest.mark.parametrize("arkworker_corpus", [corpus(api_level="legacy")])
def test_a_legacy_instance_has_no_exports_and_says_so(arkworker_run, arkworker_sandbox):
    run = arkworker_run(Reader().app, "--dev", "--set", f"{A}:train")
    assert "Dataset sets are read from dataset archives (the instance has no StartExport)" in run.output
    assert f"The archive of Dataset ({A}) was not found" in run.output


def test_the_export_helpers(arkworker_run, arkworker_sandbox, tmp_path):
    results: dict[str, Any] = {}
    app = Worker("helpers")

    @app.dataset_set
    def process(dataset_set, ctx):
        dataset = dataset_set.dataset
        results["listed"] = [(e.id, e.state) for e in ctx.list_exports(dataset_id=dataset.id)]
        results["corpus"] = ctx.start_export()  # the whole corpus
        results["again"] = ctx.start_export()  # running: reused
        results["path"] = ctx.get_export(results["corpus"])
        results["copy"] = ctx.download_export(results["corpus"], destination=tmp_path / "copy.sqlite")
        arkworker_sandbox.malformed(
            "ListExports", body={"count": 0, "number": 1, "next": None, "results": []}
        )
        with pytest.raises(ExportError) as info:
            ctx.start_export(dataset_id=dataset.id)  # refused: the run's own export is recent
        results["vanished"] = str(info.value)
        for call in (
            lambda: ctx.list_exports(dataset_id="dataset"),
            lambda: ctx.start_export(dataset_id=3),
            lambda: ctx.get_export("export"),
            lambda: ctx.download_export("export"),
        ):
            with pytest.raises(InvalidArgument) as info:
                call()
            results.setdefault("problems", []).append(str(info.value))

    run = arkworker_run(app, "--dev", "--set", f"{A}:train")
    assert run.summary == "Ran on 1 set: 1 completed, 0 failed", run.output
    assert [state for _, state in results["listed"]] == ["done"]  # the run's export of A
    assert results["again"] == results["corpus"]
    with sqlite3.connect(results["path"]) as database:
        assert database.execute("SELECT COUNT(*) FROM dataset").fetchone() == (2,)  # the corpus's
    assert results["copy"].read_bytes() == results["path"].read_bytes()
    results["path"].unlink()  # a download of yours is yours to delete
    assert results["vanished"] == (
        "An export of this corpus was made less than 1 hour ago. Yet ListExports lists no export of "
        f"dataset {A} of corpus {arkworker_sandbox.corpus_id}: start one again."
    )
    assert results["problems"] == [
        "dataset_id must be a UUID (uuid.UUID or its text), got 'dataset'",
        "dataset_id must be a UUID (uuid.UUID or its text), got 3",
        "export_id must be a UUID (uuid.UUID or its text), got 'export'",
        "export_id must be a UUID (uuid.UUID or its text), got 'export'",
    ]


def test_an_answer_that_is_not_a_redirect(arkworker_run, arkworker_sandbox):
    arkworker_sandbox.malformed("DownloadExport", body={"id": 3})
    run = arkworker_run(Reader().app, "--dev", "--set", f"{A}:train")
    assert run.summary == "Ran on 1 set: 0 completed, 1 failed"
    (failure,) = run.result.failures
    assert isinstance(failure.exception, NoExportURLError)
    assert (
        "DownloadExport answered 200 OK without redirecting to the file (no Location header)"
        in failure.message
    )


@pytest.mark.parametrize(
    "arkworker_corpus", [corpus({"exports": [{"id": RUNNING, "state": "running", "polls": 5}]})]
)
def test_a_stop_request_ends_the_wait_at_once(arkworker_run):
    seen = []
    app = Worker("stopped")

    @app.element
    def process(element, ctx):
        signal.raise_signal(signal.SIGTERM)  # the run is in this (main) thread: it asks to stop
        with pytest.raises(ExportNotFinishedError) as info:
            ctx.get_export(RUNNING, dataset_id=A)  # would wait 5 s, then 10 s... for a running export
        seen.append(str(info.value))

    run = arkworker_run(app, env={"ARKWORKER_RETRY_BACKOFF": "1"})
    assert run.exit_code == 143
    assert seen == [
        f"Stopped waiting for the SQL export ({RUNNING}), still running: the run was asked to stop."
    ]


def test_export_errors_are_assertion_errors_as_the_reference_s():
    assert issubclass(FailedExportError, AssertionError)


@pytest.mark.parametrize("arkworker_corpus", [corpus({"state": "open"})])
def test_a_dataset_that_is_not_complete_is_only_warned_about_with_exports(arkworker_run):
    """Today's Arkindex (base-worker 0.5.2 on) warns: an export reads the corpus as it is."""
    worker = Reader()
    run = arkworker_run(worker.app)
    assert run.summary == "Ran on 3 sets: 3 completed, 0 failed", run.output
    assert f"Dataset ({A}) is in state 'open', not complete" in run.output
