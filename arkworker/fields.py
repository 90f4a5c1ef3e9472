"""The configuration a worker declares: :class:`Field`, one key of ``ctx.config``.

A worker declares its configuration once, in Python, like click declares options::

    from arkworker import Field, Worker

    app = Worker("htr", configuration=[Field("model", type="model", required=True)])

    @app.config_field("threshold", type=float, default=0.5, help="Minimal confidence.")
    @app.config_field("mode", choices=["fast", "accurate"], default="fast")
    @app.config_field("advanced", children=[Field("dropout", default=0.1), Field("layers", default=4)])
    @app.element
    def process(element, ctx):
        if ctx.config["threshold"] > 0.9 and ctx.config["advanced.dropout"]: ...

and the one declaration serves three purposes: ``arkworker declare`` writes it into the
worker's Arkindex declaration file (``arkindex/<slug>.yml``, :mod:`arkworker.manifest`),
``arkworker check`` compares the two, and each run checks the values it receives against
it before the first element (:func:`resolve_values`): defaults filled in, values converted
where the type says how, anything else one line naming the key.

A declaration is checked when it is made, with the format's own rules (the same as
``arkindex worker import``'s validator) and a few that only Python can break (a ``True``
given as an int): a bad one is a :class:`~arkworker.errors.RegistrationError` naming the key
and the fix.

Conversions at run time (Arkindex sends JSON values of the field's type; a ``--config`` file
is written by hand, often with quotes):

* ``int``: ints; a float without a fractional part (``3.0``); text holding a whole number (``"3"``);
* ``float``: ints and floats (as floats); text holding a number (``"0.5"``); never NaN or infinity;
* ``bool``: true and false; the texts ``"true"`` and ``"false"`` (any case);
* ``string``, ``text``, ``enum``: text only (``enum``: one of the choices); a number is refused
  rather than turned into text, since ``1.10`` would arrive as ``"1.1"``;
* ``dict``: a mapping of text to text;
* ``model``, ``worker_version``, ``corpus_export``, ``element_type``, ``s3_bucket``: text (the
  id, slug or name Arkindex sends), not otherwise checked;
* ``secret``: whatever the secret holds once loaded; only its presence is checked, and its
  value is never shown;
* ``many``: a list, each item converted as above;
* a group's children are the keys ``<group>.<child>``; a ``--config`` file may give them as a
  mapping under the group's key (``advanced: {dropout: 0.2}``), flattened into those keys.

A value that is null or absent takes the field's default; a required field without one is
an error. Every declared key is in ``ctx.config`` afterwards (None when it has no value), so
a handler may read ``ctx.config["key"]``; keys the worker does not declare are kept as they came.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from arkworker.errors import RegistrationError
from arkworker.manifest import FIELD_TYPES, MANY_TYPES, Problem, display_name_for, validate_fields


class _Missing:
    """The default of a field that declares none (None is a default: "no value")."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

#: The Python types ``type=`` takes, and the field type each stands for.
PYTHON_TYPES: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "string", dict: "dict"}

#: How each type's value reads in a message, alone and in a list (``many``).
EXPECTED = {
    "bool": "true or false",
    "int": "a whole number",
    "float": "a number",
    "string": "text",
    "text": "text",
    "dict": "a mapping of text to text",
    "model": "the id of a model, as text",
    "worker_version": "the id of a worker version, as text",
    "corpus_export": "the id of a corpus export, as text",
    "element_type": "the slug of an element type, as text",
    "s3_bucket": "the name of an S3 bucket, as text",
}
EXPECTED_MANY = {
    "int": "whole numbers",
    "float": "numbers",
    "string": "texts",
    "worker_version": "worker version ids",
    "element_type": "element type slugs",
}

#: What to do about each rule of the format, in a registration error.
FIXES = {
    "duplicate": "give each field its own key (a group's children count as '<group>.<child>')",
    "default_type": "give a default of the field's type, or change its type",
    "default_forbidden": "drop default= (Arkindex users choose this value)",
    "enum_choices": "give choices=[...], at least two different texts",
    "group_required": "drop required=True: make its children required instead",
    "group_children": "give children=[Field(...), ...]",
    "many_type": f"many=True is for {', '.join(MANY_TYPES)} fields",
    "subgroup": "a group cannot hold another group: move its children up",
    "group_editable": "drop editable=False: a group is always editable",
    "editable_default": "a field users cannot edit needs its value: give default= (None allowed)",
}
STRUCTURE_FIXES = {
    "key": "give a key of 1 to 250 characters",
    "display_name": "give a display_name of 1 to 250 characters",
    "help_text": "give help= as text",
    "choices": "give choices=[...], at least two texts",
}

_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class Field:
    """One configuration field of a worker: a key of ``ctx.config``, as Arkindex shows and sends it.

    :param key: the key of ``ctx.config`` (a group child's is ``<group>.<child>``).
    :param type: a type of the format (``"int"``, ``"model"``, ``"group"``...) or ``bool``,
        ``int``, ``float``, ``str``, ``dict``. Default: ``group`` with ``children``, ``enum``
        with ``choices``, else the type of ``default``, else ``string``.
    :param default: the value when none is given (not for model, secret... fields, which
        Arkindex users choose).
    :param display_name: the label in Arkindex (default: the key, as words: ``max_width`` → ``Max width``).
    :param help: a longer explanation (the format's ``help_text``).
    :param required: a run without a value (nor default) is refused.
    :param choices: the texts an ``enum`` field takes.
    :param many: a list of values (int, float, string, worker_version and element_type fields).
    :param editable: False: Arkindex users cannot change it; it needs a ``default``.
    :param children: the fields of a ``group``.
    """

    key: str
    type: str | type | None = None
    _: KW_ONLY
    default: Any = MISSING
    display_name: str | None = None
    help: str | None = None
    required: bool = False
    choices: Sequence[str] | None = None
    many: bool = False
    editable: bool = True
    children: Sequence[Field] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key.strip():
            raise RegistrationError(
                f"Field({self.key!r}): a field's key is non-empty text, e.g. Field('threshold')."
            )
        if self.key != self.key.strip():
            raise RegistrationError(
                f"Configuration field {self.key!r}: the key has spaces around it; give Field({self.key.strip()!r})."
            )
        for name in ("required", "many", "editable"):
            if not isinstance(getattr(self, name), bool):
                raise self._refuse(f"{name}={getattr(self, name)!r}", f"give {name}=True or {name}=False")
        children = self._checked_children()
        choices = self._checked_choices()
        kind = self._field_type(children, choices)
        set_ = object.__setattr__  # a frozen dataclass normalises itself once
        set_(self, "type", kind)
        set_(self, "children", children)
        set_(self, "choices", choices)
        set_(self, "default", self._checked_default(kind))
        display_name = self._checked_text("display_name", self.display_name)
        set_(self, "display_name", display_name_for(self.key) if display_name is None else display_name)
        set_(self, "help", self._checked_text("help", self.help))
        self._check_rules()

    # -- Registration checks ----------------------------------------------------------------

    def _refuse(self, problem: str, fix: str) -> RegistrationError:
        return RegistrationError(f"Configuration field {self.key!r}: {problem}: {fix}.")

    def _checked_children(self) -> tuple[Field, ...]:
        children = self.children
        if isinstance(children, Field | str | bytes) or not isinstance(children, Iterable):
            raise self._refuse(f"children={children!r}", "give a list of Field(...)")
        children = tuple(children)
        for child in children:
            if not isinstance(child, Field):
                raise self._refuse(f"the child {child!r} is not a Field", "give children=[Field(...), ...]")
        return children

    def _checked_choices(self) -> tuple[str, ...] | None:
        if self.choices is None:
            return None
        if isinstance(self.choices, str | bytes) or not isinstance(self.choices, Iterable):
            raise self._refuse(
                f"choices={self.choices!r}", "give a list of texts, e.g. choices=['fast', 'accurate']"
            )
        choices = tuple(self.choices)
        if not all(isinstance(choice, str) for choice in choices):
            raise self._refuse(f"choices={list(choices)!r}", "every choice is text")
        return choices

    def _field_type(self, children: tuple[Field, ...], choices: tuple[str, ...] | None) -> str:
        """The format's name of the field's type, given or inferred."""
        given = self.type
        if given is None:
            return _inferred_type(self.default, choices, children)
        if isinstance(given, type):
            if given in PYTHON_TYPES:
                return PYTHON_TYPES[given]
            hint = (
                "; for a list give the item's type and many=True" if issubclass(given, list | tuple) else ""
            )
            raise self._refuse(
                f"type={given.__name__}",
                f"give one of bool, int, float, str, dict or a type name ({', '.join(FIELD_TYPES)}){hint}",
            )
        if given in FIELD_TYPES:
            return str(given)
        close = difflib.get_close_matches(str(given), FIELD_TYPES, n=1)
        suggestion = f"did you mean {close[0]!r}? " if close else ""
        raise self._refuse(f"unknown type {given!r}", f"{suggestion}the types are {', '.join(FIELD_TYPES)}")

    def _checked_default(self, kind: str) -> Any:
        """The default, in the form it is declared and sent: a float field's default is a float."""
        default = self.default
        if default is MISSING or default is None:
            return default
        if self.many and isinstance(default, tuple):
            default = list(default)
        values = default if self.many and isinstance(default, list) else [default]
        for value in values:
            if isinstance(value, bool) and kind in ("int", "float"):
                raise self._refuse(f"default={default!r} holds a bool", f"give a number for an {kind} field")
        if kind == "float" and isinstance(default, list):
            return [float(value) if isinstance(value, int) else value for value in default]
        if kind == "float" and isinstance(default, int):
            return float(default)
        if kind == "dict" and isinstance(default, Mapping):
            return dict(default)
        return default

    def _checked_text(self, name: str, value: Any) -> str | None:
        if value is not None and not isinstance(value, str):
            raise self._refuse(f"{name}={value!r}", f"give {name} as text")
        return value

    def _check_rules(self) -> None:
        """The format's rules, on the field as it will be written (its children included)."""
        if self.children and self.type != "group":
            raise self._refuse("children are for groups", "give type='group', or drop children=")
        if self.choices is not None and self.type != "enum":
            raise self._refuse(
                f"choices are for enum fields, not {self.type} ones", "drop type= or give type='enum'"
            )
        for problem in validate_fields([self.to_declaration()]):
            raise registration_error(problem, self.key)

    # -- What it is ---------------------------------------------------------------------------

    @property
    def type_name(self) -> str:
        """The format's name of the type (``type`` once normalised, for type checkers)."""
        return str(self.type)

    @property
    def has_default(self) -> bool:
        return self.default is not MISSING

    def to_declaration(self) -> dict[str, Any]:
        """The field as the ``configuration`` list of a declaration file writes it (in the format's order)."""
        written: dict[str, Any] = {"key": self.key, "display_name": self.display_name}
        if self.help is not None:
            written["help_text"] = self.help
        written["type"] = self.type_name
        if self.has_default:
            written["default"] = self.default
        if self.many:
            written["many"] = True
        if not self.editable:
            written["editable"] = False
        if self.required:
            written["required"] = True
        if self.choices is not None:
            written["choices"] = list(self.choices)
        if self.children:
            written["children"] = [child.to_declaration() for child in self.children]
        return written

    def __repr__(self) -> str:
        """The call that declares this field: valid Python, for generated code and messages."""
        arguments = [repr(self.key)]
        if _inferred_type(self.default, self.choices, tuple(self.children)) != self.type:
            arguments.append(repr(self.type))
        for name, unset in _UNSET.items():
            value = getattr(self, name)
            if name == "display_name" and value == display_name_for(self.key):
                continue
            if value != unset:
                shown = list(value) if name in ("choices", "children") else value
                arguments.append(f"{name}={shown!r}")
        return f"Field({', '.join(arguments)})"


