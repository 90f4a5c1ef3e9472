"""Fault injection below HTTP and above it: what the client sees, and what the sandbox stored.

Every kind is driven through the real arkindex-client where a worker would meet it, and
through ``requests`` or a raw socket where the bytes on the wire are the point.
"""

import contextlib
import json
import socket

import pytest
import requests
from arkindex import ArkindexClient
from arkindex.exceptions import ArkindexServerError, ErrorResponse, SchemaError

from arkworker.sandbox import FAULT_KINDS, IIIF, SCHEMA, Sandbox
from arkworker.sandbox.faults import FaultRule

TEXT = {"text": "Stored anyway"}


@pytest.fixture
def page(named):
    return named("Page 1")


def stored(sb):
    """How many transcriptions the tests' calls created (the demo corpus has some of its own)."""
    return len(sb.objects("transcriptions", text=TEXT["text"]))


def raw_get(sb, path, *, token=True):
    """The bytes a GET of ``path`` receives, and the error that ended the reading (or None).

    It reads until the connection ends, so it asks for the end (``Connection: close``): the
    sandbox keeps connections alive otherwise.
    """
    with socket.create_connection(("127.0.0.1", int(sb.url.rsplit(":", 1)[1])), timeout=30) as conn:
        auth = f"Authorization: Token {sb.token}\r\n" if token else ""
        host = sb.url.removeprefix("http://")
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n".encode())
        received, pieces = b"", 0
        try:
            while data := conn.recv(65536):
                received += data
                pieces += 1
        except ConnectionResetError as error:
            return received, pieces, error
        return received, pieces, None


def head_and_body(received):
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines[1:])}
    return lines[0], headers, body


def assert_still_serving(sb, client, page):
    assert client.single_request("RetrieveElement", id=page)["name"] == "Page 1"
    assert requests.get(f"{sb.url}/api/v1/openapi/", timeout=30).status_code == 200


# -- reset before the request is read ----------------------------------------------------------


def test_a_reset_answers_nothing_and_applies_nothing(sb, client, page):
    sb.reset_connection("CreateTranscription", times=2)
    for _ in range(2):
        with pytest.raises(requests.ConnectionError):
            client.single_request("CreateTranscription", id=page, body=TEXT)
    assert stored(sb) == 0
    assert [(r.operation_id, r.status, r.fault, r.body) for r in sb.requests] == [
        ("CreateTranscription", None, "reset", None),
    ] * 2
    client.single_request("CreateTranscription", id=page, body=TEXT)
    assert stored(sb) == 1
    assert_still_serving(sb, client, page)


def test_a_reset_is_a_tcp_reset_before_any_byte(sb, page):
    sb.reset_connection("RetrieveElement")
    received, _, error = raw_get(sb, f"/api/v1/element/{page}/")
    assert received == b"" and isinstance(error, ConnectionResetError)


