"""One worker, both Arkindex generations: the API level, the element source, the queue."""

from __future__ import annotations

import subprocess
import sys

import pytest
from arkindex import ArkindexClient

from arkworker import Worker
from arkworker.sandbox import Sandbox
from tests.conftest import PAGES_CORPUS, requests_of


def corpus(api_level="current", **process):
    """PAGES_CORPUS on an instance of ``api_level``, its process extended with ``process``."""
    run = PAGES_CORPUS["worker_run"]
    return {
        **PAGES_CORPUS,
        "api_level": api_level,
        "worker_run": {**run, "process": {**run["process"], **process}},
    }


def recorder(fail_on=None):
    seen = []
    app = Worker("recorder")

    @app.element
    def process(element, ctx):
        seen.append(element.name)
        if element.name == fail_on:
            raise ValueError("boom")
        ctx.create_transcription(element, text=element.name, confidence=1.0)

    return app, seen


def operations(sandbox):
    return [record.operation_id for record in sandbox.requests]


@pytest.mark.parametrize("arkworker_corpus", [corpus(skip_elements_json=True)])
def test_the_queue_hands_out_every_element_once(arkworker_run, arkworker_sandbox):
    app, seen = recorder()
    run = arkworker_run(app, "--progress", "none")  # one line per element
    assert run.exit_code == 0, run.output
    assert seen == ["Page 1", "Page 2", "Page 3"]
    assert run.summary == "Ran on 3 elements: 3 completed, 0 failed"
    assert "Arkindex API level: current (the instance has RetrieveWorkerRunConfiguration)" in run.output
    assert "Elements come from the process queue (StartWorkerActivity)" in run.output
    assert "Processing page Page 2 (" in run.output and "(n°2)" in run.output
    states = [record.body["state"] for record in requests_of(arkworker_sandbox, "UpdateWorkerActivity")]
    assert states == ["processed"] * 3  # the queue started them
    assert len(requests_of(arkworker_sandbox, "StartWorkerActivity")) == 4  # the last one: empty
    assert sorted(row["state"] for row in arkworker_sandbox.objects("activities")) == ["processed"] * 3


@pytest.mark.parametrize("arkworker_corpus", [corpus(skip_elements_json=True)])
def test_a_failing_element_in_queue_mode_is_marked_error_and_the_queue_goes_on(
    arkworker_run, arkworker_sandbox
):
    app, seen = recorder(fail_on="Page 2")
    run = arkworker_run(app)
    assert seen == ["Page 1", "Page 2", "Page 3"]
    assert run.summary == "Ran on 3 elements: 2 completed, 1 failed"
    assert sorted(row["state"] for row in arkworker_sandbox.objects("activities")) == [
        "error",
        "processed",
        "processed",
    ]


@pytest.mark.parametrize("arkworker_corpus", [corpus(skip_elements_json=True)])
def test_an_empty_queue_is_nothing_to_process(arkworker_run, arkworker_sandbox):
    client = ArkindexClient(base_url=arkworker_sandbox.url, token=arkworker_sandbox.token)
    for _ in range(3):  # another process took every element
        client.request("StartWorkerActivity")
    run = arkworker_run(recorder()[0])
    assert run.exit_code == 1
    assert "No elements to process, stopping." in run.output


@pytest.mark.parametrize("arkworker_corpus", [corpus(skip_elements_json=True)])
def test_a_queue_error_ends_the_loop_with_its_summary(arkworker_run, arkworker_sandbox):
    arkworker_sandbox.fail("StartWorkerActivity", status=403, times=None)
    run = arkworker_run(recorder()[0])
    assert run.exit_code == 1
    assert "Failed to start a new worker activity of element due to an API error: 403" in run.output


@pytest.mark.parametrize("arkworker_corpus", [corpus(skip_elements_json=True)])
def test_named_elements_win_over_the_queue(arkworker_run, arkworker_sandbox):
    app, seen = recorder()
    first = arkworker_sandbox.process_element_ids()[0]
    run = arkworker_run(app, elements=[first])
    assert seen == ["Page 1"]
    assert "Elements come from the element list" in run.output
    assert requests_of(arkworker_sandbox, "StartWorkerActivity") == []