def _inferred_type(default: Any, choices: Sequence[str] | None, children: tuple[Field, ...]) -> str:
    """The type of a field declared without one: a group, an enum, else the default's type."""
    if children:
        return "group"
    if choices is not None:
        return "enum"
    sample = default[0] if isinstance(default, list | tuple) and default else default
    if sample is MISSING:
        return "string"
    return PYTHON_TYPES.get(type(sample), "string")


#: The arguments of a field declared with none but its key, as ``__repr__`` leaves them out.
_UNSET: dict[str, Any] = {
    "default": MISSING,
    "display_name": None,
    "help": None,
    "required": False,
    "choices": None,
    "many": False,
    "editable": True,
    "children": (),
}


def registration_error(problem: Problem, key: str) -> RegistrationError:
    """A problem the format's rules found in a declaration, as the error naming the fix."""
    if problem.rule == "structure":
        fix = STRUCTURE_FIXES.get(problem.key or "", "see the format of arkindex/<slug>.yml")
        message = f"{problem.key}: {problem.message}"
    else:
        fix = FIXES[problem.rule]
        message = problem.message
    return RegistrationError(f"Configuration field {key!r}: {message.rstrip('.')}; {fix}.")


def check_declared(fields: Sequence[Field]) -> None:
    """Refuse fields that cannot be declared together (a key twice), with the format's rules."""
    for problem in validate_fields([declared.to_declaration() for declared in fields]):
        raise registration_error(problem, problem.path.removeprefix("configuration."))


