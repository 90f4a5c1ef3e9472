"""Sending files to the URLs Arkindex signs for them (S3), under the retry policy and timeouts.

Arkindex never receives a model's archive itself: it answers URLs signed for one object,
and the worker PUTs the bytes there (the whole archive on a 0.3.7-era instance, each part
of a multipart upload today). Those PUTs go through a session of their own, without the
API's credentials: S3 refuses a signed URL that also carries an ``Authorization`` header,
and the API token has no business reaching the object store.

A PUT to a signed URL replaces the object, so sending it again cannot duplicate anything:
every transient failure (no connection, a connection reset while sending, a 5xx but 501,
a timeout) is retried under the run's :class:`~arkworker.api.client.RetryPolicy`, and each
attempt sends the body from its first byte, a cut upload is never resumed halfway (the
reference had neither retry nor timeout). A request has the connect and read timeouts of
:class:`~arkworker.api.client.Timeouts` and no total budget: a large file takes the time it
takes. Messages name the object store by its host only, never by the signed URL, whose
query (or path, on the sandbox) is a credential.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import requests

from arkworker.api.client import RetryPolicy, Timeouts
from arkworker.api.failures import describe
from arkworker.api.transport import TimedAdapter

#: The longest part of the object store's explanation quoted in an error message.
EXPLANATION_LENGTH = 200


class UploadError(Exception):
    """A file could not be uploaded; the message names the object store and the cause.

    ``status`` is the HTTP status of the last answer, None when there was none.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def upload_session(timeouts: Timeouts) -> requests.Session:
    """A session without credentials whose requests all have ``timeouts`` (connect and read)."""
    session = requests.Session()
    adapter = TimedAdapter(timeouts.connect, timeouts.read, timeouts.total)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def store_of(url: str) -> str:
    """``https://s3.example.com``: the scheme and host a signed URL points to, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def put(
    session: requests.Session,
    url: str,
    body: Path | bytes,
    *,
    policy: RetryPolicy,
    what: str,
    headers: Mapping[str, str] | None = None,
    verify: bool = True,
) -> requests.Response:
    """PUT ``body`` (a file, sent from its start at every attempt, or bytes) to the signed ``url``.

    Returns the answer (its body read); ``what`` names the upload in log lines and errors.
    A 4xx, or a failure that outlasts the retry policy, raises :class:`UploadError`.
    """

    def attempt() -> requests.Response:
        if isinstance(body, Path):
            with body.open("rb") as data:
                response = session.put(url, data=data, headers=headers, stream=True, verify=verify)
        else:
            response = session.put(url, data=body, headers=headers, stream=True, verify=verify)
        with response:
            _ = response.content  # the (small) answer, read within the read timeout
        response.raise_for_status()
        return response

    where = store_of(url)
    try:
        return policy.call(attempt, describe=f"Uploading {what} to {where}")
    except requests.RequestException as exc:
        response = exc.response if isinstance(exc, requests.HTTPError) else None
        status = response.status_code if response is not None else None
        raise UploadError(
            f"Uploading {what} to {where} failed: {describe(exc)}{_explanation(response)}", status
        ) from exc


def _explanation(response: requests.Response | None) -> str:
    """``: <the store's message>`` from an S3 error document (``<Message>...</Message>``), else nothing."""
    if response is None:
        return ""
    found = re.search(r"<Message>(.*?)</Message>", response.text, re.DOTALL)
    text = " ".join(found.group(1).split()) if found else ""
    if len(text) > EXPLANATION_LENGTH:
        text = text[: EXPLANATION_LENGTH - 1].rstrip() + "…"
    return f": {text}" if text else ""
