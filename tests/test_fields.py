"""Declaring configuration fields and a worker's Arkindex metadata: what is accepted, what is refused and how."""

from __future__ import annotations

import pytest

from arkworker import Field, RegistrationError, Worker
from arkworker.fields import MISSING, resolve_values
from arkworker.manifest import validate_declaration
from tests.declared import ALL_FIELDS


def test_every_type_declares_and_validates():
    app = Worker("all-types", configuration=ALL_FIELDS)
    assert app.configuration == tuple(ALL_FIELDS)
    assert [field.type for field in app.configuration] == [
        "bool", "dict", "enum", "float", "int", "string", "text", "secret", "model",
        "element_type", "worker_version", "corpus_export", "s3_bucket", "float", "int", "group",
    ]  # fmt: skip
    assert validate_declaration(app.declaration()) == []


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (Field("threshold", default=0.5), {"type": "float", "default": 0.5}),
        (Field("threshold", type=float, default=1), {"type": "float", "default": 1.0}),
        (Field("size", default=3), {"type": "int", "default": 3}),
        (Field("flag", default=False), {"type": "bool", "default": False}),
        (Field("labels", default={"a": "b"}), {"type": "dict", "default": {"a": "b"}}),
        (Field("prefix"), {"type": "string"}),
        (Field("sizes", default=(1, 2), many=True), {"type": "int", "default": [1, 2], "many": True}),
        (Field("mode", choices=("a", "b")), {"type": "enum", "choices": ["a", "b"]}),
        (
            Field("g", children=[Field("c")]),
            {"type": "group", "children": [{"key": "c", "display_name": "C", "type": "string"}]},
        ),
        (
            Field("fixed", type="int", default=None, editable=False),
            {"type": "int", "default": None, "editable": False},
        ),
        (
            Field("max_width", type=int, display_name="Width", help="In pixels.", required=True),
            {"type": "int", "required": True},
        ),
    ],
    ids=lambda value: value.key if isinstance(value, Field) else None,
)
def test_a_field_as_the_format_writes_it(field, expected):
    written = field.to_declaration()
    assert {
        key: value for key, value in written.items() if key not in ("key", "display_name", "help_text")
    } == expected
    assert list(written) == [key for key in ("key", "display_name", "help_text", "type", "default", "many", "editable", "required", "choices", "children") if key in written]  # fmt: skip
    assert eval(repr(field), {"Field": Field}) == field  # repr is the call that declares it


