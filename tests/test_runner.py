"""The element loop, over real HTTP against the sandbox: activities, failures, exit codes."""

import pytest

from arkworker import MetaType, Worker
from arkworker.models import Element
from arkworker.sandbox.handlers import HANDLERS
from tests.conftest import requests_of, with_worker_run


def page_ids(sandbox):
    return sandbox.process_element_ids()


def test_every_element_is_processed_with_its_activity(arkworker_run, arkworker_sandbox, make_app):
    seen = []

    def process(element, ctx):
        seen.append((element.name, element.type, ctx.worker_run_id))

    run = arkworker_run(make_app(process), "--progress", "none")  # one line per element
    assert run.exit_code == 0
    assert run.summary == "Ran on 3 elements: 3 completed, 0 failed"
    assert run.summary in run.output
    assert [name for name, _, _ in seen] == ["Page 1", "Page 2", "Page 3"]
    assert {kind for _, kind, _ in seen} == {"page"}
    assert {run_id for _, _, run_id in seen} == {arkworker_sandbox.worker_run_id}
    activities = arkworker_sandbox.objects("activities")
    assert sorted(activity["state"] for activity in activities) == ["processed"] * 3
    states = [record.body["state"] for record in requests_of(arkworker_sandbox, "UpdateWorkerActivity")]
    assert states == ["started", "processed"] * 3
    assert "Processing page Page 1 (" in run.output and "(1/3)" in run.output


def test_a_failing_element_does_not_stop_the_others(arkworker_run, arkworker_sandbox, make_app):
    def process(element):
        if element.name == "Page 2":
            raise ValueError("boom")

    run = arkworker_run(make_app(process))
    failing = page_ids(arkworker_sandbox)[1]
    assert run.exit_code == 0
    assert run.summary == "Ran on 3 elements: 2 completed, 1 failed"
    assert f"Failed running worker on element {failing}: ValueError('boom')" in run.output
    assert "ERROR/arkworker: Ran on 3 elements" in run.output
    assert "Traceback" not in run.output
    states = {row["element_id"]: row["state"] for row in arkworker_sandbox.objects("activities")}
    assert states[failing] == "error"
    assert sorted(states.values()) == ["error", "processed", "processed"]
    assert run.result.failures[0].item == failing
    assert isinstance(run.result.failures[0].exception, ValueError)


def test_verbose_adds_the_traceback(arkworker_run, make_app):
    def process(element):
        raise ValueError("boom")

    run = arkworker_run(make_app(process), "--verbose")
    assert "Traceback (most recent call last)" in run.output
    assert 'raise ValueError("boom")' in run.output


def test_everything_failing_exits_with_1(arkworker_run, make_app):
    def process(element):
        raise RuntimeError("model missing")

    run = arkworker_run(make_app(process))
    assert run.exit_code == 1
    assert run.summary == "Ran on 3 elements: 0 completed, 3 failed"


def test_api_errors_are_described_with_status_and_content(arkworker_run, arkworker_sandbox, make_app):
    def process(element, ctx):
        ctx.request("RetrieveElement", id="00000000-0000-0000-0000-000000000000")

    run = arkworker_run(make_app(process), elements=page_ids(arkworker_sandbox)[:1])
    assert run.exit_code == 1
    assert "An API error occurred while processing element" in run.output
    assert ": 404 Not Found - " in run.output


def test_an_element_that_cannot_be_retrieved_fails_without_activity(
    arkworker_run, arkworker_sandbox, make_app
):
    missing = "11111111-1111-1111-1111-111111111111"
    run = arkworker_run(make_app(), elements=[missing, page_ids(arkworker_sandbox)[0]])
    assert run.summary == "Ran on 2 elements: 1 completed, 1 failed"
    assert f"while processing element {missing}: 404" in run.output
    assert all(
        record.body["element_id"] != missing
        for record in requests_of(arkworker_sandbox, "UpdateWorkerActivity")
    )


def test_an_element_started_elsewhere_is_skipped_not_failed(arkworker_run, arkworker_sandbox, make_app):
    assert arkworker_run(make_app()).exit_code == 0
    calls = []
    run = arkworker_run(make_app(lambda element: calls.append(element.id), name="second"))
    assert run.exit_code == 0
    assert run.summary == "Ran on 3 elements: 3 completed, 0 failed"
    assert run.result.skipped == 3
    assert calls == []
    assert "as it was already processed" in run.output


@pytest.mark.parametrize("arkworker_corpus", [with_worker_run(process={"activity_state": "disabled"})])
def test_activities_only_when_the_process_tracks_them(arkworker_run, arkworker_sandbox, make_app):
    run = arkworker_run(make_app())
    assert run.exit_code == 0
    assert "No worker activity will be stored as it is disabled for this process" in run.output
    assert requests_of(arkworker_sandbox, "UpdateWorkerActivity") == []


