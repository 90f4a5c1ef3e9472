"""Fault injection: the sandbox answering badly on purpose, to test a worker's error handling.

A fault is set on a *target*: an API operationId (``"CreateTranscription"``), :data:`SCHEMA`
(``"schema"``, the schema download ``/api/v1/openapi/``), :data:`IIIF` (``"iiif"``, every
request to the sandbox's IIIF server), :data:`UPLOAD` (``"upload"``, every request to its
object store, the signed URLs where archives are uploaded) or :data:`STORAGE` (``"storage"``,
the files API answers point to, such as the export files DownloadExport redirects to). It
spoils the next ``times`` requests of that target
(``times=None``: every request until ``Sandbox.clear_faults()`` or ``Sandbox.reset()``).
Faults of one target apply in the order they were added, whatever their kind; every request
is recorded in ``Sandbox.requests``, with the kind of fault it got in ``RecordedRequest.fault``.

The kinds, and whether the request is *applied* (handled, its effects stored) first:

* ``error`` (not applied): ``status`` (400 to 599; default 500) after ``delay`` seconds, before
  authentication, with an Arkindex error body by default (plain text for the IIIF server and the storage), or
  ``body`` (str as plain text, bytes, or a JSON value) as ``content_type``;
* ``reset`` (not applied): the connection is reset (TCP RST) once the request line and headers
  are read, before its body: no answer at all;
* ``reset-mid-answer`` (applied): the status line, the headers (with the full
  ``Content-Length``) and ``after_bytes`` of the body (default: half of it), then a reset; an
  answer without a body is reset before its status line;
* ``truncate`` (applied): the same, cut after ``after_bytes`` (default 0), but closed cleanly
  (FIN) instead of reset;
* ``stall`` (applied): nothing for ``seconds``, then the whole answer;
* ``slow`` (applied): the answer in small pieces spread over ``seconds`` (the status line and
  headers come with the first piece);
* ``malformed`` (applied only with ``apply=True``, else answered before authentication): a 200
  whose body is not what the schema says, an HTML page by default or ``body`` (str as HTML,
  bytes, or a JSON value) as ``content_type``, after ``delay`` seconds.

A cut never sends the whole body: ``after_bytes`` is capped one byte short of it. The IIIF
server, the storage and the schema change no state, so ``apply`` is refused for them. Waits (``delay``,
``stall``, ``slow``) end early when the sandbox stops.

:func:`build_fault` checks the arguments of one fault (every mistake is a ``ValueError``
saying what is accepted); :func:`parse_fault_spec` reads the command-line form
(``TARGET:KIND[=VALUE][:OPTION=VALUE]...``, :data:`SPEC_FORMS`); :class:`Faults` holds the
pending faults of one sandbox, and the server takes them request by request.
"""

from __future__ import annotations

import difflib
import json
import math
import threading
from dataclasses import dataclass, replace
from typing import Any

from arkworker.sandbox.handlers.base import error_entry
from arkworker.sandbox.operations import operation_ids

#: The target of the schema download (``GET /api/v1/openapi/``); API faults are keyed by operationId.
SCHEMA = "schema"
#: The target of every request to the sandbox's IIIF server (``info.json`` and images).
IIIF = "iiif"
#: The target of every request to the sandbox's object store (``/upload/``, the signed URLs).
UPLOAD = "upload"
#: The target of every request to the sandbox's file storage (what a presigned S3 URL would serve).
STORAGE = "storage"
#: The targets that are not API operations; none of them changes any state.
_NON_API = (SCHEMA, IIIF, UPLOAD, STORAGE)

#: The parameters each kind takes besides ``times``; any other one is refused.
_PARAMETERS: dict[str, tuple[str, ...]] = {
    "error": ("status", "body", "content_type", "delay"),
    "reset": (),
    "reset-mid-answer": ("after_bytes",),
    "truncate": ("after_bytes",),
    "stall": ("seconds",),
    "slow": ("seconds",),
    "malformed": ("body", "content_type", "apply", "delay"),
}
FAULT_KINDS = tuple(_PARAMETERS)

