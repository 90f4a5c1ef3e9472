"""The dataset-set loop, end to end: sets listing, archives, failures, read-only mode."""

from __future__ import annotations

import hashlib
import io
import random
import sqlite3
import tarfile
from pathlib import Path

import pytest
import zstandard

from arkworker import DatasetState, InvalidArgument, Worker
from arkworker.models import Artifact
from tests.conftest import PAGES_CORPUS, requests_of

A = "aaaaaaaa-0000-4000-8000-000000000001"
B = "bbbbbbbb-0000-4000-8000-000000000002"
OPEN = "cccccccc-0000-4000-8000-000000000003"
NO_ARCHIVE = "dddddddd-0000-4000-8000-000000000004"
TASK_A = "aaaaaaaa-1111-4000-8000-000000000001"


def build_archive(path: Path, files: dict[str, bytes]) -> Path:
    """A real dataset archive: a tar of ``files``, zstd-compressed."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    path.write_bytes(zstandard.ZstdCompressor().compress(buffer.getvalue()))
    return path


def database_bytes(tmp_path: Path, label: str) -> bytes:
    db = tmp_path / f"{label}.sqlite"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE dataset (name TEXT)")
        connection.execute("INSERT INTO dataset VALUES (?)", (label,))
    connection.close()
    return db.read_bytes()


@pytest.fixture
def archives(tmp_path):
    directory = tmp_path / "archives"
    directory.mkdir()
    return {
        A: build_archive(
            directory / "a.tar.zst",
            {"db.sqlite": database_bytes(tmp_path, "A"), "images/1.bin": random.Random(0).randbytes(300_000)},
        ),
        B: build_archive(directory / "b.tar.zst", {"db.sqlite": database_bytes(tmp_path, "B")}),
    }


@pytest.fixture
def arkworker_corpus(archives):
    return {
        **PAGES_CORPUS,
        "api_level": "legacy",  # an instance without exports: the datasets' archives
        "datasets": [
            {
                "id": A,
                "name": "Dataset A",
                "task": TASK_A,
                "sets": {"train": ["Page 1", "Page 2"], "dev": ["Page 3"], "test": []},
                "process_sets": ["train", "dev"],
                "archive": str(archives[A]),
            },
            {"id": B, "name": "Dataset B", "sets": {"train": ["Page 3"]}, "archive": str(archives[B])},
            {
                "id": OPEN,
                "name": "Still open",
                "state": "open",
                "sets": {"test": ["Page 1"]},
                "process_sets": [],
            },
            {"id": NO_ARCHIVE, "name": "No archive", "sets": {"train": ["Page 2"]}, "process_sets": []},
        ],
    }


class Recorder:
    """A dataset worker that records what each set looked like while it was processed."""

    def __init__(self, fail_on: str | None = None):
        self.seen: list[dict] = []
        self.app = Worker("dataset-test")
        self.app.dataset_set(self.process)
        self.fail_on = fail_on

    def process(self, dataset_set, ctx):
        archive = dataset_set.dataset.archive
        self.seen.append(
            {
                "set": f"{dataset_set.dataset.id}:{dataset_set.name}",
                "archive": archive,
                "exists": archive.is_file(),
                "digest": hashlib.sha256(archive.read_bytes()).hexdigest(),
                "others": sorted(p.name for p in archive.parent.glob("*.tar.zst") if p != archive),
                "elements": [element.name for element in ctx.list_set_elements(dataset_set)],
            }
        )
        if dataset_set.name == self.fail_on:
            raise ValueError("handler failure")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.rglob("*") if ".tar.zst" in path.name)


def test_process_sets_download_each_archive_once_and_clean_up(
    arkworker_run, arkworker_sandbox, archives, tmp_path
):
    worker = Recorder()
    run = arkworker_run(worker.app)
    assert run.exit_code == 0, run.output
    assert run.summary == "Ran on 3 sets: 3 completed, 0 failed"
    assert [seen["set"] for seen in worker.seen] == [f"{A}:train", f"{A}:dev", f"{B}:train"]
    assert [seen["elements"] for seen in worker.seen] == [["Page 1", "Page 2"], ["Page 3"], ["Page 3"]]
    assert all(seen["exists"] for seen in worker.seen)
    assert [seen["digest"] for seen in worker.seen] == [digest(archives[A])] * 2 + [digest(archives[B])]
    # Kept across the sets of A, removed when the run moved to B, B removed at the end.
    assert worker.seen[0]["archive"] == worker.seen[1]["archive"]
    assert worker.seen[0]["archive"].name == f"{A}.tar.zst"
    assert worker.seen[2]["others"] == []
    assert leftovers(tmp_path / "xdg-data") == []
    assert len(requests_of(arkworker_sandbox, "ListProcessSets")) == 1
    assert requests_of(arkworker_sandbox, "RetrieveDataset") == []
    assert len(requests_of(arkworker_sandbox, "ListArtifacts")) == 2
    downloads = requests_of(arkworker_sandbox, "DownloadArtifact")
    assert [record.path for record in downloads] == [
        f"/api/v1/task/{TASK_A}/artifact/{A}.tar.zst",
        f"/api/v1/task/{arkworker_sandbox.objects('datasets', id=B)[0]['task_id']}/artifact/{B}.tar.zst",
    ]
    assert f"Downloading artifact for Dataset ({A})" in run.output
    assert f"Processing Set (dev) from Dataset ({A}) (2/3)" in run.output


def test_command_line_sets_are_added_without_duplicates(arkworker_run, arkworker_sandbox):
    worker = Recorder()
    run = arkworker_run(worker.app, "--set", f"{A}:train", f"{B}:train", "--set", f"{A}:test")
    assert run.summary == "Ran on 4 sets: 4 completed, 0 failed"
    assert [seen["set"] for seen in worker.seen] == [f"{A}:train", f"{A}:dev", f"{A}:test", f"{B}:train"]
    assert requests_of(arkworker_sandbox, "RetrieveDataset") == []
    assert len(requests_of(arkworker_sandbox, "DownloadArtifact")) == 2


def test_read_only_runs_the_command_line_sets_grouped_by_dataset(arkworker_run, arkworker_sandbox):
    worker = Recorder()
    sets = [f"{B}:train", f"{A}:dev", f"{A}:train", f"{B}:train"]
    run = arkworker_run(worker.app, "--dev", "--set", *sets)
    assert run.summary == "Ran on 3 sets: 3 completed, 0 failed"
    assert [seen["set"] for seen in worker.seen] == [f"{B}:train", f"{A}:dev", f"{A}:train"]
    assert requests_of(arkworker_sandbox, "ListProcessSets") == []
    assert [record.path for record in requests_of(arkworker_sandbox, "RetrieveDataset")] == [
        f"/api/v1/datasets/{B}/",
        f"/api/v1/datasets/{A}/",
    ]
    assert len(requests_of(arkworker_sandbox, "DownloadArtifact")) == 2


def test_read_only_mode_writes_no_dataset_state(arkworker_run, arkworker_sandbox):
    answers = []
    app = Worker("state")

    @app.dataset_set
    def process(dataset_set, ctx):
        answers.append(ctx.update_dataset_state(dataset_set.dataset, DatasetState.Building))

    run = arkworker_run(app, "--dev", "--set", f"{A}:train")
    assert run.exit_code == 0, run.output
    assert answers == [None]
    assert "Cannot update dataset as this worker is in read-only mode" in run.output
    assert requests_of(arkworker_sandbox, "PartialUpdateDataset") == []
    assert arkworker_sandbox.objects("datasets", id=A)[0]["state"] == "complete"


def test_update_dataset_state_in_production(arkworker_run, arkworker_sandbox):
    answers = []
    app = Worker("state")

    @app.dataset_set
    def process(dataset_set, ctx):
        answers.append(ctx.update_dataset_state(dataset_set.dataset, DatasetState.Error))

    run = arkworker_run(app)
    assert run.summary == "Ran on 3 sets: 3 completed, 0 failed"
    assert answers[0].state == "error" and answers[0].id == A
    assert [r.body for r in requests_of(arkworker_sandbox, "PartialUpdateDataset")] == [
        {"state": "error"}
    ] * 3
    assert arkworker_sandbox.objects("datasets", id=A)[0]["state"] == "error"


def test_a_dataset_that_is_not_complete_fails_its_sets_only(arkworker_run, arkworker_sandbox):
    worker = Recorder()
    run = arkworker_run(worker.app, "--set", f"{OPEN}:test")
    assert run.exit_code == 0
    assert run.summary == "Ran on 4 sets: 3 completed, 1 failed"
    assert f"Dataset ({OPEN}) (Still open) is in state 'open'" in run.output
    (failure,) = run.result.failures
    assert OPEN in failure.message and "'open'" in failure.message
    assert len(requests_of(arkworker_sandbox, "ListArtifacts")) == 2  # none for the open dataset
    # In production: the process's sets first, then the dataset of the --set, retrieved once.
    listing = [
        r.operation_id
        for r in arkworker_sandbox.requests
        if r.operation_id in ("ListProcessSets", "RetrieveDataset")
    ]
    assert listing == ["ListProcessSets", "RetrieveDataset"]
    assert requests_of(arkworker_sandbox, "RetrieveDataset")[0].path == f"/api/v1/datasets/{OPEN}/"


def test_a_missing_archive_fails_that_set_clearly(arkworker_run, arkworker_sandbox):
    worker = Recorder()
    run = arkworker_run(worker.app, "--dev", "--set", f"{NO_ARCHIVE}:train")
    assert run.exit_code == 1
    assert run.summary == "Ran on 1 set: 0 completed, 1 failed"
    assert f"The archive of Dataset ({NO_ARCHIVE}) was not found" in run.output
    assert f"has no artifact {NO_ARCHIVE}.tar.zst (its artifacts: none)" in run.output
    assert worker.seen == []


def test_an_archive_in_the_extras_directory_is_used_and_kept(arkworker_run, arkworker_sandbox, tmp_path):
    extras = tmp_path / "extras"
    extras.mkdir()
    own = extras / f"{NO_ARCHIVE}.tar.zst"
    build_archive(own, {"db.sqlite": b""})
    worker = Recorder()
    run = arkworker_run(worker.app, "--dev", "--extras-dir", str(extras), "--set", f"{NO_ARCHIVE}:train")
    assert run.summary == "Ran on 1 set: 1 completed, 0 failed"
    assert worker.seen[0]["archive"] == own
    assert own.is_file()  # the user's file is never deleted
    assert requests_of(arkworker_sandbox, "ListArtifacts") == []


def test_a_download_cut_once_is_retried_from_the_start(arkworker_run, arkworker_sandbox, archives):
    arkworker_sandbox.truncate("DownloadArtifact", after=50_000, times=1)
    worker = Recorder()
    run = arkworker_run(worker.app, "--dev", "--set", f"{A}:train")
    assert run.summary == "Ran on 1 set: 1 completed, 0 failed", run.output
    assert worker.seen[0]["digest"] == digest(archives[A])
    assert len(requests_of(arkworker_sandbox, "DownloadArtifact")) == 2
    assert (
        "Downloading with DownloadArtifact failed (the download was cut before the end of the file"
        in run.output
    )


def test_a_download_always_cut_leaves_no_partial_file(arkworker_run, arkworker_sandbox, archives, tmp_path):
    arkworker_sandbox.truncate("DownloadArtifact", after=100, times=None)
    extras = tmp_path / "extras"
    extras.mkdir()
    worker = Recorder()
    run = arkworker_run(worker.app, "--dev", "--extras-dir", str(extras), "--set", f"{A}:train", f"{B}:train")
    assert run.exit_code == 1
    assert run.summary == "Ran on 2 sets: 0 completed, 2 failed"
    size = archives[A].stat().st_size
    assert f"the download was cut before the end of the file ({size} bytes)" in run.result.failures[0].message
    assert list(extras.iterdir()) == []
    assert len(requests_of(arkworker_sandbox, "DownloadArtifact")) == 10  # 5 attempts per archive


def test_a_handler_exception_does_not_stop_the_run(arkworker_run):
    worker = Recorder(fail_on="train")
    run = arkworker_run(worker.app)
    assert run.exit_code == 0
    assert run.summary == "Ran on 3 sets: 1 completed, 2 failed"
    assert (
        f"Failed running worker on Set (train) from Dataset ({A}): ValueError('handler failure')"
        in run.output
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("train", "'train' is not <dataset_uuid>:<set_name>"),
        ("not-a-uuid:train", "'not-a-uuid' in 'not-a-uuid:train' is not a dataset UUID"),
        (f"{A}:", f"'{A}:' has no set name after the ':'"),
        (f"{A}:  ", "has no set name"),
    ],
)
def test_a_malformed_set_is_one_line_and_exit_2(arkworker_run, arkworker_sandbox, value, problem):
    run = arkworker_run(Recorder().app, "--set", value)
    assert run.exit_code == 2
    assert run.output.startswith("Error: Invalid value for '--set': ")
    assert problem in run.output
    assert run.output.strip().count("\n") == 0
    assert arkworker_sandbox.requests == []


def test_an_unknown_dataset_on_the_command_line_is_a_usage_error(arkworker_run):
    unknown = "eeeeeeee-0000-4000-8000-000000000005"
    run = arkworker_run(Recorder().app, "--dev", "--set", f"{unknown}:train")
    assert run.exit_code == 2
    assert f"Error: --set {unknown}:train: there is no dataset {unknown}" in run.output


@pytest.mark.parametrize("mode", [(), ("--dev",)])
def test_an_unknown_set_name_is_a_usage_error(arkworker_run, arkworker_sandbox, mode):
    run = arkworker_run(Recorder().app, *mode, "--set", f"{A}:train", f"{A}: dev")
    assert run.exit_code == 2
    assert run.output.splitlines()[-1] == (
        f"Error: --set {A}: dev: Dataset ({A}) (Dataset A) has no set ' dev' "
        "(its sets: train, dev, test); check the set name."
    )
    assert requests_of(arkworker_sandbox, "DownloadArtifact") == []


def test_no_sets_stops_with_exit_1(arkworker_run):
    run = arkworker_run(Recorder().app, "--dev")
    assert run.exit_code == 1
    assert "No sets to process, stopping." in run.output


def test_element_options_are_refused_for_a_dataset_worker(arkworker_run, arkworker_sandbox):
    run = arkworker_run(Recorder().app, "--element", arkworker_sandbox.process_element_ids()[0])
    assert run.exit_code == 2
    assert "Error: --element is for element workers: 'dataset-test' processes dataset sets" in run.output


def test_set_is_refused_for_an_element_worker(arkworker_run, make_app):
    run = arkworker_run(make_app(), "--set", f"{A}:train")
    assert run.exit_code == 2
    assert "Error: --set is for dataset workers" in run.output


def test_a_missing_extras_directory_is_a_usage_error(arkworker_run, tmp_path):
    run = arkworker_run(Recorder().app, "--extras-dir", str(tmp_path / "nowhere"))
    assert run.exit_code == 2
    assert "--extras-dir directory" in run.output and "does not exist" in run.output


def test_a_missing_extras_dir_of_the_config_file_is_a_usage_error(arkworker_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yml").write_text("extras_dir: nowhere\n")
    run = arkworker_run(Recorder().app, "--dev", "--config", "config.yml", "--set", f"{A}:train")
    assert run.exit_code == 2, run.output
    (line,) = [line for line in run.output.splitlines() if line.startswith("Error:")]
    assert line.startswith(
        "Error: The extras directory nowhere does not exist or is not a directory: fix 'extras_dir'"
    )
    assert "Traceback" not in run.output


class TestExtrasDirOfTheWorkerVersion:
    """In production the configuration comes from Arkindex: not the user's input, exit 1."""

    @pytest.fixture
    def arkworker_corpus(self, arkworker_corpus):
        configuration = {"configuration": {"extras_dir": "/nowhere/extras"}}
        return {
            **arkworker_corpus,
            "worker_run": {**PAGES_CORPUS["worker_run"], "version": {"configuration": configuration}},
        }

    def test_a_missing_one_is_a_configuration_error(self, arkworker_run):
        run = arkworker_run(Recorder().app)
        assert run.exit_code == 1, run.output
        assert "Error: The extras directory /nowhere/extras does not exist" in run.output


