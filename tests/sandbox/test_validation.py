"""The shared validation helper of the handlers, for the kinds no handler exercises yet."""

import pytest

from arkworker.sandbox.handlers.base import Rule, ValidationFailed, parse_query_value, validate

RULES = {
    "count": Rule("int", minimum=1),
    "flag": Rule("bool", required=False, default=False),
    "options": Rule("dict", required=False, null=True),
    "items": Rule("list", required=False, default=()),
    "id": Rule("uuid", required=False),
}


def errors_of(data):
    with pytest.raises(ValidationFailed) as info:
        validate(data, RULES, attr=("entries", 2))
    return [(error["attr"], error["code"]) for error in info.value.body["errors"]]


def test_valid_data_is_cleaned():
    data = {"count": 3, "options": None, "id": "0F5D3C43-5F5E-5B3E-9D5A-61726B776F72", "extra": "ignored"}
    assert validate(data, RULES) == {
        "count": 3,
        "flag": False,
        "options": None,
        "items": (),
        "id": "0f5d3c43-5f5e-5b3e-9d5a-61726b776f72",
    }


def test_every_bad_field_is_reported_with_its_path():
    assert errors_of({"count": True, "flag": "yes", "options": [], "items": {}}) == [
        (["entries", 2, "count"], "invalid"),
        (["entries", 2, "flag"], "invalid"),
        (["entries", 2, "options"], "invalid"),
        (["entries", 2, "items"], "not_a_list"),
    ]
    assert errors_of({"count": 0}) == [(["entries", 2, "count"], "min_value")]
    assert errors_of("text") == [(["entries", 2], "invalid")]


def test_unknown_rule_kind():
    with pytest.raises(ValueError, match="Unknown rule kind 'text'"):
        Rule("text")


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        ("boolean", "True", True),
        ("boolean", "false", False),
        ("boolean", "1", True),
        ("boolean", "0", False),
        ("integer", "12", 12),
        ("uuid_or_false", "False", False),
        ("uuid", "0F5D3C435F5E5B3E9D5A61726B776F72", "0f5d3c43-5f5e-5b3e-9d5a-61726b776f72"),
        ("string", "False", "False"),
    ],
)
def test_query_values(kind, raw, value):
    assert parse_query_value(kind, raw) == value


@pytest.mark.parametrize(
    ("kind", "raw", "detail"),
    [
        ("boolean", "yes", "Must be a valid boolean."),
        ("integer", "1.5", "A valid integer is required."),
        ("uuid", "False", "'False' is not a valid UUID."),
        ("uuid_or_false", "nope", "'nope' is not a valid UUID or False."),
    ],
)
def test_bad_query_values(kind, raw, detail):
    with pytest.raises(ValueError, match=detail):
        parse_query_value(kind, raw)
