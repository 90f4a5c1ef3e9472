"""examples/dataset_stats.py on the demo corpus, whose process runs on the sets of a dataset."""

import io
import json
import tempfile
from pathlib import Path

import pytest

from arkworker.cli.locate import locate_app
from arkworker.cli.worker import invoke_app
from tests.conftest import requests_of

EXAMPLE = Path(__file__).parent.parent / "examples" / "dataset_stats.py"


@pytest.fixture
def arkworker_corpus():
    return None  # the demo corpus


def test_dataset_stats_writes_its_report(arkworker_run, arkworker_sandbox, tmp_path):
    run = arkworker_run(locate_app(str(EXAMPLE)))
    assert run.exit_code == 0, run.output
    assert run.summary == "Ran on 3 sets: 3 completed, 0 failed"
    work_dir = tmp_path / "xdg-data" / "arkindex"
    report = json.loads((work_dir / "dataset-stats.json").read_text())
    assert {name: stats["elements"] for name, stats in report["Demo pages"].items()} == {
        "train": 2,
        "dev": 1,
        "test": 0,
    }
    assert "| Demo pages | train | 2 | page: 2 |" in (work_dir / "dataset-stats.md").read_text()
    # Today's Arkindex: one export of the demo dataset, downloaded once and removed.
    assert len(requests_of(arkworker_sandbox, "DownloadExport")) == 1
    assert requests_of(arkworker_sandbox, "DownloadArtifact") == []


def test_dataset_stats_on_the_sandbox_command_line(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the run's work directory is made
    stream = io.StringIO()
    code, result = invoke_app(
        locate_app(str(EXAMPLE)), ["--sandbox", "--keep"], env={"ARKWORKER_RETRY_BACKOFF": "0"}, stream=stream
    )
    assert code == 0, stream.getvalue()
    assert result.summary == "Ran on 3 sets: 3 completed, 0 failed"
    (work_dir,) = tmp_path.glob("arkworker-sandbox-run-*/arkindex")
    assert f"The run's work directory is kept: {work_dir}" in stream.getvalue()
    assert (work_dir / "dataset-stats.md").is_file()
