"""Argument checks of the result helpers: the reference's rules, with messages that name the fix.

Every check raises :class:`arkworker.errors.InvalidArgument` and returns the value to send
(enums become their text, UUIDs their dashed text), so a helper validates everything
before its first request and builds its body from the returned values. ``prefix`` names an
item of a bulk list (``"Transcription at index 2 in transcriptions: "``).
"""

from __future__ import annotations

import math
import uuid
import warnings
from collections.abc import Mapping
from enum import Enum
from typing import Any, Literal, overload

from arkworker.enums import MetaType, TextOrientation
from arkworker.errors import InvalidArgument
from arkworker.models import Element, Transcription
from arkworker.storage.cache import CachedElement


def _show(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def fail(message: str, prefix: str = "") -> InvalidArgument:
    return InvalidArgument(prefix + message)


def element(
    value: Any, name: str = "element", prefix: str = "", *, cached: bool = True
) -> Element | CachedElement:
    """An API element, or (when ``cached``) an element of the cache."""
    kinds = (Element, CachedElement) if cached else (Element,)
    if not isinstance(value, kinds):
        expected = "an Element or a CachedElement" if cached else "an Element (not a cached one)"
        raise fail(f"{name} must be {expected}, got {_show(value)}", prefix)
    return value


def element_id(value: Element | CachedElement) -> str:
    """The id of an element as the API wants it (dashed text, also for cached elements)."""
    return str(value.id) if isinstance(value, CachedElement) else str(value["id"])


@overload
def text(value: Any, name: str, prefix: str = "", *, optional: Literal[False] = False) -> str: ...
@overload
def text(value: Any, name: str, prefix: str = "", *, optional: bool) -> str | None: ...
def text(value: Any, name: str, prefix: str = "", *, optional: bool = False) -> str | None:
    """A non-empty string (a string enum gives its value: ``MetaType.Text`` is ``"text"``)."""
    if optional and value is None:
        return None
    if isinstance(value, Enum) and isinstance(value.value, str):
        value = value.value
    if not isinstance(value, str) or not value.strip():
        raise fail(f"{name} must be a non-empty string, got {_show(value)}", prefix)
    return value


def confidence(value: Any, name: str = "confidence", prefix: str = "", *, optional: bool = False) -> Any:
    """A float in [0, 1] (the reference refuses integers: write ``1.0``, not ``1``)."""
    if optional and value is None:
        return None
    if not isinstance(value, float) or not math.isfinite(value) or not 0 <= value <= 1:
        raise fail(f"{name} must be a float between 0 and 1 (such as 0.5 or 1.0), got {_show(value)}", prefix)
    return value


@overload
def boolean(value: Any, name: str, prefix: str = "", *, optional: Literal[False] = False) -> bool: ...
@overload
def boolean(value: Any, name: str, prefix: str = "", *, optional: bool) -> bool | None: ...
def boolean(value: Any, name: str, prefix: str = "", *, optional: bool = False) -> bool | None:
    if optional and value is None:
        return None
    if not isinstance(value, bool):
        raise fail(f"{name} must be True or False, got {_show(value)}", prefix)
    return value


def integer(value: Any, name: str, prefix: str = "", *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise fail(f"{name} must be an integer >= {minimum}, got {_show(value)}", prefix)
    return value


def polygon(value: Any, name: str = "polygon", prefix: str = "") -> list[list[int | float]]:
    """At least 3 points, each ``[x, y]`` of two numbers; returned as lists (tuples are accepted)."""
    if not isinstance(value, list | tuple):
        raise fail(f"{name} must be a list of [x, y] points, got {_show(value)}", prefix)
    if len(value) < 3:
        raise fail(f"{name} must have at least 3 points, got {len(value)}", prefix)
    for index, point in enumerate(value):
        if not (
            isinstance(point, list | tuple)
            and len(point) == 2
            and all(isinstance(c, int | float) and not isinstance(c, bool) for c in point)
        ):
            raise fail(f"{name} point {index} must be [x, y] with two numbers, got {_show(point)}", prefix)
    return [list(point) for point in value]


def _member(kind: type[Enum], value: Any, name: str, prefix: str) -> str:
    """The text of a member of ``kind``, given as the member or as its text."""
    try:
        return kind(value.value if isinstance(value, kind) else value).value
    except ValueError:
        valid = ", ".join(member.value for member in kind)
        raise fail(f"{name} must be a {kind.__name__} ({valid}), got {_show(value)}", prefix) from None


def orientation(value: Any, prefix: str = "") -> str:
    """A :class:`TextOrientation`, or its text (``"horizontal-lr"``)."""
    return _member(TextOrientation, value, "orientation", prefix)


def meta_type(value: Any, prefix: str = "") -> str:
    """A :class:`MetaType`, or its text (``"text"``)."""
    return _member(MetaType, value, "type", prefix)


@overload
def uuid_text(value: Any, name: str, prefix: str = "", *, optional: Literal[False] = False) -> str: ...
@overload
def uuid_text(value: Any, name: str, prefix: str = "", *, optional: bool) -> str | None: ...
def uuid_text(value: Any, name: str, prefix: str = "", *, optional: bool = False) -> str | None:
    """A UUID (object or text), sent as dashed text."""
    if optional and value is None:
        return None
    if isinstance(value, uuid.UUID):
        return str(value)
    try:
        return str(uuid.UUID(value))
    except (TypeError, ValueError, AttributeError):
        raise fail(f"{name} must be a UUID, got {_show(value)}", prefix) from None


def worker_filter(value: Any, name: str, *, stacklevel: int = 3) -> str | bool | None:
    """A worker version/run filter: an id, ``False`` for manual results, or None for no filter.

    Filtering on worker versions is deprecated in Arkindex (worker runs replace them); the
    warning names the worker's line, ``stacklevel`` frames up (the helper's caller by default).
    """
    if value is None:
        return None
    if isinstance(value, uuid.UUID):
        value = str(value)
    if value is not False and (not isinstance(value, str) or not value):
        raise fail(f"{name} must be an id or False (manual results only), got {_show(value)}")
    if name.endswith("worker_version"):
        warnings.warn(
            f"Filtering on {name} is deprecated: filter on worker runs instead.",
            DeprecationWarning,
            stacklevel=stacklevel,
        )
    return value


def non_empty_list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list | tuple) or not value:
        raise fail(f"{name} must be a non-empty list, got {_show(value)}")
    return list(value)


def mapping(value: Any, prefix: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise fail(f"must be a dict, got {_show(value)}", prefix)
    return value


def transcription(value: Any, name: str = "transcription") -> Transcription:
    if not isinstance(value, Transcription):
        raise fail(
            f"{name} must be a Transcription (arkworker.models.Transcription(payload)), got {_show(value)}"
        )
    return value


def batch_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise fail(f"batch_size must be a positive integer, got {_show(value)}")
    return value


def item_prefix(noun: str, index: int, list_name: str) -> str:
    return f"{noun} at index {index} in {list_name}: "
