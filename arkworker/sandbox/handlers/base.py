"""What every handler module shares: the registry, the call object, errors and validation.

A handler is a function of one :class:`Call` registered against an operationId with
:func:`handles`. It runs inside a store session (the models are bound), and returns a
JSON-able value (200), a :class:`Reply` (another status), a :class:`Listing` that the
server paginates with page numbers (a cursor-paginated listing builds its page with
:func:`cursor_page`), a :class:`FileReply` streamed from disk (artifact downloads), or a
:class:`Redirect` to a file (export downloads).
Problems are raised as :class:`ApiError`; the server turns them into the uniform Arkindex
error body that arkindex-client parses into its typed exceptions. :func:`lookup` gives the
row an id names, or the 404 (path ids) or 400 (body fields) Arkindex answers without one.

Body validation is declarative and collects every error before raising, so a client gets
one entry per bad field, with its path (``["transcriptions", 2, "text"]``), like Django
REST framework does::

    data = validate(call.body, {
        "text": Rule("str"),
        "confidence": Rule("float", required=False, null=True, minimum=0, maximum=1),
    })
"""

from __future__ import annotations

import base64
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from peewee import Model

from arkworker.sandbox.operations import Operation, get_operation
from arkworker.sandbox.store import by_key

Handler = Callable[["Call"], Any]
M = TypeVar("M", bound=Model)

HANDLERS: dict[str, Handler] = {}


def handles(operation_id: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of a declared operation."""
    operation = get_operation(operation_id)

    def decorate(function: Handler) -> Handler:
        if operation.operation_id in HANDLERS:
            raise ValueError(
                f"{operation_id} already has a handler ({HANDLERS[operation_id].__qualname__}); "
                f"{function.__qualname__} cannot be registered too"
            )
        HANDLERS[operation.operation_id] = function
        return function

    return decorate


@dataclass(frozen=True)
class Call:
    """One API call as a handler sees it: parsed path and query values, JSON body, server settings."""

    operation: Operation
    path: Mapping[str, str]
    query: Mapping[str, Any]
    body: Any
    #: The URL the client reached the sandbox at, with a trailing slash (``http://127.0.0.1:8000/``).
    base_url: str
    #: The API level the sandbox serves (``legacy`` or ``current``): some payloads differ.
    api_level: str
    #: The page size of a listing when the call gives none.
    page_size: int


@dataclass(frozen=True)
class Reply:
    """A handler answer with a status other than 200 (201 on creation, 204 without content)."""

    data: Any
    status: int = 200


@dataclass(frozen=True)
class FileReply:
    """A handler answer that streams a local file (an artifact download) instead of JSON."""

    path: Path
    content_type: str
    filename: str


@dataclass(frozen=True)
class Redirect:
    """A handler answer sending the client elsewhere (``302 Found`` to ``url``), without a body."""

    url: str


@dataclass(frozen=True)
class BytesReply:
    """A handler answer of bytes held in the store (an artifact a worker uploaded) instead of JSON."""

    data: bytes
    content_type: str
    filename: str


@dataclass(frozen=True)
class Listing:
    """Items for a paginated answer; only the requested page is passed through ``serialize``."""

    items: Sequence[Any]
    serialize: Callable[[Any], Any]


# -- errors ------------------------------------------------------------------------------------


def error_entry(detail: str, code: str, attr: Sequence[str | int] | None = None) -> dict[str, Any]:
    return {"attr": None if attr is None else list(attr), "code": code, "detail": detail}


class ApiError(Exception):
    """An Arkindex-style error answer: ``{"type": ..., "errors": [{attr, code, detail}]}``."""

    def __init__(self, status: int, type_: str, errors: list[dict[str, Any]], **extra: Any) -> None:
        super().__init__(errors[0]["detail"] if errors else type_)
        self.status = status
        self.body = {"type": type_, "errors": errors, **extra}


def client_error(status: int, detail: str, code: str) -> ApiError:
    """A 4xx about the request as a whole (``ArkindexClientError`` on the client side)."""
    return ApiError(status, "client_error", [error_entry(detail, code)])


def not_found(what: str = "") -> ApiError:
    """The 404 Django REST framework gives for an unknown object."""
    return client_error(404, f"No {what} matches the given query." if what else "Not found.", "not_found")


def invalid(detail: str, attr: Sequence[str | int] | None, code: str = "invalid") -> ApiError:
    """A 400 about one field (``ArkindexValidationError``); ``attr=None`` for the whole request."""
    return ApiError(400, "validation_error", [error_entry(detail, code, attr)])


def unknown_pk(value: str, attr: Sequence[str | int]) -> ApiError:
    """The 400 Django REST framework gives for a field naming an object that does not exist."""
    return invalid(f'Invalid pk "{value}" - object does not exist.', attr, "does_not_exist")


def lookup(model: type[M], pk: str, attr: Sequence[str | int] | None = None) -> M:
    """The row of ``model`` with this primary key, or the error Arkindex gives when there is none.

    An id from the URL path (``attr`` None) is the 404 naming the model; an id from a body
    field is the 400 on ``attr`` (``["parent"]``, ``["elements", 2, "image"]``).
    """
    row = by_key(model, pk)
    if row is None:
        raise not_found(model.__name__) if attr is None else unknown_pk(pk, attr)
    return row


class ValidationFailed(ApiError):
    """A 400 carrying one entry per bad field."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(400, "validation_error", errors)


# -- body validation ----------------------------------------------------------------------------

_KINDS = ("str", "int", "float", "bool", "uuid", "dict", "list")


@dataclass(frozen=True)
class Rule:
    """How one body field is checked: kind, presence, nullability, choices and bounds.

    ``uuid`` values are normalised to dashed lowercase strings; ``float`` accepts integers
    (JSON has one number type); ``default`` fills an absent optional field.
    """

    kind: str
    required: bool = True
    null: bool = False
    blank: bool = False
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    default: Any = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"Unknown rule kind {self.kind!r} (valid: {', '.join(_KINDS)})")


