"""The HTTP transport of API calls: timeouts on every request, a time budget per answer, the
network settings of the environment read once, and a connection pool for many threads.

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
watching). One watchdog thread serves every answer of the process: starting a timer thread
per answer cost more than the rest of our code in an API call.

requests reads the proxy variables and the CA bundle from ``os.environ`` at every request
(``Session.merge_environment_settings``: a fifth of a worker's time when profiled over 1,000
elements). :class:`ApiSession` reads them once, from the environment the client is built
from (:class:`NetworkSettings`), and decides per host whether ``NO_PROXY`` applies, once.

A worker running ``--jobs N`` shares one session between N threads: the adapter keeps up to
``pool_size`` connections per host open for reuse (requests' default, 10, would close and
reopen the connections of the threads beyond it, with a warning for each).
"""

from __future__ import annotations

import contextlib
import heapq
import ipaddress
import itertools
import os
import re
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

#: Connections kept open per host for reuse: enough for ``--jobs`` up to 32 sharing one session.
DEFAULT_POOL_SIZE = 32


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
    answer (streamed answers excepted). ``pool_size``: connections kept open per host, the
    number of threads that can each reuse one (more threads still work: the connections beyond
    the pool are closed after their request, and urllib3 warns about each).
    """

    def __init__(
        self, connect: float, read: float, total: float, *, pool_size: int = DEFAULT_POOL_SIZE
    ) -> None:
        super().__init__(pool_maxsize=pool_size)
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
        if deadline <= time.monotonic():
            response.close()
            raise self._late(response)
        guard = WATCHDOG.watch(_socket_of(response), deadline)
        try:
            with guard:
                _ = response.content  # read the body into the response
        except Exception as exc:
            if guard.fired:
                response.close()
                raise self._late(response) from exc
            raise
        if guard.fired:  # the connection was cut at the deadline: what was read may be partial
            response.close()
            raise self._late(response)

    def _late(self, response: requests.Response) -> AnswerTimeoutExceeded:
        return AnswerTimeoutExceeded(
            f"the answer took longer than {self.total:g} s", request=response.request, response=response
        )


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


class _Guard:
    """One answer being read: its socket is shut down at its deadline unless the block ends first."""

    def __init__(self, watchdog: _Watchdog, sock: socket.socket | None) -> None:
        self.watchdog = watchdog
        self.sock = sock
        self.fired = False
        self.done = False

    def __enter__(self) -> _Guard:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.watchdog.release(self)


class _Watchdog:
    """One thread that shuts down the connections of the answers still being read at their deadline.

    Answers are kept in a heap by deadline. An answer that ends is marked done and its
    socket (a duplicate) closed under the lock, so the thread never shuts down a descriptor
    that another socket reuses; finished answers at the top of the heap are dropped at once,
    the others when they surface. The thread sleeps until the earliest deadline and is only
    woken when an earlier one arrives, which answers read in the order they were sent never
    cause. Shutting the connection down (not closing it) wakes a read blocked on it in
    another thread: the read sees the end of the stream (a TLS read too: the socket is the
    plain one under it).
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start with no answer and no thread; in a forked child, forget the parent's (and its lock, maybe held)."""
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int, _Guard]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket | None, deadline: float) -> _Guard:
        """A guard for the block reading an answer on ``sock`` (None: nothing to watch) until ``deadline``."""
        guard = _Guard(self, sock)
        if sock is None:
            return guard
        with self._lock:
            heapq.heappush(self._heap, (deadline, next(self._order), guard))
            if self._thread is None or not self._thread.is_alive():  # first use, or in a forked child
                self._thread = threading.Thread(
                    target=self._run, name="arkworker-answer-watchdog", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is guard:
                self._lock.notify()
        return guard

    def release(self, guard: _Guard) -> None:
        """The block of ``guard`` ended: never fire it, and close its socket."""
        with self._lock:
            guard.done = True
            if guard.sock is not None:
                guard.sock.close()  # the duplicate only: the connection stays the response's
            self._drop_done()

    def _drop_done(self) -> None:
        while self._heap and self._heap[0][2].done:
            heapq.heappop(self._heap)

    def _run(self) -> None:
        with self._lock:
            while True:
                self._drop_done()
                if not self._heap:
                    self._lock.wait()
                    continue
                deadline, _, guard = self._heap[0]
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    self._lock.wait(remaining)
                    continue
                heapq.heappop(self._heap)
                guard.fired = True
                assert guard.sock is not None  # only guards with a socket are in the heap
                with contextlib.suppress(OSError):  # the peer is gone already
                    guard.sock.shutdown(socket.SHUT_RDWR)


#: The process's one answer watchdog (a thread started at its first use, shared by every adapter).
WATCHDOG = _Watchdog()
if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=WATCHDOG.reset)


