"""The worker declaration file of today's Arkindex, ``arkindex/<slug>.yml``: its rules and its text.

``arkindex worker import`` refuses a file that teklia-worker-configuration 0.2.4 (the
validator Arkindex publishes) rejects. Its rules are written here as data (the keys of the
document and of a configuration field, their types and limits) and a few checks across
keys, so that ``arkworker declare``, ``arkworker check`` and the ``Field`` declarations of
:mod:`arkworker.fields` apply them without the validator installed: that package pins its
YAML schema library to one exact release and installs a top-level ``tests`` package, which
would shadow a worker project's own ``tests``.

:func:`validate_declaration` gives the validator's own error lines, in its order: a
structure error names its path (``configuration.0.display_name: Required field missing``),
a rule across keys names the field's key (``configuration.threshold: Default value must be
a float``). Where the validator itself crashes (a key that is not text, a group whose
``children`` is null) a line says what is wrong instead. The structure is checked strictly:
an unknown key is an ``Unexpected element``.

:func:`dump_declaration` writes a document deterministically (same document, same bytes),
:func:`read_declaration` reads a file back and :func:`declaration_differences` says how two
documents differ once the format's documented defaults are filled in. YAML is imported by
the functions that read or write text only: a worker module's import stays light.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The field types of the format, in the validator's order.
FIELD_TYPES = (
    "bool",
    "corpus_export",
    "dict",
    "element_type",
    "enum",
    "float",
    "group",
    "int",
    "model",
    "s3_bucket",
    "secret",
    "string",
    "text",
    "worker_version",
)
#: The types a field may have with ``many: true`` (a list of values).
MANY_TYPES = ("int", "float", "string", "worker_version", "element_type")
#: The types a field may have a default of (the others are chosen in Arkindex: a model...).
DEFAULT_TYPES = ("bool", "dict", "enum", "float", "int", "string", "text")
#: ``gpu_usage`` and ``model_usage``.
USAGES = ("supported", "required", "disabled")

SLUG_PATTERN = re.compile(r"^[-a-zA-Z0-9_]{1,100}$")
SLUG_NAME = "slug (only 100 alphanumeric characters, underscores or dashes are allowed)"
SHM_SIZE_PATTERN = re.compile(r"^([0-9]+)([bkmg]?)$")
SHM_SIZE_NAME = "Docker shared memory size (format is <number><unit>)"

#: Where the declaration files of a worker project are, and their suffixes.
DECLARATION_FOLDER = "arkindex"
DECLARATION_SUFFIXES = (".yml", ".yaml")

#: What a key absent from a document stands for, as the format documents it.
DOCUMENT_DEFAULTS: dict[str, Any] = {
    "gpu_usage": "disabled",
    "model_usage": "disabled",
    "docker": {},
    "configuration": [],
}
FIELD_DEFAULTS: dict[str, Any] = {"editable": True, "required": False, "many": False}


@dataclass(frozen=True)
class Key:
    """One key of a mapping of the format: how its value is checked.

    ``check`` is one of ``str``, ``slug``, ``enum``, ``bool``, ``any``, ``str_list``,
    ``shm_size``, ``docker`` (the ``docker`` section) and ``fields`` (a list of fields).
    """

    name: str
    check: str
    required: bool = False
    non_empty: bool = False
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    min_items: int | None = None


DOCUMENT_KEYS = (
    Key("slug", "slug", required=True),
    Key("display_name", "str", required=True, non_empty=True, max_length=100),
    Key("type", "str", required=True, non_empty=True, max_length=100),
    Key("description", "str", required=True, non_empty=True),
    Key("gpu_usage", "enum", choices=USAGES),
    Key("model_usage", "enum", choices=USAGES),
    Key("docker", "docker"),
    Key("configuration", "fields"),
)
DOCKER_KEYS = (Key("command", "str"), Key("shm_size", "shm_size"))
FIELD_KEYS = (
    Key("key", "str", required=True, non_empty=True, max_length=250),
    Key("display_name", "str", required=True, non_empty=True, max_length=250),
    Key("help_text", "str"),
    Key("type", "enum", required=True, choices=FIELD_TYPES),
    Key("default", "any"),
    Key("many", "bool"),
    Key("editable", "bool"),
    Key("required", "bool"),
    Key("choices", "str_list", min_items=2),
    Key("children", "fields"),
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a document: where, what, and which rule (for :mod:`arkworker.fields`' hints).

    ``rule`` is ``structure`` for the shape of a value, else the name of a rule across keys:
    ``duplicate``, ``default_type``, ``default_forbidden``, ``enum_choices``,
    ``group_required``, ``group_children``, ``many_type``, ``subgroup``, ``group_editable``,
    ``editable_default``.
    """

    path: str
    message: str
    rule: str = "structure"
    #: The key of the mapping the problem is in (``type``, ``default``...), for structure problems.
    key: str | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def validate_declaration(document: Any) -> list[Problem]:
    """Every problem of a worker declaration (a parsed file), in the validator's order; [] when valid."""
    return _Validation().mapping(document, DOCUMENT_KEYS, ())