def check_value(value: Any, rule: Rule) -> tuple[Any, tuple[str, str] | None]:
    """The cleaned value, or an error as (code, detail)."""
    if value is None:
        return (None, None) if rule.null else (None, ("null", "This field may not be null."))
    kind = rule.kind
    if kind in ("str", "uuid") and not isinstance(value, str):
        return None, ("invalid", "Not a valid string.")
    if kind == "str":
        if not rule.blank and not value.strip():
            return None, ("blank", "This field may not be blank.")
        if rule.choices is not None and value not in rule.choices:
            return None, ("invalid_choice", f'"{value}" is not a valid choice.')
    elif kind == "uuid":
        try:
            value = str(uuid.UUID(value))
        except ValueError:
            return None, ("invalid", "Must be a valid UUID.")
    elif kind == "bool" and not isinstance(value, bool):
        return None, ("invalid", "Must be a valid boolean.")
    elif kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        return None, ("invalid", "A valid integer is required.")
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None, ("invalid", "A valid number is required.")
        value = float(value)
    elif kind == "dict" and not isinstance(value, dict):
        return None, ("invalid", f'Expected a dictionary of items but got type "{type(value).__name__}".')
    elif kind == "list" and not isinstance(value, list):
        return None, ("not_a_list", f'Expected a list of items but got type "{type(value).__name__}".')
    if rule.minimum is not None and value < rule.minimum:
        return None, ("min_value", f"Ensure this value is greater than or equal to {rule.minimum}.")
    if rule.maximum is not None and value > rule.maximum:
        return None, ("max_value", f"Ensure this value is less than or equal to {rule.maximum}.")
    return value, None


def validate(data: Any, rules: Mapping[str, Rule], attr: Sequence[str | int] = ()) -> dict[str, Any]:
    """Check ``data`` (a JSON object) against ``rules``; raise :class:`ValidationFailed` listing all errors.

    Keys without a rule are ignored, as Django REST framework does. ``attr`` prefixes the
    error paths, for items of a list (``("transcriptions", 2)``).
    """
    if not isinstance(data, dict):
        detail = f"Invalid data. Expected a dictionary, but got {type(data).__name__}."
        raise ValidationFailed([error_entry(detail, "invalid", list(attr) or None)])
    cleaned: dict[str, Any] = {}
    errors = []
    for name, rule in rules.items():
        if name not in data:
            if rule.required:
                errors.append(error_entry("This field is required.", "required", [*attr, name]))
            else:
                cleaned[name] = rule.default
            continue
        value, error = check_value(data[name], rule)
        if error:
            errors.append(error_entry(error[1], error[0], [*attr, name]))
        else:
            cleaned[name] = value
    if errors:
        raise ValidationFailed(errors)
    return cleaned


# -- query parameters ---------------------------------------------------------------------------

_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


