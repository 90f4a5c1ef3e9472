"""The sandbox's HTTP layer: a Werkzeug WSGI application serving the declared operations.

Routing, parameter parsing and the schema come from :mod:`arkworker.sandbox.operations`;
the state lives in :mod:`arkworker.sandbox.store`; handlers in
:mod:`arkworker.sandbox.handlers`. This module only does what every operation shares, in
the order a real Arkindex would:

1. match the URL against the declared routes (404 for an unknown path, 405 for a known path
   with the wrong method);
2. take the injected fault pending for the operation, if any (:mod:`arkworker.sandbox.faults`):
   an ``error``, a ``reset`` or a ``malformed`` answer not applied replace the steps below;
3. authenticate: every ``/api/v1/`` call except the schema needs
   ``Authorization: Token <token>`` or ``Ponos <token>`` with the sandbox's token (401),
   checked before a byte of the body is read;
4. answer 501 for a declared operation without a handler, naming it;
5. refuse a body larger than ``max_body_size`` (413: at once when its Content-Length says
   so, once that much is read for a chunked body);
6. check path ids (404 when not a UUID), parse the JSON body and the declared query
   parameters (400 with one entry per bad field);
7. run the handler in a store session (one transaction), paginate listings like Django REST
   framework's page-number pagination, and serialise JSON;
8. spoil the answer as the fault says, for faults applied after the request
   (:func:`arkworker.sandbox.transport.spoil`).

Paths under ``/iiif/`` skip steps 3 to 7: they go to the IIIF image server
(:mod:`arkworker.sandbox.iiif`), which needs no token, like a public IIIF server. So do
paths under ``/upload/``, the object store (:mod:`arkworker.sandbox.uploads`), whose URLs
are signed instead, and under ``/storage/``, the files API answers point to (the export
files DownloadExport redirects to): like an S3 presigned URL, they take the signature of
their address and refuse a token.

``/`` and the paths under ``/view/`` are the results viewer (:mod:`arkworker.sandbox.viewer`):
HTML pages for a person, read-only, no token, no fault target.

Every error uses the uniform Arkindex body that arkindex-client 1.3 parses into typed
exceptions; every request, faults and failures included, is appended to the request log.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from arkworker.sandbox.faults import IIIF, SCHEMA, STORAGE, UPLOAD, Fault, Faults
from arkworker.sandbox.handlers import HANDLERS, exports
from arkworker.sandbox.handlers.base import (
    MAX_PAGE_SIZE,
    ApiError,
    BytesReply,
    Call,
    FileReply,
    Listing,
    Redirect,
    Reply,
    client_error,
    error_entry,
    invalid,
    not_found,
    parse_query,
)
from arkworker.sandbox.iiif import DEFAULT_MAX_AREA, IiifServer
from arkworker.sandbox.iiif import PREFIX as IIIF_PREFIX
from arkworker.sandbox.operations import (
    API_PREFIX,
    DEFAULT_API_LEVEL,
    Operation,
    get_operation,
    operations_for,
)
from arkworker.sandbox.schema import build_schema
from arkworker.sandbox.store import Store
from arkworker.sandbox.transport import ResetConnection, spoil
from arkworker.sandbox.uploads import PREFIX as UPLOAD_PREFIX
from arkworker.sandbox.uploads import ObjectStore
from arkworker.sandbox.viewer import Viewer, is_viewer_path

logger = logging.getLogger(__name__)

SCHEMA_ENDPOINT = "openapi"
#: The largest request body the sandbox reads by default (bytes): no worker call comes near it.
DEFAULT_MAX_BODY_SIZE = 32 * 1024 * 1024
_FILE_BLOCK = 64 * 1024
_AUTH_SCHEMES = {"token", "ponos"}
#: Where the storage serves files (export files under ``exports/``).
STORAGE_PREFIX = "/storage/"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the sandbox received, as a test asserts on it."""

    method: str
    path: str
    #: The matched operation, None for the schema and for paths that match no operation.
    operation_id: str | None
    query: dict[str, str]
    #: The JSON body, None when there was none, it was not JSON, or it was not read.
    body: Any
    #: The status of the answer, None when there was none (a ``reset`` fault).
    status: int | None
    #: The kind of the injected fault that spoilt the answer (``"reset-mid-answer"``...), or None.
    fault: str | None = None


