"""The sandbox's HTTP server, and the faults that happen below HTTP: resets, cuts, stalls, trickles.

The server is Werkzeug's threaded server (one thread per connection) with a request handler
of its own that keeps connections alive (HTTP/1.1): a client such as ``requests`` sends all
its calls over one connection instead of paying a TCP connection and a server thread per
call. Every answer carries its ``Content-Length`` (one that has none closes its connection
after it), and what the application left of a request body is read before the next request.

Faults that spoil an answer after the request was handled wrap the answer's body
(:func:`spoil`): the handler sends what the wrapper yields, the status line and headers with
the first piece, so a stall or a trickle is a wait between pieces, and a cut is a body that
ends early. A reset needs the socket: the application raises :class:`ResetConnection` (a
``ConnectionError``, so the handler writes nothing more and treats it as a dropped
connection), and the handler then closes the socket with ``SO_LINGER`` 0, which makes the
kernel send a TCP RST instead of a FIN. A cut or a reset ends its connection, never the
next one: the client opens another.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import socket
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import ClientDisconnected, HTTPException
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Response

from arkworker.sandbox.faults import Fault, cut_length

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

logger = logging.getLogger(__name__)

#: A slow answer sends a piece at least this often (seconds), so a per-read timeout never fires.
TRICKLE_INTERVAL = 0.05
#: How long the server waits for more of a request body it drops (seconds without a byte).
DRAIN_TIMEOUT = 1.0
#: The most of a request body the server reads and drops to keep its connection (bytes).
DRAIN_LIMIT = 1 << 30
_BLOCK = 64 * 1024


class DropConnection(ConnectionAbortedError):
    """Raised by the application to close the connection it answers, now, without a word more."""


class ResetConnection(DropConnection):
    """Raised by the application to reset (TCP RST) the connection it answers, now."""


def spoil(response: Response, fault: Fault, wait: Callable[[float], object]) -> Response:
    """``response`` as a ``stall``, ``slow``, ``reset-mid-answer`` or ``truncate`` fault sends it.

    ``wait(seconds)`` is how the answer waits: a wait that a stopping server cuts short.
    """
    if response.content_length is None:  # a body of unknown length (the sandbox sets them all)
        response.set_data(response.get_data())
    length = response.content_length or 0
    blocks = response.iter_encoded()
    if fault.kind == "stall":
        body: Iterable[bytes] = _stalled(blocks, fault.seconds, wait)
    elif fault.kind == "slow":
        body = _trickled(blocks, length, fault.seconds, wait)
    else:
        body = _cut(blocks, length, cut_length(fault, length), reset=fault.kind == "reset-mid-answer")
    spoilt = Response(body, status=response.status, headers=response.headers, direct_passthrough=True)
    spoilt.headers["Content-Length"] = str(length)
    return spoilt


def _stalled(blocks: Iterable[bytes], seconds: float, wait: Callable[[float], object]) -> Iterator[bytes]:
    wait(seconds)  # before the first piece: the status line goes with it
    yield from blocks


def _trickled(
    blocks: Iterable[bytes], length: int, seconds: float, wait: Callable[[float], object]
) -> Iterator[bytes]:
    """The body in even pieces, one every ``seconds / pieces``, the last one at ``seconds``."""
    if not length:
        wait(seconds)
        return
    pieces = max(1, min(length, math.ceil(seconds / TRICKLE_INTERVAL)))
    size = math.ceil(length / pieces)
    pause = seconds / pieces
    pending = b""
    for block in blocks:
        pending += block
        while len(pending) >= size:
            wait(pause)
            yield pending[:size]
            pending = pending[size:]
    if pending:
        wait(pause)
        yield pending


def _cut(blocks: Iterable[bytes], length: int, after: int, *, reset: bool) -> Iterator[bytes]:
    """The status line, the headers and ``after`` body bytes, then a reset or a close.

    An empty body has nothing to cut: the connection then ends before the status line.
    """
    if not length:
        raise ResetConnection("reset by an injected fault") if reset else DropConnection("cut")
    sent = 0
    for block in blocks:
        if sent + len(block) >= after:
            yield block[: after - sent]  # possibly empty: the head still goes
            break
        sent += len(block)
        yield block
    # The connection would otherwise wait for the rest of the body, then carry the next request.
    raise ResetConnection("reset by an injected fault") if reset else DropConnection("cut")


class _Body:
    """A request body of known length as the application reads it: never past its end.

    It counts what is left, so that the server can read the rest before the next request on
    the connection: a request answered without reading its body (a 401, a 413, a fault) must
    not leave its body to be taken for the next request line.
    """

    def __init__(self, stream: io.BufferedIOBase, length: int) -> None:
        self._stream = stream
        self.left = length

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self.left:
            size = self.left
        if not size:
            return b""
        data = self._stream.read(size)
        if not data:  # the client went away in the middle of its body
            raise ClientDisconnected()
        self.left -= len(data)
        return data


def _plain_length(value: str | None) -> int | None:
    """A Content-Length header as a number of bytes; None when it is not one."""
    return int(value) if value is not None and value.isascii() and value.isdigit() else None


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler answering over kept-alive connections, without its access log, able to reset.

    Werkzeug's own ``run_wsgi`` closes every connection after one answer; this one writes the
    answer with its Content-Length (or closes the connection when an answer has none), reads
    what the application left of the request body, and keeps the connection for the next
    request. The access log is the application's (``Sandbox.requests``).
    """

    server: _Server
    protocol_version = "HTTP/1.1"
    _reset = False

    def setup(self) -> None:
        super().setup()
        # Every write is a whole piece (the head with the first block, a trickled piece): send it now.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.opened(self.connection)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def run_wsgi(self) -> None:
        environ = self.make_environ()
        if not environ.get("wsgi.input_terminated"):  # not chunked: the body ends at its length
            length = _plain_length(environ.get("CONTENT_LENGTH"))
            if length is None and "CONTENT_LENGTH" in environ:
                self.close_connection = True  # where this body ends is unknown
            environ["wsgi.input"] = _Body(self.rfile, length or 0)
            environ["wsgi.input_terminated"] = True
        head: list[bytes] = []  # the status line and headers, until they go with the first block

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info and head and not head[0]:  # the head is out: too late for another answer
                raise exc_info[1].with_traceback(exc_info[2])
            head[:] = [self._head(status, headers)]
            return write

        def write(data: bytes) -> None:
            if head and head[0]:
                data, head[0] = head[0] + data, b""
            if data:
                self.wfile.write(data)

        try:
            blocks = self.server.app(environ, start_response)
            try:
                for block in blocks:
                    write(block)
                write(b"")  # an answer without a body: its head
            finally:
                if hasattr(blocks, "close"):
                    blocks.close()
        except (ConnectionError, TimeoutError) as error:  # a reset, a cut, a client gone
            self.connection_dropped(error, environ)
            return
        except Exception:
            logger.exception("The sandbox failed to answer %s %s", self.command, self.path)
            self.close_connection = True
            if not head or head[0]:  # nothing of the answer is out yet: a bare 500 instead
                self.wfile.write(self._head("500 Internal Server Error", [("Content-Length", "0")]))
            return
        if not self.close_connection and not self.server.closing and self._drained(environ["wsgi.input"]):
            return
        self.close_connection = True

    def _head(self, status: str, headers: list[tuple[str, str]]) -> bytes:
        """The status line and headers of an answer, ``Connection: close`` when it is the last one."""
        code = int(status.split(None, 1)[0])
        bodiless = self.command == "HEAD" or code in (204, 304) or 100 <= code < 200
        if not bodiless and not any(name.lower() == "content-length" for name, _ in headers):
            self.close_connection = True  # the body ends with the connection
        lines = [
            f"{self.protocol_version} {status}",
            f"Server: {self.version_string()}",
            f"Date: {self.date_time_string()}",
            *(f"{name}: {value}" for name, value in headers),
        ]
        if self.close_connection or self.server.closing:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _drained(self, body: _Body | io.RawIOBase) -> bool:
        """Read and drop what the application left of the request body: whether all of it came.

        A client may send the rest slowly, or never (it announced 300 MB and gave up on the
        first answer): each read waits at most :data:`DRAIN_TIMEOUT`, and no more than
        :data:`DRAIN_LIMIT` bytes are read; then the connection is closed instead.
        """
        if isinstance(body, _Body) and not body.left:
            return True
        self.connection.settimeout(DRAIN_TIMEOUT)
        drained = 0
        try:
            while block := body.read(_BLOCK):
                drained += len(block)
                if drained > DRAIN_LIMIT:
                    return False
        except (OSError, HTTPException):  # a bad chunk header, a client gone, a silence
            return False
        finally:
            self.connection.settimeout(None)
        return True

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        # The connection is unusable either way: never read a second request from it.
        self.close_connection = True
        self._reset = self._reset or isinstance(error, ResetConnection)

    def finish(self) -> None:
        self.server.closed(self.connection)
        super().finish()
        if self._reset:
            # With a zero linger time, close() sends RST and drops what is unsent or unread;
            # the server's shutdown_request() then finds the socket closed and does nothing.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()