def validate_fields(fields: Any, path: str = "configuration") -> list[Problem]:
    """The problems of a ``configuration`` list alone, as they would show in a document."""
    return _Validation().value(Key(path, "fields"), fields, (path,))


class _Validation:
    """One run of the rules over one document: it remembers the keys seen, to find duplicates."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def mapping(self, data: Any, keys: Sequence[Key], path: tuple[Any, ...]) -> list[Problem]:
        if not isinstance(data, Mapping):
            # The validator's form for a value that should be a mapping: a space before the colon.
            return [Problem(f"{_dotted(path)} ", f"'{data}' is not a map")]
        known = {key.name for key in keys}
        problems = [
            Problem(_dotted((*path, name)), "Unexpected element", key=str(name))
            for name in data
            if name not in known
        ]
        for key in keys:
            here = (*path, key.name)
            if key.name not in data:
                if key.required:
                    problems.append(Problem(_dotted(here), "Required field missing", key=key.name))
                continue
            value = data[key.name]
            if value is None and not key.required:
                continue  # an optional key may be null
            problems += self.value(key, value, here)
        return problems

    def value(self, key: Key, value: Any, path: tuple[Any, ...]) -> list[Problem]:
        """The problems of ``value``, the value of ``key`` at ``path``."""
        where = _dotted(path)

        def bad(message: str) -> list[Problem]:
            return [Problem(where, message, key=key.name)]

        if key.check == "any":
            return []
        if key.check == "bool":
            return [] if isinstance(value, bool) else bad(f"'{value}' is not a bool.")
        if key.check == "enum":
            return [] if value in key.choices else bad(f"'{value}' not in {key.choices}")
        if key.check == "slug":
            valid = isinstance(value, str) and SLUG_PATTERN.match(value)
            return [] if valid else bad(f"'{value}' is not a {SLUG_NAME}.")
        if key.check == "shm_size":
            return [] if is_shm_size(value) else bad(f"'{value}' is not a {SHM_SIZE_NAME}.")
        if key.check == "str":
            if not isinstance(value, str):
                return bad(f"'{value}' is not a str.")
            problems = []
            if key.max_length is not None and len(value) > key.max_length:
                problems += bad(f"Length of {value} is greater than {key.max_length}")
            if key.non_empty and not value.strip():
                problems += bad(f"{value!r} cannot be an empty string.")
            return problems
        if key.check == "docker":
            return self.mapping(value, DOCKER_KEYS, path)
        # A list: of text (choices) or of fields (configuration, children).
        if isinstance(value, str) or not isinstance(value, Sequence):
            return bad(f"'{value}' is not a list.")
        if key.min_items is not None and len(value) < key.min_items:
            return bad(f"Length of {value} is less than {key.min_items}")
        problems = []
        for index, item in enumerate(value):
            if key.check == "str_list":
                problems += self.value(Key(str(index), "str"), item, (*path, index))
            else:
                problems += self.field(item, (*path, index))
        return problems

    def field(self, data: Any, path: tuple[Any, ...]) -> list[Problem]:
        """One configuration field: its structure (children included), then the rules across its keys."""
        problems = self.mapping(data, FIELD_KEYS, path)
        if not isinstance(data, Mapping) or not isinstance(data.get("key"), str):
            return problems  # no key to name the field by (the structure problem says why)
        key = data["key"]

        def fail(rule: str, message: str) -> None:
            problems.append(Problem(f"configuration.{key}", message, rule))

        if "children" not in path and not self.remember(key):
            fail("duplicate", "Duplicate key")
        children = data.get("children")
        for child in children if isinstance(children, list) else []:
            named = isinstance(child, Mapping) and isinstance(child.get("key"), str)
            if named and not self.remember(f"{key}.{child['key']}"):
                fail("duplicate", "Duplicate key")
        for rule in RULES:  # the validator applies its rules in the order of their names
            found = rule(data)
            if found is not None:
                fail(*found)
        return problems

    def remember(self, key: str) -> bool:
        """False when ``key`` (spaces around it ignored) was seen before in this document."""
        stripped = key.strip()
        if stripped in self.seen:
            return False
        self.seen.add(stripped)
        return True


def display_name_for(name: str) -> str:
    """A label from a key or a worker's name, for a display name not given: ``max_width`` → ``Max width``."""
    words = re.sub(r"[_\-.]+", " ", name).strip() or name
    return words[:1].upper() + words[1:]


