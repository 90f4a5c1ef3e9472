"""The life of a dataset archive in a run: one download, kept across sets, always removed.

Whatever happens to a set (its handler raises, the run is interrupted), the archive the
run downloaded and what was extracted from it do not outlive the run, and an archive is
streamed to disk rather than read into memory.
"""

from __future__ import annotations

import random
import tracemalloc

import pytest

from arkworker import Worker
from tests.conftest import PAGES_CORPUS, requests_of
from tests.test_dataset_loop import build_archive, database_bytes

A = "aaaaaaaa-0000-4000-8000-000000000001"
B = "bbbbbbbb-0000-4000-8000-000000000002"
BIG = "cccccccc-0000-4000-8000-000000000003"
#: Far above what a download holds in memory (a few blocks) plus the run's other allocations.
BIG_SIZE = 48 * 1024 * 1024


@pytest.fixture
def arkworker_corpus(tmp_path):
    files = tmp_path / "archives"
    files.mkdir()
    a = build_archive(files / "a.tar.zst", {"db.sqlite": database_bytes(tmp_path, "A")})
    b = build_archive(files / "b.tar.zst", {"db.sqlite": database_bytes(tmp_path, "B")})
    big = files / "big.tar.zst"  # only downloaded, never extracted
    big.write_bytes(random.Random(1).randbytes(BIG_SIZE))
    return {
        **PAGES_CORPUS,
        "api_level": "legacy",  # an instance without exports: the datasets' archives
        "datasets": [
            {
                "id": A,
                "name": "A",
                "sets": {"train": ["Page 1"], "dev": ["Page 2"], "test": []},
                "archive": str(a),
            },
            {"id": B, "name": "B", "sets": {"train": ["Page 3"]}, "archive": str(b)},
            {"id": BIG, "name": "Big", "sets": {"train": []}, "process_sets": [], "archive": str(big)},
        ],
    }


def archive_files(root) -> list[str]:
    return sorted(path.name for path in root.rglob("*") if ".tar.zst" in path.name)


def test_a_failing_handler_keeps_the_archive_for_the_next_sets_and_it_is_removed(
    arkworker_run, arkworker_sandbox, tmp_path
):
    seen = []
    app = Worker("failing")

    @app.dataset_set
    def process(dataset_set, ctx):
        folder = dataset_set.dataset.extract()
        seen.append((dataset_set.name, dataset_set.dataset.archive, folder))
        if dataset_set.name == "train":
            raise ValueError("handler failure")

    run = arkworker_run(app)
    assert run.exit_code == 0
    assert run.summary == "Ran on 4 sets: 2 completed, 2 failed"
    # The reference's line: the set's text form, no noun before it.
    assert (
        f"Failed running worker on Set (train) from Dataset ({A}): ValueError('handler failure')"
        in run.output
    )
    # Failing on A's first set did not drop A's archive: one download per dataset.
    assert [
        record.path.rsplit("/", 1)[-1] for record in requests_of(arkworker_sandbox, "DownloadArtifact")
    ] == [
        f"{A}.tar.zst",
        f"{B}.tar.zst",
    ]
    assert [name for name, _, _ in seen] == ["train", "dev", "test", "train"]
    assert seen[0][1] == seen[1][1] == seen[2][1] and seen[0][2] == seen[2][2]
    assert not any(archive.exists() or folder.exists() for _, archive, folder in seen)
    assert archive_files(tmp_path / "xdg-data") == []


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, SystemExit])
def test_an_interrupted_run_removes_the_archive_it_downloaded(arkworker_run, tmp_path, interruption):
    seen = []
    app = Worker("interrupted")

    @app.dataset_set
    def process(dataset_set, ctx):
        seen.append((dataset_set.dataset.archive, dataset_set.dataset.extract()))
        assert all(path.exists() for path in seen[-1])
        raise interruption()

    try:
        arkworker_run(app, "--dev", "--set", f"{A}:train", f"{A}:dev", f"{B}:train")
    except SystemExit:
        assert interruption is SystemExit  # a handler's sys.exit() ends the program
    assert len(seen) == 1  # the run stopped at the first set
    archive, folder = seen[0]
    assert not archive.exists() and not folder.exists()
    assert archive_files(tmp_path / "xdg-data") == []


