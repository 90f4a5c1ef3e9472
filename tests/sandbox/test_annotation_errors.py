"""Arkindex's validation on the write operations of the result helpers, through the real client."""

import pytest
from arkindex.exceptions import ArkindexClientError, ArkindexValidationError

UNKNOWN = "00000000-0000-4000-8000-000000000000"
SQUARE = [[10, 10], [20, 10], [20, 20]]


def ml_class(sb, client, name="cat"):
    return client.request("CreateMLClass", id=sb.corpus_id, body={"name": name})["id"]


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
