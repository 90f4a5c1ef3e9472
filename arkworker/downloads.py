"""Downloading images: the retry policy of API calls, applied to plain HTTP GETs.

Image servers fail like the API does (a restarting IIIF server answers 502 for a few
seconds), so a download is retried under the same :class:`~arkworker.api.RetryPolicy`
(attempts and waits from ``ARKWORKER_RETRY_ATTEMPTS`` / ``ARKWORKER_RETRY_BACKOFF``): the
run's own policy inside a run, so a run's environment governs its handlers' downloads too.
Only transient failures are retried: 5xx answers (not 501), timeouts and dropped
connections. A 4xx answer says the URL itself is wrong (a region outside the image, an
expired signed URL, a missing image): it fails at once, naming the URL and the status,
where the reference tried it three times. Certificate errors are not transient either.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar

import requests
from PIL import Image, UnidentifiedImageError

from arkworker.api import RetryPolicy

logger = logging.getLogger("arkworker")

#: (connect, read) timeouts in seconds, as the reference uses for images.
TIMEOUT = (30, 60)


class ImageError(Exception):
    """An image could not be obtained or read; the message names the URL (or file) and the cause."""


def _get(session: requests.Session, url: str) -> requests.Response:
    response = session.get(url, timeout=TIMEOUT)
    response.raise_for_status()
    return response


#: The policy of the run in progress (set by the runner from the run's environment).
_RUN_POLICY: ContextVar[RetryPolicy | None] = ContextVar("arkworker_download_policy", default=None)


@contextlib.contextmanager
def using_policy(policy: RetryPolicy) -> Iterator[None]:
    """Downloads made inside the block (by the run's handlers) follow ``policy``."""
    token = _RUN_POLICY.set(policy)
    try:
        yield
    finally:
        _RUN_POLICY.reset(token)


def current_policy(env: Mapping[str, str] | None = None) -> RetryPolicy:
    """The policy of ``env`` if given, else the running worker's, else the process environment's."""
    if env is not None:
        return RetryPolicy.from_env(env)
    return _RUN_POLICY.get() or RetryPolicy.from_env(os.environ)


def download(
    url: str,
    *,
    session: requests.Session | None = None,
    env: Mapping[str, str] | None = None,
) -> bytes:
    """The body of a GET on ``url``, retrying transient failures; :class:`ImageError` otherwise."""
    policy = current_policy(env)
    own_session = session is None
    session = session or requests.Session()
    try:
        return policy.call(_get, session, url, describe=f"Downloading {url}").content
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        reason = exc.response.reason if exc.response is not None else ""
        hint = (
            "the server kept failing; try again later"
            if isinstance(status, int) and status >= 500
            else "check the element's image and zone, or the image server's limits"
        )
        raise ImageError(f"Downloading {url} failed: HTTP {status} {reason} ({hint})".rstrip()) from exc
    except requests.exceptions.SSLError as exc:
        raise ImageError(
            f"Downloading {url} failed: TLS error ({exc.__class__.__name__}); check the server's certificate"
        ) from exc
    except requests.RequestException as exc:
        raise ImageError(f"Downloading {url} failed: {type(exc).__name__} ({exc})") from exc
    finally:
        if own_session:
            session.close()


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


def fetch_image(
    url: str,
    *,
    session: requests.Session | None = None,
    env: Mapping[str, str] | None = None,
) -> Image.Image:
    """Download and decode the image at ``url``."""
    logger.debug("Downloading image %s", url)
    return decode(download(url, session=session, env=env), url)