def _dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in path)


def is_shm_size(value: Any) -> bool:
    """``<number><unit>``: a number above 0, then nothing or a lowercase ``b``, ``k``, ``m``, ``g``."""
    if not isinstance(value, str) or not SHM_SIZE_PATTERN.match(value):
        return False
    number = value[:-1] if value[-1] in "bkmg" else value
    return int(number) > 0


# -- The rules across the keys of one field: (rule, message), or None when it holds ---------------

Found = tuple[str, str] | None


def _default_message(field: Mapping[str, Any], value: Any, prefix: str) -> Found:
    """What is wrong with one default value of ``field`` (``prefix``: ``Default value`` or ``All default values``)."""
    kind = field.get("type")
    if kind == "bool":
        return None if isinstance(value, bool) else ("default_type", f"{prefix} must be a boolean")
    if kind == "dict":
        if not isinstance(value, Mapping):
            return "default_type", f"{prefix} must be a mapping"
        if not all(isinstance(name, str) for name in value):
            return "default_type", "Keys of the default mapping must all be strings"
        if not all(isinstance(item, str) for item in value.values()):
            return "default_type", "Values of the default mapping must all be strings"
        return None
    if kind == "enum":
        if not isinstance(value, str):
            return "default_type", f"{prefix} must be a string"
        choices = field.get("choices")
        if isinstance(choices, list) and value not in choices:
            shown = "|".join(str(choice) for choice in choices)
            return "default_type", f"{prefix} must be one of the choices: {shown}"
        return None
    if kind == "float":
        if not isinstance(value, int | float):  # the validator takes an int, and a bool, as a float
            return "default_type", f"{prefix} must be a float"
        if math.isnan(value):
            return "default_type", f"{prefix} cannot be NaN"
        if math.isinf(value):
            return "default_type", f"{prefix} cannot be Infinite"
        return None
    if kind == "int":
        return None if isinstance(value, int) else ("default_type", f"{prefix} must be an integer")
    if kind in ("string", "text"):
        return None if isinstance(value, str) else ("default_type", f"{prefix} must be a string")
    return (
        "default_forbidden",
        f"Type {kind} cannot have a default value. Only {'|'.join(DEFAULT_TYPES)} can.",
    )


def _rule_default_type_match(field: Mapping[str, Any]) -> Found:
    default = field.get("default")
    if default is None:
        return None
    if field.get("many") is not True:
        return _default_message(field, default, "Default value")
    if not isinstance(default, list):
        return "default_type", "Default value must be a list"
    for value in default:
        found = _default_message(field, value, "All default values")
        if found is not None:
            return found
    return None