class _Request(Request):
    """A request whose body is read at most once, up to the sandbox's limit, and kept for the log."""

    max_body_size = DEFAULT_MAX_BODY_SIZE
    raw_body: bytes | None = None

    def read_body(self) -> bytes:
        """The body; one byte more than ``max_body_size`` raises the 413, whatever its encoding."""
        if self.raw_body is None:
            chunks: list[bytes] = []
            size = 0
            try:
                while size <= self.max_body_size and (chunk := self.stream.read(_FILE_BLOCK)):
                    chunks.append(chunk)
                    size += len(chunk)
            except (OSError, HTTPException) as error:  # a bad chunk header, a client gone midway
                raise invalid(f"The request body could not be read: {error}", None, "parse_error") from None
            if size > self.max_body_size:
                raise _too_large(self.max_body_size)
            self.raw_body = b"".join(chunks)
        return self.raw_body

    def logged_body(self) -> Any:
        if not self.raw_body:
            return None
        try:
            return json.loads(self.raw_body)
        except ValueError:
            return None


def check_latency(seconds: Any) -> float:
    """A latency as seconds (0 or more), or the ``ValueError`` saying what is expected."""
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
        or seconds < 0
    ):
        raise ValueError(f"latency must be a number of seconds, 0 or more (0.02 for 20 ms), got {seconds!r}")
    return float(seconds)


def _too_large(limit: int, size: int | None = None) -> ApiError:
    """The 413 for a body over ``limit`` bytes (``size``: its announced length)."""
    announced = f" ({size} bytes)" if size is not None else ""
    detail = (
        f"The request body{announced} is larger than the sandbox accepts ({limit} bytes); "
        "Sandbox(max_body_size=...) raises the limit"
    )
    return client_error(413, detail, "request_too_large")


def _rule_path(operation: Operation) -> str:
    path = operation.full_path
    for param in operation.path_params:
        converter = "path:" if param.kind == "text" else ""
        path = path.replace(f"{{{param.name}}}", f"<{converter}{param.name}>")
    return path


def _status_line(status: int) -> str:
    """``404 Not Found`` as Django writes it (Werkzeug alone would send ``404 NOT FOUND``)."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _json_response(data: Any, status: int, headers: Iterable[tuple[str, str]] = ()) -> Response:
    if status == 204:
        return Response(status=_status_line(204), headers=list(headers))
    return Response(
        json.dumps(data), status=_status_line(status), mimetype="application/json", headers=list(headers)
    )


def _error_response(error: ApiError, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return _json_response(error.body, error.status, headers)


def _fault_response(fault: Fault, target: str) -> Response:
    """The answer of an ``error`` or ``malformed`` fault.

    The IIIF server's status lines are Werkzeug's (``404 NOT FOUND``), the API's Django's.
    """
    status = fault.status if target == IIIF else _status_line(fault.status)
    return Response(fault.body, status=status, content_type=fault.content_type)


def _storage_error(status: int, code: str, message: str) -> Response:
    """An error of the storage, in S3's XML."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>\n"
    )
    return Response(body, status=_status_line(status), content_type="application/xml")


def _storage_file(store: Store, request: Request) -> Response:
    """A file of the storage, as S3 serves a presigned URL: by its signature, never with a token."""
    if request.method not in ("GET", "HEAD"):
        return _storage_error(
            405, "MethodNotAllowed", "The specified method is not allowed against this resource."
        )
    if "Authorization" in request.headers:
        return _storage_error(
            400,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
            "string parameter or the Authorization header should be specified",
        )
    name = request.path.removeprefix("/" + exports.STORAGE_PATH)
    if name == request.path or not name.endswith(".sqlite"):
        return _storage_error(404, "NoSuchKey", "The specified key does not exist.")
    try:
        with store.session():
            content = exports.export_file(
                name.removesuffix(".sqlite"), request.args.get(exports.SIGNATURE), request.host_url
            )
    except exports.StorageError as error:
        return _storage_error(error.status, error.code, error.message)
    disposition = f'attachment; filename="{name}"'
    return Response(
        content,
        status=_status_line(200),
        mimetype="application/vnd.sqlite3",
        headers=[("Content-Disposition", disposition)],
    )


