"""examples/train.py on the demo corpus: read the sets, train in @app.finish, publish the model."""

import io
import json
import tarfile
from pathlib import Path

import pytest
import zstandard

from arkworker.cli.locate import locate_app
from arkworker.cli.worker import invoke_app

EXAMPLE = Path(__file__).parent.parent / "examples" / "train.py"
DEMO_MODEL = "7e57ab1e-0000-4000-8000-00000000d3a0"


@pytest.fixture
def arkworker_corpus():
    return None  # the demo corpus


@pytest.mark.parametrize("api_level", ["current", "legacy"])
def test_train_publishes_a_model_version_with_its_model_file(arkworker_run, arkworker_sandbox, api_level):
    run = arkworker_run(
        locate_app(str(EXAMPLE)), "--model-id", DEMO_MODEL, "--tag", "v1", "--api-level", api_level
    )
    assert run.exit_code == 0, run.output
    assert run.summary == "Ran on 3 sets: 3 completed, 0 failed"
    (version,) = run.created["model_versions"]
    assert version["tag"] == "v1"
    archive = zstandard.ZstdDecompressor().stream_reader(
        io.BytesIO(arkworker_sandbox.uploaded(version["id"]))
    )
    with tarfile.open(fileobj=archive, mode="r|") as tar:
        files = {member.name: tar.extractfile(member).read() for member in tar if member.isfile()}
    (content,) = files.values()
    model = json.loads(content)
    assert model["sets"] == {"train": {"page": 2}, "dev": {"page": 1}, "test": {}}
    assert model["frequencies"] == {"page": 1.0}


def test_train_without_a_model_fails_in_finish_with_one_line(arkworker_run):
    run = arkworker_run(locate_app(str(EXAMPLE)))
    assert run.exit_code == 1
    assert (
        "Finish function train_and_publish failed: RuntimeError('No model to publish to: give --model-id"
        in run.output
    )


def test_train_on_the_sandbox_command_line(tmp_path):
    stream = io.StringIO()
    code, _ = invoke_app(
        locate_app(str(EXAMPLE)),
        ["--sandbox", "--model-id", DEMO_MODEL],
        env={"XDG_DATA_HOME": str(tmp_path), "ARKWORKER_RETRY_BACKOFF": "0"},
        stream=stream,
    )
    assert code == 0, stream.getvalue()
    assert "1 model version" in stream.getvalue()