def test_a_reset_does_not_read_the_body(sb, page):
    """The request announces 300 MB and sends none: the reset comes at once all the same."""
    sb.reset_connection("CreateTranscription")
    port = int(sb.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(
            f"POST /api/v1/element/{page}/transcription/ HTTP/1.1\r\nHost: sandbox\r\n"
            f"Authorization: Token {sb.token}\r\nContent-Type: application/json\r\n"
            "Content-Length: 300000000\r\n\r\n".encode()
        )
        with pytest.raises(ConnectionResetError):
            conn.recv(65536)
    assert sb.requests[-1].fault == "reset"


def test_the_schema_download_can_be_reset(sb, client, page):
    sb.reset_connection(SCHEMA)
    with pytest.raises(SchemaError) as raised:
        ArkindexClient(base_url=sb.url, token=sb.token)
    assert isinstance(raised.value.__cause__, requests.ConnectionError)
    assert sb.requests[-1].path == "/api/v1/openapi/" and sb.requests[-1].fault == "reset"
    assert ArkindexClient(base_url=sb.url, token=sb.token).single_request("RetrieveElement", id=page)


# -- reset in the middle of the answer ---------------------------------------------------------


def test_a_reset_mid_answer_stores_the_result_and_breaks_the_body(sb, client, page):
    sb.reset_mid_answer("CreateTranscription")
    with pytest.raises(requests.exceptions.ChunkedEncodingError) as raised:
        client.single_request("CreateTranscription", id=page, body=TEXT)
    assert "Connection reset by peer" in str(raised.value)
    assert stored(sb) == 1  # the server kept the result
    (record,) = sb.requests
    assert (record.status, record.fault, record.body) == (201, "reset-mid-answer", TEXT)
    assert_still_serving(sb, client, page)


def test_a_reset_mid_answer_records_the_activity(sb, client, page):
    sb.reset_mid_answer("UpdateWorkerActivity", times=None)
    body = {"element_id": page, "process_id": sb.process_id, "state": "started"}
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        client.single_request("UpdateWorkerActivity", id=sb.worker_run_id, body=body)
    assert [row["state"] for row in sb.objects("activities")] == ["started"]
    # The worker's retry meets the state it created: the 409 of a second start, cut as well.
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        client.single_request("UpdateWorkerActivity", id=sb.worker_run_id, body=body)
    assert [record.status for record in sb.requests] == [200, 409]


def test_a_reset_mid_answer_sends_the_headers_and_part_of_the_body(sb, client, page):
    whole = json.dumps(client.single_request("RetrieveElement", id=page)).encode()
    sb.reset_mid_answer("RetrieveElement", after_bytes=10)
    received, _, error = raw_get(sb, f"/api/v1/element/{page}/")
    status, headers, body = head_and_body(received)
    assert status == "HTTP/1.1 200 OK"
    assert int(headers["content-length"]) == len(whole)
    assert body == whole[:10] and isinstance(error, ConnectionResetError)
    sb.reset_mid_answer("RetrieveElement")  # default: half of the body
    received, _, error = raw_get(sb, f"/api/v1/element/{page}/")
    assert head_and_body(received)[2] == whole[: len(whole) // 2] and error is not None
    sb.reset_mid_answer("RetrieveElement", after_bytes=10**9)  # never the whole body
    received, _, error = raw_get(sb, f"/api/v1/element/{page}/")
    assert head_and_body(received)[2] == whole[:-1] and error is not None


def test_an_answer_without_a_body_is_reset_before_its_status_line(sb, named):
    (image,) = sb.objects("images", name="demo-scan-1")
    sb.reset_mid_answer(IIIF)  # the 303 to info.json has no body
    received, _, error = raw_get(sb, f"/iiif/{image['id']}")
    assert received == b"" and isinstance(error, ConnectionResetError)
    assert sb.requests[-1].status == 303
    sb.fault(IIIF, "truncate")  # the same, closed cleanly
    assert raw_get(sb, f"/iiif/{image['id']}") == (b"", 0, None)


def test_truncate_closes_cleanly_short_of_the_length(sb, client, page):
    sb.truncate("CreateTranscription", after=5)
    with pytest.raises(requests.exceptions.ChunkedEncodingError) as raised:
        client.single_request("CreateTranscription", id=page, body=TEXT)
    assert "IncompleteRead(5 bytes read" in str(raised.value)
    assert stored(sb) == 1
    sb.truncate("RetrieveElement", after=3)
    received, _, error = raw_get(sb, f"/api/v1/element/{page}/")
    assert len(head_and_body(received)[2]) == 3 and error is None  # a FIN, not a reset


# -- stalled and slow answers --------------------------------------------------------------------


def test_a_stalled_answer_times_the_client_out_but_is_applied(sb, client, page):
    sb.stall("CreateTranscription", seconds=120)
    url = f"{sb.url}/api/v1/element/{page}/transcription/"
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(url, json=TEXT, headers={"Authorization": f"Token {sb.token}"}, timeout=(30, 0.2))
    assert stored(sb) == 1
    assert (sb.requests[-1].status, sb.requests[-1].fault) == (201, "stall")
    assert_still_serving(sb, client, page)


def test_a_short_stall_delivers_the_answer(sb, client, page):
    sb.stall("RetrieveElement", seconds=0.05)
    assert client.single_request("RetrieveElement", id=page)["name"] == "Page 1"


def test_stopping_ends_the_stalls(tmp_path):
    sandbox = Sandbox(db_path=tmp_path / "s.sqlite").start()
    sandbox.stall(SCHEMA, seconds=3600, times=None)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{sandbox.url}/api/v1/openapi/", timeout=(30, 0.2))
    sandbox.stop()  # does not wait an hour


def test_a_slow_answer_trickles_in_pieces(sb, client, page):
    whole = client.single_request("RetrieveElement", id=page)
    sb.slow("RetrieveElement", seconds=0.5)
    received, pieces, error = raw_get(sb, f"/api/v1/element/{page}/")
    assert error is None and json.loads(head_and_body(received)[2]) == whole
    assert pieces > 2  # ten pieces, 50 ms apart
    sb.slow("CreateTranscription", seconds=0.2)
    created = client.single_request("CreateTranscription", id=page, body=TEXT)
    assert created["text"] == "Stored anyway" and sb.requests[-1].fault == "slow"


# -- malformed answers ---------------------------------------------------------------------------


def test_a_malformed_answer_is_an_html_page_and_applies_nothing(sb, client, page):
    sb.malformed("CreateTranscription")
    answer = client.single_request("CreateTranscription", id=page, body=TEXT)
    assert isinstance(answer, str) and answer.startswith("<!DOCTYPE html>")  # text, not a dict
    assert "the answer of CreateTranscription" in answer
    assert stored(sb) == 0
    assert (sb.requests[-1].status, sb.requests[-1].fault) == (200, "malformed")


def test_a_malformed_answer_can_come_after_the_request_is_applied(sb, client, page):
    sb.malformed("CreateTranscription", {"id": 3}, apply=True)
    assert client.single_request("CreateTranscription", id=page, body=TEXT) == {"id": 3}
    assert stored(sb) == 1


def test_a_malformed_body_of_any_type(sb, client, page):
    sb.malformed("RetrieveElement", "{not json", content_type="application/json")
    with pytest.raises(ValueError):  # requests' JSONDecodeError
        client.single_request("RetrieveElement", id=page)
    sb.malformed(SCHEMA)
    with pytest.raises(SchemaError):
        ArkindexClient(base_url=sb.url, token=sb.token)
    (image,) = sb.objects("images", name="demo-scan-1")
    sb.malformed(IIIF, b"\x89PNG broken", content_type="image/png")
    answer = requests.get(f"{sb.url}/iiif/{image['id']}/full/max/0/default.png", timeout=30)
    assert answer.content == b"\x89PNG broken" and answer.headers["Content-Type"] == "image/png"


# -- rules shared by every kind --------------------------------------------------------------------


def test_faults_of_every_kind_queue_in_order(sb, client, page):
    sb.reset_connection("RetrieveElement")
    sb.fail("RetrieveElement", status=503)
    sb.malformed("RetrieveElement", "<html>")
    sb.stall("RetrieveElement", seconds=0.01, times=2)
    assert [(rule.fault.kind, rule.times) for rule in sb.pending_faults()] == [
        ("reset", 1),
        ("error", 1),
        ("malformed", 1),
        ("stall", 2),
    ]
    with pytest.raises(requests.ConnectionError):
        client.single_request("RetrieveElement", id=page)
    with pytest.raises(ArkindexServerError):
        client.single_request("RetrieveElement", id=page)
    assert client.single_request("RetrieveElement", id=page) == "<html>"
    assert client.single_request("RetrieveElement", id=page)["name"] == "Page 1"
    assert [(rule.fault.kind, rule.times) for rule in sb.pending_faults()] == [("stall", 1)]
    client.single_request("RetrieveElement", id=page)
    client.single_request("RetrieveElement", id=page)
    assert [r.fault for r in sb.requests] == ["reset", "error", "malformed", "stall", "stall", None]


def test_a_fault_until_cleared(sb, client, page):
    sb.fault("RetrieveElement", "reset", times=None)
    for _ in range(3):
        with pytest.raises(requests.ConnectionError):
            client.single_request("RetrieveElement", id=page)
    assert sb.pending_faults() == [FaultRule("RetrieveElement", sb.pending_faults()[0].fault, None)]
    sb.clear_faults()
    assert sb.pending_faults() == []
    assert client.single_request("RetrieveElement", id=page)["name"] == "Page 1"


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("error", {"status": 502}),
        ("reset", {}),
        ("reset-mid-answer", {}),
        ("truncate", {"after_bytes": 1}),
        ("stall", {"seconds": 0.01}),
        ("slow", {"seconds": 0.01}),
        ("malformed", {"apply": True}),
    ],
)
def test_the_sandbox_keeps_answering_after_every_kind(sb, client, page, kind, options):
    sb.fault("CreateTranscription", kind, times=3, **options)
    for _ in range(3):
        with contextlib.suppress(requests.RequestException, ErrorResponse):
            client.single_request("CreateTranscription", id=page, body=TEXT)
    assert [r.fault for r in sb.requests] == [kind] * 3
    assert stored(sb) == (0 if kind in ("error", "reset") else 3)
    assert client.single_request("CreateTranscription", id=page, body=TEXT)["text"] == "Stored anyway"
    assert_still_serving(sb, client, page)


