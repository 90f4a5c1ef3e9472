"""What a failed API call says about its request: never sent, sent with an unknown outcome, or refused.

Whether a failed call may be sent again depends on two things: what the failure says about
the request, and whether repeating it is harmless (its HTTP method). This module answers
the first question for any exception a call can raise, :func:`classify`; the retry loop in
:mod:`arkworker.api.client` combines it with the method.

requests hides the transport's cause inside its own exceptions (``ConnectionError`` wraps
urllib3's ``MaxRetryError`` which holds a ``NewConnectionError``...), so the cause is read
from the whole chain of wrapped exceptions (:func:`causes`), not from the outer type.
"""

from __future__ import annotations

import enum
import http.client
import ssl
from collections.abc import Iterator

import requests
import urllib3.exceptions
from arkindex.exceptions import ErrorResponse

#: The 5xx statuses that say the server did not act on the request: 503 Service Unavailable
#: is what a load balancer without a backend, or Arkindex in maintenance, answers before
#: handling anything. Other 5xx answers may come after the request was (partly) applied:
#: 500 after a write and before the answer, 502 when the backend died mid-request, 504 when
#: the backend is still working on it.
UNAPPLIED_STATUSES = frozenset({503})


class Failure(enum.Enum):
    """What a failure says about the request."""

    #: Nothing reached the server (no connection, no name resolution), or it says it did
    #: nothing (503): sending it again cannot duplicate anything.
    NOT_SENT = "not sent"
    #: The request was sent and its outcome is unknown: a 5xx answer, a connection lost
    #: while waiting for or reading the answer, a timeout, a broken body.
    UNKNOWN = "unknown"
    #: Asking again would get the same answer: a 4xx, 501 Not Implemented, a TLS error while
    #: connecting (a bad certificate), an answer that is not the API's, a programming error.
    FINAL = "final"


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps: ``__cause__``, ``__context__``, exception args, ``reason``."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [*current.args, getattr(current, "reason", None), current.__cause__, current.__context__]
        pending.extend(item for item in wrapped if isinstance(item, BaseException))


def _status(exc: BaseException) -> int | None:
    if isinstance(exc, ErrorResponse):
        return int(exc.status_code)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return exc.response.status_code
    return None


#: Exceptions of the transport that leave the outcome of a sent request unknown.
_TRANSPORT = (
    requests.ConnectionError,  # reset, closed without answer, and urllib3's ProtocolError/IncompleteRead
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,  # a broken body
    requests.exceptions.ContentDecodingError,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
    urllib3.exceptions.DecodeError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
)


def classify(exc: BaseException) -> Failure:
    """What ``exc``, raised by an API call (or a download), says about its request."""
    status = _status(exc)
    if status is not None:
        if status in UNAPPLIED_STATUSES:
            return Failure.NOT_SENT
        return Failure.UNKNOWN if 500 <= status < 600 and status != 501 else Failure.FINAL
    chain = list(causes(exc))
    if isinstance(exc, requests.exceptions.SSLError) and _while_connecting(chain):
        return Failure.FINAL  # a certificate or handshake problem does not heal by asking again
    if isinstance(exc, requests.ConnectTimeout) or any(
        isinstance(item, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError)
        for item in chain
    ):
        return Failure.NOT_SENT  # connection refused, name not resolved, no connection in time
    if isinstance(exc, _TRANSPORT):
        return Failure.UNKNOWN
    return Failure.FINAL


def _while_connecting(chain: list[BaseException]) -> bool:
    """Whether a TLS error happened while connecting (a certificate, a handshake), not in a body.

    urllib3 wraps what fails while connecting or sending in a ``MaxRetryError``; requests
    reports a TLS error in the middle of an answer's body (the connection cut) as its own
    ``SSLError`` around urllib3's, without one. Anything else counts as connecting.
    """
    in_body = any(isinstance(item, urllib3.exceptions.SSLError) for item in chain) and not any(
        isinstance(item, urllib3.exceptions.MaxRetryError | ssl.SSLCertVerificationError) for item in chain
    )
    return not in_body


def is_transient(exc: BaseException) -> bool:
    """Whether retrying a call without effects (a GET, a download) that raised ``exc`` can succeed."""
    return classify(exc) is not Failure.FINAL


def describe(exc: BaseException) -> str:
    """A few words for a log line or an error message: what went wrong, in the user's terms."""
    if isinstance(exc, ErrorResponse):
        return f"HTTP {exc.title}"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}"
    if (
        isinstance(exc, requests.ConnectionError | requests.Timeout)
        and exc.args
        and isinstance(exc.args[0], str)
    ):
        return exc.args[0]  # raised by arkworker with its own words (the limit reached, the bytes received)
    chain = list(causes(exc))

    def found(*kinds: type[BaseException]) -> bool:
        return any(isinstance(item, kinds) for item in chain)

    reading = isinstance(
        exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError
    )
    moment = "while reading the answer" if reading else "while waiting for the answer"
    if isinstance(exc, requests.exceptions.SSLError) and _while_connecting(chain):
        return "TLS error: check the server's certificate, or the http/https scheme of the URL"
    if found(urllib3.exceptions.NameResolutionError):
        return "could not resolve the server's name"
    if found(ConnectionRefusedError):
        return "connection refused"
    if found(urllib3.exceptions.NewConnectionError):
        return "could not connect"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if found(urllib3.exceptions.ReadTimeoutError, TimeoutError):
        return "timed out reading the answer"  # requests reports it as a ConnectionError
    if found(ConnectionResetError):
        return f"connection reset {moment}"
    if found(http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if found(http.client.IncompleteRead):
        return "the answer was cut short"
    if found(BrokenPipeError):
        return "connection lost while sending the request"
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return "the answer could not be decoded"
    if reading:
        return "the answer's body was broken"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
