"""RetrieveWorkerRun and the UpdateWorkerActivity state machine."""

import pytest
from arkindex import ArkindexClient
from arkindex.exceptions import ArkindexClientError, ArkindexValidationError, ErrorResponse

from arkworker.sandbox import Sandbox

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def test_retrieve_worker_run(sb, client):
    run = client.request("RetrieveWorkerRun", id=sb.worker_run_id)
    assert run["id"] == sb.worker_run_id and run["summary"] == "Worker Demo @ 1.0.0"
    process = run["process"]
    assert process["id"] == sb.process_id and process["corpus"] == sb.corpus_id
    assert (process["name"], process["mode"], process["activity_state"]) == (
        "Demo process",
        "workers",
        "ready",
    )
    assert {"state", "use_cache", "model_id"} <= set(process)
    version = run["worker_version"]
    assert version["worker"] == {
        "id": sb.objects("workers")[0]["id"],
        "name": "Demo",
        "slug": "demo",
        "type": "worker",
    }
    assert version["configuration"] == {
        "configuration": {"threshold": 0.5},
        "user_configuration": {"batch_size": {"title": "Batch size", "type": "int", "default": 1}},
        "secrets": ["demo/api-key.txt"],
    }
    assert run["model_version"] is None and run["configuration"] is None


def test_worker_run_with_model_version_and_configuration(tmp_path):
    model_version = {"model": {"name": "My model"}, "configuration": {"p": 2}}
    corpus = {
        "corpus": {"name": "Models"},
        "worker_run": {
            "model_version": model_version,
            "configuration": {"name": "Run", "configuration": {"p": 3}},
        },
    }
    with Sandbox(corpus, db_path=tmp_path / "state.sqlite") as sandbox:
        run = ArkindexClient(base_url=sandbox.url, token=sandbox.token).request(
            "RetrieveWorkerRun", id=sandbox.worker_run_id
        )
    assert run["model_version"]["model"]["name"] == "My model"
    assert run["model_version"]["configuration"] == {"p": 2}
    assert set(run["model_version"]) >= {"id", "model", "configuration"}
    assert set(run["model_version"]["model"]) == {"id", "name"}
    assert (run["configuration"]["name"], run["configuration"]["configuration"]) == ("Run", {"p": 3})
    assert run["summary"].startswith("Worker Sandbox worker @ ")


def test_unknown_worker_run_is_404(client):
    with pytest.raises(ArkindexClientError) as info:
        client.request("RetrieveWorkerRun", id=UNKNOWN)
    assert info.value.status_code == 404


def activity(client, sb, element_id, state, *, process_id=None, run_id=None):
    body = {"element_id": element_id, "process_id": process_id or sb.process_id, "state": state}
    return client.request("UpdateWorkerActivity", id=run_id or sb.worker_run_id, body=body)


def test_started_then_processed(sb, client, named):
    page = named("Page 1")
    assert activity(client, sb, page, "started") == {
        "element_id": page,
        "process_id": sb.process_id,
        "state": "started",
    }
    assert activity(client, sb, page, "processed")["state"] == "processed"
    (row,) = sb.objects("activities")
    assert (row["element_id"], row["worker_run_id"], row["process_id"], row["state"]) == (
        page,
        sb.worker_run_id,
        sb.process_id,
        "processed",
    )


def test_started_then_error(sb, client, named):
    activity(client, sb, named("Page 2"), "started")
    activity(client, sb, named("Page 2"), "error")
    assert [row["state"] for row in sb.objects("activities")] == ["error"]


@pytest.mark.parametrize("previous", [["started"], ["started", "processed"], ["started", "error"]])
def test_second_start_is_a_409(sb, client, named, previous):
    page = named("Page 3")
    for state in previous:
        activity(client, sb, page, state)
    with pytest.raises(ErrorResponse) as info:
        activity(client, sb, page, "started")
    assert info.value.status_code == 409
    assert isinstance(info.value, ArkindexClientError)
    assert "existing_id" not in info.value.content
    assert sb.objects("activities")[0]["state"] == previous[-1]


def test_queued_then_started(sb, client, named):
    activity(client, sb, named("Page 1"), "queued")
    activity(client, sb, named("Page 1"), "started")
    assert sb.objects("activities")[0]["state"] == "started"


@pytest.mark.parametrize(
    ("previous", "state", "detail"),
    [
        ([], "processed", "An activity cannot go from no activity to processed."),
        ([], "error", "An activity cannot go from no activity to error."),
        (["started", "processed"], "processed", "An activity cannot go from processed to processed."),
        (["started", "processed"], "error", "An activity cannot go from processed to error."),
        (["started"], "queued", "An activity cannot go from started to queued."),
    ],
)
def test_forbidden_transitions_are_400(sb, client, named, previous, state, detail):
    for step in previous:
        activity(client, sb, named("Page 1"), step)
    with pytest.raises(ArkindexValidationError) as info:
        activity(client, sb, named("Page 1"), state)
    (error,) = info.value.content["errors"]
    assert (error["attr"], error["detail"]) == (["state"], detail)


def test_bad_activity_bodies_are_400_per_field(sb, client):
    with pytest.raises(ArkindexValidationError) as info:
        client.request(
            "UpdateWorkerActivity", id=sb.worker_run_id, body={"element_id": "nope", "state": "done"}
        )
    assert [(e["attr"], e["code"]) for e in info.value.content["errors"]] == [
        (["element_id"], "invalid"),
        (["process_id"], "required"),
        (["state"], "invalid_choice"),
    ]


def test_unknown_element_and_wrong_process_are_400(sb, client, named):
    with pytest.raises(ArkindexValidationError) as info:
        activity(client, sb, UNKNOWN, "started")
    assert info.value.content["errors"][0]["attr"] == ["element_id"]
    with pytest.raises(ArkindexValidationError) as info:
        activity(client, sb, named("Page 1"), "started", process_id=UNKNOWN)
    assert info.value.content["errors"][0]["attr"] == ["process_id"]
    assert sb.objects("activities") == []


def test_activity_on_an_unknown_worker_run_is_404(sb, client, named):
    with pytest.raises(ArkindexClientError) as info:
        activity(client, sb, named("Page 1"), "started", run_id=UNKNOWN)
    assert info.value.status_code == 404


@pytest.mark.parametrize("state", ["disabled", "pending", "error"])
def test_activities_refused_when_the_process_is_not_ready(tmp_path, state):
    corpus = {
        "corpus": {"name": "Disabled"},
        "elements": [{"name": "Page", "type": "page"}],
        "worker_run": {"process": {"activity_state": state}},
    }
    with Sandbox(corpus, db_path=tmp_path / "state.sqlite") as sandbox:
        client = ArkindexClient(base_url=sandbox.url, token=sandbox.token)
        assert (
            client.request("RetrieveWorkerRun", id=sandbox.worker_run_id)["process"]["activity_state"]
            == state
        )
        with pytest.raises(ArkindexValidationError) as info:
            activity(client, sandbox, sandbox.process_element_ids()[0], "started")
        assert f"its activity_state is {state!r}" in info.value.content["errors"][0]["detail"]