def _rule_enum_requires_choices(field: Mapping[str, Any]) -> Found:
    if field.get("type") != "enum":
        return None
    choices = field.get("choices")
    if not choices:
        return "enum_choices", "Missing 'choices' for enum type option"
    if isinstance(choices, list) and len({json.dumps(choice) for choice in choices}) != len(choices):
        return "enum_choices", "Duplicate values in 'choices' is not allowed"
    return None


def _rule_group_not_required(field: Mapping[str, Any]) -> Found:
    if field.get("type") == "group" and field.get("required", False) is True:
        return "group_required", "A group cannot be required"
    return None


def _rule_group_requires_children(field: Mapping[str, Any]) -> Found:
    if field.get("type") != "group":
        return None
    children = field.get("children")
    if children is None:
        return "group_children", "Missing 'children' for group type option"
    if isinstance(children, list) and not children:
        return "group_children", "Set at least one 'children' for group type option"
    return None


def _rule_limit_types_on_many(field: Mapping[str, Any]) -> Found:
    kind = field.get("type")
    if field.get("many") is True and kind not in MANY_TYPES:
        return (
            "many_type",
            f"Type {kind} is not supported when using 'many'. Only {'|'.join(MANY_TYPES)} are supported.",
        )
    return None


def _rule_no_subgroups(field: Mapping[str, Any]) -> Found:
    children = field.get("children")
    if field.get("type") != "group" or not isinstance(children, list):
        return None
    if any(isinstance(child, Mapping) and child.get("type") == "group" for child in children):
        return "subgroup", "A group cannot have a child group"
    return None


def _rule_not_editable_with_default(field: Mapping[str, Any]) -> Found:
    if field.get("editable", True) is True:
        return None
    if field.get("type") == "group":
        return "group_editable", "A group must be editable"
    # A null default is allowed, but it must be written: a model may provide the value.
    if "default" not in field:
        return "editable_default", "Missing default value on non-editable option"
    return None


RULES: tuple[Callable[[Mapping[str, Any]], Found], ...] = (
    _rule_default_type_match,
    _rule_enum_requires_choices,
    _rule_group_not_required,
    _rule_group_requires_children,
    _rule_limit_types_on_many,
    _rule_no_subgroups,
    _rule_not_editable_with_default,
)


# -- Files --------------------------------------------------------------------------------------


class DeclarationFileError(ValueError):
    """A declaration file that cannot be read as one YAML document (the message says where)."""


def declaration_files(project: Path) -> list[Path]:
    """The declaration files of a project (``arkindex/*.yml`` and ``*.yaml``), sorted by name."""
    folder = project / DECLARATION_FOLDER
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if path.suffix in DECLARATION_SUFFIXES and path.is_file())


