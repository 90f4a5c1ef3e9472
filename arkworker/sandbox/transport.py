"""The sandbox's HTTP server, and the faults that happen below HTTP: resets, cuts, stalls, trickles.

The server is Werkzeug's threaded development server (one thread per connection, every
answer closing its connection). Faults that spoil an answer after the request was handled
wrap the answer's body (:func:`spoil`): the WSGI server sends what the wrapper yields, so a
stall or a trickle is a wait between pieces, and a cut is a body that ends early. A reset
needs the socket: the application raises :class:`ResetConnection` (a ``ConnectionError``, so
Werkzeug writes nothing more and treats it as a dropped connection), and the request handler
then closes the socket with ``SO_LINGER`` 0, which makes the kernel send a TCP RST instead of
a FIN. Each connection has its own socket and thread, so a reset never touches the next
request.
"""

from __future__ import annotations

import math
import socket
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Response

from arkworker.sandbox.faults import Fault, cut_length

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

#: A slow answer sends a piece at least this often (seconds), so a per-read timeout never fires.
TRICKLE_INTERVAL = 0.05


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
    wait(seconds)  # before the first piece: Werkzeug sends the status line with it
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
            yield block[: after - sent]  # possibly empty: Werkzeug still sends the headers
            break
        sent += len(block)
        yield block
    if reset:
        raise ResetConnection("reset by an injected fault")


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without its access log (the app keeps one) and able to reset."""

    _reset = False

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        # The connection is unusable either way: never read a second request from it.
        self.close_connection = True
        self._reset = self._reset or isinstance(error, ResetConnection)

    def finish(self) -> None:
        super().finish()
        if self._reset:
            # With a zero linger time, close() sends RST and drops what is unsent or unread;
            # the server's shutdown_request() then finds the socket closed and does nothing.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()


class ServerThread:
    """A threaded Werkzeug server on 127.0.0.1, served from a background thread.

    ``stopping`` is set when the server stops, which ends the waits of stalled and slow answers
    (the application waits on it), so that stopping never waits for them.
    """

    def __init__(self, app: WSGIApplication, stopping: threading.Event, port: int = 0) -> None:
        self.stopping = stopping
        stopping.clear()
        # Bind the socket here: on a busy port Werkzeug would print to stderr and call
        # sys.exit(); an OSError lets the caller say which port and what to do.
        with socket.create_server(("127.0.0.1", port)) as listening:
            self.server: BaseWSGIServer = make_server(
                "127.0.0.1",
                listening.getsockname()[1],
                app,
                threaded=True,
                request_handler=_RequestHandler,
                fd=listening.fileno(),
            )
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
        self._thread.join()
        self.server.server_close()