@dataclass(frozen=True)
class NetworkSettings:
    """What the environment says about reaching servers: proxies, the hosts that bypass them, the CA bundle.

    Read as requests reads ``os.environ`` (through urllib): ``<scheme>_proxy`` variables in
    either case, the lower-case one winning and an empty lower-case one unsetting the other
    (``http_proxy``, ``HTTPS_PROXY``, ``all_proxy``…; ``HTTP_PROXY`` is ignored when
    ``REQUEST_METHOD`` is set, as in a CGI script); ``NO_PROXY``: the hosts reached directly
    (``*``, domain names, which cover their subdomains, ``host:port``, and for IP addresses
    CIDR ranges such as ``10.0.0.0/8``); ``REQUESTS_CA_BUNDLE``, else ``CURL_CA_BUNDLE``: the
    certificates HTTPS servers are verified with.
    """

    #: Proxy URLs by scheme (``http``, ``https``, ``all``…).
    proxies: Mapping[str, str] = field(default_factory=dict)
    no_proxy: str = ""
    ca_bundle: str | None = None
    _by_origin: dict[tuple[str, str], dict[str, str]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NetworkSettings:
        proxies: dict[str, str] = {}
        for name, value in env.items():
            if value and name.lower().endswith("_proxy"):
                proxies[name[:-6].lower()] = value
        if "REQUEST_METHOD" in env:
            proxies.pop("http", None)
        for name, value in env.items():  # lower-case names last: they win, and an empty one unsets
            if name.endswith("_proxy"):
                if value:
                    proxies[name[:-6].lower()] = value
                else:
                    proxies.pop(name[:-6].lower(), None)
        no_proxy = proxies.pop("no", "")
        bundle = env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE") or None
        return cls(proxies=proxies, no_proxy=no_proxy, ca_bundle=bundle)

    def proxies_for(self, url: str) -> dict[str, str]:
        """The proxies a request to ``url`` goes through: all of them, or none when ``NO_PROXY`` covers its host.

        Decided once per scheme and host (several threads may decide at once: they agree).
        """
        if not self.proxies:
            return {}
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        found = self._by_origin.get(origin)
        if found is None:
            found = {} if self._bypasses(parts.hostname, parts.port) else dict(self.proxies)
            self._by_origin[origin] = found
        return found

    def _bypasses(self, host: str | None, port: int | None) -> bool:
        """Whether ``NO_PROXY`` names ``host`` (and ``port``), as curl and requests read it."""
        if not host:
            return True
        host = host.lower().rstrip(".")
        address = _address(host)
        for entry in self.no_proxy.lower().replace(" ", "").split(","):
            if entry == "*":
                return True
            name, _, entry_port = entry.rpartition(":") if _WITH_PORT.fullmatch(entry) else (entry, "", "")
            if entry_port and int(entry_port) != port:
                continue
            if address is not None:  # an address matches an address or a range, not a name's end
                network = _network(name)
                if network is not None and address in network:
                    return True
                continue
            name = name.strip(".")
            if name and (host == name or host.endswith("." + name)):
                return True
        return False


#: ``host:port`` in ``NO_PROXY``.
_WITH_PORT = re.compile(r"[^:]+:\d+")


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:  # a host name
        return None


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The addresses ``entry`` of ``NO_PROXY`` covers (one address, or a CIDR range); None for a name."""
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


class ApiSession(requests.Session):
    """A requests session that takes the environment's proxies and CA bundle from ``network``, read once.

    requests itself reads nothing from ``os.environ`` (``trust_env`` is off): the settings it
    would have found there, at each request, come from ``network``, and a request's own
    ``proxies`` and ``verify`` still win, as with requests. ``.netrc`` files are not read:
    API calls are authenticated by their token.
    """

    def __init__(self, network: NetworkSettings) -> None:
        super().__init__()
        self.trust_env = False
        self.network = network

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        """The request's settings over the environment's over the session's, as requests merges them."""
        found = self.network.proxies_for(str(url)) if url else {}
        merged = {**self.proxies, **found, **(proxies or {})}
        if verify is True or verify is None:
            verify = self.network.ca_bundle or verify
        return {
            "proxies": {scheme: proxy for scheme, proxy in merged.items() if proxy is not None},
            "stream": self.stream if stream is None else stream,
            "verify": self.verify if verify is None else verify,
            "cert": self.cert if cert is None else cert,
        }

    def rebuild_proxies(self, prepared_request: requests.PreparedRequest, proxies: Any) -> dict[str, str]:
        """At a redirect, the proxy of the new address from the environment, as requests adds it."""
        proxies = dict(proxies or {})
        url = str(prepared_request.url)
        scheme = urlsplit(url).scheme
        found = self.network.proxies_for(url)
        proxy = found.get(scheme, found.get("all"))
        if proxy:
            proxies.setdefault(scheme, proxy)
        return super().rebuild_proxies(prepared_request, proxies)
