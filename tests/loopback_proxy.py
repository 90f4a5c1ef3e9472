"""A test-only HTTP forward proxy on 127.0.0.1: what a worker behind a corporate proxy talks to.

Clients reach it through ``HTTP_PROXY``: each request names its absolute URL, which the proxy
fetches and answers. Unlike :class:`~tests.faulty_proxy.FaultyProxy` (a stand-in for the
server), it keeps connections alive, so that it can count how many connections a client
opened for its requests: the proof that a connection pool reuses them.
"""

from __future__ import annotations

import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

#: Headers that concern one hop, not the request or the answer (RFC 9110, 7.6.1), and the
#: length, which the proxy sets itself.
HOP_HEADERS = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "transfer-encoding",
    "te",
}


class LoopbackProxy:
    """``with LoopbackProxy() as proxy:``; give ``proxy.url`` as ``HTTP_PROXY``.

    ``requests`` lists the URL of every request received, ``connections`` counts the
    connections clients opened.
    """

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.connections = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.proxy = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> LoopbackProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def paths(self) -> list[str]:
        """The path of every request received, in order."""
        with self.lock:
            return [urlsplit(url).path for url in self.requests]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body are two writes: without this, the client's delayed ACK holds the body 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        proxy: LoopbackProxy = self.server.proxy  # type: ignore[attr-defined]
        with proxy.lock:
            proxy.connections += 1

    def do_GET(self) -> None:
        proxy: LoopbackProxy = self.server.proxy  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with proxy.lock:
            proxy.requests.append(self.path)
        target = urlsplit(self.path)
        upstream = http.client.HTTPConnection(target.hostname or "", target.port, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS | {"host"}}
            path = target.path + (f"?{target.query}" if target.query else "")
            upstream.request(self.command, path, body=body or None, headers=headers)
            answer = upstream.getresponse()
            content = answer.read()
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_HEADERS | {
                    "content-length",
                    "date",
                    "server",
                }:  # set by send_response
                    self.send_header(name, value)
        finally:
            upstream.close()
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET
