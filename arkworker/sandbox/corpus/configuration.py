"""What RetrieveWorkerRunConfiguration answers, from the ``worker_run`` section of a corpus file.

Current Arkindex declares a worker's configuration as *fields* (the ``configuration`` list
of a worker declaration file, ``arkindex/<slug>.yml``) and resolves a worker run's values
against them into a list of ``{key, value, secret}`` items. In a corpus file::

    worker_run:
      version:
        fields:
          - {key: threshold, type: float, default: 0.5}
          - {key: model_name, type: string}                       # no default: value null
          - {key: token, type: secret, default: demo/api-key.txt}   # value: the secret's name
          - key: advanced
            type: group
            children: [{key: dropout, type: float, default: 0.1}]  # the item advanced.dropout
      configuration:
        configuration: {threshold: 0.8, advanced.dropout: 0.2}     # the run's values

A run's value wins over the field's default; a field with neither is sent with the value
null (Arkindex's choice there is not documented; null is what it sends for an unset secret).
A ``secret`` field is sent with ``secret: true`` and the secret's name as its value. A group
gives one item per child, keyed ``<group>.<child>``, and none of its own. The other keys of
a declaration file's fields (``display_name``, ``required``, ``choices``...) are accepted
as they are, so that the list can be pasted from one, but not checked.

Without ``fields``, the fields are derived from the 0.3.7-era ``version.configuration``, so
that one corpus configures a worker the same way at both API levels: each key of its
static ``configuration`` is a field whose default is its value, each ``user_configuration``
entry a field with the entry's ``default`` (which, when given, wins over a static value
of the same key, as in 0.3.7), each of its ``secrets`` a secret field named and defaulting to the
secret's name, and each key only the run's values give a field without default.

A sandbox started for a worker that declares its configuration (``arkworker run APP
--sandbox``) is also given the worker's fields, as Arkindex knows them once the worker's
declaration file is imported. They come first, in their order, and serve what the corpus
leaves unset: a declared field's default is used when the corpus gives the key no default
(nor value), and a declared ``secret`` field is sent as a secret. At the legacy level the
declared defaults are also ``user_configuration`` entries of the worker version, unless the
corpus's version configuration has the key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from arkworker.manifest import FIELD_TYPES, iter_fields
from arkworker.sandbox.corpus.values import at, listing, show

if TYPE_CHECKING:
    from arkworker.sandbox.corpus.parser import Parser

_FIELD_KEYS = (
    "key",
    "display_name",
    "help_text",
    "type",
    "default",
    "many",
    "editable",
    "required",
    "choices",
    "children",
)

#: A resolved field: ``{"key": str, "secret": bool, "default": Any}``.
Field = dict[str, Any]


def configuration_items(
    p: Parser,
    version: Mapping[str, Any],
    version_configuration: Mapping[str, Any],
    values: Mapping[str, Any],
    loc: str,
    declared: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """The ``{key, value, secret}`` items of the run whose version entry and values are given.

    ``loc`` is the location of the ``worker_run`` section; ``values`` the run's own
    configuration (``worker_run.configuration.configuration``); ``declared`` the worker's
    own fields, which serve what the corpus leaves unset.
    """
    values_loc = f"{loc}.configuration.configuration"
    if "fields" in version:
        fields = _with_declared(_declared_fields(p, version["fields"], f"{loc}.version.fields"), declared)
        unknown = [key for key in values if key not in fields]
        if unknown:
            p.fail(
                at(values_loc, unknown[0]),
                f"not a field of the worker version (fields: {listing(fields)}); "
                "declare it in worker_run.version.fields",
            )
    else:
        fields = _with_declared(_derived_fields(version_configuration, values), declared)
    items = []
    for key, field in fields.items():
        value = values.get(key, field["default"])
        if field["secret"] and value is not None and not isinstance(value, str):
            p.fail(at(values_loc, key), f"a secret's value is the secret's name, a string; got {show(value)}")
        items.append({"key": key, "value": value, "secret": field["secret"]})
    return items


def with_declared_defaults(
    version_configuration: Mapping[str, Any], declared: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """A 0.3.7-era worker version configuration with the declared defaults as ``user_configuration``
    entries, for the keys it does not have."""
    static = version_configuration.get("configuration", {})
    user = dict(version_configuration.get("user_configuration", {}))
    for key, field in iter_fields(declared):
        if key not in static and key not in user and field.get("default") is not None:
            user[key] = {
                "title": field.get("display_name", key),
                "type": field["type"],
                "default": field["default"],
            }
    if not user:
        return dict(version_configuration)
    return {**version_configuration, "user_configuration": user}


def _with_declared(fields: dict[str, Field], declared: Sequence[Mapping[str, Any]]) -> dict[str, Field]:
    """The declared fields first, each completed by the corpus's field of the same key, then the corpus's others."""
    merged: dict[str, Field] = {}
    for key, field in iter_fields(declared):
        own = fields.get(key, {"secret": False, "default": None})
        merged[key] = {
            "secret": own["secret"] or field["type"] == "secret",
            "default": field.get("default") if own["default"] is None else own["default"],
        }
    merged.update((key, field) for key, field in fields.items() if key not in merged)
    return merged


def _declared_fields(p: Parser, value: Any, loc: str) -> dict[str, Field]:
    fields: dict[str, Field] = {}
    for index, entry in enumerate(p.sequence(value, loc)):
        here = f"{loc}[{index}]"
        field = _field(p, entry, here)
        if field["type"] != "group":
            _add(p, fields, field["key"], field, here)
            continue
        children = p.sequence(field["children"], at(here, "children"))
        if not children:
            p.fail(at(here, "children"), "a group needs at least one child field")
        for position, child_entry in enumerate(children):
            child_loc = f"{here}.children[{position}]"
            child = _field(p, child_entry, child_loc)
            if child["type"] == "group":
                p.fail(at(child_loc, "type"), "a group cannot contain another group")
            _add(p, fields, f"{field['key']}.{child['key']}", child, child_loc)
    return fields


def _field(p: Parser, entry: Any, loc: str) -> dict[str, Any]:
    """One declared field, checked: its key, type, default and (for a group) children."""
    entry = p.mapping(entry, loc, _FIELD_KEYS)
    if "key" not in entry:
        p.fail(loc, "missing 'key'")
    kind = p.string(entry["type"], at(loc, "type"), choices=FIELD_TYPES) if "type" in entry else "string"
    if "children" in entry and kind != "group":
        p.fail(at(loc, "children"), "only a field of type group has children")
    if kind == "group":
        if "children" not in entry:
            p.fail(loc, "a group needs 'children' (a list of fields)")
        if entry.get("default") is not None:
            p.fail(at(loc, "default"), "a group has no default: give its children theirs")
    default = entry.get("default")
    if kind == "secret" and default is not None and not isinstance(default, str):
        p.fail(at(loc, "default"), f"a secret's default is the secret's name, a string; got {show(default)}")
    return {
        "key": p.string(entry["key"], at(loc, "key")).strip(),
        "type": kind,
        "default": default,
        "secret": kind == "secret",
        "children": entry.get("children"),
    }


def _add(p: Parser, fields: dict[str, Field], key: str, field: Mapping[str, Any], loc: str) -> None:
    if key in fields:
        p.fail(at(loc, "key"), f"duplicate configuration key {key!r}")
    fields[key] = {"secret": field["secret"], "default": field["default"]}


def _derived_fields(version_configuration: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Field]:
    """The fields a 0.3.7-era worker version configuration stands for (already checked by the caller)."""
    fields: dict[str, Field] = {}
    for key, value in version_configuration.get("configuration", {}).items():
        fields[key] = {"secret": False, "default": value}
    for key, spec in version_configuration.get("user_configuration", {}).items():
        if "default" in spec or key not in fields:
            fields[key] = {"secret": False, "default": spec.get("default")}
    for name in version_configuration.get("secrets", []):
        fields[name] = {"secret": True, "default": name}
    for key in values:
        fields.setdefault(key, {"secret": False, "default": None})
    return fields
