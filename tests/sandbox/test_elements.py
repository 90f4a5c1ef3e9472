"""RetrieveCorpus, RetrieveElement, ListElementChildren, ListElementParents and RetrieveSecret."""

import pytest
from arkindex import ArkindexClient
from arkindex.exceptions import ArkindexClientError

from arkworker.sandbox import Sandbox
from arkworker.sandbox.tables import ElementPath


def names(results):
    return [(item["type"], item["name"]) for item in results]


def test_retrieve_corpus(sb, client):
    corpus = client.request("RetrieveCorpus", id=sb.corpus_id)
    assert corpus["id"] == sb.corpus_id
    assert (corpus["name"], corpus["public"]) == ("Demo corpus", False)
    assert corpus["description"] == "A small corpus to try arkworker workers on."
    assert [(t["slug"], t["display_name"], t["folder"]) for t in corpus["types"]] == [
        ("folder", "Folder", True),
        ("page", "Page", False),
        ("text_line", "Text line", False),
    ]
    assert all(set(t) == {"id", "slug", "display_name", "folder", "color"} for t in corpus["types"])


def test_retrieve_element(sb, client, named):
    element = client.request("RetrieveElement", id=named("Line 2", parent="Page 1"))
    assert (element["name"], element["type"]) == ("Line 2", "text_line")
    assert element["corpus"] == {"id": sb.corpus_id, "name": "Demo corpus", "public": False}
    assert (element["rotation_angle"], element["mirrored"], element["confidence"]) == (0, False, None)
    assert (element["worker_version_id"], element["worker_run_id"], element["has_children"]) == (
        None,
        None,
        False,
    )
    zone = element["zone"]
    assert zone["polygon"] == [[40, 90], [360, 90], [360, 120], [40, 120], [40, 90]]
    image_id = sb.objects("images", name="demo-scan-1")[0]["id"]
    assert zone["url"] == f"{sb.url}/iiif/{image_id}/40,90,320,30/full/0/default.jpg"
    assert zone["image"] == {
        "id": image_id,
        "path": image_id,
        "width": 400,
        "height": 600,
        "url": f"{sb.url}/iiif/{image_id}",
        "s3_url": None,
        "status": "checked",
        "server": {
            "display_name": "arkworker sandbox",
            "url": f"{sb.url}/iiif",
            "max_width": None,
            "max_height": None,
        },
    }


def test_element_image_limits_and_rotation(client, named):
    element = client.request("RetrieveElement", id=named("Page 3"))
    assert element["rotation_angle"] == 90 and element["has_children"] is True
    assert element["zone"]["image"]["server"]["max_width"] == 240
    assert element["zone"]["image"]["server"]["max_height"] == 320


def test_folder_without_image_has_no_zone(client, named):
    assert client.request("RetrieveElement", id=named("Volume 1"))["zone"] is None


def test_image_without_url_is_served_by_the_sandbox(tmp_path):
    corpus = {
        "corpus": {"name": "Local"},
        "images": [{"name": "scan", "width": 100, "height": 50}],
        "elements": [{"name": "Page", "type": "page", "image": "scan"}],
    }
    with Sandbox(corpus, db_path=tmp_path / "state.sqlite") as sandbox:
        client = ArkindexClient(base_url=sandbox.url, token=sandbox.token)
        (image,) = sandbox.objects("images")
        zone = client.request("RetrieveElement", id=sandbox.process_element_ids()[0])["zone"]
        assert zone["image"]["url"] == f"{sandbox.url}/iiif/{image['id']}"
        assert zone["image"]["server"]["url"] == f"{sandbox.url}/iiif"
        assert zone["url"] == f"{sandbox.url}/iiif/{image['id']}/0,0,100,50/full/0/default.jpg"


def test_children_in_order(sb, client, named):
    children = list(client.paginate("ListElementChildren", id=named("Volume 1")))
    assert names(children) == [("page", "Page 1"), ("page", "Page 2"), ("page", "Page 3")]
    item = children[0]
    assert item["corpus"]["name"] == "Demo corpus"
    assert item["zone"]["image"]["path"] == sb.objects("images", name="demo-scan-1")[0]["id"]
    assert "has_children" not in item and "classes" not in item


