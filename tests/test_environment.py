"""The task's variables are checked when they are read: a bad one stops the run before it starts."""

import pytest

from arkworker.environment import Environment, env_number
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