def test_the_archive_is_streamed_to_disk_not_held_in_memory(arkworker_run, arkworker_sandbox):
    peaks = {}
    app = Worker("streaming")

    @app.setup
    def measure(ctx):
        tracemalloc.start()

    @app.dataset_set
    def process(dataset_set, ctx):
        # The loop has listed the set and downloaded its archive since setup.
        peaks["loop"] = tracemalloc.get_traced_memory()[1]
        peaks["size"] = dataset_set.dataset.archive.stat().st_size
        (artifact,) = ctx.list_artifacts(dataset_set.dataset.task_id)
        tracemalloc.reset_peak()
        with ctx.download_artifact(dataset_set.dataset.task_id, artifact) as downloaded:
            peaks["helper"] = tracemalloc.get_traced_memory()[1]
            peaks["helper size"] = len(downloaded.read(BIG_SIZE // 2))  # not held: read from disk

    try:
        run = arkworker_run(app, "--dev", "--set", f"{BIG}:train")
    finally:
        tracemalloc.stop()
    assert run.summary == "Ran on 1 set: 1 completed, 0 failed", run.output
    assert peaks["size"] == BIG_SIZE
    assert len(requests_of(arkworker_sandbox, "DownloadArtifact")) == 2
    # A download holds a few blocks at a time, far below the file's size.
    assert peaks["loop"] < BIG_SIZE // 2, peaks
    assert peaks["helper"] < BIG_SIZE // 2, peaks


def test_a_refused_download_fails_its_set_and_the_next_set_tries_again(
    arkworker_run, arkworker_sandbox, tmp_path
):
    arkworker_sandbox.fail("DownloadArtifact", status=403, times=1)
    seen = []
    app = Worker("refused")

    @app.dataset_set
    def process(dataset_set, ctx):
        seen.append(dataset_set.dataset.archive.read_bytes()[:4])

    run = arkworker_run(app, "--dev", "--set", f"{A}:train", f"{A}:dev")
    assert run.exit_code == 0
    assert run.summary == "Ran on 2 sets: 1 completed, 1 failed"
    (failure,) = run.result.failures
    assert failure.message.startswith(
        f"An API error occurred while processing Set (train) from Dataset ({A}): 403"
    )
    assert seen == [b"\x28\xb5\x2f\xfd"]  # the zstd magic number: dev had the whole archive
    assert len(requests_of(arkworker_sandbox, "DownloadArtifact")) == 2
    assert archive_files(tmp_path / "xdg-data") == []


def test_an_archive_downloaded_into_the_extras_directory_is_removed_at_the_end(arkworker_run, tmp_path):
    extras = tmp_path / "extras"
    extras.mkdir()
    seen = []
    app = Worker("extras")

    @app.dataset_set
    def process(dataset_set, ctx):
        seen.append(dataset_set.dataset.archive)

    run = arkworker_run(app, "--dev", "--extras-dir", str(extras), "--set", f"{A}:train", f"{B}:train")
    assert run.summary == "Ran on 2 sets: 2 completed, 0 failed", run.output
    assert seen == [extras / f"{A}.tar.zst", extras / f"{B}.tar.zst"]
    assert list(extras.iterdir()) == []


def test_in_a_ponos_task_the_extra_files_archive_is_used_and_the_others_downloaded_there(
    arkworker_run, arkworker_sandbox, arkworker_ponos, tmp_path
):
    extra_files = arkworker_ponos.data_dir / "extra_files"  # <PONOS_DATA>/extra_files
    extra_files.mkdir()
    provided = build_archive(extra_files / f"{A}.tar.zst", {"db.sqlite": database_bytes(tmp_path, "agent")})
    seen = []
    app = Worker("ponos")

    @app.dataset_set
    def process(dataset_set, ctx):
        seen.append(dataset_set.dataset.archive)

    run = arkworker_run(app)
    assert run.summary == "Ran on 4 sets: 4 completed, 0 failed", run.output
    assert seen == [provided] * 3 + [extra_files / f"{B}.tar.zst"]
    assert [r.path.rsplit("/", 1)[-1] for r in requests_of(arkworker_sandbox, "DownloadArtifact")] == [
        f"{B}.tar.zst"
    ]
    assert sorted(path.name for path in extra_files.iterdir()) == [f"{A}.tar.zst"]  # the agent's file stays


def test_in_a_ponos_task_without_extra_files_archives_go_to_the_work_directory(
    arkworker_run, arkworker_ponos
):
    seen = []
    app = Worker("ponos")

    @app.dataset_set
    def process(dataset_set, ctx):
        seen.append(dataset_set.dataset.archive)

    run = arkworker_run(app)
    assert run.summary == "Ran on 4 sets: 4 completed, 0 failed", run.output
    work_dir = arkworker_ponos.data_dir / "current"
    assert seen == [work_dir / f"{A}.tar.zst"] * 3 + [work_dir / f"{B}.tar.zst"]
    assert archive_files(arkworker_ponos.data_dir) == []
