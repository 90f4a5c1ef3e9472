"""The run report (``--report``) and ``--retry-failed``, on real runs against the sandbox."""

import io
import json
import os
import signal
from datetime import datetime

import pytest

from arkworker import Worker
from arkworker.version import __version__
from tests.conftest import requests_of


def pages(sandbox):
    """The process's pages by name."""
    return dict(zip(["Page 1", "Page 2", "Page 3"], sandbox.process_element_ids(), strict=True))


def failing_on(*names, seen=None, name="reporter"):
    """A worker failing the elements named ``names``; ``seen`` collects the names it was given."""
    app = Worker(name)

    @app.element
    def process(element):
        if seen is not None:
            seen.append(element.name)
        if element.name in names:
            raise ValueError(f"no text on {element.name}")

    return app


def read(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_report_says_what_became_of_each_element(arkworker_run, arkworker_sandbox, tmp_path):
    ids = pages(arkworker_sandbox)
    assert arkworker_run(failing_on(name="other"), elements=[ids["Page 3"]]).exit_code == 0
    before = {
        op: len(requests_of(arkworker_sandbox, op)) for op in ("RetrieveElement", "UpdateWorkerActivity")
    }
    report = tmp_path / "report.json"

    run = arkworker_run(failing_on("Page 2"), "--report", str(report))

    assert run.exit_code == 0, run.output
    assert run.summary == "Ran on 3 elements: 2 completed, 1 failed"  # Page 3 was started elsewhere: a 409
    assert f"Run report written to {report}" in run.output
    content = read(report)
    assert content["format"] == "arkworker-run-report"
    assert content["version"] == 1
    assert content["arkworker_version"] == __version__
    assert content["worker"] == "reporter"
    assert content["noun"] == "element"
    started, ended = (
        datetime.fromisoformat(content[key].replace("Z", "+00:00")) for key in ("started_at", "ended_at")
    )
    assert started <= ended
    assert [(item["id"], item["outcome"], item["error"]) for item in content["items"]] == [
        (ids["Page 1"], "completed", None),
        (
            ids["Page 2"],
            "failed",
            f"Failed running worker on element {ids['Page 2']}: ValueError('no text on Page 2')",
        ),
        (ids["Page 3"], "skipped", None),
    ]
    assert all(isinstance(item["duration"], float) and item["duration"] >= 0 for item in content["items"])
    totals = content["totals"]
    assert {key: totals[key] for key in ("total", "completed", "failed", "skipped", "unprocessed")} == {
        "total": 3,
        "completed": 1,
        "failed": 1,
        "skipped": 1,
        "unprocessed": 0,
    }
    assert totals["exit_code"] == 0 and totals["interrupted"] is None
    assert all(isinstance(totals[key], float) for key in ("wall_time", "loop_time", "rate"))
    assert content["error"] is None
    # One entry per operation, counting the attempts the sandbox received from this run.
    calls = content["api_calls"]
    for op, earlier in before.items():
        assert calls[op]["calls"] == len(requests_of(arkworker_sandbox, op)) - earlier
    assert calls["UpdateWorkerActivity"]["calls"] == 5  # started 3 times (one refused), processed, error
    assert set(calls["RetrieveElement"]) == {"calls", "failed", "total", "mean", "median", "p95", "max"}
    assert list(calls) == sorted(calls)


def test_the_report_hides_the_run_secrets(arkworker_run, arkworker_env, tmp_path):
    token = arkworker_env["ARKINDEX_API_TOKEN"]
    app = Worker("leaky")
    app.element(lambda element: (_ for _ in ()).throw(RuntimeError(f"token {token} refused")))
    report = tmp_path / "report.json"
    run = arkworker_run(app, "--report", str(report))
    assert run.exit_code == 1
    text = report.read_text()
    assert token not in text
    assert "RuntimeError('token [secret] refused')" in text


def test_a_run_a_signal_stopped_is_reported(arkworker_run, arkworker_sandbox, tmp_path):
    ids = pages(arkworker_sandbox)
    app = Worker("stopped")
    app.element(lambda element: signal.raise_signal(signal.SIGTERM))  # the first element ends normally
    report = tmp_path / "report.json"
    run = arkworker_run(app, "--report", str(report))
    assert run.exit_code == 143
    content = read(report)
    assert [(item["id"], item["outcome"]) for item in content["items"]] == [(ids["Page 1"], "completed")]
    totals = content["totals"]
    assert (totals["total"], totals["completed"], totals["unprocessed"]) == (3, 1, 2)
    assert (totals["exit_code"], totals["interrupted"]) == (143, "SIGTERM")


def test_a_run_that_could_not_start_is_reported(arkworker_run, arkworker_sandbox, tmp_path):
    arkworker_sandbox.fail("RetrieveWorkerRun", status=403, times=None)
    report = tmp_path / "report.json"
    run = arkworker_run(failing_on(), "--report", str(report))
    assert run.exit_code == 1
    content = read(report)
    assert content["items"] == []
    assert content["totals"]["exit_code"] == 1
    assert content["totals"]["loop_time"] is None and content["totals"]["rate"] is None
    assert "403" in content["error"]
    assert content["api_calls"]["RetrieveWorkerRun"]["failed"] >= 1


def test_a_failed_setup_is_reported(arkworker_run, tmp_path):
    app = failing_on()
    app.setup(lambda: 1 / 0)
    report = tmp_path / "report.json"
    run = arkworker_run(app, "--report", str(report))
    assert run.exit_code == 1
    content = read(report)
    assert (content["items"], content["totals"]["exit_code"], content["error"]) == ([], 1, None)


def test_a_usage_error_leaves_the_report_file_alone(arkworker_run, arkworker_sandbox, tmp_path):
    report = tmp_path / "report.json"
    report.write_text("the previous report")
    elements_list = tmp_path / "elements.json"
    elements_list.write_text("[]")
    run = arkworker_run(failing_on(), "--report", str(report), "--elements-list", str(elements_list))
    assert run.exit_code == 2
    assert report.read_text() == "the previous report"
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".report")) == []


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "missing/report.json",
            "--report {tmp}/missing/report.json: the directory {tmp}/missing does not exist; ",
        ),
        (".", "--report {tmp} is a directory: give the path of a file, such as {tmp}/report.json."),
        (
            "file/report.json",
            "--report {tmp}/file/report.json: the directory {tmp}/file is not a directory; ",
        ),
    ],
)
def test_a_bad_report_path_is_refused_before_any_call(
    arkworker_run, arkworker_sandbox, tmp_path, path, message
):
    (tmp_path / "file").touch()
    target = os.path.normpath(tmp_path / path)
    run = arkworker_run(failing_on(), "--report", target)
    assert run.exit_code == 2
    assert run.output.startswith("Error: " + message.format(tmp=tmp_path))
    assert run.output.count("\n") == 1
    assert arkworker_sandbox.requests == []