def read_declaration(path: Path) -> Any:
    """The document of a declaration file (an empty file is an empty mapping, as the validator reads it)."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror.lower() if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DeclarationFileError(f"cannot be read: {reason}") from None
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DeclarationFileError(f"is not valid YAML{at}: {problem}") from None
    if len(documents) > 1:
        raise DeclarationFileError(
            f"holds {len(documents)} YAML documents: a declaration file declares one worker, split it"
        )
    return documents[0] if documents else {}


def dump_declaration(document: Mapping[str, Any], *, header: str | None = None) -> str:
    """The YAML text of ``document``: keys in the document's order, lists indented, multi-line
    text as literal blocks, so that the same document always gives the same bytes.

    ``header`` is written first as comment lines.
    """
    import yaml

    class Dumper(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
            super().increase_indent(flow, False)  # "  - key: ..." under "configuration:"

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value.strip("\n") and value == value.rstrip(" ") else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    body = yaml.dump(
        dict(document),
        Dumper=Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    comments = "".join(f"# {line}".rstrip() + "\n" for line in (header or "").splitlines())
    return comments + body


# -- Comparing documents ------------------------------------------------------------------------


def declaration_differences(expected: Mapping[str, Any], actual: Any) -> list[str]:
    """How ``actual`` (a file's document) differs from ``expected`` (the app's), one line each.

    The format's documented defaults count as written (no ``gpu_usage`` is ``disabled``, no
    ``editable`` is true...), a null value as no value, and fields are matched by key, the
    children of a group included: the lines name ``configuration.<key>.<attribute>``.
    """
    if not isinstance(actual, Mapping):
        return [f"the file holds {_shown(actual)}, not a worker declaration"]
    lines: list[str] = []
    _compare_mappings(
        _normalised(expected, DOCUMENT_DEFAULTS), _normalised(actual, DOCUMENT_DEFAULTS), "", lines
    )
    return lines


def _compare_mappings(
    expected: Mapping[str, Any], actual: Mapping[str, Any], prefix: str, lines: list[str]
) -> None:
    """Compare two normalised mappings; ``prefix`` names them (``""``, ``configuration.<key>.``)."""
    for name in [*expected, *(name for name in actual if name not in expected)]:
        where = f"{prefix}{name}"
        if name not in actual:
            lines.append(f"{where}: missing from the file (the app declares {_shown(expected[name])})")
        elif name not in expected:
            lines.append(f"{where}: in the file ({_shown(actual[name])}), not declared by the app")
        elif name in ("configuration", "children"):
            _compare_fields(expected[name], actual[name], where.removesuffix(".children"), lines)
        elif name == "docker" and isinstance(actual[name], Mapping):
            _compare_mappings(expected[name], _normalised(actual[name], {}), f"{where}.", lines)
        elif not _same(expected[name], actual[name]):
            lines.append(
                f"{where}: the file has {_shown(actual[name])}, the app declares {_shown(expected[name])}"
            )


def _compare_fields(expected: Any, actual: Any, base: str, lines: list[str]) -> None:
    """Fields matched by key; ``base`` is ``configuration``, or ``configuration.<group>`` for children."""
    where = base if base == "configuration" else f"{base}.children"
    if not isinstance(actual, list) or not all(isinstance(field, Mapping) for field in actual):
        lines.append(f"{where}: the file has {_shown(actual)}, expected a list of fields")
        return
    mine = {str(field.get("key")): field for field in expected}
    theirs = {str(field.get("key")): field for field in actual}
    for key in [*mine, *(key for key in theirs if key not in mine)]:
        name = f"{base}.{key}"
        if key not in theirs:
            lines.append(f"{name}: declared by the app, missing from the file")
        elif key not in mine:
            lines.append(f"{name}: in the file, not declared by the app")
        else:
            mine_field = _normalised(mine[key], FIELD_DEFAULTS)
            _compare_mappings(mine_field, _normalised(theirs[key], FIELD_DEFAULTS), f"{name}.", lines)
    common = [key for key in theirs if key in mine]
    if common != [key for key in mine if key in theirs]:
        order = ", ".join(key for key in mine if key in theirs)
        lines.append(f"{where}: the fields are in another order (the app declares {order})")


def _normalised(mapping: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``mapping`` with its documented defaults written out and its null values left out."""
    filled = {name: value for name, value in mapping.items() if value is not None}
    filled.update((name, value) for name, value in defaults.items() if name not in filled)
    return filled


def _same(left: Any, right: Any) -> bool:
    """Equal values of the same kind: 1 and 1.0 are the same number, True and 1 are not."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(_same(left[name], right[name]) for name in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and left == right


def _shown(value: Any) -> str:
    """A value as it reads in a message: JSON, shortened."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def iter_fields(fields: Sequence[Mapping[str, Any]]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(runtime key, field)`` for every field that takes a value: a group's children as ``group.child``."""
    for field in fields:
        if field.get("type") == "group":
            for child in field.get("children") or ():
                yield f"{field['key']}.{child['key']}", child
        else:
            yield str(field["key"]), field
