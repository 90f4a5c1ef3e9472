"""The queue of a process (StartWorkerActivity) and ListProcessElements, over HTTP with the real client."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests
from arkindex import ArkindexClient
from arkindex.exceptions import ArkindexClientError, ArkindexValidationError, ErrorResponse

from arkworker.sandbox import Sandbox

PAGES = 30
CORPUS = {
    "corpus": {"name": "Queue"},
    "types": ["folder", "page"],
    "images": [{"name": "scan", "width": 100, "height": 200}],
    "elements": [
        {"name": "Volume", "type": "folder"},
        *({"name": f"Page {n}", "type": "page", "image": "scan"} for n in range(1, PAGES + 1)),
    ],
    "worker_run": {
        "process": {"skip_elements_json": True, "elements": [f"Page {n}" for n in range(1, PAGES + 1)]}
    },
}


@pytest.fixture(scope="module")
def module_queue() -> Iterator[Sandbox]:
    with Sandbox(CORPUS) as sandbox:
        yield sandbox


@pytest.fixture
def queue(module_queue: Sandbox) -> Sandbox:
    module_queue.reset()
    return module_queue


@pytest.fixture(scope="module")
def api(module_queue: Sandbox) -> ArkindexClient:
    return ArkindexClient(base_url=module_queue.url, token=module_queue.token)


def drain(client: ArkindexClient) -> list[str]:
    """Ids handed out by StartWorkerActivity until the queue answers 404."""
    ids = []
    while True:
        try:
            ids.append(client.request("StartWorkerActivity")["id"])
        except ErrorResponse as error:
            assert error.status_code == 404, error.content
            return ids


def test_each_element_once_in_order_then_404(queue, api):
    first = api.request("StartWorkerActivity")
    page_type = next(
        t for t in api.request("RetrieveCorpus", id=queue.corpus_id)["types"] if t["slug"] == "page"
    )
    assert first == {"id": queue.process_element_ids()[0], "type_id": page_type["id"], "name": "Page 1"}
    assert [first["id"], *drain(api)] == queue.process_element_ids()
    with pytest.raises(ArkindexClientError) as info:
        api.request("StartWorkerActivity")
    assert info.value.status_code == 404
    assert "No element of process" in info.value.content["errors"][0]["detail"]
    rows = queue.objects("activities")
    assert [row["element_id"] for row in rows] == queue.process_element_ids()
    assert {(row["state"], row["worker_run_id"], row["process_id"]) for row in rows} == {
        ("started", queue.worker_run_id, queue.process_id)
    }


def test_the_request_has_no_parameters_and_answers_200(queue, api):
    api.request("StartWorkerActivity")
    (record,) = queue.requests
    assert (record.method, record.path, record.query, record.body, record.status) == (
        "POST",
        "/api/v1/process/start-activity/",
        {},
        None,
        200,
    )


def test_started_elements_then_move_on_with_update_worker_activity(queue, api):
    element_id = api.request("StartWorkerActivity")["id"]
    body = {"element_id": element_id, "process_id": queue.process_id, "state": "processed"}
    api.request("UpdateWorkerActivity", id=queue.worker_run_id, body=body)
    with pytest.raises(ErrorResponse) as info:  # the worker must not start it again
        api.request("UpdateWorkerActivity", id=queue.worker_run_id, body={**body, "state": "started"})
    assert info.value.status_code == 409
    second = api.request("StartWorkerActivity")["id"]
    api.request(
        "UpdateWorkerActivity", id=queue.worker_run_id, body={**body, "element_id": second, "state": "error"}
    )
    states = {row["element_id"]: row["state"] for row in queue.objects("activities")}
    assert states == {element_id: "processed", second: "error"}
    assert (
        api.request("StartWorkerActivity")["id"] == queue.process_element_ids()[2]
    )  # errors are not re-queued


def test_elements_started_elsewhere_are_skipped_and_queued_ones_taken(queue, api):
    first, second, third = queue.process_element_ids()[:3]
    for element_id, state in ((first, "started"), (second, "queued")):
        body = {"element_id": element_id, "process_id": queue.process_id, "state": state}
        api.request("UpdateWorkerActivity", id=queue.worker_run_id, body=body)
    assert api.request("StartWorkerActivity")["id"] == second
    assert api.request("StartWorkerActivity")["id"] == third


def test_concurrent_consumers_get_disjoint_elements_covering_the_process(queue):
    clients = [ArkindexClient(base_url=queue.url, token=queue.token) for _ in range(3)]
    taken: list[list[str]] = [[] for _ in clients]
    start = threading.Barrier(len(clients))

    def consume(index: int) -> None:
        start.wait()
        taken[index].extend(drain(clients[index]))

    threads = [threading.Thread(target=consume, args=(index,)) for index in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handed_out = [element_id for ids in taken for element_id in ids]
    assert len(handed_out) == len(set(handed_out)) == PAGES
    assert set(handed_out) == set(queue.process_element_ids())
    assert len(queue.objects("activities")) == PAGES


def test_reset_queues_every_element_again(queue, api):
    assert len(drain(api)) == PAGES
    queue.reset()
    assert len(drain(api)) == PAGES


def test_an_empty_process_answers_404_at_once(tmp_path):
    corpus = {"corpus": {"name": "Empty"}, "worker_run": {"process": {"skip_elements_json": True}}}
    with Sandbox(corpus, db_path=tmp_path / "state.sqlite") as sandbox:
        client = ArkindexClient(base_url=sandbox.url, token=sandbox.token)
        assert drain(client) == []


@pytest.mark.parametrize("state", ["disabled", "pending", "error"])
def test_the_queue_is_a_400_when_activities_are_not_ready(tmp_path, state):
    corpus = {
        "corpus": {"name": "Disabled"},
        "elements": [{"name": "Page", "type": "page"}],
        "worker_run": {"process": {"activity_state": state, "skip_elements_json": True}},
    }
    with Sandbox(corpus, db_path=tmp_path / "state.sqlite") as sandbox:
        client = ArkindexClient(base_url=sandbox.url, token=sandbox.token)
        with pytest.raises(ArkindexValidationError) as info:
            client.request("StartWorkerActivity")
        assert info.value.status_code == 400
        assert f"its activity_state is {state!r}" in info.value.content["errors"][0]["detail"]
        assert sandbox.objects("activities") == []


def test_the_queue_needs_the_token(queue):
    response = requests.post(queue.url + "/api/v1/process/start-activity/", timeout=5)
    assert response.status_code == 401
    assert queue.objects("activities") == []


def test_a_failed_call_hands_out_nothing(queue, api):
    queue.fail("StartWorkerActivity", status=503)
    with pytest.raises(ErrorResponse) as info:
        api.single_request("StartWorkerActivity")  # single: without the client's 5xx retry and its waits
    assert info.value.status_code == 503
    assert api.single_request("StartWorkerActivity")["id"] == queue.process_element_ids()[0]


# -- ListProcessElements ----------------------------------------------------------------------------


def test_list_process_elements_pages_with_a_cursor(queue, api):
    listing = api.paginate("ListProcessElements", id=queue.process_id, page_size=7)
    assert len(listing) == PAGES
    assert [item["id"] for item in listing] == queue.process_element_ids()
    pages = [record for record in queue.requests if record.operation_id == "ListProcessElements"]
    assert len(pages) == 5  # 30 elements, 7 a page
    assert pages[0].query == {"page_size": "7", "with_count": "true"}
    assert all("cursor" in record.query and "page" not in record.query for record in pages[1:])


def test_list_process_elements_with_page_size_500_is_one_page(queue, api):
    ids = {item["id"] for item in api.paginate("ListProcessElements", id=queue.process_id, page_size=500)}
    assert ids == set(queue.process_element_ids())
    (page,) = [record for record in queue.requests if record.operation_id == "ListProcessElements"]
    assert page.query == {"page_size": "500", "with_count": "true"}


def test_list_process_elements_fields(queue, api):
    (first,) = api.request("ListProcessElements", id=queue.process_id, page_size=1)["results"]
    assert set(first) == {
        "id",
        "type_id",
        "name",
        "confidence",
        "image_id",
        "image_width",
        "image_height",
        "image_url",
        "polygon",
        "rotation_angle",
        "mirrored",
    }
    assert first["image_id"] is None and first["polygon"] is None
    (with_image,) = api.request("ListProcessElements", id=queue.process_id, page_size=1, with_image=True)[
        "results"
    ]
    (image,) = queue.objects("images")
    assert (with_image["image_id"], with_image["image_width"], with_image["image_height"]) == (
        image["id"],
        100,
        200,
    )
    assert with_image["image_url"] == f"{queue.url}/iiif/{image['id']}"
    assert with_image["polygon"] == [[0, 0], [0, 200], [100, 200], [100, 0], [0, 0]]


def test_list_process_elements_counts_only_when_asked(queue, api):
    page = api.request("ListProcessElements", id=queue.process_id, page_size=10)
    assert "count" not in page and page["previous"] is None and len(page["results"]) == 10
    following = requests.get(
        page["next"], headers={"Authorization": f"Token {queue.token}"}, timeout=5
    ).json()
    assert following["previous"] is not None and len(following["results"]) == 10
    assert api.request("ListProcessElements", id=queue.process_id, with_count=True)["count"] == PAGES


@pytest.mark.parametrize("page_size", [0, 501])
def test_list_process_elements_page_size_bounds(queue, api, page_size):
    with pytest.raises(ArkindexValidationError) as info:
        api.request("ListProcessElements", id=queue.process_id, page_size=page_size)
    assert info.value.content["errors"][0]["attr"] == ["page_size"]


def test_list_process_elements_errors(queue, api):
    with pytest.raises(ArkindexClientError) as info:
        api.request("ListProcessElements", id=queue.process_id, cursor="not-a-cursor")
    assert (info.value.status_code, info.value.content["errors"][0]["detail"]) == (404, "Invalid cursor")
    with pytest.raises(ArkindexClientError) as info:
        api.request("ListProcessElements", id="00000000-0000-4000-8000-000000000000")
    assert info.value.status_code == 404


def test_list_process_elements_lists_each_element_once(tmp_path):
    corpus = {
        "corpus": {"name": "Twice"},
        "elements": [{"name": "A", "type": "page"}, {"name": "B", "type": "page"}],
        "worker_run": {"process": {"mode": "export", "elements": ["A", "B", "A"]}},
    }
    with Sandbox(corpus, db_path=tmp_path / "state.sqlite") as sandbox:
        client = ArkindexClient(base_url=sandbox.url, token=sandbox.token)
        names = [item["name"] for item in client.paginate("ListProcessElements", id=sandbox.process_id)]
        assert names == ["A", "B"]
        assert client.request("RetrieveWorkerRun", id=sandbox.worker_run_id)["process"]["mode"] == "export"
