"""The OpenAPI 3 document of the sandbox, generated from :mod:`arkworker.sandbox.operations`.

``arkindex-client`` downloads the schema when it is constructed and resolves every call
through it by operationId, so this document is what makes the sandbox usable with an
unmodified client: it is served at ``GET /api/v1/openapi/`` (``?format=json`` included,
which is what the client asks for).

A few shapes matter to the client (read ``arkindex/schema/openapi.py``):

* request bodies are declared inline (``{"type": "object"}``), never as a ``$ref``: with a
  reference the client would name the body field after the component instead of ``body``;
* parameters live on each operation, not on the path item: the client appends the
  operation's parameters to the path item's list *in place*, so shared lists would leak
  from one method of a path to the next;
* every operation carries ``x-paginated`` so that ``client.paginate()`` on a
  non-paginated operation falls back to a plain request instead of failing.

Operations that have no handler stay in the document (a worker resolving them must not
fail with a ``ClientError``), flagged with ``x-sandbox-implemented: false`` and a
description saying that they answer 501. Operations of a newer API level than the one
served are left out (``operations``, see :func:`~arkworker.sandbox.operations.operations_for`):
a client must see exactly what an instance of that generation offers.

Example::

    >>> from arkworker.sandbox.schema import build_schema
    >>> doc = build_schema("http://127.0.0.1:8000", implemented={"RetrieveElement"})
    >>> doc["paths"]["/api/v1/element/{id}/"]["get"]["operationId"]
    'RetrieveElement'
"""

from __future__ import annotations

from collections.abc import Iterable

from arkworker.sandbox.operations import OPERATIONS, PARAM_SCHEMAS, Operation, Param

OPENAPI_VERSION = "3.0.3"

_ERROR_SCHEMA = {
    "type": "object",
    "description": "The uniform Arkindex error format, parsed by arkindex-client into typed exceptions.",
    "required": ["type", "errors"],
    "properties": {
        "type": {"type": "string", "enum": ["validation_error", "client_error", "server_error"]},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["attr", "code", "detail"],
                "properties": {
                    "attr": {
                        "type": "array",
                        "nullable": True,
                        "items": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "code": {"type": "string"},
                    "detail": {"type": "string"},
                },
            },
        },
    },
}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}


def _parameter(param: Param, location: str) -> dict:
    parameter = {
        "name": param.name,
        "in": location,
        "required": location == "path",
        "schema": dict(PARAM_SCHEMAS[param.kind]),
    }
    if param.description:
        parameter["description"] = param.description
    return parameter


def _responses(operation: Operation, implemented: bool) -> dict:
    if not implemented:
        return {
            "501": {
                "description": "Not implemented by the arkworker sandbox.",
                "content": {"application/json": {"schema": _ERROR_REF}},
            }
        }
    success = str(operation.success_status)
    responses: dict[str, dict] = {}
    if success == "204":
        responses[success] = {"description": "Deleted."}
    else:
        responses[success] = {"description": "Success.", "content": {"application/json": {"schema": {}}}}
    for status, description in (("400", "Invalid parameters or body."), ("404", "Unknown object.")):
        responses[status] = {
            "description": description,
            "content": {"application/json": {"schema": _ERROR_REF}},
        }
    return responses


def _operation(operation: Operation, implemented: bool) -> dict:
    description = operation.summary or operation.operation_id
    if not implemented:
        description += (
            f" The arkworker sandbox does not implement {operation.operation_id} yet: it answers 501."
        )
    spec: dict = {
        "operationId": operation.operation_id,
        "description": description,
        "tags": [operation.family],
        "parameters": [_parameter(p, "path") for p in operation.path_params]
        + [_parameter(p, "query") for p in operation.query_params],
        "responses": _responses(operation, implemented),
        "x-paginated": operation.paginated,
        "x-sandbox-implemented": implemented,
    }
    if operation.body:
        spec["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    return spec


def build_schema(
    base_url: str, *, implemented: Iterable[str], operations: Iterable[Operation] = OPERATIONS
) -> dict:
    """Build the OpenAPI document for ``operations`` served from ``base_url``.

    ``implemented`` is the set of operationIds that have a handler; the others are described
    as answering 501.
    """
    done = set(implemented)
    paths: dict[str, dict] = {}
    for operation in operations:
        item = paths.setdefault(operation.full_path, {})
        item[operation.method.lower()] = _operation(operation, operation.operation_id in done)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Arkindex API (arkworker sandbox)",
            "version": "sandbox",
            "description": "A local stand-in for the Arkindex API, for testing workers.",
        },
        "servers": [{"url": base_url.rstrip("/")}],
        "paths": paths,
        "components": {
            "schemas": {"Error": _ERROR_SCHEMA},
            "securitySchemes": {
                "tokenAuth": {"type": "apiKey", "in": "header", "name": "Authorization"},
            },
        },
        "security": [{"tokenAuth": []}],
    }
