"""The two entity models: entities placed in texts (legacy level), spans typed by entity types (current)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from arkindex import ArkindexClient
from arkindex.exceptions import ArkindexValidationError

from arkworker.sandbox import Sandbox
from arkworker.sandbox.tables import WorkerRun

UNKNOWN = "00000000-0000-4000-8000-000000000000"
OTHER_RUN = "11111111-1111-4111-8111-111111111111"


@pytest.fixture(scope="module")
def legacy_sandbox() -> Iterator[Sandbox]:
    with Sandbox(api_level="legacy") as sandbox:
        yield sandbox


@pytest.fixture
def legacy(legacy_sandbox):
    legacy_sandbox.reset()
    return legacy_sandbox, ArkindexClient(base_url=legacy_sandbox.url, token=legacy_sandbox.token)


@pytest.fixture
def current(sb, client):
    return sb, client


def entity_type(sb, client, name="person"):
    return client.request("CreateEntityType", body={"name": name, "corpus": sb.corpus_id})["id"]


def transcription(sb, client, text="Ada wrote to Alan"):
    (page,) = sb.objects("elements", name="Page 2")
    return client.request("CreateTranscription", id=page["id"], body={"text": text})["id"]


def add_other_run(sb):
    (run,) = sb.objects("worker_runs", id=sb.worker_run_id)
    with sb.store.session():
        WorkerRun.create(id=OTHER_RUN, process=run["process_id"], version=run["version_id"], summary="Other")


def refused(client, operation, **params):
    with pytest.raises(ArkindexValidationError) as info:
        client.request(operation, **params)
    return info.value.content["errors"]


# -- legacy: entities ------------------------------------------------------------------------------


def test_legacy_entities_are_validated(legacy):
    sb, client = legacy
    on = transcription(sb, client)
    people = entity_type(sb, client)
    entity_body = {"name": "Ada", "type_id": UNKNOWN, "corpus": sb.corpus_id}
    assert refused(client, "CreateEntity", body=entity_body)[0]["attr"] == ["type_id"]
    bulk = {
        "worker_run_id": sb.worker_run_id,
        "entities": [{"name": "x", "type_id": people, "offset": 5, "length": 20}],
    }
    assert refused(client, "CreateTranscriptionEntities", id=on, body=bulk)[0]["attr"] == [
        "entities",
        0,
        "length",
    ]
    span = {"entity": UNKNOWN, "offset": -1, "length": 1}
    assert refused(client, "CreateTranscriptionEntity", id=on, body=span)[0]["attr"] == ["offset"]
    assert sb.created() == {}


def test_legacy_entities_are_listed_by_name(legacy):
    sb, client = legacy
    people = entity_type(sb, client)
    for name in ("Ada", "Alan", "Grace"):
        client.request("CreateEntity", body={"name": name, "type_id": people, "corpus": sb.corpus_id})
    names = sorted(e["name"] for e in client.paginate("ListCorpusEntities", id=sb.corpus_id, name="a"))
    assert names == ["Ada", "Alan", "Grace"]
    assert [e["name"] for e in client.paginate("ListCorpusEntities", id=sb.corpus_id, name="al")] == ["Alan"]


def test_a_legacy_transcription_entity_is_unique_per_worker_run(legacy):
    """Arkindex's unique set includes the worker run: another run may annotate the same span."""
    sb, client = legacy
    add_other_run(sb)
    on = transcription(sb, client)
    entity = client.request(
        "CreateEntity", body={"name": "Ada", "type_id": entity_type(sb, client), "corpus": sb.corpus_id}
    )["id"]
    span = {"entity": entity, "offset": 0, "length": 3}
    for worker_run in (sb.worker_run_id, OTHER_RUN):
        assert client.request("CreateTranscriptionEntity", id=on, body={**span, "worker_run_id": worker_run})
    (error,) = refused(client, "CreateTranscriptionEntity", id=on, body={**span, "worker_run_id": OTHER_RUN})
    assert "transcription, entity, offset, length, worker_run must make a unique set" in error["detail"]
    listed = list(client.paginate("ListTranscriptionEntities", id=on))
    assert [(item["entity"]["name"], item["offset"]) for item in listed] == [("Ada", 0), ("Ada", 0)]
    assert {row["type_id"] for row in sb.objects("transcription_entities")} == {entity_type_of(sb, "person")}


def entity_type_of(sb, name):
    (row,) = sb.objects("entity_types", name=name)
    return row["id"]