def test_children_recursive_depth_first(client, named):
    children = client.paginate("ListElementChildren", id=named("Volume 1"), recursive=True)
    assert [item["name"] for item in children] == [
        "Page 1",
        "Line 1",
        "Line 2",
        "Page 2",
        "Line 1",
        "Line 2",
        "Page 3",
        "Line 1",
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"type": "text_line"}, ["Line 1", "Line 2", "Line 1", "Line 2", "Line 1"]),
        ({"name": "LINE 2"}, ["Line 2", "Line 2"]),
        ({"folder": True}, []),
        ({"folder": False, "type": "page"}, ["Page 1", "Page 2", "Page 3"]),
        ({"worker_run": False, "type": "page"}, ["Page 1", "Page 2", "Page 3"]),
        ({"worker_version": False, "name": "Page 2"}, ["Page 2"]),
        ({"worker_run": "00000000-0000-4000-8000-000000000000"}, []),
        ({"transcription_worker_run": False}, ["Page 1", "Line 1", "Line 2"]),
        ({"transcription_worker_version": "00000000-0000-4000-8000-000000000000"}, []),
    ],
)
def test_children_filters(client, named, filters, expected):
    children = client.paginate("ListElementChildren", id=named("Volume 1"), recursive=True, **filters)
    assert [item["name"] for item in children] == expected


def test_children_filter_on_a_worker_run(sb, client, named):
    line = named("Line 1", parent="Page 2")
    client.request("CreateTranscription", id=line, body={"text": "x", "worker_run_id": sb.worker_run_id})
    children = client.paginate(
        "ListElementChildren", id=named("Page 2"), transcription_worker_run=sb.worker_run_id
    )
    assert [item["id"] for item in children] == [line]


def test_children_optional_fields(client, named):
    (item, *_) = client.paginate(
        "ListElementChildren",
        id=named("Volume 1"),
        with_zone=False,
        with_corpus=False,
        with_has_children=True,
        with_classes=True,
        with_metadata=True,
    )
    assert "zone" not in item and "corpus" not in item
    assert (item["has_children"], item["classes"], item["metadata"]) == (True, [], [])


def test_parents(client, named):
    line = named("Line 1", parent="Page 3")
    assert names(client.paginate("ListElementParents", id=line)) == [("page", "Page 3")]
    assert names(client.paginate("ListElementParents", id=line, recursive=True)) == [
        ("page", "Page 3"),
        ("folder", "Volume 1"),
    ]
    assert names(client.paginate("ListElementParents", id=line, recursive=True, folder=True)) == [
        ("folder", "Volume 1")
    ]
    assert list(client.paginate("ListElementParents", id=named("Volume 1"))) == []


def test_several_parents(tmp_path):
    corpus = {
        "corpus": {"name": "Two parents"},
        "elements": [
            {"name": "A", "type": "folder", "children": [{"name": "Shared", "type": "page"}]},
            {"name": "B", "type": "folder"},
        ],
    }
    with Sandbox(corpus, db_path=tmp_path / "state.sqlite") as sandbox:
        ids = {row["name"]: row["id"] for row in sandbox.objects("elements")}
        with sandbox.store.session():
            ElementPath.create(parent=ids["B"], child=ids["Shared"], ordering=0)
        client = ArkindexClient(base_url=sandbox.url, token=sandbox.token)
        parents = client.paginate("ListElementParents", id=ids["Shared"])
        assert [item["name"] for item in parents] == ["A", "B"]
        assert [item["name"] for item in client.paginate("ListElementChildren", id=ids["B"])] == ["Shared"]


def test_lists_of_an_unknown_element_are_404(client):
    for operation in ("ListElementChildren", "ListElementParents"):
        with pytest.raises(ArkindexClientError) as info:
            client.request(operation, id="00000000-0000-4000-8000-000000000000")
        assert info.value.status_code == 404


def test_retrieve_secret_with_slashes(client):
    secret = client.request("RetrieveSecret", name="demo/api-key.txt")
    assert (secret["name"], secret["content"]) == ("demo/api-key.txt", "demo-secret-value")
    assert set(secret) == {"id", "name", "content"}


def test_unknown_secret_is_404(client):
    with pytest.raises(ArkindexClientError) as info:
        client.request("RetrieveSecret", name="nope/missing.json")
    assert info.value.status_code == 404
    assert info.value.content["errors"][0]["detail"] == "No Secret matches the given query."
