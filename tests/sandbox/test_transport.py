"""Kept-alive connections: many requests on one connection, and every way one ends.

A client such as ``requests`` sends all its calls over one connection, so every answer must
say where it ends (its Content-Length), a body the sandbox did not read must not be taken for
the next request, and a connection must end exactly when HTTP says so: when the client asks,
after a fault that cuts or resets it, and when the sandbox stops.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading

import pytest

from arkworker.sandbox import IIIF, Sandbox
from arkworker.sandbox.transport import ServerThread


def connect(sb: Sandbox) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", int(sb.url.rsplit(":", 1)[1]), timeout=30)


def ask(conn: http.client.HTTPConnection, method: str, path: str, **kwargs) -> http.client.HTTPResponse:
    """One request on ``conn``, its answer read to the end."""
    conn.request(method, path, **kwargs)
    answer = conn.getresponse()
    answer.read()
    return answer


def auth(sb: Sandbox) -> dict[str, str]:
    return {"Authorization": f"Token {sb.token}"}


def test_one_connection_carries_answers_of_every_kind(sb, named):
    page = named("Page 1")
    (image,) = sb.objects("images", name="demo-scan-1")
    conn = connect(sb)
    statuses, sockets = [], set()
    for method, path, headers in [
        ("GET", "/api/v1/openapi/", {}),
        ("GET", f"/api/v1/element/{page}/", auth(sb)),
        ("GET", f"/api/v1/element/{page}/", {}),  # 401
        ("GET", "/api/v1/no/such/path/", auth(sb)),  # 404
        ("GET", f"/api/v1/element/{page}", auth(sb)),  # 308 to the trailing slash
        ("GET", f"/iiif/{image['id']}", {}),  # 303 without a body
        ("GET", f"/iiif/{image['id']}/full/50,/0/default.png", {}),
        ("HEAD", f"/iiif/{image['id']}/info.json", {}),
    ]:
        answer = ask(conn, method, path, headers=headers)
        statuses.append(answer.status)
        assert answer.getheader("Connection") is None and not answer.will_close
        if method != "HEAD" and answer.status != 303:
            assert int(answer.getheader("Content-Length")) > 0
        sockets.add(conn.sock)
    assert statuses == [200, 200, 401, 404, 308, 303, 200, 200]
    assert len(sockets) == 1 and None not in sockets
    assert len(sb.requests) == len(statuses)
    conn.close()


def test_a_body_left_unread_is_not_taken_for_the_next_request(sb, named):
    """A 401 answers before reading the body; the next request on the connection is answered."""
    page = named("Page 1")
    conn = connect(sb)
    body = json.dumps({"text": "x" * 100_000})
    wrong = {"Authorization": "Token wrong", "Content-Type": "application/json"}
    assert ask(conn, "POST", f"/api/v1/element/{page}/transcription/", body=body, headers=wrong).status == 401
    sock = conn.sock
    chunked = iter([b'{"text": ', b'"chunked"}'])
    conn.request("POST", f"/api/v1/element/{page}/transcription/", body=chunked, headers=wrong)
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 401 and conn.sock is sock
    answer = ask(conn, "GET", f"/api/v1/element/{page}/", headers=auth(sb))
    assert answer.status == 200 and conn.sock is sock
    assert [r.status for r in sb.requests] == [401, 401, 200]
    conn.close()


@pytest.mark.parametrize(
    "request_head",
    [
        b"GET /api/v1/openapi/ HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\n\r\n",
        b"GET /api/v1/openapi/ HTTP/1.0\r\n\r\n",
    ],
    ids=["asked", "http-1.0"],
)
def test_the_connection_ends_when_the_client_asks(sb, request_head):
    with socket.create_connection(("127.0.0.1", int(sb.url.rsplit(":", 1)[1])), timeout=30) as conn:
        conn.sendall(request_head)
        received = b""
        while data := conn.recv(65536):  # the sandbox closes after the answer
            received += data
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nConnection: close" in head
    assert json.loads(body)["openapi"]


def test_a_reset_ends_the_kept_alive_connection_only(sb, named):
    page = named("Page 1")
    conn = connect(sb)
    assert ask(conn, "GET", f"/api/v1/element/{page}/", headers=auth(sb)).status == 200
    sb.reset_connection("RetrieveElement")
    with pytest.raises(ConnectionResetError):
        ask(conn, "GET", f"/api/v1/element/{page}/", headers=auth(sb))
    conn.close()
    again = connect(sb)
    assert ask(again, "GET", f"/api/v1/element/{page}/", headers=auth(sb)).status == 200
    again.close()


def test_a_cut_answer_ends_its_connection(sb, named):
    """A truncated answer is followed by the end of the connection, not by the next answer."""
    (image,) = sb.objects("images", name="demo-scan-1")
    sb.fault(IIIF, "truncate", after_bytes=10)
    conn = connect(sb)
    conn.request("GET", f"/iiif/{image['id']}/info.json")
    answer = conn.getresponse()
    with pytest.raises(http.client.IncompleteRead) as cut:
        answer.read()
    assert len(cut.value.partial) == 10
    conn.close()


def test_stopping_ends_idle_connections(tmp_path):
    sandbox = Sandbox(db_path=tmp_path / "state.sqlite").start()
    conn = connect(sandbox)
    assert ask(conn, "GET", "/api/v1/openapi/").status == 200
    sock = conn.sock
    assert sock is not None
    sandbox.stop()
    assert sock.recv(1) == b""  # the sandbox closed the connection it kept
    conn.close()


# -- the server below any sandbox: answers the application gives badly -----------------------------


@pytest.fixture
def serve():
    """``serve(wsgi_app)``: the sandbox's HTTP server in front of a bare WSGI application; its port."""
    servers = []

    def start(app) -> int:
        server = ServerThread(app, threading.Event())
        servers.append(server)
        return server.port

    yield start
    for server in servers:
        server.stop()


def test_an_answer_of_unknown_length_ends_its_connection(serve):
    def streamed(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"no "
        yield b"length"

    conn = http.client.HTTPConnection("127.0.0.1", serve(streamed), timeout=30)
    conn.request("GET", "/")
    answer = conn.getresponse()
    assert answer.getheader("Connection") == "close" and answer.read() == b"no length"
    conn.close()


def test_an_application_that_fails_gets_a_bare_500_and_the_connection_ends(serve, caplog):
    def failing(environ, start_response):
        raise RuntimeError("broken")

    conn = http.client.HTTPConnection("127.0.0.1", serve(failing), timeout=30)
    answer = ask(conn, "GET", "/")
    assert (answer.status, answer.getheader("Content-Length"), answer.getheader("Connection")) == (
        500,
        "0",
        "close",
    )
    assert "The sandbox failed to answer GET /" in caplog.text
    conn.close()