class _Server(ThreadedWSGIServer):
    """Werkzeug's threaded server, knowing its open connections so that stopping can end them.

    A kept-alive connection waits for its next request in a thread of its own: stopping shuts
    the reading side of every connection, which ends those waits at once (an answer being
    written still goes out, and its connection closes after it).
    """

    def __init__(self, app: WSGIApplication, fd: int, port: int) -> None:
        super().__init__("127.0.0.1", port, app, handler=_RequestHandler, fd=fd)
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self.closing = False

    def opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.add(connection)
            if self.closing:
                _shut_reading(connection)

    def closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.discard(connection)

    def close_connections(self) -> None:
        with self._lock:
            self.closing = True
            for connection in self._open:
                _shut_reading(connection)


def _shut_reading(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by its handler
        connection.shutdown(socket.SHUT_RD)


class ServerThread:
    """A threaded server on 127.0.0.1, served from a background thread.

    ``stopping`` is set when the server stops, which ends the waits of stalled and slow answers
    (the application waits on it), so that stopping never waits for them.
    """

    def __init__(self, app: WSGIApplication, stopping: threading.Event, port: int = 0) -> None:
        self.stopping = stopping
        stopping.clear()
        # Bind the socket here: on a busy port Werkzeug would print to stderr and call
        # sys.exit(); an OSError lets the caller say which port and what to do.
        with socket.create_server(("127.0.0.1", port)) as listening:
            self.server = _Server(app, listening.fileno(), listening.getsockname()[1])
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"arkworker-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.close_connections()
        self._thread.join()
        self.server.server_close()