def test_task_helpers(arkworker_run, arkworker_sandbox, archives, tmp_path):
    results = {}
    app = Worker("tasks")

    @app.dataset_set
    def process(dataset_set, ctx):
        artifacts = ctx.list_artifacts(TASK_A)
        results["paths"] = [artifact.path for artifact in artifacts]
        with ctx.download_artifact(TASK_A, artifacts[0]) as downloaded:
            results["content"] = downloaded.read()
        results["saved"] = ctx.download_artifact(TASK_A, artifacts[0], destination=tmp_path / "copy.tar.zst")
        with pytest.raises(InvalidArgument, match="needs an Artifact"):
            ctx.download_artifact(TASK_A, {"path": "x"})
        with pytest.raises(InvalidArgument, match="is not a task UUID"):
            ctx.list_artifacts("task")
        results["process_sets"] = [str(item) for item in ctx.list_process_sets()]

    run = arkworker_run(app, "--set", f"{A}:train")
    assert run.exit_code == 0, run.output
    assert results["paths"] == [f"{A}.tar.zst"]
    assert results["content"] == archives[A].read_bytes()
    assert results["saved"].read_bytes() == archives[A].read_bytes()
    assert results["process_sets"][0] == f"Set (train) from Dataset ({A})"
    assert Artifact(path="x").path == "x"