def test_an_unwritable_report_directory_is_refused(arkworker_run, arkworker_sandbox, tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    try:
        (folder / "probe").touch()
    except PermissionError:
        pass
    else:
        pytest.skip("this user writes in read-only folders")
    run = arkworker_run(failing_on(), "--report", str(folder / "report.json"))
    assert run.exit_code == 2
    assert run.output == (
        f"Error: --report {folder / 'report.json'} cannot be written (Permission denied): give a path in a "
        "writable directory.\n"
    )
    assert arkworker_sandbox.requests == []


def test_retry_failed_runs_exactly_the_failed_elements(arkworker_run, arkworker_sandbox, tmp_path):
    ids = pages(arkworker_sandbox)
    report = tmp_path / "report.json"
    assert arkworker_run(failing_on("Page 1", "Page 3"), "--report", str(report)).exit_code == 0
    retrieved = len(requests_of(arkworker_sandbox, "RetrieveElement"))
    task_elements = tmp_path / "task_elements.json"  # Ponos's list: --retry-failed replaces it
    task_elements.write_text(json.dumps([{"id": ids["Page 2"]}]))
    seen = []

    # The same path: the retry's report replaces the one it retried. Read-only: in production, the
    # worker run's failed elements are in error, and Arkindex refuses to start them again (a 409).
    run = arkworker_run(
        failing_on("Page 3", seen=seen),
        "--dev",
        "--retry-failed",
        str(report),
        "--report",
        str(report),
        env={"TASK_ELEMENTS": str(task_elements)},
    )

    assert run.exit_code == 0, run.output
    assert seen == ["Page 1", "Page 3"], run.output
    assert run.summary == "Ran on 2 elements: 1 completed, 1 failed"
    assert "TASK_ELEMENTS is ignored: --retry-failed gives the elements" in run.output
    retrievals = requests_of(arkworker_sandbox, "RetrieveElement")[retrieved:]
    assert [record.path for record in retrievals] == [
        f"/api/v1/element/{ids[name]}/" for name in ("Page 1", "Page 3")
    ]
    content = read(report)
    assert [(item["id"], item["outcome"]) for item in content["items"]] == [
        (ids["Page 1"], "completed"),
        (ids["Page 3"], "failed"),
    ]


def test_a_report_without_failures_leaves_nothing_to_process(arkworker_run, arkworker_sandbox, tmp_path):
    report = tmp_path / "report.json"
    assert arkworker_run(failing_on(), "--report", str(report)).exit_code == 0
    calls = len(arkworker_sandbox.requests)
    run = arkworker_run(failing_on(), "--retry-failed", str(report), "--report", str(report))
    assert run.exit_code == 1
    assert (
        f"The --retry-failed report {report} has no failed element: there is nothing to retry" in run.output
    )
    assert "No elements to process, stopping." in run.output
    assert len(arkworker_sandbox.requests) == calls
    assert read(report)["totals"]["completed"] == 3  # left as it was


def report_file(tmp_path, content):
    path = tmp_path / "report.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


REPORT = {
    "format": "arkworker-run-report",
    "version": 1,
    "worker": "reporter",
    "noun": "element",
    "items": [],
}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            None,
            "The --retry-failed report {path} does not exist: give the file an earlier run wrote with --report.",
        ),
        ("{", "The --retry-failed report {path} is not valid JSON (line 1, column 2: "),
        ([1, 2], 'The --retry-failed report {path} is not an arkworker run report (it has no "format": '),
        (
            {"version": 1},
            'The --retry-failed report {path} is not an arkworker run report (it has no "format": ',
        ),
        ({**REPORT, "version": 2}, "The --retry-failed report {path} has version 2, which arkworker "),
        (
            {**REPORT, "noun": "set"},
            "The --retry-failed report {path} is a report on dataset sets, but 'reporter' ",
        ),
        ({**REPORT, "items": {}}, 'The --retry-failed report {path} is damaged: its "items" is not a list.'),
        (
            {**REPORT, "items": [{"id": "Page 1", "outcome": "failed"}]},
            "The --retry-failed report {path} is damaged: item 0 has an invalid element id 'Page 1'.",
        ),
    ],
    ids=["missing", "not-json", "a-list", "no-format", "version-2", "sets", "items", "bad-id"],
)
def test_a_bad_retry_report_is_one_line(arkworker_run, arkworker_sandbox, tmp_path, content, message):
    path = tmp_path / "report.json" if content is None else report_file(tmp_path, content)
    run = arkworker_run(failing_on(), "--retry-failed", str(path))
    assert run.exit_code == 2
    assert run.output.startswith("Error: " + message.format(path=path)), run.output
    assert run.output.count("\n") == 1
    assert arkworker_sandbox.requests == []