def test_display_names_default_to_the_key_as_words():
    assert Field("max_width").display_name == "Max width"
    assert Field("model-name").display_name == "Model name"
    assert Field("x", display_name="Longer label").to_declaration()["display_name"] == "Longer label"
    assert Field("x", help="Two\nlines").to_declaration()["help_text"] == "Two\nlines"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"key": ""}, "Field(''): a field's key is non-empty text, e.g. Field('threshold')."),
        ({"key": " a"}, "Configuration field ' a': the key has spaces around it; give Field('a')."),
        (
            {"key": "k" * 251},
            f"Configuration field '{'k' * 251}': key: Length of {'k' * 251} is greater than 250; give a key of 1 to 250 characters.",
        ),
        (
            {"key": "a", "type": "integer"},
            "Configuration field 'a': unknown type 'integer': did you mean 'int'? the types are bool, corpus_export, dict, element_type, enum, float, group, int, model, s3_bucket, secret, string, text, worker_version.",
        ),
        (
            {"key": "a", "type": list},
            "Configuration field 'a': type=list: give one of bool, int, float, str, dict or a type name (bool, corpus_export, dict, element_type, enum, float, group, int, model, s3_bucket, secret, string, text, worker_version); for a list give the item's type and many=True.",
        ),
        (
            {"key": "a", "type": int, "default": True},
            "Configuration field 'a': default=True holds a bool: give a number for an int field.",
        ),
        (
            {"key": "a", "type": int, "default": "3"},
            "Configuration field 'a': Default value must be an integer; give a default of the field's type, or change its type.",
        ),
        (
            {"key": "a", "type": float, "default": float("nan")},
            "Configuration field 'a': Default value cannot be NaN; give a default of the field's type, or change its type.",
        ),
        (
            {"key": "a", "type": dict, "default": {"a": 1}},
            "Configuration field 'a': Values of the default mapping must all be strings; give a default of the field's type, or change its type.",
        ),
        (
            {"key": "a", "choices": ["x", "y"], "default": "z"},
            "Configuration field 'a': Default value must be one of the choices: x|y; give a default of the field's type, or change its type.",
        ),
        (
            {"key": "a", "type": "model", "default": "m"},
            "Configuration field 'a': Type model cannot have a default value. Only bool|dict|enum|float|int|string|text can; drop default= (Arkindex users choose this value).",
        ),
        (
            {"key": "a", "type": "secret", "default": "creds.json"},
            "Configuration field 'a': Type secret cannot have a default value. Only bool|dict|enum|float|int|string|text can; drop default= (Arkindex users choose this value).",
        ),
        (
            {"key": "a", "type": "enum"},
            "Configuration field 'a': Missing 'choices' for enum type option; give choices=[...], at least two different texts.",
        ),
        (
            {"key": "a", "choices": ["x", "x"]},
            "Configuration field 'a': Duplicate values in 'choices' is not allowed; give choices=[...], at least two different texts.",
        ),
        (
            {"key": "a", "choices": ["x"]},
            "Configuration field 'a': choices: Length of ['x'] is less than 2; give choices=[...], at least two texts.",
        ),
        (
            {"key": "a", "choices": "xy"},
            "Configuration field 'a': choices='xy': give a list of texts, e.g. choices=['fast', 'accurate'].",
        ),
        (
            {"key": "a", "type": str, "choices": ["x", "y"]},
            "Configuration field 'a': choices are for enum fields, not string ones: drop type= or give type='enum'.",
        ),
        (
            {"key": "a", "type": "bool", "many": True},
            "Configuration field 'a': Type bool is not supported when using 'many'. Only int|float|string|worker_version|element_type are supported; many=True is for int, float, string, worker_version, element_type fields.",
        ),
        (
            {"key": "a", "type": int, "many": True, "default": 3},
            "Configuration field 'a': Default value must be a list; give a default of the field's type, or change its type.",
        ),
        (
            {"key": "a", "editable": False},
            "Configuration field 'a': Missing default value on non-editable option; a field users cannot edit needs its value: give default= (None allowed).",
        ),
        (
            {"key": "a", "required": "yes"},
            "Configuration field 'a': required='yes': give required=True or required=False.",
        ),
        (
            {"key": "a", "display_name": " "},
            "Configuration field 'a': display_name: ' ' cannot be an empty string; give a display_name of 1 to 250 characters.",
        ),
        ({"key": "a", "help": 3}, "Configuration field 'a': help=3: give help as text."),
        (
            {"key": "g", "type": "group"},
            "Configuration field 'g': Missing 'children' for group type option; give children=[Field(...), ...].",
        ),
        (
            {"key": "g", "children": [Field("c")], "required": True},
            "Configuration field 'g': A group cannot be required; drop required=True: make its children required instead.",
        ),
        (
            {"key": "g", "children": [Field("c")], "editable": False, "default": None},
            "Configuration field 'g': A group must be editable; drop editable=False: a group is always editable.",
        ),
        (
            {"key": "g", "children": [Field("s", children=[Field("c")])]},
            "Configuration field 'g': A group cannot have a child group; a group cannot hold another group: move its children up.",
        ),
        (
            {"key": "g", "children": [Field("c"), Field("c")]},
            "Configuration field 'g': Duplicate key; give each field its own key (a group's children count as '<group>.<child>').",
        ),
        (
            {"key": "g", "children": Field("c")},
            "Configuration field 'g': children=Field('c'): give a list of Field(...).",
        ),
        (
            {"key": "g", "children": ["c"]},
            "Configuration field 'g': the child 'c' is not a Field: give children=[Field(...), ...].",
        ),
        (
            {"key": "a", "type": int, "children": [Field("c")]},
            "Configuration field 'a': children are for groups: give type='group', or drop children=.",
        ),
    ],
    ids=lambda value: None,
)
def test_a_bad_field_names_the_key_and_the_fix(arguments, message):
    with pytest.raises(RegistrationError) as raised:
        Field(**arguments)
    assert str(raised.value) == message


def test_fields_on_the_app_in_order_and_decorators_return_the_function():
    app = Worker("ordered", configuration=[Field("first")])

    @app.config_field("second", type=int, default=2)
    @app.config_field(Field("third"))
    @app.element
    def process(element, ctx): ...

    assert process.__name__ == "process"  # the function itself
    assert [field.key for field in app.configuration] == ["first", "second", "third"]
    assert app.configuration[1] == Field("second", type=int, default=2)


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (
            lambda app: app.config_field("a"),
            "Configuration field 'a': Duplicate key; give each field its own key (a group's children count as "
            "'<group>.<child>').",
        ),
        (
            lambda app: app.config_field("g.c"),
            "Configuration field 'g.c': Duplicate key; give each field its own key (a group's children count "
            "as '<group>.<child>').",
        ),
        (
            lambda app: app.config_field(Field("b"), default=1),
            "@app.config_field(Field('b'), ...): give either a Field or its arguments, not both.",
        ),
    ],
)
def test_fields_of_one_app_are_checked_together(declare, message):
    app = Worker("twice", configuration=[Field("a"), Field("g", children=[Field("c")])])
    with pytest.raises(RegistrationError) as raised:
        declare(app)
    assert str(raised.value) == message
    assert [field.key for field in app.configuration] == ["a", "g"]  # nothing half-declared


