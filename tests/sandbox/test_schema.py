"""The OpenAPI document: loaded by the real client, complete, shaped the way the client needs."""

import pytest
import requests
from arkindex import ArkindexClient

from arkworker.sandbox import Sandbox, implemented_operations
from arkworker.sandbox.handlers import HANDLERS
from arkworker.sandbox.operations import OPERATIONS, get_operation, operation_ids, operations_for

FACTS_OPERATIONS = {
    "RetrieveWorkerRun",
    "RetrieveTaskFromAgent",
    "RetrieveSecret",
    "RetrieveElement",
    "UpdateWorkerActivity",
    "ListCorpusMLClasses",
    "CreateMLClass",
    "CreateClassification",
    "CreateClassifications",
    "RetrieveCorpus",
    "CreateElementType",
    "CreateElement",
    "CreateElements",
    "CreateElementParent",
    "PartialUpdateElement",
    "ListElementChildren",
    "ListElementParents",
    "CreateTranscription",
    "CreateTranscriptions",
    "CreateElementTranscriptions",
    "ListTranscriptions",
    "ListCorpusEntityTypes",
    "CreateEntityType",
    "CreateEntity",
    "CreateTranscriptionEntity",
    "CreateTranscriptionEntities",
    "ListTranscriptionEntities",
    "ListCorpusEntities",
    "CreateMetaData",
    "CreateMetaDataBulk",
    "ListElementMetaData",
    "ListProcessSets",
    "RetrieveDataset",
    "ListDatasetElements",
    "PartialUpdateDataset",
    "ListArtifacts",
    "DownloadArtifact",
    "RetrieveWorkerVersion",
    "CreateModelVersion",
    "UpdateModelVersion",
    "ValidateModelVersion",
    "DestroyModelVersion",
}


#: What the current generation (arkindex-base-worker 0.4 to 0.6) calls in its run loop,
#: configuration and training helpers that 0.3.7 did not.
CURRENT_OPERATIONS = {
    "StartWorkerActivity",
    "ListProcessElements",
    "RetrieveWorkerRunConfiguration",
    "RetrieveTask",
    "RetrieveDatasetSet",
    "RetrieveModelVersion",
    "CreateMultipartUpload",
    "CreateMultipartUploadPart",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    # The corpus exports a dataset worker reads its sets from
    "ListExports",
    "StartExport",
    "DownloadExport",
}
#: What the current generation's result helpers call that 0.3.7's did not.
CURRENT_HELPER_OPERATIONS = {
    "ListElements",
    "CreateElementChildren",
    "CreateDataset",
    "CreateDatasetElement",
    "DestroyDatasetElement",
    "CreateEmbedding",
    "ListEmbeddings",
    "CreateArtifact",
}
#: What Arkindex removed with the 0.3.7 entity model (entities are typed spans since 0.5).
REMOVED_OPERATIONS = {"CreateEntity", "ListCorpusEntities"}


def test_client_finds_all_42_operations_at_the_legacy_level():
    assert len(FACTS_OPERATIONS) == 42
    with Sandbox(api_level="legacy") as legacy:
        client = ArkindexClient(base_url=legacy.url, token=legacy.token)
        assert set(client.document.links) == FACTS_OPERATIONS
    assert {op.operation_id for op in operations_for("legacy")} == FACTS_OPERATIONS


def test_the_current_level_adds_the_newer_operations(client):
    newer = CURRENT_OPERATIONS | CURRENT_HELPER_OPERATIONS
    assert set(client.document.links) == (FACTS_OPERATIONS - REMOVED_OPERATIONS) | newer
    assert set(operation_ids()) == FACTS_OPERATIONS | newer
    assert set(implemented_operations()) >= newer


def test_client_urls_and_methods_follow_the_declarations(client):
    with Sandbox(api_level="legacy") as legacy:
        clients = {"legacy": ArkindexClient(base_url=legacy.url, token=legacy.token), "current": client}
    for level, level_client in clients.items():
        for operation in operations_for(level):
            link = level_client.lookup_operation(operation.operation_id)
            assert link.method == operation.method
            assert link.url == "/api/v1/" + operation.path


