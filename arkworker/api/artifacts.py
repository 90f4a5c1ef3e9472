"""Downloading files from the API by streaming them to disk.

arkindex-client reads a whole answer into memory before decoding it (``response.content``),
which is fine for JSON and wrong for a dataset archive of several gigabytes. A download
therefore goes through the client's own session (its authentication and headers, the URL
built from the schema, the timeouts of :class:`~arkworker.api.client.Timeouts`) with
``stream=True``, block by block into a file: each read waits at most the read timeout, and
no total budget applies, a large file takes the time it takes. A download cut in the middle
is retried by the run's :class:`~arkworker.api.client.RetryPolicy` from the start of the
file (a download has no effect to duplicate); a file written to a final path first goes to
a temporary file in the same directory and is renamed once complete, so a partial download
never sits under the final name.

Some operations answer with a redirect to the file instead of the file (DownloadExport: a
302 to a presigned S3 URL). :func:`download_redirected` asks the API for the address, then
downloads it with a session of its own, without the API's credentials: S3 refuses a request
that carries a second way of authenticating, and the token has no business leaving the API.
Each attempt asks for the address again, since a presigned one may have expired.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin

import requests
from arkindex.exceptions import ErrorResponse

from arkworker.api.client import Api
from arkworker.api.transport import ApiSession, TimedAdapter
from arkworker.files import written_in_place

#: Size of the blocks read from the network and written to disk.
BLOCK_SIZE = 1024 * 1024


def stream_into(api: Api, operation_id: str, out: IO[bytes], **parameters: Any) -> int:
    """Write the file answered by ``operation_id`` into ``out``; return the number of bytes.

    Every attempt starts ``out`` over, so ``out`` must be seekable (a regular file).
    """

    def attempt() -> int:
        out.seek(0)
        out.truncate()
        return _download(api, operation_id, parameters, out)

    return api.policy.call(attempt, describe=f"Downloading with {operation_id}")


def download_file(api: Api, operation_id: str, destination: Path, **parameters: Any) -> Path:
    """Stream the file answered by ``operation_id`` to ``destination`` (temporary file, then rename)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with written_in_place(destination, suffix=".part") as temporary, open(temporary, "w+b") as out:
        stream_into(api, operation_id, out, **parameters)
    return destination


class NoRedirect(Exception):
    """An operation expected to redirect to a file answered without a ``Location`` to follow."""


def download_redirected(api: Api, operation_id: str, destination: Path, **parameters: Any) -> Path:
    """Stream the file ``operation_id`` redirects to into ``destination``; return ``destination``.

    The address is asked with the API's session (its token); the file is downloaded from it
    with a session that sends no credentials, under the same timeouts. Failures are retried
    by the run's policy, each attempt from the start (a new address, the file from its first
    byte); an answer that is not a redirect raises :class:`NoRedirect`.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)

    def attempt(out: IO[bytes]) -> int:
        out.seek(0)
        out.truncate()
        location = _location(api, operation_id, parameters)
        with _anonymous_session(api, location) as session, session.get(location, stream=True) as response:
            return _write(response, out)

    with written_in_place(destination, suffix=".part") as temporary, open(temporary, "w+b") as out:
        api.policy.call(attempt, out, describe=f"Downloading with {operation_id}")
    return destination


def _location(api: Api, operation_id: str, parameters: dict[str, Any]) -> str:
    """Where ``operation_id`` redirects to, as an absolute URL."""
    client = api.client
    url = client.get_url(client.lookup_operation(operation_id), parameters)
    with client.session.get(url, allow_redirects=False) as answer:
        if answer.status_code >= 400:
            raise _error(answer)
        location = answer.headers.get("Location")
        if not answer.is_redirect or not location:
            raise NoRedirect(
                f"{operation_id} answered {answer.status_code} {answer.reason} without redirecting to the "
                f"file (no Location header) at {url}"
            )
    return urljoin(url, location)


def _anonymous_session(api: Api, url: str) -> requests.Session:
    """A session without the API's credentials, with the timeouts of its transport and its network settings."""
    source = api.client.session
    session = ApiSession(source.network) if isinstance(source, ApiSession) else requests.Session()
    adapter = source.get_adapter(url)
    if isinstance(adapter, TimedAdapter):
        timed = TimedAdapter(adapter.connect, adapter.read, adapter.total)
        session.mount("http://", timed)
        session.mount("https://", timed)
    return session


def _download(api: Api, operation_id: str, parameters: dict[str, Any], out: IO[bytes]) -> int:
    client = api.client
    url = client.get_url(client.lookup_operation(operation_id), parameters)
    with client.session.get(url, stream=True) as response:
        return _write(response, out)


def _write(response: requests.Response, out: IO[bytes]) -> int:
    """Write the body of a streamed answer into ``out``; a body short of its length is a cut."""
    if response.status_code >= 400:
        raise _error(response)
    expected = response.headers.get("Content-Length")
    written = 0
    try:
        for block in response.iter_content(BLOCK_SIZE):
            out.write(block)
            written += len(block)
    except requests.exceptions.ChunkedEncodingError as exc:
        raise _cut(expected) from exc
    if expected and expected.isdigit() and written != int(expected):
        raise _cut(expected)
    return written


def _cut(expected: str | None) -> requests.ConnectionError:
    announced = f"{expected} bytes" if expected else "its size unknown"
    return requests.ConnectionError(f"the download was cut before the end of the file ({announced})")


def _error(response: requests.Response) -> ErrorResponse:
    """The client's exception for an error answer (its body is small: read it whole)."""
    content: Any = response.text
    if "json" in response.headers.get("Content-Type", ""):
        with contextlib.suppress(ValueError):
            content = json.loads(content)
    return ErrorResponse(f"{response.status_code} {response.reason}", response.status_code, content)