def test_read_only_mode_reads_but_reports_nothing(arkworker_run, arkworker_sandbox, make_app):
    seen = []
    run = arkworker_run(make_app(lambda element, ctx: seen.append(ctx.is_read_only)), "--dev")
    assert run.exit_code == 0
    assert seen == [True, True, True]
    assert requests_of(arkworker_sandbox, "UpdateWorkerActivity") == []
    assert requests_of(arkworker_sandbox, "RetrieveWorkerRun") == []
    assert all(record.method == "GET" for record in arkworker_sandbox.requests)


def test_a_burst_of_server_errors_is_survived(arkworker_run, arkworker_sandbox, make_app):
    arkworker_sandbox.fail("RetrieveElement", status=502, times=3)
    arkworker_sandbox.fail("UpdateWorkerActivity", status=503, times=2)
    run = arkworker_run(make_app())
    assert run.exit_code == 0
    assert run.summary == "Ran on 3 elements: 3 completed, 0 failed"
    statuses = [record.status for record in requests_of(arkworker_sandbox, "RetrieveElement")]
    assert statuses == [502, 502, 502, 200, 200, 200]
    assert "RetrieveElement failed (HTTP 502 Bad Gateway); attempt 2 of 5 in 0.0 s" in run.output


def test_a_persistent_server_error_is_tried_exactly_five_times(arkworker_run, arkworker_sandbox, make_app):
    arkworker_sandbox.fail("RetrieveElement", status=500, times=None)
    run = arkworker_run(make_app(), elements=page_ids(arkworker_sandbox)[:1])
    assert run.exit_code == 1
    assert len(requests_of(arkworker_sandbox, "RetrieveElement")) == 5


def test_not_implemented_and_client_errors_are_not_retried(
    arkworker_run, arkworker_sandbox, make_app, monkeypatch
):
    monkeypatch.delitem(HANDLERS, "DestroyModelVersion")  # as if the sandbox had no handler for it

    def process(element, ctx):
        ctx.request("DestroyModelVersion", id=element.id)

    arkworker_sandbox.fail("RetrieveElement", status=404, times=1)
    run = arkworker_run(make_app(process), elements=page_ids(arkworker_sandbox)[:2])
    assert run.summary == "Ran on 2 elements: 0 completed, 2 failed"
    assert len(requests_of(arkworker_sandbox, "RetrieveElement")) == 2
    assert [record.status for record in requests_of(arkworker_sandbox, "DestroyModelVersion")] == [501]


def test_setup_and_teardown_wrap_the_run(arkworker_run, make_app):
    calls = []
    app = Worker("lifecycle")
    app.setup(lambda ctx: calls.append(("setup", type(ctx).__name__)))
    app.setup(lambda: calls.append(("setup2",)))
    app.element(lambda element: calls.append(("element", element.name)))
    app.teardown(lambda: calls.append(("teardown1",)))
    app.teardown(lambda ctx: calls.append(("teardown2",)))
    assert arkworker_run(app).exit_code == 0
    assert calls == [
        ("setup", "Context"),
        ("setup2",),
        ("element", "Page 1"),
        ("element", "Page 2"),
        ("element", "Page 3"),
        ("teardown2",),
        ("teardown1",),
    ]


def test_ctx_state_carries_run_wide_values_from_setup_to_teardown(arkworker_run):
    seen = []
    app = Worker("stateful")
    app.setup(lambda ctx: setattr(ctx.state, "names", []))
    app.element(lambda element, ctx: ctx.state.names.append(element.name))
    app.teardown(lambda ctx: seen.extend(ctx.state.names))
    assert arkworker_run(app).exit_code == 0
    assert seen == ["Page 1", "Page 2", "Page 3"]


def test_a_failing_setup_stops_the_run_but_teardown_runs(arkworker_run, make_app):
    calls = []
    app = Worker("setup-fails")
    app.setup(lambda: 1 / 0)
    app.element(lambda element: calls.append("element"))
    app.teardown(lambda: calls.append("teardown"))
    run = arkworker_run(app)
    assert run.exit_code == 1
    assert calls == ["teardown"]
    assert "<lambda> failed: ZeroDivisionError('division by zero')" in run.output
    assert "ERROR/arkworker: Setup function " in run.output


def test_a_failing_teardown_makes_the_run_fail(arkworker_run):
    app = Worker("teardown-fails")
    app.element(lambda element: None)
    app.teardown(lambda: {}["missing"])
    run = arkworker_run(app)
    assert run.exit_code == 1
    assert run.summary == "Ran on 3 elements: 3 completed, 0 failed"
    assert "<lambda> failed: KeyError('missing')" in run.output
    assert "ERROR/arkworker: Teardown function " in run.output


