"""The HTTP transport of API calls: timeouts on every request, and a time budget per answer.

arkindex-client sends its calls with ``timeout=(30, 60)`` and downloads the schema with no
timeout at all, so a stalled server holds a worker at start-up forever. requests' read
timeout, moreover, bounds each read on the socket, not the answer: a server that sends a
byte every few seconds holds a call as long as it likes. :class:`TimedAdapter`, mounted on
the client's session, fixes both for every request the session sends:

* the connect and read timeouts of each request are the configured ones, whatever the
  caller asked for (arkindex-client hard-codes its own);
* an answer that is not streamed (every API call, the schema included) must be complete
  within ``total`` seconds of sending the request: a watchdog shuts the connection down when
  the budget runs out, and the call fails with :class:`AnswerTimeoutExceeded`. Streamed
  downloads (``stream=True``, the artifacts) are read by their caller, block by block, each
  read bounded by the read timeout: a large file legitimately takes longer than any budget.

The budget is enforced while the body is read; until the headers arrive the connect and read
timeouts bound the wait (headers are small, a server that trickles them is not a case worth
a thread per request).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter


class TimeoutExceeded(requests.Timeout):
    """A request took longer than one of the configured limits; the message names it."""


class ConnectTimeoutExceeded(TimeoutExceeded, requests.ConnectTimeout):
    """No connection within the connect timeout: nothing was sent."""


class AnswerTimeoutExceeded(TimeoutExceeded, requests.ReadTimeout):
    """The request was sent, and its answer did not come (whole) in time."""


class TimedAdapter(HTTPAdapter):
    """A requests transport whose requests all have these timeouts, and whose answers a time budget.

    ``connect``: seconds to establish a connection; ``read``: seconds to wait for the answer,
    and between two reads of it; ``total``: seconds from sending a request to the end of its
    answer (streamed answers excepted).
    """

    def __init__(self, connect: float, read: float, total: float) -> None:
        super().__init__()
        self.connect = connect
        self.read = read
        self.total = total

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        del timeout  # replaced by the configured ones
        started = time.monotonic()
        try:
            response = super().send(
                request,
                stream=True,
                timeout=(self.connect, self.read),
                verify=verify,
                cert=cert,
                proxies=proxies,
            )
        except requests.ConnectTimeout as exc:
            raise ConnectTimeoutExceeded(f"no connection within {self.connect:g} s", request=request) from exc
        except requests.ReadTimeout as exc:
            raise AnswerTimeoutExceeded(f"no answer within {self.read:g} s", request=request) from exc
        if not stream:
            self._read_whole(response, started + self.total)
        return response

    def _read_whole(self, response: requests.Response, deadline: float) -> None:
        """Read the body of ``response`` into it, or fail once ``deadline`` has passed."""
        late = AnswerTimeoutExceeded(
            f"the answer took longer than {self.total:g} s", request=response.request, response=response
        )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            response.close()
            raise late
        watchdog = _Watchdog(_socket_of(response), remaining)
        try:
            with watchdog:
                _ = response.content  # read the body into the response
        except Exception as exc:
            if watchdog.fired:
                response.close()
                raise late from exc
            raise
        if watchdog.fired:  # the connection was cut at the deadline: what was read may be partial
            response.close()
            raise late


def _socket_of(response: requests.Response) -> socket.socket | None:
    """A socket of its own on the connection the answer is read from; None when it holds none (no body).

    The descriptor is duplicated (public API, where the connection's socket object is out of
    reach once the answer says ``Connection: close``): shutting the duplicate down cuts the
    connection, and as long as the duplicate is open its descriptor cannot be reused by an
    unrelated socket.
    """
    try:
        return socket.socket(fileno=os.dup(response.raw.fileno()))
    except (OSError, ValueError):  # the answer has no open connection
        return None


class _Watchdog:
    """Shuts a socket down after ``seconds`` unless the block it guards ended first.

    Shutting the connection down (not closing it) wakes a read blocked on it in another
    thread: the read sees the end of the stream (a TLS read too: ``sock`` is the plain
    socket under it).
    """

    def __init__(self, sock: socket.socket | None, seconds: float) -> None:
        self.sock = sock
        self.fired = False
        self._done = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        if self.sock is not None:
            self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()
        if self.sock is not None:
            self.sock.close()  # the duplicate only: the connection stays the response's

    def _fire(self) -> None:
        with self._lock:
            if self._done or self.sock is None:
                return
            self.fired = True
            with contextlib.suppress(OSError):  # the peer is gone already
                self.sock.shutdown(socket.SHUT_RDWR)