def test_an_operation_whose_path_changed_has_one_declaration_per_level():
    legacy, current = (op for op in OPERATIONS if op.operation_id == "CreateTranscriptionEntity")
    assert (legacy.path, legacy.until) == ("transcription/{id}/entity/", "legacy")
    assert (current.path, current.since) == ("transcription/{id}/entities/", "current")
    assert get_operation("CreateTranscriptionEntity", "legacy") is legacy
    assert get_operation("CreateTranscriptionEntity") is current
    with pytest.raises(LookupError, match="The current API level does not offer CreateEntity"):
        get_operation("CreateEntity", "current")


def test_bodies_are_named_body_and_required(client):
    for operation in operations_for("current"):
        field = client.lookup_operation(operation.operation_id).get_body_field()
        if operation.body:
            assert field.name == "body" and field.required, operation.operation_id
        else:
            assert field is None, operation.operation_id


def test_paginated_operations_use_page_numbers(client):
    link = client.lookup_operation("ListElementChildren")
    assert link.paginated is True
    query = {field.name for field in link.get_query_fields()}
    assert {"page", "page_size", "worker_run", "transcription_worker_version", "with_zone"} <= query
    assert client.lookup_operation("ListElementMetaData").paginated is False
    assert client.lookup_operation("RetrieveElement").paginated is False


def test_path_parameters(client):
    secret = client.lookup_operation("RetrieveSecret")
    assert secret.url == "/api/v1/secret/{name}"
    assert [field.name for field in secret.get_path_fields()] == ["name"]
    parent = client.lookup_operation("CreateElementParent")
    assert sorted(field.name for field in parent.get_path_fields()) == ["child", "parent"]


def test_schema_is_public_and_json(module_sandbox):
    for url in (module_sandbox.url + "/api/v1/openapi/", module_sandbox.url + "/api/v1/openapi/?format=json"):
        response = requests.get(url, timeout=5)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json"
        document = response.json()
        assert document["servers"] == [{"url": module_sandbox.url}]
    body = requests.get(module_sandbox.url + "/api/v1/openapi/?format=yaml", timeout=5).json()
    assert body["errors"][0]["attr"] == ["format"]


def test_schema_flags_what_is_implemented(module_sandbox, monkeypatch):
    monkeypatch.delitem(HANDLERS, "UpdateModelVersion")  # as if the sandbox had no handler for it
    document = requests.get(module_sandbox.url + "/api/v1/openapi/", timeout=5).json()
    element = document["paths"]["/api/v1/element/{id}/"]
    assert element["get"]["x-sandbox-implemented"] is True
    version = document["paths"]["/api/v1/modelversion/{id}/"]
    assert version["put"]["x-sandbox-implemented"] is False
    assert "answers 501" in version["put"]["description"]
    assert version["put"]["requestBody"]["content"]["application/json"]["schema"] == {"type": "object"}


def test_coverage_list():
    implemented = implemented_operations()
    assert implemented == sorted(implemented)
    assert set(implemented) >= set(
        [
            "CreateElementTranscriptions",
            "CreateTranscription",
            "CreateTranscriptions",
            "DownloadArtifact",
            "ListArtifacts",
            "ListDatasetElements",
            "ListElementChildren",
            "ListElementParents",
            "ListProcessSets",
            "ListTranscriptions",
            "PartialUpdateDataset",
            "RetrieveCorpus",
            "RetrieveDataset",
            "RetrieveElement",
            "RetrieveSecret",
            "RetrieveTaskFromAgent",
            "RetrieveWorkerRun",
            "UpdateWorkerActivity",
        ]
    )
    assert all(get_operation(operation_id) for operation_id in implemented)


def test_unknown_operation_names_close_ones():
    with pytest.raises(LookupError, match="did you mean RetrieveElement"):
        get_operation("RetrieveElemnt")


def test_client_with_ponos_scheme(module_sandbox):
    client = ArkindexClient(base_url=module_sandbox.url, token=module_sandbox.token, auth_scheme="Ponos")
    assert client.request("RetrieveCorpus", id=module_sandbox.corpus_id)["name"] == "Demo corpus"