#: The command-line forms, as an error message names them.
SPEC_FORMS = (
    "TARGET:KIND[=VALUE][:OPTION=VALUE]..., TARGET an operationId, 'schema', 'iiif', 'upload' or 'storage', KIND one of "
    "error[=STATUS], reset, reset-mid-answer[=BYTES], truncate[=BYTES], stall=SECONDS, slow=SECONDS, "
    "malformed; options times=N|always (default 1), status=, after_bytes=, seconds=, delay=, "
    "content_type=, apply, body= (last: it takes the rest); "
    "e.g. RetrieveElement:error=503:times=2 or CreateTranscription:reset-mid-answer:times=always"
)

_TEXT = "text/plain; charset=utf-8"
_HTML = "text/html; charset=utf-8"
_PORTAL = (
    "<!DOCTYPE html>\n<html><head><title>Sign in to the network</title></head>\n"
    "<body><h1>Sign in to the network</h1>\n"
    "<p>Fault injected by the arkworker sandbox: this page stands where the answer of {target} "
    "was expected, as a captive portal or a misconfigured proxy would serve it.</p></body></html>\n"
)


@dataclass(frozen=True)
class Fault:
    """How to spoil one answer (the kinds: :mod:`arkworker.sandbox.faults`)."""

    kind: str
    #: The status of an ``error`` (200 for ``malformed``).
    status: int = 200
    #: The body of an ``error`` or a ``malformed`` answer, encoded, and its Content-Type.
    body: bytes = b""
    content_type: str = _TEXT
    #: How long a ``stall`` holds the answer, or a ``slow`` answer trickles.
    seconds: float = 0.0
    #: How many body bytes a ``reset-mid-answer`` (None: half) or a ``truncate`` sends.
    after_bytes: int | None = None
    #: Whether a ``malformed`` answer comes after the request was handled.
    apply: bool = False
    #: Seconds an ``error`` or a ``malformed`` answer waits before it is sent.
    delay: float = 0.0

    @property
    def applied(self) -> bool:
        """Whether the request is handled, its effects stored, before its answer is spoilt."""
        return self.kind in ("reset-mid-answer", "truncate", "stall", "slow") or self.apply


@dataclass(frozen=True)
class FaultRule:
    """A fault set on a target for the next ``times`` requests (None: until cleared)."""

    target: str
    fault: Fault
    times: int | None = 1


