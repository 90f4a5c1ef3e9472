"""API access: the paginator and the retry policy, against the sandbox over HTTP."""

import socket
import threading

import pytest
import requests
from arkindex.exceptions import ErrorResponse

from arkworker.api.client import Api, RetryPolicy, connect
from arkworker.api.failures import is_transient
from arkworker.errors import ConfigurationError
from arkworker.sandbox import Sandbox

#: A folder with 7 pages, each with 2 lines: enough for several pages of 3 results.
CORPUS = {
    "corpus": {"name": "Paginated"},
    "types": [{"slug": "folder", "folder": True}, "page", "line"],
    "elements": [
        {
            "name": "Folder",
            "type": "folder",
            "children": [
                {
                    "name": f"Page {p}",
                    "type": "page",
                    "children": [{"name": f"Line {p}.{n}", "type": "line"} for n in (1, 2)],
                }
                for p in range(1, 8)
            ],
        }
    ],
}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with Sandbox(CORPUS, db_path=tmp_path_factory.mktemp("api") / "state.sqlite", page_size=3) as sandbox:
        yield sandbox


@pytest.fixture
def api(sandbox):
    sandbox.clear_requests()
    sandbox.clear_faults()
    return connect({**sandbox.env(), "ARKWORKER_RETRY_BACKOFF": "0"})


def folder_id(sandbox):
    return next(row["id"] for row in sandbox.objects("elements") if row["name"] == "Folder")


def list_calls(sandbox):
    return [r for r in sandbox.requests if r.operation_id == "ListElementChildren"]


def test_pagination_follows_every_page_lazily(sandbox, api):
    pages = api.paginate("ListElementChildren", id=folder_id(sandbox), recursive=True, type="line")
    assert list_calls(sandbox) == []  # nothing is fetched before iterating
    names = [item["name"] for item in pages]
    assert names == [f"Line {p}.{n}" for p in range(1, 8) for n in (1, 2)]
    assert [call.query.get("page", "1") for call in list_calls(sandbox)] == ["1", "2", "3", "4", "5"]


def test_len_reads_the_count_of_the_first_page_only(sandbox, api):
    pages = api.paginate("ListElementChildren", id=folder_id(sandbox))
    assert len(pages) == 7
    assert len(list_calls(sandbox)) == 1
    assert len(list(pages)) == 7
    assert len(list_calls(sandbox)) == 3  # the first page is not fetched twice


def test_a_failing_page_is_retried_by_the_policy(sandbox, api):
    pages = iter(api.paginate("ListElementChildren", id=folder_id(sandbox)))
    assert [next(pages)["name"] for _ in range(3)] == ["Page 1", "Page 2", "Page 3"]
    sandbox.fail("ListElementChildren", status=503, times=2)
    assert [item["name"] for item in pages] == ["Page 4", "Page 5", "Page 6", "Page 7"]
    assert [call.status for call in list_calls(sandbox)] == [200, 503, 503, 200, 200]


def test_a_client_error_on_a_page_is_raised_at_once(sandbox, api):
    sandbox.fail("ListElementChildren", status=400, times=1)
    with pytest.raises(ErrorResponse) as info:
        list(api.paginate("ListElementChildren", id=folder_id(sandbox)))
    assert info.value.status_code == 400
    assert len(list_calls(sandbox)) == 1


def test_transient_failures_are_retried_up_to_the_limit(sandbox):
    api = connect({**sandbox.env(), "ARKWORKER_RETRY_BACKOFF": "0", "ARKWORKER_RETRY_ATTEMPTS": "3"})
    sandbox.clear_requests()
    sandbox.fail("RetrieveCorpus", status=500, times=None)
    with pytest.raises(ErrorResponse):
        api.request("RetrieveCorpus", id=sandbox.corpus_id)
    sandbox.clear_faults()
    assert [r.status for r in sandbox.requests] == [500, 500, 500]
    assert api.request("RetrieveCorpus", id=sandbox.corpus_id)["name"] == "Paginated"


def test_the_schema_download_is_retried(sandbox):
    sandbox.clear_requests()
    # Faults apply to operations; the schema is fetched before any: it must simply load.
    api = connect({**sandbox.env(), "ARKWORKER_RETRY_BACKOFF": "0"})
    assert isinstance(api, Api) and api.has_operation("RetrieveElement")
    assert [r.path for r in sandbox.requests] == ["/api/v1/openapi/"]


def test_connection_failures_are_retried_then_reported():
    with pytest.raises(ConfigurationError, match=r"from http://127\.0\.0\.1:9 \(connection refused\)"):
        connect({"ARKINDEX_API_URL": "http://127.0.0.1:9", "ARKWORKER_RETRY_BACKOFF": "0"})


def test_retry_waits_follow_the_schedule():
    policy = RetryPolicy(attempts=5, backoff=1.0)
    assert [policy.wait(n) for n in range(1, 5)] == [3.0, 4.0, 8.0, 16.0]
    assert RetryPolicy(backoff=0).wait(3) == 0


def test_tls_errors_are_not_retried():
    """A certificate or handshake problem does not heal: one connection, then a clear error."""
    connections = []
    stop = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.05)

        def answer_plain_http():
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                connections.append(conn)
                with conn:
                    conn.recv(1024)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

        thread = threading.Thread(target=answer_plain_http, daemon=True)
        thread.start()
        url = f"https://127.0.0.1:{server.getsockname()[1]}/"
        try:
            with pytest.raises(ConfigurationError, match="TLS error"):
                connect({"ARKINDEX_API_URL": url, "ARKWORKER_RETRY_BACKOFF": "0"})
        finally:
            stop.set()
            thread.join()
    assert len(connections) == 1
    assert not is_transient(requests.exceptions.SSLError("certificate verify failed"))
    assert is_transient(requests.ConnectionError("reset"))
