"""``ctx`` helpers of a task: parent files, parent archives, the extras directory."""

import io
import tarfile
from pathlib import Path

import pytest
import zstandard

from arkworker import Worker
from arkworker.storage.archives import create_tar_zst
from arkworker.storage.tasks import chunk_file_name


def probing_worker(probe, results):
    """A worker whose setup stores ``probe(ctx)`` (or the exception it raised) in ``results``."""
    app = Worker("probe")
    app.element(lambda element: None)

    @app.setup
    def setup(ctx):
        try:
            results.append(probe(ctx))
        except Exception as exc:
            results.append(exc)

    return app


def test_chunk_names_put_the_chunk_before_the_last_suffix():
    assert chunk_file_name("db.sqlite", "3") == "db_3.sqlite"
    assert chunk_file_name("arkindex_data.tar.zst", "1") == "arkindex_data.tar_1.zst"
    assert chunk_file_name("model", "2") == "model_2"


def test_parent_files_are_found_in_parent_order_with_chunks(arkworker_run, arkworker_ponos):
    first = arkworker_ponos.add_parent(cache=False)
    second = arkworker_ponos.add_parent(cache=False)
    third = arkworker_ponos.add_parent(cache=False)
    (first / "data.json").write_text("{}")
    (second / "data_4.json").write_text("{}")
    (third / "data.json").write_text("{}")
    (third / "data_4.json").write_text("{}")
    results = []
    run = arkworker_run(
        probing_worker(lambda ctx: ctx.find_parents_file_paths("data.json"), results),
        env={"ARKINDEX_TASK_CHUNK": "4"},
    )
    assert run.exit_code == 0, run.output
    assert results == [
        [first / "data.json", second / "data_4.json", third / "data.json", third / "data_4.json"]
    ]


def test_outside_a_ponos_task_there_are_no_parents(arkworker_run):
    results = []
    run = arkworker_run(
        probing_worker(lambda ctx: (ctx.task_parents, ctx.find_parents_file_paths("x")), results)
    )
    assert run.exit_code == 0, run.output
    assert results == [([], [])]


def test_parent_archives_are_extracted_later_parents_winning(arkworker_run, arkworker_ponos, tmp_path):
    for version in ("old", "new"):
        source = tmp_path / f"source-{version}"
        (source / "model").mkdir(parents=True)
        (source / "model" / "weights.bin").write_text(version)
        (source / f"{version}.txt").write_text(version)
        create_tar_zst(source, arkworker_ponos.add_parent(cache=False) / "model.tar.zst")
    destination = tmp_path / "extracted"
    results = []
    run = arkworker_run(
        probing_worker(lambda ctx: ctx.extract_parent_archives("model.tar.zst", destination), results)
    )
    assert run.exit_code == 0, run.output
    assert len(results[0]) == 2
    assert (destination / "model" / "weights.bin").read_text() == "new"
    assert sorted(path.name for path in destination.iterdir()) == ["model", "new.txt", "old.txt"]


def test_an_unsafe_parent_archive_is_refused_by_name(arkworker_run, arkworker_ponos, tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    archive = arkworker_ponos.add_parent(cache=False) / "model.tar.zst"
    archive.write_bytes(zstandard.ZstdCompressor().compress(buffer.getvalue()))
    results = []
    arkworker_run(
        probing_worker(lambda ctx: ctx.extract_parent_archives("model.tar.zst", tmp_path / "x"), results)
    )
    assert f"Refusing to extract {archive}: member '../escape.txt'" in str(results[0])


def test_extras_dir_in_a_ponos_task(arkworker_run, arkworker_ponos):
    results = []
    app_probe = lambda ctx: ctx.extras_dir  # noqa: E731
    assert arkworker_run(probing_worker(app_probe, results)).exit_code == 0
    (arkworker_ponos.data_dir / "extra_files").mkdir()
    assert arkworker_run(probing_worker(app_probe, results)).exit_code == 0
    assert results == [arkworker_ponos.data_dir / "current", arkworker_ponos.data_dir / "extra_files"]


@pytest.mark.parametrize(
    ("config", "cli", "expected"),
    [
        (None, "extras", "extras"),
        ("extras_dir: from-config\n", "extras", "from-config"),
        ("extras_dir:\n", "extras", "No extras directory: set 'extras_dir' in the configuration"),
        (None, None, "No extras directory: set 'extras_dir' in the configuration file or pass --extras-dir."),
    ],
)
def test_extras_dir_locally(arkworker_run, tmp_path, monkeypatch, config, cli, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "extras").mkdir()
    (tmp_path / "from-config").mkdir()
    args = ["--dev"]
    if config is not None:
        (tmp_path / "config.yml").write_text(config)
        args += ["--config", "config.yml"]
    if cli is not None:
        args += ["--extras-dir", cli]
    results = []
    run = arkworker_run(probing_worker(lambda ctx: ctx.extras_dir, results), *args)
    assert run.exit_code == 0, run.output
    if expected in ("extras", "from-config"):
        assert results == [Path(expected)]
    else:
        assert expected in str(results[0])
