"""One Api shared by many threads (``--jobs N``), against the sandbox over real HTTP.

Every answer goes to the thread that asked, every request is sent once (the sandbox's log
and ``api.timings`` count them), a shared paginator reads its first page once, connections
are reused up to the pool size, and the one watchdog thread cuts each answer at its own budget.
"""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from arkworker.api.client import connect
from arkworker.api.transport import AnswerTimeoutExceeded
from arkworker.sandbox import Sandbox
from tests.faulty_proxy import FaultyProxy
from tests.loopback_proxy import LoopbackProxy

THREADS = 16
PAGES = 48
PAGE_SIZE = 5
CORPUS = {
    "corpus": {"name": "Threads"},
    "types": [{"slug": "folder", "folder": True}, "page"],
    "elements": [
        {
            "name": "Folder",
            "type": "folder",
            "children": [{"name": f"Page {p}", "type": "page"} for p in range(PAGES)],
        }
    ],
}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with Sandbox(
        CORPUS, db_path=tmp_path_factory.mktemp("threads") / "state.sqlite", page_size=PAGE_SIZE
    ) as sandbox:
        yield sandbox


@pytest.fixture
def env(sandbox):
    sandbox.clear_requests()
    sandbox.clear_faults()
    return {**sandbox.env(), "ARKWORKER_RETRY_BACKOFF": "0"}


def pages(sandbox):
    return {row["id"]: row["name"] for row in sandbox.objects("elements") if row["name"].startswith("Page ")}


def folder_id(sandbox):
    return next(row["id"] for row in sandbox.objects("elements") if row["name"] == "Folder")


def calls_of(sandbox, operation_id):
    return [r for r in sandbox.requests if r.operation_id == operation_id]


def test_sixteen_threads_share_one_api(sandbox, env):
    """Reads and writes from 16 threads at once: each answer is the right one, each request sent once."""
    api = connect(env)
    names = pages(sandbox)
    start = threading.Barrier(THREADS)

    def work(element_id):
        element = api.request("RetrieveElement", id=element_id)
        created = api.request(
            "CreateTranscription",
            id=element_id,
            body={
                "text": f"text of {element['name']}",
                "confidence": 1.0,
                "worker_run_id": sandbox.worker_run_id,
            },
        )
        return element, created

    def thread(index):
        start.wait()  # all threads send at once
        return [work(element_id) for element_id in list(names)[index::THREADS]]

    with ThreadPoolExecutor(THREADS) as pool:
        results = [pair for answers in pool.map(thread, range(THREADS)) for pair in answers]

    assert len(results) == PAGES
    for element, created in results:
        assert element["name"] == names[element["id"]]
        assert created["text"] == f"text of {element['name']}"
    stored = sandbox.objects("transcriptions", worker_run_id=sandbox.worker_run_id)
    assert sorted(row["text"] for row in stored) == sorted(f"text of {name}" for name in names.values())
    assert len(calls_of(sandbox, "RetrieveElement")) == len(calls_of(sandbox, "CreateTranscription")) == PAGES
    summary = api.timings.summary()
    assert summary["RetrieveElement"]["calls"] == summary["CreateTranscription"]["calls"] == PAGES
    assert summary["RetrieveElement"]["failed"] == 0


def test_a_shared_paginator_reads_its_first_page_once(sandbox, env):
    api = connect(env)
    children = api.paginate("ListElementChildren", id=folder_id(sandbox))
    start = threading.Barrier(THREADS)

    def thread(_):
        start.wait()
        return len(children), [child["id"] for child in children]

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(thread, range(THREADS)))

    expected = sorted(pages(sandbox))
    for count, ids in results:
        assert count == PAGES and sorted(ids) == expected
    first_pages = [r for r in calls_of(sandbox, "ListElementChildren") if "page" not in r.query]
    assert len(first_pages) == 1  # one first page for all; each iteration reads the next ones itself
    following = -(-PAGES // PAGE_SIZE) - 1
    assert len(calls_of(sandbox, "ListElementChildren")) == 1 + THREADS * following


def test_connections_are_reused_by_sixteen_threads(sandbox, env, caplog):
    """Through a keep-alive proxy: no more connections than threads, and no "pool is full" warning."""
    caplog.set_level(logging.WARNING)
    names = list(pages(sandbox))
    with LoopbackProxy() as proxy:
        api = connect({**env, "HTTP_PROXY": proxy.url})
        start = threading.Barrier(THREADS)

        def thread(index):
            start.wait()
            for element_id in names[index::THREADS] * 2:
                assert api.request("RetrieveElement", id=element_id)["id"] == element_id

        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(thread, range(THREADS)))
        assert len(proxy.requests) == 1 + 2 * PAGES
        assert proxy.connections <= THREADS
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


def test_each_answer_is_cut_at_its_own_budget(sandbox, env):
    """A later answer with an earlier deadline wakes the one watchdog thread: it is not cut late."""
    element_id = next(iter(pages(sandbox)))
    with FaultyProxy(sandbox) as proxy:
        patient = connect(proxy.env(ARKWORKER_API_TIMEOUT="60", ARKWORKER_RETRY_ATTEMPTS="1"))
        hasty = connect(proxy.env(ARKWORKER_API_TIMEOUT="0.3", ARKWORKER_RETRY_ATTEMPTS="1"))
        # A byte every 5 ms: the patient answer takes seconds, longer than the test waits.
        proxy.add("RetrieveElement", "trickle", interval=0.005)
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(patient.request, "RetrieveElement", id=element_id)
            while proxy.faults_of("RetrieveElement") != ["trickle"]:
                threading.Event().wait(0.01)
            proxy.add("RetrieveCorpus", "trickle", interval=0.005)
            # Its budget ends long before the patient one's: it is cut, not left to trickle to its end.
            with pytest.raises(AnswerTimeoutExceeded, match=r"^the answer took longer than 0\.3 s$"):
                hasty.request("RetrieveCorpus", id=sandbox.corpus_id)
            assert not slow.done()
            proxy.stopping.set()  # ends the patient answer's trickle
            with pytest.raises(requests.RequestException):  # its answer cut short
                slow.result()