def build_fault(
    target: str,
    kind: str,
    *,
    status: int | None = None,
    body: Any = None,
    content_type: str | None = None,
    seconds: float | None = None,
    after_bytes: int | None = None,
    apply: bool | None = None,
    delay: float | None = None,
) -> Fault:
    """The fault ``kind`` on ``target`` with these parameters, every one checked (``ValueError``)."""
    check_target(target)
    if kind not in _PARAMETERS:
        raise ValueError(f"Unknown fault kind {kind!r}: use one of {', '.join(FAULT_KINDS)}")
    given = {
        "status": status,
        "body": body,
        "content_type": content_type,
        "seconds": seconds,
        "after_bytes": after_bytes,
        "apply": apply,
        "delay": delay,
    }
    accepted = _PARAMETERS[kind]
    stray = [name for name, value in given.items() if value is not None and name not in accepted]
    if stray:
        takes = f"takes {', '.join(accepted)}" if accepted else "takes no parameter"
        raise ValueError(f"A {kind!r} fault {takes} (besides times), not {', '.join(stray)}")
    if kind in ("stall", "slow"):
        if seconds is None:
            raise ValueError(f"A {kind!r} fault needs seconds=, how long the answer takes")
        return Fault(kind, seconds=_seconds("seconds", seconds, positive=True))
    if kind in ("reset-mid-answer", "truncate"):
        if kind == "truncate" and after_bytes is None:
            after_bytes = 0
        if after_bytes is not None and (
            isinstance(after_bytes, bool) or not isinstance(after_bytes, int) or after_bytes < 0
        ):
            raise ValueError(f"after_bytes must be a number of bytes (0 or more), got {after_bytes!r}")
        return Fault(kind, after_bytes=after_bytes)
    if kind == "reset":
        return Fault(kind)
    if content_type is not None and (not isinstance(content_type, str) or not content_type.strip()):
        raise ValueError(f"content_type must be a media type such as 'text/html', got {content_type!r}")
    wait = _seconds("delay", 0.0 if delay is None else delay, positive=False)
    if kind == "error":
        code = 500 if status is None else status
        if isinstance(code, bool) or not isinstance(code, int) or not 400 <= code <= 599:
            raise ValueError(f"A fault status must be an HTTP error status (400 to 599), got {code!r}")
        data, media_type = _encode(_error_body(target, code) if body is None else body, _TEXT)
        return Fault(kind, status=code, body=data, content_type=content_type or media_type, delay=wait)
    if apply is not None and not isinstance(apply, bool):
        raise ValueError(f"apply must be True or False, got {apply!r}")
    if apply and target in _NON_API:
        raise ValueError(
            f"apply=True is for API operations: the {target!r} target changes no state, so there is "
            "nothing to apply"
        )
    data, media_type = _encode(_PORTAL.format(target=target) if body is None else body, _HTML)
    return Fault(kind, body=data, content_type=content_type or media_type, apply=bool(apply), delay=wait)


class UnknownTargetError(ValueError, LookupError):
    """A fault target that is not a declared operationId, ``"schema"``, ``"iiif"``, ``"upload"`` or ``"storage"``."""