def test_every_kind_is_tested():
    (mark,) = test_the_sandbox_keeps_answering_after_every_kind.pytestmark
    kinds = {kind for kind, _ in mark.args[1]}
    assert kinds == set(FAULT_KINDS)


@pytest.mark.parametrize(
    ("target", "kind", "options", "message"),
    [
        ("RetrieveElemnt", "reset", {}, "did you mean RetrieveElement"),
        ("iif", "reset", {}, "did you mean iiif"),
        ("RetrieveElement", "explode", {}, "use one of error, reset, reset-mid-answer"),
        ("RetrieveElement", "stall", {}, "needs seconds="),
        ("RetrieveElement", "stall", {"seconds": 0}, "seconds must be more than zero"),
        ("RetrieveElement", "slow", {"seconds": "5"}, "seconds must be a number"),
        ("RetrieveElement", "stall", {"seconds": 1, "after_bytes": 3}, "takes seconds .*not after_bytes"),
        ("RetrieveElement", "reset", {"status": 500}, "takes no parameter .*not status"),
        ("RetrieveElement", "reset-mid-answer", {"after_bytes": -1}, "after_bytes must be a number of bytes"),
        ("RetrieveElement", "error", {"status": 302}, "HTTP error status"),
        ("RetrieveElement", "error", {"delay": -1}, "delay must be zero or more"),
        ("RetrieveElement", "error", {"body": object()}, "str, bytes or a JSON-serialisable value"),
        ("RetrieveElement", "malformed", {"content_type": ""}, "content_type must be a media type"),
        ("RetrieveElement", "malformed", {"apply": "yes"}, "apply must be True or False"),
        (SCHEMA, "malformed", {"apply": True}, "changes no state"),
        ("RetrieveElement", "reset", {"times": 0}, "times must be a positive integer"),
    ],
)
def test_fault_arguments_are_checked(sb, target, kind, options, message):
    with pytest.raises(ValueError, match=message):
        sb.fault(target, kind, **options)
    assert sb.pending_faults() == []