def test_helpers_check_their_arguments_and_the_mode(arkworker_run):
    problems = []
    app = Worker("checks")

    @app.dataset_set
    def process(dataset_set, ctx):
        for call in (
            lambda: list(ctx.list_process_sets()),
            lambda: list(ctx.list_set_elements({"name": "train"})),
            lambda: ctx.update_dataset_state({"id": A}, DatasetState.Error),
            lambda: ctx.update_dataset_state(dataset_set.dataset, "error"),
        ):
            with pytest.raises((RuntimeError, InvalidArgument)) as info:
                call()
            problems.append(str(info.value))

    run = arkworker_run(app, "--dev", "--set", f"{A}:train")
    assert run.exit_code == 0, run.output
    assert problems[0].startswith("list_process_sets is not available in read-only mode")
    assert problems[1].startswith("list_set_elements needs a Set")
    assert problems[2].startswith("update_dataset_state needs a Dataset")
    assert problems[3].startswith("update_dataset_state needs a DatasetState")


def test_the_run_caps_what_an_archive_may_expand_to(arkworker_run, tmp_path):
    app = Worker("extracting")

    @app.dataset_set
    def process(dataset_set, ctx):
        dataset_set.dataset.extract(tmp_path / "extracted" / dataset_set.name)

    run = arkworker_run(app, env={"ARKWORKER_MAX_ARCHIVE_SIZE": "10000"})
    assert run.summary == "Ran on 3 sets: 0 completed, 3 failed"
    assert "expands to more than" in run.output and "ARKWORKER_MAX_ARCHIVE_SIZE=<bytes>" in run.output
    assert not any((tmp_path / "extracted").rglob("*.bin"))


def test_a_bad_archive_cap_is_a_usage_error(arkworker_run):
    run = arkworker_run(Recorder().app, env={"ARKWORKER_MAX_ARCHIVE_SIZE": "big"})
    assert run.exit_code == 2
    assert "ARKWORKER_MAX_ARCHIVE_SIZE='big' is not valid: expected a number of bytes >= 1." in run.output
