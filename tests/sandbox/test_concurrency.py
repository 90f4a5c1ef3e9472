"""The sandbox under many client threads at once, as ``arkworker run --jobs N`` drives it.

Each thread has its own arkindex-client (its own connections): the sandbox answers them from
threads of its own, and every write must be stored exactly once, never meet a "database is
locked", and the activity state machine must hold when threads race for the same element.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from arkindex import ArkindexClient
from arkindex.exceptions import ErrorResponse

from arkworker.sandbox import Sandbox

THREADS = 16
PAGES = 64
CORPUS = {
    "corpus": {"name": "Concurrency"},
    "types": ["page"],
    "elements": [{"name": f"Page {n}", "type": "page"} for n in range(PAGES)],
    "worker_run": {"process": {"elements": [f"Page {n}" for n in range(PAGES)]}},
}


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[Sandbox]:
    with Sandbox(CORPUS) as sandbox:
        yield sandbox


@pytest.fixture
def sb(module_sandbox: Sandbox) -> Sandbox:
    module_sandbox.reset()
    return module_sandbox


def in_threads(sb: Sandbox, work, chunks: list) -> list:
    """``work(client, chunk)`` for each chunk, all threads starting together; their results, or their exception."""
    start = threading.Barrier(len(chunks))

    def run(chunk):
        client = ArkindexClient(base_url=sb.url, token=sb.token)
        start.wait(timeout=60)
        return work(client, chunk)

    with ThreadPoolExecutor(len(chunks)) as pool:
        return list(pool.map(run, chunks))


def test_writes_from_16_threads_are_each_stored_once(sb):
    pages = sb.process_element_ids()
    run = sb.worker_run_id

    def process(client: ArkindexClient, chunk: list[str]) -> None:
        for page in chunk:
            activity = {"element_id": page, "process_id": sb.process_id}
            client.single_request("UpdateWorkerActivity", id=run, body={**activity, "state": "started"})
            body = {"text": page, "confidence": 1.0, "orientation": "horizontal-lr", "worker_run_id": run}
            client.single_request("CreateTranscription", id=page, body=body)
            client.single_request("UpdateWorkerActivity", id=run, body={**activity, "state": "processed"})

    in_threads(sb, process, [pages[n::THREADS] for n in range(THREADS)])

    created = sb.created()["transcriptions"]
    assert sorted(row["element_id"] for row in created) == sorted(pages)
    assert all(row["text"] == row["element_id"] for row in created)
    activities = sb.objects("activities")
    assert sorted(row["element_id"] for row in activities) == sorted(pages)
    assert {row["state"] for row in activities} == {"processed"}
    calls = [r for r in sb.requests if r.operation_id is not None]
    assert Counter(r.operation_id for r in calls) == {
        "UpdateWorkerActivity": 2 * PAGES,
        "CreateTranscription": PAGES,
    }
    assert {r.status for r in calls} == {200, 201}


def test_threads_racing_for_one_element_start_it_once(sb):
    page = sb.process_element_ids()[0]
    body = {"element_id": page, "process_id": sb.process_id, "state": "started"}

    def start(client: ArkindexClient, _: int) -> int:
        try:
            client.single_request("UpdateWorkerActivity", id=sb.worker_run_id, body=body)
        except ErrorResponse as error:
            return error.status_code
        return 200

    assert sorted(in_threads(sb, start, list(range(THREADS)))) == [200] + [409] * (THREADS - 1)
    assert [row["state"] for row in sb.objects("activities")] == ["started"]
