"""The operations of today's result helpers (current level): the corpus's elements, links, datasets, embeddings."""

from __future__ import annotations

import pytest
import requests
from arkindex.exceptions import ArkindexClientError, ArkindexValidationError

from arkworker.sandbox import Sandbox

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def refused(client, operation, **params):
    with pytest.raises(ArkindexValidationError) as info:
        client.request(operation, **params)
    return info.value.content["errors"]


def test_list_elements_lists_the_corpus_with_the_children_s_filters(sb, client):
    everything = list(client.paginate("ListElements", corpus=sb.corpus_id))
    assert len(everything) == len(sb.objects("elements"))
    top = list(client.paginate("ListElements", corpus=sb.corpus_id, top_level=True))
    assert [item["name"] for item in top] == ["Volume 1"]
    nested = list(client.paginate("ListElements", corpus=sb.corpus_id, top_level=False, type="page"))
    assert [item["name"] for item in nested] == ["Page 1", "Page 2", "Page 3"]
    folders = list(client.paginate("ListElements", corpus=sb.corpus_id, folder=True, with_zone=False))
    assert [(item["name"], "zone" in item) for item in folders] == [("Volume 1", False)]
    assert list(client.paginate("ListElements", corpus=sb.corpus_id, worker_run=sb.worker_run_id)) == []
    with pytest.raises(ArkindexClientError) as unknown:
        client.request("ListElements", corpus=UNKNOWN)
    assert unknown.value.status_code == 404


def test_create_element_children_links_existing_elements(sb, client, named):
    page_3 = named("Page 3")
    lines = [named("Line 1", parent="Page 1"), named("Line 2", parent="Page 1")]
    answer = client.request("CreateElementChildren", id=page_3, body={"children": lines})
    assert answer == {"children": lines}
    children = [path["child_id"] for path in sb.objects("element_paths", parent_id=page_3)]
    assert children[-2:] == lines
    errors = refused(
        client,
        "CreateElementChildren",
        id=page_3,
        body={"children": [lines[0], UNKNOWN, named("Volume 1"), named("Page 2"), named("Page 2"), "x"]},
    )
    assert [(error["attr"], error["code"]) for error in errors] == [
        (["children", 0], "unique"),  # already a child
        (["children", 1], "does_not_exist"),
        (["children", 2], "invalid"),  # an ancestor: a cycle
        (["children", 4], "unique"),  # given twice
        (["children", 5], "invalid"),
    ]
    assert refused(client, "CreateElementChildren", id=page_3, body={"children": []})[0]["code"] == "empty"
    assert len(sb.objects("element_paths", parent_id=page_3)) == len(children)


def test_datasets_are_created_with_their_sets(sb, client, named):
    created = client.request("CreateDataset", id=sb.corpus_id, body={"name": "Lines", "description": "Lines"})
    assert [item["name"] for item in created["sets"]] == ["training", "validation", "test"]
    assert (created["state"], created["unique_elements"], created["corpus_id"]) == (
        "open",
        True,
        sb.corpus_id,
    )
    body = {"name": "Other", "description": "d", "set_names": ["a", "a", ""]}
    assert [error["attr"] for error in refused(client, "CreateDataset", id=sb.corpus_id, body=body)] == [
        ["set_names", 1],
        ["set_names", 2],
    ]
    assert refused(client, "CreateDataset", id=sb.corpus_id, body={"name": "Lines", "description": "d"})[0][
        "attr"
    ] == ["name"]
    line = named("Line 1", parent="Page 1")
    dataset = created["id"]
    client.request("CreateDatasetElement", id=dataset, body={"set": "training", "element_id": line})
    for body, attr in (
        ({"set": "dev", "element_id": line}, ["set"]),
        ({"set": "training", "element_id": UNKNOWN}, ["element_id"]),
        ({"set": "training", "element_id": line}, None),  # already in the set
        ({"set": "test", "element_id": line}, ["element_id"]),  # unique elements
    ):
        assert refused(client, "CreateDatasetElement", id=dataset, body=body)[0]["attr"] == attr
    assert refused(client, "DestroyDatasetElement", dataset=dataset, element=line)[0]["attr"] == ["set"]
    with pytest.raises(ArkindexClientError) as missing:
        client.request("DestroyDatasetElement", dataset=dataset, element=line, set="test")
    assert missing.value.status_code == 404
    assert client.request("DestroyDatasetElement", dataset=dataset, element=line, set="training") is None
    assert sb.objects("dataset_elements", element_id=line) == []


def test_a_legacy_instance_does_not_serve_the_helpers_of_today():
    with Sandbox(api_level="legacy") as legacy:
        (page,) = legacy.objects("elements", name="Page 2")
        calls = [
            ("GET", f"corpus/{legacy.corpus_id}/elements/", 404),
            ("POST", f"element/parent/{page['id']}/", 404),
            ("POST", f"corpus/{legacy.corpus_id}/datasets/", 404),
            ("POST", f"datasets/{UNKNOWN}/elements/", 405),  # the path lists a dataset's elements
            ("DELETE", f"datasets/{UNKNOWN}/elements/{page['id']}/", 404),
            ("POST", f"element/{page['id']}/embedding/", 404),
            ("GET", f"element/{page['id']}/embedding/", 404),
        ]
        for method, path, status in calls:
            response = requests.request(
                method,
                f"{legacy.url}/api/v1/{path}",
                headers={"Authorization": f"Token {legacy.token}"},
                json={},
                timeout=5,
            )
            assert response.status_code == status, path
