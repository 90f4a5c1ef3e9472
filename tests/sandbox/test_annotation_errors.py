"""Arkindex's validation on the write operations of the result helpers, through the real client."""

import pytest
from arkindex.exceptions import ArkindexClientError, ArkindexValidationError

from arkworker.sandbox.tables import WorkerRun

UNKNOWN = "00000000-0000-4000-8000-000000000000"
SQUARE = [[10, 10], [20, 10], [20, 20]]


def ml_class(sb, client, name="cat"):
    return client.request("CreateMLClass", id=sb.corpus_id, body={"name": name})["id"]


def entity_type(sb, client, name="person"):
    return client.request("CreateEntityType", body={"name": name, "corpus": sb.corpus_id})["id"]


def transcription(sb, client, named, text="Dear Sir"):
    return client.request("CreateTranscription", id=named("Page 2"), body={"text": text})["id"]


CASES = {
    "element type twice": (
        lambda sb, client, named: (
            "CreateElementType",
            {"body": {"slug": "page", "display_name": "Page", "corpus": sb.corpus_id}},
        ),
        ["slug"],
    ),
    "element of an unknown type": (
        lambda sb, client, named: (
            "CreateElement",
            {"body": {"type": "chapter", "name": "c", "corpus": sb.corpus_id, "parent": named("Page 1")}},
        ),
        ["type"],
    ),
    "polygon without any image": (
        lambda sb, client, named: (
            "CreateElement",
            {"body": {"type": "page", "name": "p", "corpus": sb.corpus_id, "polygon": SQUARE}},
        ),
        ["polygon"],
    ),
    "bulk children with a missing name": (
        lambda sb, client, named: (
            "CreateElements",
            {
                "id": named("Page 1"),
                "body": {
                    "worker_run_id": sb.worker_run_id,
                    "elements": [{"type": "text_line", "polygon": SQUARE}],
                },
            },
        ),
        ["elements", 0, "name"],
    ),
    "rotation out of range": (
        lambda sb, client, named: (
            "PartialUpdateElement",
            {"id": named("Page 1"), "body": {"rotation_angle": 400}},
        ),
        ["rotation_angle"],
    ),
    "bulk transcription on an unknown element": (
        lambda sb, client, named: (
            "CreateTranscriptions",
            {
                "body": {
                    "worker_run_id": sb.worker_run_id,
                    "transcriptions": [{"element_id": UNKNOWN, "text": "a", "confidence": 0.5}],
                }
            },
        ),
        ["transcriptions", 0, "element_id"],
    ),
    "element transcriptions of an unknown type": (
        lambda sb, client, named: (
            "CreateElementTranscriptions",
            {
                "id": named("Page 1"),
                "body": {
                    "element_type": "chapter",
                    "worker_run_id": sb.worker_run_id,
                    "transcriptions": [{"text": "a", "confidence": 0.5, "polygon": SQUARE}],
                },
            },
        ),
        ["element_type"],
    ),
    "class twice": (
        lambda sb, client, named: ("CreateMLClass", {"id": sb.corpus_id, "body": {"name": "page"}}),
        None,
    ),
    "classification with an unknown class": (
        lambda sb, client, named: (
            "CreateClassification",
            {"body": {"element": named("Page 1"), "ml_class": UNKNOWN, "confidence": 0.5}},
        ),
        ["ml_class"],
    ),
    "one class twice in a bulk": (
        lambda sb, client, named: (
            "CreateClassifications",
            {
                "body": {
                    "parent": named("Page 1"),
                    "worker_run_id": sb.worker_run_id,
                    "classifications": [{"ml_class": ml_class(sb, client), "confidence": 0.5}] * 2,
                }
            },
        ),
        ["classifications", 1, "ml_class"],
    ),
    "entity of an unknown type": (
        lambda sb, client, named: (
            "CreateEntity",
            {"body": {"name": "Ada", "type_id": UNKNOWN, "corpus": sb.corpus_id}},
        ),
        ["type_id"],
    ),
    "entity past the end of the text": (
        lambda sb, client, named: (
            "CreateTranscriptionEntities",
            {
                "id": transcription(sb, client, named),
                "body": {
                    "worker_run_id": sb.worker_run_id,
                    "entities": [
                        {"name": "Sir", "type_id": entity_type(sb, client), "offset": 5, "length": 10}
                    ],
                },
            },
        ),
        ["entities", 0, "length"],
    ),
    "negative offset": (
        lambda sb, client, named: (
            "CreateTranscriptionEntity",
            {"id": transcription(sb, client, named), "body": {"entity": UNKNOWN, "offset": -1, "length": 1}},
        ),
        ["offset"],
    ),
    "metadata of an unknown type": (
        lambda sb, client, named: (
            "CreateMetaData",
            {"id": named("Page 1"), "body": {"type": "color", "name": "a", "value": "b"}},
        ),
        ["type"],
    ),
    "bulk metadata without value": (
        lambda sb, client, named: (
            "CreateMetaDataBulk",
            {
                "id": named("Page 1"),
                "body": {"worker_run_id": sb.worker_run_id, "metadata_list": [{"type": "text", "name": "a"}]},
            },
        ),
        ["metadata_list", 0, "value"],
    ),
    "url metadata that is no URL": (
        lambda sb, client, named: (
            "CreateMetaData",
            {"id": named("Page 1"), "body": {"type": "url", "name": "a", "value": "ftp://x"}},
        ),
        ["value"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_writes_are_400_with_the_field(sb, client, named, case):
    build, attr = CASES[case]
    if case == "class twice":
        ml_class(sb, client, "page")
    operation, params = build(sb, client, named)
    with pytest.raises(ArkindexValidationError) as info:
        client.request(operation, **params)
    assert info.value.status_code == 400
    if attr is not None:
        assert info.value.content["errors"][0]["attr"] == attr
    assert sb.created() == {}


def test_a_worker_run_classifies_an_element_once(sb, client, named):
    body = {"element": named("Page 1"), "ml_class": ml_class(sb, client), "confidence": 0.5}
    body["worker_run_id"] = sb.worker_run_id
    client.request("CreateClassification", body=body)
    with pytest.raises(ArkindexValidationError) as info:
        client.request("CreateClassification", body=body)
    assert info.value.content["errors"][0]["detail"] == (
        "The fields element, worker_run, ml_class must make a unique set."
    )


def test_links_never_form_cycles(sb, client, named):
    with pytest.raises(ArkindexValidationError, match="cannot be a parent of its own ancestor"):
        client.request("CreateElementParent", child=named("Volume 1"), parent=named("Page 1"))
    client.request("CreateElementParent", child=named("Page 3"), parent=named("Page 1"))
    with pytest.raises(ArkindexValidationError, match="is already a parent"):
        client.request("CreateElementParent", child=named("Page 3"), parent=named("Page 1"))


def test_unknown_objects_are_404(client):
    for operation, params in (
        ("ListCorpusMLClasses", {"id": UNKNOWN}),
        ("ListTranscriptionEntities", {"id": UNKNOWN}),
        ("ListElementMetaData", {"id": UNKNOWN}),
        ("RetrieveWorkerVersion", {"id": UNKNOWN}),
    ):
        with pytest.raises(ArkindexClientError) as info:
            client.request(operation, **params)
        assert info.value.status_code == 404, operation


def test_listing_filters(sb, client, named):
    page = named("Page 1")
    cat = ml_class(sb, client)
    client.request(
        "CreateClassification",
        body={"element": named("Line 1", parent="Page 1"), "ml_class": cat, "confidence": 1.0},
    )
    client.request("CreateMetaData", id=page, body={"type": "text", "name": "folio", "value": "1r"})
    children = list(client.paginate("ListElementChildren", id=page, with_classes=True, with_metadata=True))
    assert [[c["ml_class"]["name"] for c in child["classes"]] for child in children] == [["cat"], []]
    assert all(child["metadata"] == [] for child in children)
    (volume,) = client.paginate("ListElementParents", id=page, with_metadata=True)
    assert volume["metadata"] == []
    people = entity_type(sb, client)
    for name in ("Ada", "Alan", "Grace"):
        client.request("CreateEntity", body={"name": name, "type_id": people, "corpus": sb.corpus_id})
    assert sorted(e["name"] for e in client.paginate("ListCorpusEntities", id=sb.corpus_id, name="a")) == [
        "Ada",
        "Alan",
        "Grace",
    ]
    assert [e["name"] for e in client.paginate("ListCorpusEntities", id=sb.corpus_id, name="al")] == ["Alan"]


def test_a_transcription_entity_is_unique_per_worker_run(sb, client, named):
    """Arkindex's unique set includes the worker run: another run may annotate the same span."""
    (run,) = sb.objects("worker_runs", id=sb.worker_run_id)
    other_run = "11111111-1111-4111-8111-111111111111"
    with sb.store.session():
        WorkerRun.create(id=other_run, process=run["process_id"], version=run["version_id"], summary="Other")
    on = transcription(sb, client, named, text="Ada wrote")
    entity = client.request(
        "CreateEntity", body={"name": "Ada", "type_id": entity_type(sb, client), "corpus": sb.corpus_id}
    )["id"]
    span = {"entity": entity, "offset": 0, "length": 3}
    for worker_run in (sb.worker_run_id, other_run):
        client.request("CreateTranscriptionEntity", id=on, body={**span, "worker_run_id": worker_run})
    with pytest.raises(ArkindexValidationError) as refused:
        client.request("CreateTranscriptionEntity", id=on, body={**span, "worker_run_id": other_run})
    assert "transcription, entity, offset, length, worker_run must make a unique set" in str(refused.value)
    assert sorted(row["worker_run_id"] for row in sb.objects("transcription_entities")) == sorted(
        [sb.worker_run_id, other_run]
    )