@pytest.mark.parametrize("option", ["--element", "--elements-list"])
def test_retry_failed_takes_no_other_element_list(arkworker_run, arkworker_sandbox, tmp_path, option):
    ids = pages(arkworker_sandbox)
    report = report_file(tmp_path, {**REPORT, "items": [{"id": ids["Page 1"], "outcome": "failed"}]})
    value = (
        ids["Page 2"] if option == "--element" else str(report_file(tmp_path / "..", [{"id": ids["Page 2"]}]))
    )
    run = arkworker_run(failing_on(), "--retry-failed", str(report), option, value)
    assert run.exit_code == 2
    assert run.output == (
        f"Error: --retry-failed and {option} cannot be used together: --retry-failed gives the elements "
        "(those that failed in its report).\n"
    )
    assert arkworker_sandbox.requests == []


def test_a_report_of_another_worker_is_retried_with_a_warning(arkworker_run, arkworker_sandbox, tmp_path):
    ids = pages(arkworker_sandbox)
    report = report_file(
        tmp_path, {**REPORT, "worker": "old-name", "items": [{"id": ids["Page 2"], "outcome": "failed"}]}
    )
    seen = []
    run = arkworker_run(failing_on(seen=seen), "--retry-failed", str(report))
    assert run.exit_code == 0
    assert seen == ["Page 2"]
    assert "is of worker 'old-name', not 'reporter': retrying its failed elements" in run.output