def parse_query_value(kind: str, raw: str) -> Any:
    """Convert one query value of a declared kind; raise ``ValueError`` with the detail to show.

    Booleans arrive as ``True``/``False`` (the client passes Python booleans to requests
    unchanged), ``true``/``false`` or ``1``/``0``; ``uuid_or_false`` is a UUID or such a false.
    """
    if kind == "boolean":
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("Must be a valid boolean.")
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise ValueError("A valid integer is required.") from None
    if kind in ("uuid", "uuid_or_false"):
        if kind == "uuid_or_false" and raw.lower() in _FALSE:
            return False
        try:
            return str(uuid.UUID(raw))
        except ValueError:
            expected = "a valid UUID" if kind == "uuid" else "a valid UUID or False"
            raise ValueError(f"'{raw}' is not {expected}.") from None
    return raw


def parse_query(operation: Operation, args: Mapping[str, str]) -> dict[str, Any]:
    """The declared query parameters present in ``args``, converted; 400 listing every bad one.

    ``page`` is left to the paginator (an invalid page is a 404 there); undeclared
    parameters are ignored.
    """
    values: dict[str, Any] = {}
    errors = []
    for param in operation.query_params:
        if param.name not in args or param.name == "page":
            continue
        try:
            values[param.name] = parse_query_value(param.kind, args[param.name])
        except ValueError as error:
            errors.append(error_entry(str(error), "invalid", [param.name]))
    if errors:
        raise ValidationFailed(errors)
    return values


# -- cursor pagination ----------------------------------------------------------------------------

#: The largest page a listing serves, with a cursor or page numbers (the server's pagination).
MAX_PAGE_SIZE = 500
_CURSOR_PREFIX = "offset:"


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{offset}".encode()).decode()


def _offset(cursor: str) -> int:
    """The offset an opaque cursor stands for; a cursor the sandbox did not make is the 404 of DRF."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        if text.startswith(_CURSOR_PREFIX) and text[len(_CURSOR_PREFIX) :].isdigit():
            return int(text[len(_CURSOR_PREFIX) :])
    except ValueError:  # bad base64 (binascii.Error) or bytes that are not text
        pass
    raise client_error(404, "Invalid cursor", "not_found")


def cursor_page(call: Call, items: Sequence[Any], serialize: Callable[[Any], Any]) -> dict[str, Any]:
    """One page of ``items`` in Django REST framework's cursor pagination, as Arkindex counts it.

    The answer is ``{next, previous, results}``, plus ``count`` only when the call asks
    ``with_count=true``: arkindex-client sends it on the first page and derives the number
    of pages from it, then follows the cursor of ``next`` until it is null.
    """
    size = call.query.get("page_size", call.page_size)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise invalid(f"Ensure this value is between 1 and {MAX_PAGE_SIZE}.", ["page_size"])
    start = _offset(call.query["cursor"]) if "cursor" in call.query else 0

    def link(offset: int) -> str:
        args: dict[str, Any] = {
            name: str(value).lower() if isinstance(value, bool) else value
            for name, value in call.query.items()
            if name != "cursor"
        }
        if offset:
            args["cursor"] = _cursor(offset)
        return f"{call.base_url.rstrip('/')}{call.operation.full_path.format(**call.path)}?{urlencode(args)}"

    page: dict[str, Any] = {
        "next": link(start + size) if start + size < len(items) else None,
        "previous": link(max(0, start - size)) if start > 0 else None,
        "results": [serialize(item) for item in items[start : start + size]],
    }
    if call.query.get("with_count"):
        page = {"count": len(items), **page}
    return page


def validate_list(
    value: Any, name: str, rules: Mapping[str, Rule], *, min_length: int = 1
) -> list[dict[str, Any]]:
    """Check a non-empty list of objects against ``rules``; one 400 listing the errors of every item."""
    if not isinstance(value, list):
        detail = f'Expected a list of items but got type "{type(value).__name__}".'
        raise ValidationFailed([error_entry(detail, "not_a_list", [name])])
    if len(value) < min_length:
        raise ValidationFailed([error_entry("This list may not be empty.", "empty", [name])])
    cleaned, errors = [], []
    for index, item in enumerate(value):
        try:
            cleaned.append(validate(item, rules, attr=(name, index)))
        except ValidationFailed as failed:
            errors.extend(failed.body["errors"])
    if errors:
        raise ValidationFailed(errors)
    return cleaned
