"""The task's variables are checked when they are read: a bad one stops the run before it starts."""

import json
from pathlib import Path

import pytest

from arkworker.environment import Environment, env_number, is_task_id
from arkworker.errors import BadInput


@pytest.mark.parametrize(("value", "chunk"), [("1", "1"), ("12", "12"), ("02", "2"), (" 3 ", "3")])
def test_the_task_chunk_is_a_positive_whole_number(value, chunk):
    """It goes into file names (``db_<chunk>.sqlite``) in its plain decimal form."""
    assert Environment.from_env({"ARKINDEX_TASK_CHUNK": value}).task_chunk == chunk


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1.5", "2e3", "nan", "../x"])
def test_a_task_chunk_that_is_not_a_positive_whole_number_is_refused(value):
    with pytest.raises(BadInput) as raised:
        Environment.from_env({"ARKINDEX_TASK_CHUNK": value})
    assert raised.value.message == (
        f"ARKINDEX_TASK_CHUNK={value!r} is not valid: expected a positive whole number, e.g. 1."
    )
    assert raised.value.exit_code == 2


def test_a_bad_task_chunk_stops_the_run_before_any_request(arkworker_run, arkworker_sandbox, make_app):
    handled = []
    before = len(arkworker_sandbox.requests)
    run = arkworker_run(make_app(handled.append), env={"ARKINDEX_TASK_CHUNK": "abc"})
    assert run.exit_code == 2
    assert run.output == (
        "Error: ARKINDEX_TASK_CHUNK='abc' is not valid: expected a positive whole number, e.g. 1.\n"
    )
    assert handled == []
    assert len(arkworker_sandbox.requests) == before


@pytest.mark.parametrize(
    ("env", "kind", "expected"),
    [({}, int, 7), ({"N": ""}, int, 7), ({"N": "3"}, int, 3), ({"N": "0.5"}, float, 0.5)],
)
def test_env_number_reads_a_number_or_the_default(env, kind, expected):
    assert env_number(env, "N", kind, 7, minimum=0) == expected


@pytest.mark.parametrize(
    ("value", "kind", "inclusive", "message"),
    [
        ("x", int, True, "N='x' is not valid: expected a whole number >= 1."),
        ("0", int, True, "N='0' is not valid: expected a whole number >= 1."),
        ("1", float, False, "N='1' is not valid: expected a number > 1."),
        ("inf", float, True, "N='inf' is not valid: expected a number >= 1."),
        ("nan", float, True, "N='nan' is not valid: expected a number >= 1."),
    ],
)
def test_env_number_names_the_variable_and_what_it_takes(value, kind, inclusive, message):
    with pytest.raises(BadInput) as raised:
        env_number({"N": value}, "N", kind, None, minimum=1, inclusive=inclusive)
    assert raised.value.message == message


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"SKIP_TASK_ELEMENTS": ""}, True),
        ({"SKIP_TASK_ELEMENTS": "false"}, True),
        ({"SKIP_TASK_ELEMENTS": "1"}, True),
    ],
)
def test_skip_task_elements_is_true_as_soon_as_it_is_set(env, expected):
    """Arkindex's rule for this variable: any value, even empty or ``false``, means true."""
    assert Environment.from_env(env).skip_task_elements is expected


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("", None), ("/models/htr", Path("/models/htr"))]
)
def test_the_model_directory(value, expected):
    env = {} if value is None else {"ARKINDEX_MODEL_DIR": value}
    assert Environment.from_env(env).model_dir == expected


PARENT_1 = "11111111-1111-4111-8111-111111111111"
PARENT_2 = "22222222-2222-4222-8222-222222222222"


def test_task_parents_keep_their_order():
    value = json.dumps({PARENT_2: "init", PARENT_1: "other"})
    assert list(Environment.from_env({"TASK_PARENTS": value}).task_parents.items()) == [
        (PARENT_2, "init"),
        (PARENT_1, "other"),
    ]
    assert Environment.from_env({"TASK_PARENTS": "{}"}).task_parents == {}
    assert Environment.from_env({"TASK_PARENTS": ""}).task_parents is None
    assert Environment.from_env({}).task_parents is None


TASK_PARENTS_FORM = 'set it to a JSON object {"<parent task id>": "<parent slug>", ...}.'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "{",
            "TASK_PARENTS is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))",
        ),
        (f'["{PARENT_1}"]', "TASK_PARENTS is a JSON list, not an object"),
        ('{"../outside": "evil"}', "TASK_PARENTS: '../outside' is not a task id (a UUID)"),
        (f'{{"{PARENT_1.upper()}x": "a"}}', f"TASK_PARENTS: '{PARENT_1.upper()}x' is not a task id (a UUID)"),
        (f'{{"{PARENT_1}": 3}}', f"TASK_PARENTS: the slug of task {PARENT_1} is 3, not a string"),
    ],
)
def test_bad_task_parents_are_one_line_naming_the_variable(value, message):
    with pytest.raises(BadInput) as raised:
        Environment.from_env({"TASK_PARENTS": value})
    assert raised.value.message == f"{message}: {TASK_PARENTS_FORM}"
    assert raised.value.exit_code == 2


def test_bad_task_parents_stop_the_run_before_any_request(arkworker_run, arkworker_sandbox, make_app):
    before = len(arkworker_sandbox.requests)
    run = arkworker_run(make_app(), env={"TASK_PARENTS": "[]"})
    assert run.exit_code == 2
    assert run.output == f"Error: TASK_PARENTS is a JSON list, not an object: {TASK_PARENTS_FORM}\n"
    assert len(arkworker_sandbox.requests) == before


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (PARENT_1, True),
        (PARENT_1.upper(), True),
        (PARENT_1.replace("-", ""), False),
        (f"{{{PARENT_1}}}", False),
        (f"urn:uuid:{PARENT_1}", False),
        ("..", False),
        (3, False),
    ],
)
def test_task_ids_are_uuids_in_their_canonical_form(value, expected):
    assert is_task_id(value) is expected
