"""``ctx`` helpers of a task: its parents, parent files and archives, the model and extras directories."""

import io
import json
import tarfile
import uuid
from pathlib import Path

import pytest
import zstandard

from arkworker import Worker
from arkworker.storage.archives import create_tar_zst
from arkworker.storage.tasks import chunk_file_name
from tests.conftest import PAGES_CORPUS


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


@pytest.mark.parametrize(
    ("arkworker_corpus", "operation"),
    [(PAGES_CORPUS, "RetrieveTask"), ({**PAGES_CORPUS, "api_level": "legacy"}, "RetrieveTaskFromAgent")],
    ids=["current", "legacy"],
)
def test_parents_come_from_the_task_operation_the_instance_has(
    arkworker_run, arkworker_sandbox, arkworker_ponos, operation
):
    first = arkworker_ponos.add_parent(cache=False)
    second = arkworker_ponos.add_parent(cache=False)
    results = []
    run = arkworker_run(probing_worker(lambda ctx: (ctx.task_parents, ctx.task_parents), results))
    assert run.exit_code == 0, run.output
    assert results == [([first.name, second.name], [first.name, second.name])]
    called = [
        record.operation_id for record in arkworker_sandbox.requests if "Task" in (record.operation_id or "")
    ]
    assert called == [operation]  # asked once


def test_task_parents_from_the_environment_need_no_call(arkworker_run, arkworker_sandbox, arkworker_ponos):
    known = arkworker_ponos.add_parent(cache=False)  # what the API would answer: not asked
    given = [str(uuid.uuid4()), str(uuid.uuid4())]
    for parent in given:
        (arkworker_ponos.data_dir / parent).mkdir()
        (arkworker_ponos.data_dir / parent / "data.json").write_text("{}")
    (known / "data.json").write_text("{}")
    results = []
    run = arkworker_run(
        probing_worker(lambda ctx: (ctx.task_parents, ctx.find_parents_file_paths("data.json")), results),
        env={"TASK_PARENTS": json.dumps({given[0]: "init", given[1]: "other"})},
    )
    assert run.exit_code == 0, run.output
    assert results == [(given, [arkworker_ponos.data_dir / parent / "data.json" for parent in given])]
    assert not [record for record in arkworker_sandbox.requests if "Task" in (record.operation_id or "")]


def test_task_parents_from_the_environment_outside_a_ponos_task(arkworker_run, tmp_path):
    parent = str(uuid.uuid4())
    (tmp_path / parent).mkdir()
    (tmp_path / parent / "model.bin").write_text("weights")
    results = []
    run = arkworker_run(
        probing_worker(lambda ctx: ctx.find_parents_file_paths("model.bin"), results),
        env={"TASK_PARENTS": json.dumps({parent: "training"}), "PONOS_DATA": str(tmp_path)},
    )
    assert run.exit_code == 0, run.output
    assert results == [[tmp_path / parent / "model.bin"]]


def test_the_model_directory_comes_first_in_a_ponos_task(arkworker_run, arkworker_ponos, tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (arkworker_ponos.data_dir / "extra_files").mkdir()
    results = []
    run = arkworker_run(
        probing_worker(lambda ctx: (ctx.model_dir, ctx.extras_dir), results),
        env={"ARKINDEX_MODEL_DIR": str(model_dir)},
    )
    assert run.exit_code == 0, run.output
    assert results == [(model_dir, model_dir)]
    assert "Model directory" not in run.output


def test_a_missing_model_directory_is_a_warning(arkworker_run, arkworker_ponos, tmp_path):
    missing = tmp_path / "no-model"
    results = []
    run = arkworker_run(
        probing_worker(lambda ctx: (ctx.model_dir, ctx.extras_dir, ctx.extras_dir), results),
        env={"ARKINDEX_MODEL_DIR": str(missing)},
    )
    assert run.exit_code == 0, run.output
    assert results == [(missing, arkworker_ponos.data_dir / "current", arkworker_ponos.data_dir / "current")]
    assert (
        run.output.count(f"WARNING/arkworker: Model directory {missing} is missing: check ARKINDEX_MODEL_DIR")
        == 1
    )


def test_without_a_model_directory(arkworker_run, arkworker_ponos):
    results = []
    run = arkworker_run(probing_worker(lambda ctx: ctx.model_dir, results), "--verbose")
    assert run.exit_code == 0, run.output
    assert results == [None]
    assert "Missing ARKINDEX_MODEL_DIR environment variable, using extra_files old mode" in run.output


def test_locally_the_model_directory_is_not_an_extras_directory(arkworker_run, tmp_path, monkeypatch):
    """As in the reference: outside a Ponos task the extras directory is the user's to name."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "extras").mkdir()
    (tmp_path / "model").mkdir()
    results = []
    run = arkworker_run(
        probing_worker(lambda ctx: (ctx.model_dir, ctx.extras_dir), results),
        "--dev",
        "--extras-dir",
        "extras",
        env={"ARKINDEX_MODEL_DIR": str(tmp_path / "model")},
    )
    assert run.exit_code == 0, run.output
    assert results == [(tmp_path / "model", Path("extras"))]
