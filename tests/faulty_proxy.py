"""A test-only HTTP proxy in front of a sandbox, breaking chosen answers the way a network does.

The sandbox injects HTTP errors; this proxy adds what only the transport can do: a connection
reset before or after the request reached the sandbox, an answer that stalls, trickles or is
cut in the middle, a page that is not the API's. Requests are forwarded to the sandbox
unchanged, so its state and its request log stay the truth about what was applied.

Faults are queued per target (an operationId, or ``"openapi"`` for the schema) and taken in
order, ``times`` each (None: until cleared):

* ``reset``: reset the connection without forwarding: the request never reached the sandbox;
* ``reset_after``: forward, then reset without answering: applied, answer lost;
* ``cut_after``: forward, then send the headers and half the body and reset: applied, body broken;
* ``stall_after``: forward, then wait ``seconds`` before answering: applied, answer late;
* ``trickle``: forward, then send the answer one byte every ``interval`` seconds;
* ``serve``: answer ``status`` with ``body`` (bytes) and ``content_type`` instead of forwarding.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from arkworker.sandbox.operations import API_PREFIX, OPERATIONS

KINDS = {"reset", "reset_after", "cut_after", "stall_after", "trickle", "serve"}


@dataclass
class Fault:
    kind: str
    options: dict[str, Any] = field(default_factory=dict)


def _routes() -> list[tuple[str, re.Pattern[str], str]]:
    routes = []
    for operation in OPERATIONS:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(API_PREFIX + operation.path))
        pattern = pattern.replace("[^/]+", ".+") if operation.path.endswith("{path}") else pattern
        routes.append((operation.method, re.compile(pattern + "$"), operation.operation_id))
    return routes


class FaultyProxy:
    """``with FaultyProxy(sandbox) as proxy:``; point a client at ``proxy.env()``."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.upstream = urlsplit(sandbox.url)
        self.routes = _routes()
        #: (target, fault kind or None) of every request received, in order.
        self.log: list[tuple[str, str | None]] = []
        self._faults: dict[str, list[list[Any]]] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.proxy = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def env(self, **extra: str) -> dict[str, str]:
        """The sandbox's environment, through the proxy, with no retry waits."""
        return {**self.sandbox.env(), "ARKINDEX_API_URL": self.url, "ARKWORKER_RETRY_BACKOFF": "0", **extra}

    def add(self, target: str, kind: str, times: int | None = 1, **options: Any) -> None:
        assert kind in KINDS, kind
        with self._lock:
            self._faults.setdefault(target, []).append([Fault(kind, options), times])

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.log.clear()

    def faults_of(self, target: str) -> list[str | None]:
        """The fault applied to each request of ``target`` so far (None: forwarded unharmed)."""
        return [kind for name, kind in self.log if name == target]

    def target(self, method: str, path: str) -> str:
        path = urlsplit(path).path
        if path.startswith(API_PREFIX + "openapi"):
            return "openapi"
        for route_method, pattern, operation_id in self.routes:
            if route_method == method and pattern.match(path):
                return operation_id
        return "unknown"

    def take(self, target: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get(target) or []
            if not queue:
                fault = None
            else:
                fault, times = queue[0]
                if times is not None:
                    queue[0][1] = times - 1
                    if times <= 1:
                        queue.pop(0)
            self.log.append((target, fault.kind if fault else None))
            return fault

    def forward(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, str, str, bytes]:
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
            connection.request(method, path, body=body or None, headers=sent)
            answer = connection.getresponse()
            return answer.status, answer.reason, answer.getheader("Content-Type") or "", answer.read()
        finally:
            connection.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        proxy: FaultyProxy = self.server.proxy  # type: ignore[attr-defined]
        self.close_connection = True
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fault = proxy.take(proxy.target(self.command, self.path))
        kind = fault.kind if fault else None
        options = fault.options if fault else {}
        if kind == "reset":
            return self._reset()
        if kind == "serve":
            return self._answer(options.get("status", 200), "OK", options["content_type"], options["body"])
        status, reason, content_type, content = proxy.forward(self.command, self.path, self.headers, body)
        if kind == "reset_after":
            return self._reset()
        if kind == "stall_after" and proxy.stopping.wait(options["seconds"]):
            return None
        with contextlib.suppress(OSError):  # the client gave up: what a timeout looks like from here
            self._answer(status, reason, content_type, content, kind=kind, options=options)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _answer(
        self,
        status: int,
        reason: str,
        content_type: str,
        content: bytes,
        kind: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(content)}\r\nConnection: close\r\n\r\n"
        )
        self.wfile.write(head.encode())
        if kind == "cut_after":
            self.wfile.write(content[: len(content) // 2])
            return self._reset()
        if kind == "trickle":
            proxy: FaultyProxy = self.server.proxy  # type: ignore[attr-defined]
            for index in range(len(content)):
                if proxy.stopping.wait(options["interval"]):  # type: ignore[index]
                    return None
                self.wfile.write(content[index : index + 1])
            return None
        self.wfile.write(content)
        return None

    def _reset(self) -> None:
        """Close the connection with a TCP reset (SO_LINGER 0), as a cut network does."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