class SandboxApp:
    """The WSGI application of one sandbox (state, token, limits, API level, request log, faults).

    The API level decides which operations are routed and listed in the schema: the others
    answer 404, as on an instance of that generation.
    """

    def __init__(
        self,
        store: Store,
        *,
        token: str,
        page_size: int = 20,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        iiif_max_area: int = DEFAULT_MAX_AREA,
        api_level: str = DEFAULT_API_LEVEL,
        latency: float = 0.0,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        if isinstance(max_body_size, bool) or not isinstance(max_body_size, int) or max_body_size < 1:
            raise ValueError(f"max_body_size must be a positive number of bytes, got {max_body_size!r}")
        self.store = store
        self.token = token
        self.page_size = page_size
        self.max_body_size = max_body_size
        self.api_level = api_level
        self.operations = operations_for(api_level)
        self.url_map = Map(
            [Rule(API_PREFIX + "openapi/", endpoint=SCHEMA_ENDPOINT, methods=["GET"])]
            + [Rule(_rule_path(op), endpoint=op.operation_id, methods=[op.method]) for op in self.operations]
        )
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self.faults = Faults()
        #: Set while the server stops: the waits of injected faults end early.
        self.stopping = threading.Event()
        self.iiif = IiifServer(store, max_area=iiif_max_area)
        self.uploads = ObjectStore(store)
        self.viewer = Viewer(store)
        self.latency = latency

    # -- control plane -----------------------------------------------------------------------

    @property
    def latency(self) -> float:
        """Seconds every request waits before it is handled, as on a remote instance (0: none)."""
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._latency = check_latency(seconds)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        if self._latency:  # in this request's thread: concurrent requests wait side by side
            self.stopping.wait(self._latency)
        request = _Request(environ)
        request.max_body_size = self.max_body_size
        operation_id, target, answer = self._route(request)
        fault = None
        if target is None or (fault := self.faults.take(target)) is None:
            response = answer()
        elif fault.kind == "reset":
            self._record(request, operation_id, None, fault)
            raise ResetConnection("reset by an injected fault")
        elif fault.applied:
            response = self._spoil(answer(), fault, target)
        else:
            self.stopping.wait(fault.delay)
            response = _fault_response(fault, target)
        self._record(request, operation_id, response.status_code, fault)
        return response(environ, start_response)

    def _record(
        self, request: _Request, operation_id: str | None, status: int | None, fault: Fault | None
    ) -> None:
        entry = RecordedRequest(
            request.method,
            request.path,
            operation_id,
            request.args.to_dict(),
            request.logged_body(),
            status,
            fault.kind if fault else None,
        )
        with self._lock:
            self._requests.append(entry)

    def _spoil(self, response: Response, fault: Fault, target: str) -> Response:
        if fault.kind == "malformed":
            self.stopping.wait(fault.delay)
            return _fault_response(fault, target)
        return spoil(response, fault, self.stopping.wait)

    def _route(self, request: _Request) -> tuple[str | None, str | None, Callable[[], Response]]:
        """``(operationId, fault target, the normal answer)``; paths of no target take no fault."""
        if request.path.startswith(IIIF_PREFIX):
            return None, IIIF, lambda: self.iiif.respond(request)
        if request.path.startswith(UPLOAD_PREFIX):
            return None, UPLOAD, lambda: self.uploads.respond(request)
        if request.path.startswith(STORAGE_PREFIX):
            return None, STORAGE, lambda: _storage_file(self.store, request)
        if is_viewer_path(request.path):
            return None, None, lambda: self.viewer.respond(request)
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match()
        except MethodNotAllowed as error:
            detail = f'Method "{request.method}" not allowed.'
            allow = [("Allow", ", ".join(error.valid_methods or []))]
            refusal = _error_response(client_error(405, detail, "method_not_allowed"), allow)
            return None, None, lambda: refusal
        except NotFound:
            detail = f"Not found: no operation of the sandbox matches {request.method} {request.path}"
            unknown = _error_response(client_error(404, detail, "not_found"))
            return None, None, lambda: unknown
        except HTTPException as redirect:  # a missing trailing slash: a redirect, as Django does
            moved = redirect.get_response(request.environ)
            return None, None, lambda: moved
        if endpoint == SCHEMA_ENDPOINT:
            return None, SCHEMA, lambda: self._schema(request)
        operation = get_operation(endpoint, self.api_level)
        return endpoint, endpoint, lambda: self._operation(operation, values, request)

    def _schema(self, request: Request) -> Response:
        if request.args.get("format", "json") != "json":
            error = invalid(
                "The sandbox serves its OpenAPI schema as JSON only: use format=json.", ["format"]
            )
            return _error_response(error)
        document = build_schema(request.host_url, implemented=HANDLERS, operations=self.operations)
        return _json_response(document, 200)

    def _authenticate(self, request: Request) -> ApiError | None:
        header = request.headers.get("Authorization")
        if not header:
            return client_error(401, "Authentication credentials were not provided.", "not_authenticated")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in _AUTH_SCHEMES or token.strip() != self.token:
            return client_error(401, "Invalid token.", "authentication_failed")
        return None

    def _operation(self, operation: Operation, values: Mapping[str, Any], request: _Request) -> Response:
        error = self._authenticate(request)
        if error is not None:
            return _error_response(error, [("WWW-Authenticate", "Token")])
        handler = HANDLERS.get(operation.operation_id)
        if handler is None:
            detail = f"The arkworker sandbox does not implement {operation.operation_id} yet"
            return _error_response(ApiError(501, "server_error", [error_entry(detail, "not_implemented")]))
        if (request.content_length or 0) > self.max_body_size:
            return _error_response(_too_large(self.max_body_size, request.content_length))
        try:
            call = Call(
                operation=operation,
                path=self._path_values(operation, values),
                query=parse_query(operation, request.args),
                body=self._body(operation, request),
                base_url=request.host_url,
                api_level=self.api_level,
                page_size=self.page_size,
            )
            with self.store.session():
                result = handler(call)
                if isinstance(result, Listing):
                    result = self._page(result, call, request)
        except ApiError as api_error:
            return _error_response(api_error)
        except Exception as exc:
            logger.exception("Sandbox handler of %s failed", operation.operation_id)
            detail = f"The sandbox failed on {operation.operation_id}: {exc!r}"
            return _error_response(ApiError(500, "server_error", [error_entry(detail, "sandbox_error")]))
        if isinstance(result, Reply):
            return _json_response(result.data, result.status)
        if isinstance(result, FileReply):
            return self._file_response(result)
        if isinstance(result, Redirect):
            return Response(status=_status_line(302), headers=[("Location", result.url)])
        if isinstance(result, BytesReply):
            disposition = f'attachment; filename="{result.filename}"'
            return Response(
                result.data,
                status=_status_line(200),
                mimetype=result.content_type,
                headers=[("Content-Disposition", disposition)],
            )
        return _json_response(result, 200)

    @staticmethod
    def _file_response(reply: FileReply) -> Response:
        """Stream a file from disk in blocks."""
        size = reply.path.stat().st_size

        def blocks() -> Iterable[bytes]:
            with reply.path.open("rb") as file:
                while block := file.read(_FILE_BLOCK):
                    yield block

        headers = [
            ("Content-Length", str(size)),
            ("Content-Disposition", f'attachment; filename="{reply.filename}"'),
        ]
        return Response(
            blocks(),
            status=_status_line(200),
            mimetype=reply.content_type,
            headers=headers,
            direct_passthrough=True,
        )

    @staticmethod
    def _path_values(operation: Operation, values: Mapping[str, Any]) -> dict[str, str]:
        cleaned: dict[str, str] = {}
        for param in operation.path_params:
            value: str = values[param.name]  # the rules use the default and path converters only: strings
            if param.kind == "uuid":
                try:
                    value = str(uuid.UUID(value))
                except ValueError:
                    raise not_found() from None
            cleaned[param.name] = value
        return cleaned

    @staticmethod
    def _body(operation: Operation, request: _Request) -> Any:
        if not operation.body:
            return None
        raw = request.read_body()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError as error:
            raise invalid(f"JSON parse error - {error}", None, "parse_error") from None

    def _page(self, listing: Listing, call: Call, request: Request) -> dict[str, Any]:
        size = call.query.get("page_size", self.page_size)
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise invalid(f"Ensure this value is between 1 and {MAX_PAGE_SIZE}.", ["page_size"])
        try:
            number = int(request.args.get("page", "1"))
        except ValueError:
            number = 0
        count = len(listing.items)
        last = max(1, math.ceil(count / size))
        if not 1 <= number <= last:
            raise client_error(404, "Invalid page.", "not_found")
        start = (number - 1) * size
        return {
            "count": count,
            "number": number,
            "previous": self._page_url(request, number - 1) if number > 1 else None,
            "next": self._page_url(request, number + 1) if number < last else None,
            "results": [listing.serialize(item) for item in listing.items[start : start + size]],
        }

    @staticmethod
    def _page_url(request: Request, number: int) -> str:
        args = [(key, value) for key, value in request.args.items(multi=True) if key != "page"]
        if number > 1:
            args.append(("page", str(number)))
        return request.base_url + ("?" + urlencode(args) if args else "")