def test_the_list_when_the_process_says_so(arkworker_run, arkworker_sandbox):
    app = recorder()[0]
    run = arkworker_run(app, elements=[])  # skip_elements_json: false, and no element named
    assert run.exit_code == 1
    assert "Elements come from the element list" in run.output


@pytest.mark.parametrize("arkworker_corpus", [corpus(api_level="legacy")])
def test_a_legacy_instance_keeps_the_element_list(arkworker_run, arkworker_sandbox):
    app, seen = recorder()
    run = arkworker_run(app)
    assert run.exit_code == 0, run.output
    assert "Arkindex API level: legacy (the instance has no RetrieveWorkerRunConfiguration)" in run.output
    assert seen == ["Page 1", "Page 2", "Page 3"]
    states = [record.body["state"] for record in requests_of(arkworker_sandbox, "UpdateWorkerActivity")]
    assert states == ["started", "processed"] * 3


@pytest.mark.parametrize("arkworker_corpus", [corpus(api_level="legacy")])
def test_no_elements_list_on_a_legacy_instance_is_a_usage_error(arkworker_run):
    run = arkworker_run(recorder()[0], "--dev", "--no-elements-list", elements=[])
    assert run.exit_code == 2
    assert "--no-elements-list needs the process queue (StartWorkerActivity)" in run.output


def test_no_elements_list_in_a_local_run_takes_the_queue(arkworker_run, arkworker_sandbox):
    app, seen = recorder()
    run = arkworker_run(app, "--dev", "--no-elements-list", elements=[])
    assert seen == ["Page 1", "Page 2", "Page 3"]
    assert "Elements come from the process queue" in run.output


def test_skip_task_elements_is_the_default_of_no_elements_list(arkworker_run):
    app, seen = recorder()
    run = arkworker_run(app, "--dev", elements=[], env={"SKIP_TASK_ELEMENTS": ""})
    assert seen == ["Page 1", "Page 2", "Page 3"], run.output


def test_the_level_can_be_forced(arkworker_run, arkworker_sandbox):
    run = arkworker_run(recorder()[0], "--api-level", "legacy")
    assert "Arkindex API level: legacy (forced)" in run.output
    run = arkworker_run(recorder()[0], env={"ARKWORKER_API_LEVEL": "current"})
    assert "Arkindex API level: current (forced)" in run.output


def test_a_bad_forced_level_is_a_usage_error(arkworker_run):
    run = arkworker_run(recorder()[0], env={"ARKWORKER_API_LEVEL": "0.3"})
    assert run.exit_code == 2
    assert "ARKWORKER_API_LEVEL='0.3' is not valid: expected one of auto, legacy, current." in run.output
    run = arkworker_run(recorder()[0], "--api-level", "0.3")
    assert run.exit_code == 2
    assert "'0.3' is not one of 'auto', 'legacy', 'current'" in run.output


def test_no_worker_activity(arkworker_run, arkworker_sandbox):
    app, seen = recorder()
    run = arkworker_run(app, "--no-worker-activity")
    assert seen == ["Page 1", "Page 2", "Page 3"]
    assert requests_of(arkworker_sandbox, "UpdateWorkerActivity") == []
    assert "No worker activity will be stored" in run.output


@pytest.mark.parametrize("arkworker_corpus", [corpus(mode="export")])
def test_an_export_process_lists_its_elements_without_activities(arkworker_run, arkworker_sandbox):
    app, seen = recorder()
    run = arkworker_run(app)
    assert run.exit_code == 0, run.output
    assert sorted(seen) == ["Page 1", "Page 2", "Page 3"]
    assert "Elements come from the process's elements (ListProcessElements)" in run.output
    (listing,) = requests_of(arkworker_sandbox, "ListProcessElements")
    assert listing.query["page_size"] == "500"
    assert requests_of(arkworker_sandbox, "UpdateWorkerActivity") == []