# -- current: spans typed by entity types ---------------------------------------------------------------


def test_the_current_level_has_no_entity_objects(current, legacy):
    sb, client = current
    assert not {"CreateEntity", "ListCorpusEntities"} & set(client.document.links)
    on = transcription(sb, client)
    for method, path in (
        ("POST", "entity/"),
        ("GET", f"corpus/{sb.corpus_id}/entities/"),
        ("POST", f"transcription/{on}/entity/"),  # 0.3.7's path of CreateTranscriptionEntity
    ):
        response = requests.request(
            method, f"{sb.url}/api/v1/{path}", headers={"Authorization": f"Token {sb.token}"}, timeout=5
        )
        assert response.status_code == 404, path
    _, legacy_client = legacy
    assert legacy_client.lookup_operation("CreateTranscriptionEntity").url.endswith("/entity/")
    assert client.lookup_operation("CreateTranscriptionEntity").url.endswith("/entities/")


def test_a_span_is_marked_with_an_entity_type(current):
    sb, client = current
    on = transcription(sb, client)
    people = entity_type(sb, client)
    body = {"type_id": people, "offset": 0, "length": 3, "confidence": 0.5, "worker_run_id": sb.worker_run_id}
    created = client.request("CreateTranscriptionEntity", id=on, body=body)
    assert created["type"] == {"id": people, "name": "person", "color": "ff0000"}
    assert (created["offset"], created["length"], created["confidence"]) == (0, 3, 0.5)
    assert created["worker_run"]["id"] == sb.worker_run_id
    (listed,) = client.paginate("ListTranscriptionEntities", id=on)
    assert listed == created
    (row,) = sb.created()["transcription_entities"]
    assert (row["entity_id"], row["type_id"]) == (None, people)


def test_spans_are_validated(current):
    sb, client = current
    add_other_run(sb)
    on = transcription(sb, client)
    people = entity_type(sb, client)
    span = {"type_id": people, "offset": 0, "length": 3}
    assert refused(client, "CreateTranscriptionEntity", id=on, body={**span, "type_id": UNKNOWN})[0][
        "attr"
    ] == ["type_id"]
    assert refused(client, "CreateTranscriptionEntity", id=on, body={**span, "length": 40})[0]["attr"] == [
        "length"
    ]
    assert refused(
        client, "CreateTranscriptionEntity", id=on, body={"entity": UNKNOWN, "offset": 0, "length": 1}
    )[0]["attr"] == ["type_id"]
    for worker_run in (sb.worker_run_id, OTHER_RUN):
        client.request("CreateTranscriptionEntity", id=on, body={**span, "worker_run_id": worker_run})
    (error,) = refused(client, "CreateTranscriptionEntity", id=on, body={**span, "worker_run_id": OTHER_RUN})
    assert "transcription, type, offset, length, worker_run must make a unique set" in error["detail"]


def test_spans_in_bulk(current):
    sb, client = current
    on = transcription(sb, client)
    people = entity_type(sb, client)
    items = [
        {"type_id": people, "offset": 0, "length": 3},
        {"type_id": people, "offset": 13, "length": 4, "confidence": 0.25},
    ]
    body = {"worker_run_id": sb.worker_run_id, "transcription_entities": items}
    answer = client.request("CreateTranscriptionEntities", id=on, body=body)
    assert [
        (item["offset"], item["type"]["name"], item["confidence"])
        for item in answer["transcription_entities"]
    ] == [
        (0, "person", None),
        (13, "person", 0.25),
    ]
    again = refused(
        client, "CreateTranscriptionEntities", id=on, body={**body, "transcription_entities": items[:1]}
    )
    assert again[0]["attr"] == ["transcription_entities", 0]
    twice = refused(
        client,
        "CreateTranscriptionEntities",
        id=on,
        body={**body, "transcription_entities": [{"type_id": people, "offset": 4, "length": 5}] * 2},
    )
    assert twice[0]["attr"] == ["transcription_entities", 1]
    legacy_body = {"worker_run_id": sb.worker_run_id, "entities": [{"name": "Ada", **items[0]}]}
    assert refused(client, "CreateTranscriptionEntities", id=on, body=legacy_body)[0]["attr"] == [
        "transcription_entities"
    ]
    assert len(list(client.paginate("ListTranscriptionEntities", id=on, worker_run=sb.worker_run_id))) == 2
    assert "entities" not in sb.created()
