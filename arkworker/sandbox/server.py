"""The sandbox's HTTP layer: a Werkzeug WSGI application serving the declared operations.

Routing, parameter parsing and the schema come from :mod:`arkworker.sandbox.operations`;
the state lives in :mod:`arkworker.sandbox.store`; handlers in
:mod:`arkworker.sandbox.handlers`. This module only does what every operation shares, in
the order a real Arkindex would:

1. match the URL against the declared routes (404 for an unknown path, 405 for a known path
   with the wrong method);
2. apply an injected fault, if one is pending for the operation (:mod:`arkworker.sandbox.faults`);
3. authenticate: every ``/api/v1/`` call except the schema needs
   ``Authorization: Token <token>`` or ``Ponos <token>`` with the sandbox's token (401);
4. answer 501 for a declared operation without a handler, naming it;
5. check path ids (404 when not a UUID), parse the JSON body and the declared query
   parameters (400 with one entry per bad field);
6. run the handler in a store session (one transaction), paginate listings like Django REST
   framework's page-number pagination, and serialise JSON.

Paths under ``/iiif/`` skip all of this: they go to the IIIF image server
(:mod:`arkworker.sandbox.iiif`), which needs no token, like a public IIIF server.

Every error uses the uniform Arkindex body that arkindex-client 1.3 parses into typed
exceptions; every request, faults and failures included, is appended to the request log.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from arkworker.sandbox.faults import Faults
from arkworker.sandbox.handlers import HANDLERS
from arkworker.sandbox.handlers.base import (
    MAX_PAGE_SIZE,
    ApiError,
    Call,
    FileReply,
    Listing,
    Reply,
    client_error,
    error_entry,
    invalid,
    not_found,
    parse_query,
)
from arkworker.sandbox.iiif import PREFIX as IIIF_PREFIX
from arkworker.sandbox.iiif import IiifServer
from arkworker.sandbox.operations import (
    API_PREFIX,
    DEFAULT_API_LEVEL,
    Operation,
    get_operation,
    operations_for,
)
from arkworker.sandbox.schema import build_schema
from arkworker.sandbox.store import Store

logger = logging.getLogger(__name__)

SCHEMA_ENDPOINT = "openapi"
_FILE_BLOCK = 64 * 1024
_AUTH_SCHEMES = {"token", "ponos"}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the sandbox answered, as a test asserts on it."""

    method: str
    path: str
    #: The matched operation, None for the schema and for paths that match no operation.
    operation_id: str | None
    query: dict[str, str]
    #: The JSON body, None when there was none (or it was not JSON).
    body: Any
    status: int


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


class SandboxApp:
    """The WSGI application of one sandbox (state, token, page size, API level, request log, faults).

    The API level decides which operations are routed and listed in the schema: the others
    answer 404, as on an instance of that generation.
    """

    def __init__(
        self, store: Store, *, token: str, page_size: int = 20, api_level: str = DEFAULT_API_LEVEL
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        self.store = store
        self.token = token
        self.page_size = page_size
        self.api_level = api_level
        self.operations = operations_for(api_level)
        self.url_map = Map(
            [Rule(API_PREFIX + "openapi/", endpoint=SCHEMA_ENDPOINT, methods=["GET"])]
            + [Rule(_rule_path(op), endpoint=op.operation_id, methods=[op.method]) for op in self.operations]
        )
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self.faults = Faults()
        self.iiif = IiifServer(store, self.faults)

    # -- control plane -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        operation_id, response = self._dispatch(request)
        body = None
        if request.get_data():
            try:
                body = json.loads(request.get_data())
            except ValueError:
                body = None
        entry = RecordedRequest(
            request.method, request.path, operation_id, request.args.to_dict(), body, response.status_code
        )
        with self._lock:
            self._requests.append(entry)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> tuple[str | None, Response]:
        if request.path.startswith(IIIF_PREFIX):
            return None, self.iiif.respond(request)
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match()
        except MethodNotAllowed as error:
            detail = f'Method "{request.method}" not allowed.'
            allow = [("Allow", ", ".join(error.valid_methods or []))]
            return None, _error_response(client_error(405, detail, "method_not_allowed"), allow)
        except NotFound:
            detail = f"Not found: no operation of the sandbox matches {request.method} {request.path}"
            return None, _error_response(client_error(404, detail, "not_found"))
        except HTTPException as redirect:  # a missing trailing slash: a redirect, as Django does
            return None, redirect.get_response(request.environ)
        if endpoint == SCHEMA_ENDPOINT:
            return None, self._schema(request)
        return endpoint, self._operation(get_operation(endpoint), values, request)

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

    def _operation(self, operation: Operation, values: Mapping[str, Any], request: Request) -> Response:
        fault = self.faults.take(operation.operation_id)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if isinstance(fault.body, str):
                return Response(fault.body, status=_status_line(fault.status), mimetype="text/plain")
            return _json_response(fault.body, fault.status)
        error = self._authenticate(request)
        if error is not None:
            return _error_response(error, [("WWW-Authenticate", "Token")])
        handler = HANDLERS.get(operation.operation_id)
        if handler is None:
            detail = f"The arkworker sandbox does not implement {operation.operation_id} yet"
            return _error_response(ApiError(501, "server_error", [error_entry(detail, "not_implemented")]))
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
            return self._file_response(result, self.faults.take_cut(operation.operation_id))
        return _json_response(result, 200)

    @staticmethod
    def _file_response(reply: FileReply, cut_after: int | None) -> Response:
        """Stream a file from disk in blocks; ``cut_after`` bytes only when a cut is injected."""
        size = reply.path.stat().st_size

        def blocks() -> Iterable[bytes]:
            sent = 0
            with reply.path.open("rb") as file:
                while block := file.read(_FILE_BLOCK):
                    if cut_after is not None and sent + len(block) >= cut_after:
                        yield block[: cut_after - sent]
                        return  # Werkzeug then closes the connection short of Content-Length
                    sent += len(block)
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
    def _body(operation: Operation, request: Request) -> Any:
        if not operation.body:
            return None
        raw = request.get_data()
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


class _QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without the access log: the request log is kept by the app."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class ServerThread:
    """A threaded Werkzeug server on 127.0.0.1, served from a background thread."""

    def __init__(self, app: SandboxApp, port: int = 0) -> None:
        # Bind the socket here: on a busy port Werkzeug would print to stderr and call
        # sys.exit(); an OSError lets the caller say which port and what to do.
        with socket.create_server(("127.0.0.1", port)) as listening:
            self.server: BaseWSGIServer = make_server(
                "127.0.0.1",
                listening.getsockname()[1],
                app,
                threaded=True,
                request_handler=_QuietRequestHandler,
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
        self.server.shutdown()
        self._thread.join()
        self.server.server_close()
