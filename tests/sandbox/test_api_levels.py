"""The API level a sandbox serves, and what differs between them: operations, the process payload."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from arkindex import ArkindexClient
from arkindex.exceptions import ClientError

from arkworker.sandbox import API_LEVELS, DEFAULT_API_LEVEL, CorpusError, Sandbox

CORPUS: dict[str, Any] = {
    "corpus": {"name": "Levels"},
    "elements": [{"name": "Page", "type": "page"}],
    "worker_run": {"process": {"skip_elements_json": True}},
    "tasks": [{"slug": "init"}],
    "datasets": [{"name": "Lines", "sets": {"train": ["Page"]}}],
}
NEWER = ("StartWorkerActivity", "ListProcessElements", "RetrieveWorkerRunConfiguration", "RetrieveTask")


@pytest.fixture(scope="module")
def legacy() -> Iterator[Sandbox]:
    with Sandbox(CORPUS, api_level="legacy") as sandbox:
        yield sandbox


def client_of(sandbox: Sandbox) -> ArkindexClient:
    return ArkindexClient(base_url=sandbox.url, token=sandbox.token)


def process_of(sandbox: Sandbox) -> dict[str, Any]:
    return client_of(sandbox).request("RetrieveWorkerRun", id=sandbox.worker_run_id)["process"]


def test_levels_and_the_default():
    assert API_LEVELS == ("legacy", "current")
    assert DEFAULT_API_LEVEL == "current"
    assert Sandbox(CORPUS).api_level == "current"


def test_the_legacy_schema_lacks_the_newer_operations(legacy):
    links = client_of(legacy).document.links
    assert not set(links) & {*NEWER, "RetrieveDatasetSet"}
    assert {"RetrieveTaskFromAgent", "RetrieveWorkerRun", "UpdateWorkerActivity"} <= set(links)
    with pytest.raises(ClientError):
        client_of(legacy).request("StartWorkerActivity")


def test_the_newer_paths_answer_404_at_the_legacy_level(legacy):
    (task,) = legacy.objects("tasks")
    (dataset,) = legacy.objects("datasets")
    calls = [
        ("POST", "process/start-activity/"),
        ("GET", f"process/{legacy.process_id}/elements/"),
        ("GET", f"workers/runs/{legacy.worker_run_id}/configuration/"),
        ("GET", f"task/{task['id']}/"),
        ("GET", f"datasets/{dataset['id']}/sets/train/"),
    ]
    for method, path in calls:
        response = requests.request(
            method,
            f"{legacy.url}/api/v1/{path}",
            headers={"Authorization": f"Token {legacy.token}"},
            timeout=5,
        )
        assert response.status_code == 404, path
        assert response.json()["errors"][0]["code"] == "not_found"
    assert legacy.objects("activities") == []
    # what 0.3.7 calls still answers
    assert client_of(legacy).request("RetrieveTaskFromAgent", id=task["id"])["parents"] == []


def test_the_legacy_process_has_no_skip_elements_json(legacy):
    process = process_of(legacy)
    assert "skip_elements_json" not in process
    assert (process["mode"], process["activity_state"]) == ("workers", "ready")


def test_the_current_level_serves_the_newer_operations():
    with Sandbox(CORPUS) as current:
        client = client_of(current)
        assert set(NEWER) <= set(client.document.links)
        assert client.request("StartWorkerActivity")["name"] == "Page"
        assert process_of(current)["skip_elements_json"] is True


def test_the_schema_declares_the_newer_operations_as_arkindex_does():
    with Sandbox(CORPUS) as current:
        document = requests.get(current.url + "/api/v1/openapi/", timeout=5).json()
        client = client_of(current)
    start = document["paths"]["/api/v1/process/start-activity/"]["post"]
    assert (start["parameters"], "requestBody" in start, "200" in start["responses"]) == ([], False, True)
    listing = client.lookup_operation("ListProcessElements")
    assert listing.paginated is True
    assert {field.name for field in listing.get_query_fields()} == {
        "cursor",
        "page_size",
        "with_count",
        "with_image",
    }


def test_the_corpus_may_ask_for_a_level_and_the_option_wins():
    corpus = {**CORPUS, "api_level": "legacy"}
    assert Sandbox(corpus).api_level == "legacy"
    with Sandbox(corpus, api_level="current") as current:
        assert "StartWorkerActivity" in client_of(current).document.links
    assert "api_level=legacy" in repr(Sandbox(corpus))


def test_unknown_levels_are_refused():
    with pytest.raises(ValueError, match=re.escape("Unknown API level '0.3': use legacy or current")):
        Sandbox(CORPUS, api_level="0.3")
    with pytest.raises(CorpusError, match="api_level: 'new' is not one of legacy, current"):
        Sandbox({**CORPUS, "api_level": "new"})


@pytest.mark.parametrize(
    ("process", "served"),
    [({}, False), ({"skip_elements_json": False}, False), ({"skip_elements_json": True}, True)],
)
def test_skip_elements_json_as_the_corpus_says(tmp_path, process, served):
    corpus = {"corpus": {"name": "Skip"}, "worker_run": {"process": process}}
    with Sandbox(corpus, db_path=tmp_path / "state.sqlite") as sandbox:
        assert process_of(sandbox)["skip_elements_json"] is served


def test_skip_elements_json_null_leaves_the_field_out(tmp_path):
    corpus = {"corpus": {"name": "Skip"}, "worker_run": {"process": {"skip_elements_json": None}}}
    with Sandbox(corpus, db_path=tmp_path / "state.sqlite") as sandbox:
        assert "skip_elements_json" not in process_of(sandbox)


def test_skip_elements_json_must_be_a_boolean():
    corpus = {"corpus": {"name": "Skip"}, "worker_run": {"process": {"skip_elements_json": "yes"}}}
    with pytest.raises(
        CorpusError, match=re.escape("worker_run.process.skip_elements_json: expected true or false")
    ):
        Sandbox(corpus)