def check_target(target: str) -> None:
    """Refuse a target that is neither a declared operationId nor one of :data:`_NON_API`."""
    known = operation_ids()
    if target in _NON_API or target in known:
        return
    close = difflib.get_close_matches(str(target), [*known, *_NON_API], n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise UnknownTargetError(
        f"Unknown fault target {target!r}: use an operationId the sandbox declares, {SCHEMA!r} "
        f"(the schema download), {IIIF!r} (the IIIF server), {UPLOAD!r} (the object store) or {STORAGE!r} (the file storage){hint}"
    )


def check_times(times: int | None) -> None:
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise ValueError(f"times must be a positive integer or None (until clear_faults()), got {times!r}")


def cut_length(fault: Fault, length: int) -> int:
    """How many body bytes a cut sends of a body of ``length`` bytes: never all of them."""
    wanted = length // 2 if fault.after_bytes is None else fault.after_bytes
    return max(0, min(wanted, length - 1))


def _seconds(name: str, value: Any, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(
            f"{name} must be {'more than zero' if positive else 'zero or more'} seconds, got {value!r}"
        )
    return float(value)


def _error_body(target: str, status: int) -> Any:
    if target == IIIF:
        return f"Fault injected by sandbox.fail_iiif(status={status})"
    if target == UPLOAD:
        return f"Fault injected by sandbox.fail({UPLOAD!r}, status={status})"
    if target == STORAGE:
        return f"Fault injected by sandbox.fault({STORAGE!r}, 'error', status={status})"
    kind = "server_error" if status >= 500 else "client_error"
    detail = f"Fault injected by sandbox.fail({target!r}, status={status})"
    return {"type": kind, "errors": [error_entry(detail, "injected_fault")]}


def _encode(body: Any, text_type: str) -> tuple[bytes, str]:
    """A body as bytes and its default media type: text as ``text_type``, bytes as they are, else JSON."""
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode(), text_type
    try:
        return json.dumps(body).encode(), "application/json"
    except (TypeError, ValueError):
        raise ValueError(
            f"A fault body must be a str, bytes or a JSON-serialisable value, got {body!r:.100}"
        ) from None


# -- the command-line form -------------------------------------------------------------------------

#: What the ``=VALUE`` after a kind stands for.
_MAIN_VALUE = {
    "error": "status",
    "reset-mid-answer": "after_bytes",
    "truncate": "after_bytes",
    "stall": "seconds",
    "slow": "seconds",
}
_INTEGERS = ("status", "after_bytes")
_NUMBERS = ("seconds", "delay")


def parse_fault_spec(spec: str) -> FaultRule:
    """The rule a command-line spec such as ``RetrieveElement:error=503:times=2`` stands for.

    Every mistake is a ``ValueError`` of one line that names the accepted forms.
    """
    try:
        return _parse(spec)
    except ValueError as error:
        raise ValueError(f"Invalid fault {spec!r}: {error}. A fault is {SPEC_FORMS}") from None


def _parse(spec: str) -> FaultRule:
    head, _, body = spec.partition(":body=")
    target, _, rest = head.partition(":")
    if not target or not rest:
        raise ValueError("expected a target and a kind separated by ':'")
    kind_field, *fields = rest.split(":")
    kind, has_value, value = kind_field.partition("=")
    options: dict[str, Any] = {}
    if has_value:
        if kind not in _MAIN_VALUE:
            raise ValueError(f"{kind!r} takes no =VALUE")
        options[_MAIN_VALUE[kind]] = value
    times: int | None = 1
    for field in fields:
        name, has_value, value = field.partition("=")
        if name == "apply" and not has_value:
            options["apply"] = True
        elif name == "times" and has_value:
            times = None if value == "always" else _integer("times", value)
        elif name in ("status", "after_bytes", "seconds", "delay", "content_type") and has_value:
            if name in options:
                raise ValueError(f"{name} is given twice")
            options[name] = value
        else:
            raise ValueError(f"unknown option {field!r}")
    if ":body=" in spec:
        options["body"] = body
    for name in _INTEGERS:
        if name in options:
            options[name] = _integer(name, options[name])
    for name in _NUMBERS:
        if name in options:
            options[name] = _number(name, options[name])
    check_times(times)
    return FaultRule(target, build_fault(target, kind, **options), times)


def _integer(name: str, text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"{name} must be a whole number, got {text!r}")
    return int(text)


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a number of seconds, got {text!r}")
    return value


def describe(rule: FaultRule) -> str:
    """A rule in the command-line form (what ``arkworker sandbox serve`` prints)."""
    fault = rule.fault
    text = f"{rule.target}:{fault.kind}"
    if fault.kind == "error":
        text += f"={fault.status}"
    elif fault.kind in ("stall", "slow"):
        text += f"={fault.seconds:g}"
    elif fault.after_bytes is not None:
        text += f"={fault.after_bytes}"
    if fault.apply:
        text += ":apply"
    if fault.delay:
        text += f":delay={fault.delay:g}"
    return text + f":times={'always' if rule.times is None else rule.times}"


# -- the pending faults of one sandbox --------------------------------------------------------------


class Faults:
    """The pending faults of one sandbox, per target; thread-safe (one thread per request)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, list[FaultRule]] = {}

    def add(self, rule: FaultRule) -> None:
        check_target(rule.target)
        check_times(rule.times)
        with self._lock:
            self._queues.setdefault(rule.target, []).append(rule)

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()

    def pending(self) -> list[FaultRule]:
        """The rules still to apply, target by target, each with its remaining ``times``."""
        with self._lock:
            return [rule for queue in self._queues.values() for rule in queue]

    def take(self, target: str) -> Fault | None:
        """The fault to apply to this request of ``target``, or None; counts it as used."""
        with self._lock:
            queue = self._queues.get(target)
            if not queue:
                return None
            rule = queue[0]
            if rule.times == 1:
                queue.pop(0)
            elif rule.times is not None:
                queue[0] = replace(rule, times=rule.times - 1)
            return rule.fault