DATASET = "aaaaaaaa-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    "arkworker_corpus",
    [
        {
            **corpus(mode="dataset"),
            "datasets": [
                {
                    "id": DATASET,
                    "name": "Dataset",
                    "sets": {"train": ["Page 1", "Page 3"], "test": ["Page 2"]},
                    "process_sets": ["train", "test"],
                }
            ],
        }
    ],
)
def test_a_dataset_process_gives_its_sets_elements_without_activities(arkworker_run, arkworker_sandbox):
    app, seen = recorder()
    run = arkworker_run(app)
    assert run.exit_code == 0, run.output
    assert seen == ["Page 1", "Page 3", "Page 2"]
    assert "Elements come from the process's dataset sets" in run.output
    assert requests_of(arkworker_sandbox, "RetrieveElement") == []  # the sets' elements are whole
    assert requests_of(arkworker_sandbox, "UpdateWorkerActivity") == []


WORKER = """
from arkworker import Worker
app = Worker("queue-consumer")

@app.element
def process(element, ctx):
    ctx.create_transcription(element, text=element.name, confidence=1.0)
"""

MANY = 30


def test_three_processes_on_one_queue_process_each_element_once(tmp_path):
    many = {
        **PAGES_CORPUS,
        "elements": [{"name": f"Page {index}", "type": "page", "image": "scan"} for index in range(MANY)],
        "worker_run": {
            "process": {"elements": [f"Page {index}" for index in range(MANY)], "skip_elements_json": True}
        },
    }
    script = tmp_path / "consumer.py"
    script.write_text(WORKER)
    with Sandbox(many, db_path=tmp_path / "state.sqlite") as sandbox:
        env = {**sandbox.env(), "ARKWORKER_RETRY_BACKOFF": "0", "XDG_DATA_HOME": str(tmp_path / "data")}
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "arkworker", "run", str(script)],
                env={**env, "PATH": "/usr/bin:/bin"},
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        outputs = [worker.communicate(timeout=120)[1] for worker in workers]
        texts = [row["element_id"] for row in sandbox.created()["transcriptions"]]
        states = [row["state"] for row in sandbox.objects("activities")]
    # A process that starts once the others emptied the queue has nothing to do: it says so and
    # exits 1, as the reference does; every other one processed its share.
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0 or (worker.returncode == 1 and "No elements to process" in output), (
            output
        )
    assert sorted(texts) == sorted(sandbox.process_element_ids())  # each element once
    assert states == ["processed"] * MANY
    counts = [int(output.split("Ran on ")[1].split(" ")[0]) for output in outputs if "Ran on " in output]
    assert sum(counts) == MANY


DECISIONS = [
    # (the instance and its process, --api-level, the level line, where the elements come from)
    (
        corpus("legacy"),
        None,
        "legacy (the instance has no RetrieveWorkerRunConfiguration)",
        "the element list",
    ),
    (corpus(skip_elements_json=False), None, "current (the instance has", "the element list"),
    (corpus(skip_elements_json=True), None, "current (the instance has", "the process queue"),
    (corpus(skip_elements_json=None), None, "current (the instance has", "the process queue"),
    (corpus(mode="dataset"), None, "current (the instance has", "the process's dataset sets"),
    (corpus(mode="export"), None, "current (the instance has", "the process's elements"),
    (corpus(skip_elements_json=True), "legacy", "legacy (forced)", "the element list"),
]


@pytest.mark.parametrize(("arkworker_corpus", "forced", "level_line", "source"), DECISIONS)
def test_the_decision_for_each_instance_and_process(
    arkworker_run, arkworker_sandbox, forced, level_line, source
):
    args = ["--api-level", forced] if forced else []
    elements = arkworker_sandbox.process_element_ids() if source == "the element list" else None
    run = arkworker_run(recorder()[0], *args, elements=elements)
    assert f"Arkindex API level: {level_line}" in run.output
    assert f"Elements come from {source}" in run.output
    if "dataset" not in source:  # the dataset process of this corpus has no sets
        assert run.summary == "Ran on 3 elements: 3 completed, 0 failed", run.output


@pytest.mark.parametrize("arkworker_corpus", [corpus("legacy")])
def test_forcing_current_on_a_legacy_instance_fails_to_configure_with_the_fix(arkworker_run):
    run = arkworker_run(recorder()[0], "--api-level", "current")
    assert run.exit_code == 1
    assert "Arkindex API level: current (forced)" in run.output
    (line,) = [line for line in run.output.splitlines() if line.startswith("Error:")]
    assert line.startswith("Error: Failed to configure this worker: ")
    assert line.endswith("use --api-level auto (or legacy), or unset ARKWORKER_API_LEVEL.")
