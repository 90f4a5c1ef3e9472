"""Downloading images: the retry policy of API calls, applied to plain HTTP GETs.

Image servers fail like the API does (a restarting IIIF server answers 502 for a few
seconds), so a download is retried under the same :class:`~arkworker.api.client.RetryPolicy`
(attempts and waits from ``ARKWORKER_RETRY_ATTEMPTS`` / ``ARKWORKER_RETRY_BACKOFF``): the
run's own policy inside a run, so a run's environment governs its handlers' downloads too.
A run's settings are explicit where they can be (its elements carry them, whatever thread
opens them) and a context variable otherwise (:func:`using_settings`), never a global: two
runs in one process each download under their own.
Only transient failures are retried: 5xx answers (not 501), timeouts and dropped
connections. A 4xx answer says the URL itself is wrong (a region outside the image, an
expired signed URL, a missing image): it fails at once, naming the URL and the status,
where the reference tried it three times. Certificate errors are not transient either.

An image refused with a 4xx at size ``full`` is asked once more at size ``max`` (see
:func:`fetch_image`): some IIIF servers cap their answers without saying so in Arkindex.

Each request waits at most 30 s for a connection and 60 s for an answer (the reference's
timeouts); ``ARKWORKER_DOWNLOAD_TIMEOUT`` changes the answer timeout (the connection one
too when lower), for image servers slower than that, or to fail faster. Certificates are
verified, except for the hosts of Arkindex development instances (``ark.localhost``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import requests
from PIL import Image, UnidentifiedImageError

from arkworker.api.client import RetryPolicy
from arkworker.environment import env_number

logger = logging.getLogger("arkworker")

#: Seconds to wait for a connection, and for an answer (the reference's values).
CONNECT_TIMEOUT = 30.0
READ_TIMEOUT = 60.0
TIMEOUT_VARIABLE = "ARKWORKER_DOWNLOAD_TIMEOUT"


class ImageError(Exception):
    """An image could not be obtained or read; the message names the URL (or file) and the cause.

    ``status`` is the HTTP status of the answer that made it fail, None for other causes.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def read_timeout(env: Mapping[str, str]) -> float:
    """``ARKWORKER_DOWNLOAD_TIMEOUT`` in seconds (default 60); BadInput when it is not a positive number."""
    return env_number(
        env,
        TIMEOUT_VARIABLE,
        float,
        READ_TIMEOUT,
        minimum=0,
        inclusive=False,
        expected="a number of seconds > 0 "
        f"(the longest wait for an image server's answer, default {READ_TIMEOUT:g})",
    )