def test_custom_options_reach_the_handler(arkworker_run, arkworker_sandbox):
    seen = []
    app = Worker("options")

    @app.option("--threshold", type=float, default=0.5)
    @app.option("--label", default="x")
    @app.element
    def process(element, ctx):
        seen.append((ctx.args.threshold, ctx.args.label, ctx.args.dev))

    run = arkworker_run(app, "--threshold", "0.8", elements=page_ids(arkworker_sandbox)[:1])
    assert run.exit_code == 0
    assert seen == [(0.8, "x", False)]


def test_nothing_to_process_exits_with_1(arkworker_run, make_app):
    run = arkworker_run(make_app(), elements=[])
    assert run.exit_code == 1
    assert "No elements to process, stopping." in run.output


def test_a_worker_without_handler_is_a_usage_error(arkworker_run):
    run = arkworker_run(Worker("empty"))
    assert run.exit_code == 2
    assert "has no handler: decorate the function that processes an element with @app.element" in run.output


def test_app_run_from_python(arkworker_sandbox, arkworker_env, make_app, capsys):
    app = make_app(name="from-python")
    code = app.run(["--element", *page_ids(arkworker_sandbox)], env=arkworker_env)
    assert code == 0
    assert "Ran on 3 elements: 3 completed, 0 failed" in capsys.readouterr().err


def test_a_missing_extras_directory_is_a_usage_error_for_element_workers_too(
    arkworker_run, make_app, tmp_path
):
    run = arkworker_run(make_app(), "--extras-dir", str(tmp_path / "nowhere"))
    assert run.exit_code == 2
    (line,) = [line for line in run.output.splitlines() if line.startswith("Error:")]
    assert (
        line
        == f"Error: The --extras-dir directory {tmp_path / 'nowhere'} does not exist: create it or fix the path."
    )


def test_the_api_token_never_reaches_the_logs(arkworker_run, arkworker_env, make_app):
    token = arkworker_env["ARKINDEX_API_TOKEN"]

    def process(element, ctx):
        ctx.logger.info("Using token %s", token)
        raise RuntimeError(f"refused with Authorization: Token {token}")

    run = arkworker_run(make_app(process), "--verbose")
    assert token not in run.output
    assert "Using token [secret]" in run.output
    assert "RuntimeError('refused with Authorization: Token [secret]')" in run.output


def test_finish_gets_the_result_after_the_loop_and_may_call_helpers(arkworker_run, arkworker_sandbox):
    app = Worker("finishing")
    order = []

    @app.element
    def process(element):
        order.append("element")
        if element.name == "Page 2":
            raise ValueError("boom")

    @app.finish
    def summarise(result, ctx):
        order.append(("finish", result.completed, result.failed, len(result.failures)))
        first = Element(ctx.request("RetrieveElement", id=page_ids(arkworker_sandbox)[0]))
        ctx.create_metadata(first, MetaType.Text, "summary", "ok")

    @app.teardown
    def teardown():
        order.append("teardown")

    run = arkworker_run(app)
    assert run.exit_code == 0, run.output
    assert order == ["element"] * 3 + [("finish", 2, 1, 1), "teardown"]
    assert [row["name"] for row in arkworker_sandbox.created()["metadata"]] == ["summary"]


def test_finish_is_skipped_after_a_failed_setup(arkworker_run, make_app):
    app = make_app()
    seen = []
    app.setup(lambda: 1 / 0)
    app.finish(lambda result: seen.append(result))
    run = arkworker_run(app)
    assert run.exit_code == 1
    assert seen == []


def test_a_failing_finish_fails_the_run_with_one_line(arkworker_run, make_app):
    app = make_app()
    teardowns = []

    @app.finish
    def publish(result):
        raise RuntimeError("upload refused")

    app.teardown(lambda: teardowns.append(True))
    run = arkworker_run(app)
    assert run.exit_code == 1
    assert (
        "Finish function test_a_failing_finish_fails_the_run_with_one_line.<locals>.publish failed: "
        in run.output
    )
    assert "RuntimeError('upload refused')" in run.output
    assert teardowns == [True]


def test_finish_is_skipped_when_a_signal_stopped_the_loop(arkworker_run, make_app):
    import signal

    seen = []
    app = make_app(lambda element: signal.raise_signal(signal.SIGTERM))
    app.finish(lambda result: seen.append(result))
    run = arkworker_run(app)
    assert run.exit_code == 143
    assert seen == []
    assert "The finish functions are skipped: Interrupted by SIGTERM" in run.output


def test_finish_needs_the_result_argument():
    from arkworker import RegistrationError

    app = Worker("w")
    with pytest.raises(RegistrationError, match=r"@app.finish cannot use .*: it takes no argument"):
        app.finish(lambda: None)