def test_configuration_must_be_fields():
    with pytest.raises(RegistrationError, match=r"configuration=Field\('a'\)\): give a list of Field"):
        Worker("w", configuration=Field("a"))  # type: ignore[arg-type]
    with pytest.raises(RegistrationError, match="'a' is not a configuration field; give Field"):
        Worker("w", configuration=["a"])  # type: ignore[list-item]


def test_no_field_after_the_run_started(make_app):
    app = make_app()
    app.freeze()
    with pytest.raises(RegistrationError, match=r"@app\.config_field must be used at import time"):
        app.config_field("late")


def test_the_declaration_of_a_worker_with_defaults():
    app = Worker("ocr-lines")
    assert app.declaration() == {
        "slug": "ocr-lines",
        "display_name": "Ocr lines",
        "type": "worker",
        "description": "Ocr lines",
        "gpu_usage": "disabled",
        "model_usage": "disabled",
    }
    assert validate_declaration(app.declaration()) == []


def test_the_declaration_of_a_worker_with_everything():
    app = Worker(
        "htr",
        "Reads lines.",
        slug="htr_v2",
        display_name="HTR",
        type="recognizer",
        gpu_usage="required",
        model_usage="supported",
        docker_command="worker-htr --verbose",
        docker_shm_size="2g",
        configuration=[Field("threshold", default=0.5)],
    )
    assert app.declaration() == {
        "slug": "htr_v2",
        "display_name": "HTR",
        "type": "recognizer",
        "description": "Reads lines.",
        "gpu_usage": "required",
        "model_usage": "supported",
        "docker": {"command": "worker-htr --verbose", "shm_size": "2g"},
        "configuration": [{"key": "threshold", "display_name": "Threshold", "type": "float", "default": 0.5}],
    }
    assert validate_declaration(app.declaration()) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"slug": "ocr lines"},
            "Worker('w', slug='ocr lines'): a slug has 1 to 100 letters, digits, dashes or underscores, e.g. slug='ocr-lines'.",
        ),
        (
            {"display_name": "x" * 101},
            "Worker('w', display_name=...): 101 characters, Arkindex accepts at most 100.",
        ),
        ({"type": " "}, "Worker('w', type=' '): give non-empty text, or leave it out."),
        ({"description": ""}, "Worker('w', description=''): give non-empty text, or leave it out."),
        (
            {"gpu_usage": "yes"},
            "Worker('w', gpu_usage='yes'): give one of 'supported', 'required', 'disabled'.",
        ),
        (
            {"model_usage": True},
            "Worker('w', model_usage=True): give one of 'supported', 'required', 'disabled'.",
        ),
        (
            {"docker_command": ["worker"]},
            "Worker('w', docker_command=['worker']): give non-empty text, or leave it out.",
        ),
        (
            {"docker_shm_size": "8G"},
            "Worker('w', docker_shm_size='8G') is not a Docker shared memory size (format is <number><unit>): a number above 0 and a lowercase unit, e.g. '512m' or '2g'.",
        ),
    ],
    ids=lambda value: None,
)
def test_bad_worker_metadata_is_refused(arguments, message):
    with pytest.raises(RegistrationError) as raised:
        Worker("w", **arguments)
    assert str(raised.value) == message


def test_a_name_that_is_no_slug_needs_one():
    app = Worker("My OCR worker!")
    assert app.slug is None
    with pytest.raises(RegistrationError) as raised:
        app.declaration()
    assert str(raised.value) == (
        "Worker 'My OCR worker!' has no slug for Arkindex (1 to 100 letters, digits, dashes or underscores): "
        "give Worker('My OCR worker!', slug='my-ocr-worker')."
    )
    assert Worker("My OCR worker!", slug="ocr").declaration()["display_name"] == "My OCR worker!"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (Field("n", type=int), 3.0, 3),
        (Field("n", type=int), " -4 ", -4),
        (Field("x", type=float), "1e3", 1000.0),
        (Field("b", type=bool), "FALSE", False),
        (Field("b", type=bool), "true", True),
        (Field("s", type="secret"), {"any": ["thing"]}, {"any": ["thing"]}),
        (Field("m", type="element_type", many=True), ("page",), ["page"]),
        (Field("d", type=dict, default={"a": "b"}), None, {"a": "b"}),
        (Field("z", type=int, default=None), None, None),
    ],
    ids=lambda value: None,
)
def test_value_conversions(field, value, expected):
    assert resolve_values([field], {field.key: value}) == {field.key: expected}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (Field("n", type=int), True),
        (Field("n", type=int), "3.5"),
        (Field("x", type=float), float("inf")),
        (Field("x", type=float), "nan"),
        (Field("b", type=bool), 1),
        (Field("b", type=bool), "yes"),
        (Field("s"), 1.5),
        (Field("d", type=dict), {1: "a"}),
    ],
    ids=lambda value: None,
)
def test_values_not_converted(field, value):
    with pytest.raises(ValueError, match=f"^{field.key} is "):
        resolve_values([field], {field.key: value})


def test_missing_is_not_none():
    assert Field("a").default is MISSING and not Field("a").has_default
    assert Field("a", default=None).has_default