def value_fields(fields: Sequence[Field]) -> Iterator[tuple[str, Field]]:
    """``(key in ctx.config, field)`` of every field that takes a value: group children as ``group.child``."""
    for declared in fields:
        if declared.type == "group":
            for child in declared.children:
                yield f"{declared.key}.{child.key}", child
        else:
            yield declared.key, declared


# -- Values at run time -------------------------------------------------------------------------


class FieldValueError(ValueError):
    """A configuration value the declaration refuses; ``str()`` is what is wrong, naming the key."""

    def __init__(self, key: str, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.key = key
        self.message = message
        #: True when the value is absent (a required field), False when it is wrong.
        self.missing = missing

    def __str__(self) -> str:
        return self.message


def resolve_values(fields: Sequence[Field], config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` checked against ``fields``: defaults filled in, values converted, groups flattened.

    The first problem raises :class:`FieldValueError`. Keys no field declares are kept as
    they are, after the declared ones.
    """
    values = dict(config)
    groups = {declared.key: declared for declared in fields if declared.type == "group"}
    for name, group in groups.items():
        nested = values.get(name)
        if nested is None:
            values.pop(name, None)
            continue
        children = [child.key for child in group.children]
        if not isinstance(nested, Mapping):
            raise FieldValueError(
                name,
                f"{name} is {_shown(nested)}, but it is a group: give its fields as "
                f"{', '.join(f'{name}.{child}' for child in children)}",
            )
        for child, value in nested.items():
            if child not in children:
                raise FieldValueError(
                    f"{name}.{child}",
                    f"{name}.{child} is not a field of the group {name} (its fields: {', '.join(children)})",
                )
            values.setdefault(f"{name}.{child}", value)
        del values[name]
    resolved: dict[str, Any] = {}
    for key, declared in value_fields(fields):
        resolved[key] = _resolve(key, declared, values.get(key))
    resolved.update((key, value) for key, value in values.items() if key not in resolved)
    return resolved


def _resolve(key: str, declared: Field, value: Any) -> Any:
    if value is None:
        if declared.has_default and declared.default is not None:
            return declared.default
        if declared.required:
            raise FieldValueError(key, f"{key} is required and has no value", missing=True)
        return None
    if declared.type == "secret":
        return value  # never shown, never converted
    if declared.many:
        if not isinstance(value, list | tuple):
            expected = f"a list of {EXPECTED_MANY[declared.type_name]}"
            raise FieldValueError(
                key, f"{key} is {_shown(value)}, expected {expected} ({declared.type} field)"
            )
        return [_convert(f"{key}[{index}]", declared, item) for index, item in enumerate(value)]
    return _convert(key, declared, value)


def _convert(key: str, declared: Field, value: Any) -> Any:
    kind = declared.type_name
    converted = _CONVERTERS[kind](value, declared) if kind in _CONVERTERS else _as_text(value, declared)
    if converted is _REFUSED:
        expected = f"one of {', '.join(declared.choices or ())}" if kind == "enum" else EXPECTED[kind]
        raise FieldValueError(key, f"{key} is {_shown(value)}, expected {expected} ({kind} field)")
    return converted


_REFUSED: Any = object()


def _as_bool(value: Any, declared: Field) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return _REFUSED


def _as_int(value: Any, declared: Field) -> Any:
    if isinstance(value, bool):
        return _REFUSED
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value.strip()):
        return int(value.strip())
    return _REFUSED


def _as_float(value: Any, declared: Field) -> Any:
    if isinstance(value, bool):
        return _REFUSED
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return _REFUSED
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return _REFUSED


def _as_text(value: Any, declared: Field) -> Any:
    return value if isinstance(value, str) else _REFUSED


def _as_choice(value: Any, declared: Field) -> Any:
    return value if isinstance(value, str) and value in (declared.choices or ()) else _REFUSED


def _as_mapping(value: Any, declared: Field) -> Any:
    if isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return dict(value)
    return _REFUSED


_CONVERTERS = {
    "bool": _as_bool,
    "int": _as_int,
    "float": _as_float,
    "enum": _as_choice,
    "dict": _as_mapping,
}


def _shown(value: Any) -> str:
    """A value and its type for a message, shortened."""
    text = repr(value)
    return f"{text if len(text) <= 40 else text[:37] + '...'} ({type(value).__name__})"
