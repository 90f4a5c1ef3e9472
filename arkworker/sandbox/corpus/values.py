"""The checks every corpus section uses: typed values, one-line errors with locations, ids.

A section never raises on its own: it asks :class:`Values` for a string, a mapping, an
id... and a wrong value becomes a :class:`CorpusError` naming the file, where the value is
(``elements[0].children[2].type``) and what would be right.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from typing import Any, NoReturn

#: Fixed namespace of derived ids: changing it would change every derived id.
ID_NAMESPACE = uuid.UUID("0f5d3c43-5f5e-5b3e-9d5a-61726b776f72")


class CorpusError(ValueError):
    """A corpus file that cannot seed a sandbox; the message is one line: file, location, problem."""


def show(value: Any) -> str:
    """A value as an error message quotes it: its type and a short repr."""
    if value is None:
        return "null"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def at(loc: str, name: str) -> str:
    """The location of a key inside the entry at ``loc``."""
    return f"{loc}.{name}" if loc else name


def listing(values: Iterable[str], limit: int = 10) -> str:
    """Names for an error message, cut after ``limit``: a long corpus keeps messages on one line."""
    values = list(values)
    shown = ", ".join(values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "") if values else "none"


class Values:
    """Checked reads of the values of one corpus file, and the ids given to its entries."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.corpus_name = ""
        self.ids: dict[tuple[str, str], str] = {}

    def fail(self, loc: str, message: str) -> NoReturn:
        raise CorpusError(f"{self.label}: {loc or 'top level'}: {message}")

    def mapping(self, value: Any, loc: str, keys: Collection[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(loc, f"expected a mapping, got {show(value)}")
        for name in value:
            if name not in keys:
                self.fail(loc, f"unknown key {name!r} (valid keys: {', '.join(keys)})")
        return value

    def sequence(self, value: Any, loc: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(loc, f"expected a list, got {show(value)}")
        return value

    def string(self, value: Any, loc: str, *, choices: Collection[str] | None = None) -> str:
        if not isinstance(value, str):
            self.fail(loc, f"expected a string, got {show(value)}")
        if not value.strip():
            self.fail(loc, "may not be blank")
        if choices is not None and value not in choices:
            self.fail(loc, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def integer(self, value: Any, loc: str, minimum: int, maximum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(loc, f"expected an integer, got {show(value)}")
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            self.fail(loc, f"must be {bounds}, got {value}")
        return value

    def confidence(self, value: Any, loc: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            self.fail(loc, f"expected a number between 0 and 1, got {show(value)}")
        return float(value)

    def boolean(self, value: Any, loc: str) -> bool:
        if not isinstance(value, bool):
            self.fail(loc, f"expected true or false, got {show(value)}")
        return value

    def dictionary(self, value: Any, loc: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(loc, f"expected a mapping, got {show(value)}")
        return value

    def identifier(
        self, entry: Mapping[str, Any], loc: str, table: str, derive_from: str | None = None
    ) -> str:
        """The entry's ``id`` (a UUID, unique in its table) or one derived from its position."""
        if "id" in entry:
            value = entry["id"]
            if not isinstance(value, str):
                self.fail(at(loc, "id"), f"expected a UUID string, got {show(value)}")
            try:
                identifier = str(uuid.UUID(value))
            except ValueError:
                self.fail(at(loc, "id"), f"{value!r} is not a valid UUID")
        else:
            identifier = str(uuid.uuid5(ID_NAMESPACE, f"{self.corpus_name}\n{derive_from or loc}"))
        previous = self.ids.setdefault((table, identifier), loc or "corpus")
        if previous != (loc or "corpus"):
            self.fail(at(loc, "id"), f"duplicate id {identifier} (already used by {previous})")
        return identifier