class Sessions:
    """One HTTP session per thread, kept for the run: an image server's connection is reused.

    Opening a connection per image costs a TCP (and TLS) handshake each time; a session of
    its own per thread keeps the connections alive between the images a thread downloads,
    without sharing a session's state (its cookies) between threads. :meth:`close` closes
    them all when the run ends.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[requests.Session] = []

    def get(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            with self._lock:
                self._open.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            sessions, self._open = self._open, []
        for session in sessions:
            session.close()
        self._local = threading.local()


@dataclass(frozen=True)
class DownloadSettings:
    """How downloads retry and how long they wait, read from one environment."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    #: Seconds to wait for an answer; the connection timeout is never longer.
    timeout: float = READ_TIMEOUT
    #: The HTTP sessions images download through (one per thread).
    sessions: Sessions = field(default_factory=Sessions, compare=False, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DownloadSettings:
        return cls(RetryPolicy.from_env(env), read_timeout(env))

    @property
    def timeouts(self) -> tuple[float, float]:
        """``(connect, read)`` timeouts, as requests takes them."""
        return min(CONNECT_TIMEOUT, self.timeout), self.timeout


#: The settings of the run in progress in this context: a run sets them for its own thread
#: (and the tasks it hands to ``ctx.submit``), so two runs in one process each get theirs.
_RUN_SETTINGS: ContextVar[DownloadSettings | None] = ContextVar("arkworker_downloads", default=None)


@contextlib.contextmanager
def using_settings(settings: DownloadSettings) -> Iterator[None]:
    """Downloads made inside the block, in this context, follow ``settings``.

    Context variables are not inherited by new threads: a thread started with
    :class:`threading.Thread` or a bare executor falls back to the process environment,
    unless it runs in a copy of this context (``ctx.submit``, ``ctx.executor()``).
    """
    token = _RUN_SETTINGS.set(settings)
    try:
        yield
    finally:
        _RUN_SETTINGS.reset(token)


@contextlib.contextmanager
def session_for(settings: DownloadSettings | None) -> Iterator[requests.Session]:
    """The session to download with: this thread's of ``settings`` (or of the run in progress),
    kept open for the next images; outside a run, a session of its own, closed at the end."""
    chosen = settings or _RUN_SETTINGS.get()
    if chosen is not None:
        yield chosen.sessions.get()
        return
    with requests.Session() as session:
        yield session


def current_settings() -> DownloadSettings:
    """The settings of the run in progress in this context, else those of the process environment."""
    return _RUN_SETTINGS.get() or DownloadSettings.from_env(os.environ)


#: Arkindex development instances serve ``https://*.ark.localhost`` with self-signed certificates.
DEVELOPMENT_DOMAIN = "ark.localhost"


def verifies_certificate(url: str) -> bool:
    """False for a development instance's host (as the Arkindex client decides for API calls)."""
    host = (urlsplit(url).hostname or "").rstrip(".")
    return not (host == DEVELOPMENT_DOMAIN or host.endswith("." + DEVELOPMENT_DOMAIN))


def _get(session: requests.Session, url: str, timeouts: tuple[float, float]) -> requests.Response:
    response = session.get(url, timeout=timeouts, verify=verifies_certificate(url))
    response.raise_for_status()
    return response


def download(
    url: str,
    *,
    session: requests.Session | None = None,
    settings: DownloadSettings | None = None,
) -> bytes:
    """The body of a GET on ``url``, retrying transient failures; :class:`ImageError` otherwise.

    ``settings`` default to :func:`current_settings`.
    """
    settings = settings or current_settings()
    own_session = session is None
    session = session or requests.Session()
    try:
        return settings.policy.call(
            _get, session, url, settings.timeouts, describe=f"Downloading {url}"
        ).content
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        reason = exc.response.reason if exc.response is not None else ""
        hint = (
            "the server kept failing; try again later"
            if status is not None and status >= 500
            else "check the element's image and zone, or the image server's limits"
        )
        answer = " ".join(part for part in (f"HTTP {status or '?'}", reason) if part)
        explanation = _explanation(exc.response)
        raise ImageError(f"Downloading {url} failed: {answer}{explanation} ({hint})", status) from exc
    except requests.exceptions.SSLError as exc:
        raise ImageError(
            f"Downloading {url} failed: TLS error ({exc.__class__.__name__}); check the server's certificate"
        ) from exc
    except requests.Timeout as exc:
        waited = "a connection" if isinstance(exc, requests.ConnectTimeout) else "an answer"
        seconds = settings.timeouts[0 if waited == "a connection" else 1]
        raise ImageError(
            f"Downloading {url} failed: waited {seconds:g} s for {waited}, {settings.policy.attempts} "
            f"time(s) (raise {TIMEOUT_VARIABLE} for a slow image server)"
        ) from exc
    except requests.RequestException as exc:
        raise ImageError(f"Downloading {url} failed: {type(exc).__name__} ({exc})") from exc
    finally:
        if own_session:
            session.close()


#: The longest part of an error answer's text quoted in an ImageError.
EXPLANATION_LENGTH = 200


def _explanation(response: requests.Response | None) -> str:
    """``: <the server's own words>`` for a text error answer (cut short), else nothing.

    IIIF servers say why they refuse a request (a size over their limits, a file they
    cannot decode); that sentence is the most useful part of the error. HTML pages and
    binary bodies are left out.
    """
    if response is None:
        return ""
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media_type not in ("text/plain", "application/json"):
        return ""
    text = " ".join(response.text.split())
    if not text:
        return ""
    if len(text) > EXPLANATION_LENGTH:
        text = text[: EXPLANATION_LENGTH - 1].rstrip() + "…"
    return f": {text}"


def decode(data: bytes, source: str) -> Image.Image:
    """Decode image bytes fully, so a truncated or corrupt image fails here, naming ``source``."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        start = data[:16]
        raise ImageError(
            f"{source} is not a readable image ({len(data)} bytes starting with {start!r}): {exc}"
        ) from exc
    return image


#: The last two segments of a IIIF Image API URL: ``{rotation}/{quality}.{format}``.
_ROTATION = re.compile(r"!?\d+(?:\.\d+)?")
_QUALITY_FORMAT = re.compile(r"\w+\.\w+")


def size_max_url(url: str) -> str | None:
    """The same IIIF image request at size ``max``, if ``url`` is one at size ``full``; else None.

    ``<base>/<identifier>/<region>/full/<rotation>/<quality>.<format>``: size ``max`` asks
    for the image as large as the server allows, where ``full`` is refused by servers whose
    limits are smaller than the image.
    """
    parts = urlsplit(url)
    segments = parts.path.split("/")
    if (
        len(segments) < 6
        or not all(segments[-5:-3])
        or segments[-3] != "full"
        or not _ROTATION.fullmatch(segments[-2])
        or not _QUALITY_FORMAT.fullmatch(segments[-1])
    ):
        return None
    segments[-3] = "max"
    return urlunsplit(parts._replace(path="/".join(segments)))


def fetch_image(
    url: str,
    *,
    session: requests.Session | None = None,
    settings: DownloadSettings | None = None,
) -> Image.Image:
    """Download and decode the image at ``url``.

    When the server refuses a IIIF URL at size ``full`` with a 4xx, the reference's fallback
    applies: the same URL at size ``max`` is tried, and its (possibly smaller) image returned.
    """
    logger.debug("Downloading image %s", url)
    try:
        return decode(download(url, session=session, settings=settings), url)
    except ImageError as error:
        fallback = size_max_url(url) if error.status is not None and 400 <= error.status < 500 else None
        if fallback is None:
            raise
        logger.warning("%s; asking for size max instead", error)
        try:
            data = download(fallback, session=session, settings=settings)
        except ImageError as second:
            raise ImageError(f"{error}. At size max instead: {second}", second.status) from second
    return decode(data, fallback)
