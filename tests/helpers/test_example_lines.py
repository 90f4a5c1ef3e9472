"""examples/lines.py on the demo corpus: lines, their transcriptions and classifications."""

import importlib.util
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lines.py"


def load_app():
    spec = importlib.util.spec_from_file_location("lines_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


@pytest.mark.parametrize("arkworker_corpus", [None])
def test_lines_example_on_the_demo_corpus(arkworker_run, arkworker_sandbox):
    run = arkworker_run(load_app(), "--lines", "4")
    assert run.exit_code == 0, run.output
    pages = [row for row in arkworker_sandbox.objects("elements", type="page")]
    created = run.created
    assert len(created["elements"]) == 4 * len(pages)
    assert {row["type"] for row in created["elements"]} == {"text_line"}
    assert len(created["transcriptions"]) == len(created["elements"])
    assert len(created["classifications"]) == len(created["elements"])
    classes = {row["name"] for row in arkworker_sandbox.objects("ml_classes")}
    assert classes == {"handwritten", "printed"}


@pytest.mark.parametrize("arkworker_corpus", [None])
def test_lines_example_in_read_only_mode(arkworker_run, arkworker_sandbox):
    run = arkworker_run(load_app(), "--dev")
    assert run.exit_code == 0, run.output
    assert "Cannot create elements as this worker is in read-only mode" in run.output
    assert all(record.method == "GET" for record in arkworker_sandbox.requests)