DATASET = "0f5d3c43-5f5e-5b3e-9d5a-000000000001"


@pytest.fixture
def arkworker_corpus():
    from tests.conftest import PAGES_CORPUS

    return {
        **PAGES_CORPUS,
        "datasets": [
            {"id": DATASET, "name": "Lines", "sets": {"train": ["Page 1"], "dev": ["Page 2"], "test": []}}
        ],
    }


def set_worker(fail_on=(), seen=None):
    app = Worker("sets")

    @app.dataset_set
    def process(dataset_set):
        if seen is not None:
            seen.append(dataset_set.name)
        if dataset_set.name in fail_on:
            raise ValueError(f"no {dataset_set.name}")

    return app


def test_a_dataset_worker_reports_and_retries_its_sets(arkworker_run, arkworker_sandbox, tmp_path):
    report = tmp_path / "report.json"
    run = arkworker_run(set_worker(fail_on={"dev"}), "--report", str(report))
    assert run.summary == "Ran on 3 sets: 2 completed, 1 failed", run.output
    content = read(report)
    assert content["noun"] == "set"
    assert [(item["id"], item["outcome"]) for item in content["items"]] == [
        (f"{DATASET}:train", "completed"),
        (f"{DATASET}:dev", "failed"),
        (f"{DATASET}:test", "completed"),
    ]
    assert (
        content["items"][1]["error"]
        == f"Failed running worker on Set (dev) from Dataset ({DATASET}): ValueError('no dev')"
    )

    seen = []
    run = arkworker_run(set_worker(seen=seen), "--dev", "--retry-failed", str(report))
    assert run.exit_code == 0, run.output
    assert seen == ["dev"]
    assert run.summary == "Ran on 1 set: 1 completed, 0 failed"


def test_a_usage_error_met_during_the_run_writes_no_report(arkworker_run, tmp_path):
    report = tmp_path / "report.json"
    run = arkworker_run(
        set_worker(), "--dev", "--set", "0f5d3c43-5f5e-5b3e-9d5a-0000000000ff:train", "--report", str(report)
    )
    assert run.exit_code == 2
    assert "there is no dataset 0f5d3c43-5f5e-5b3e-9d5a-0000000000ff" in run.output
    assert not report.exists()


def test_a_dataset_worker_retries_in_read_only_mode_only(arkworker_run, arkworker_sandbox, tmp_path):
    report = report_file(
        tmp_path,
        {**REPORT, "noun": "set", "worker": "sets", "items": [{"id": f"{DATASET}:dev", "outcome": "failed"}]},
    )
    run = arkworker_run(set_worker(), "--retry-failed", str(report))
    assert run.exit_code == 2
    assert run.output == (
        "Error: --retry-failed retries a dataset worker's sets in read-only mode only (add --dev): in "
        "production the process's sets always run.\n"
    )
    run = arkworker_run(set_worker(), "--dev", "--retry-failed", str(report), "--set", f"{DATASET}:train")
    assert run.exit_code == 2
    assert run.output.startswith("Error: --retry-failed and --set cannot be used together")
    assert arkworker_sandbox.requests == []


def test_a_sandbox_run_retries_only_the_failed_elements(tmp_path):
    from arkworker.cli.worker import invoke_app
    from arkworker.sandbox import Sandbox

    with Sandbox() as demo:
        second = demo.process_element_ids()[1]
    report = report_file(tmp_path, {**REPORT, "items": [{"id": second, "outcome": "failed"}]})
    seen = []
    stream = io.StringIO()
    code, result = invoke_app(
        failing_on(seen=seen),
        ["--sandbox", "--retry-failed", str(report)],
        env={"XDG_DATA_HOME": str(tmp_path)},
        stream=stream,
    )
    assert code == 0, stream.getvalue()
    assert seen == ["Page 2"]
    assert result.summary == "Ran on 1 element: 1 completed, 0 failed"
