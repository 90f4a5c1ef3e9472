"""Element listing: every bad input is one line, exit code 2, and no API call at all."""

import json

import pytest


@pytest.fixture
def elements_file(tmp_path):
    def write(content):
        path = tmp_path / "elements.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return path

    return write


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[{", "is not valid JSON (line 1, column 3"),
        ({"id": "x"}, "must hold a JSON list like"),
        ([], "is an empty list: there is no element to process."),
        ([{"type": "page"}], "entry 0 has no 'id'"),
        (["0b8c3e1c-0000-4000-8000-000000000000"], "entry 0 has no 'id'"),
        ([{"id": "not-a-uuid"}], "entry 0 has an invalid id 'not-a-uuid': expected a UUID."),
    ],
)
def test_bad_elements_lists(arkworker_run, arkworker_sandbox, make_app, elements_file, content, message):
    path = elements_file(content)
    run = arkworker_run(make_app(), "--elements-list", str(path))
    assert run.exit_code == 2
    assert run.output.startswith("Error: ")
    assert f"--elements-list file {path}" in run.output and message in run.output
    assert run.output.count("\n") == 1
    assert arkworker_sandbox.requests == []


def test_task_elements_is_the_default_list(arkworker_run, arkworker_sandbox, make_app, elements_file):
    ids = arkworker_sandbox.process_element_ids()
    path = elements_file([{"id": ids[2], "type": "page"}, {"id": ids[0].upper()}, {"id": ids[2]}])
    run = arkworker_run(make_app(), env={"TASK_ELEMENTS": str(path)}, elements=[])
    assert run.exit_code == 0
    assert run.summary == "Ran on 2 elements: 2 completed, 0 failed"
    assert f"Element {ids[2]} is listed more than once" in run.output


def test_a_missing_task_elements_file_names_the_variable(
    arkworker_run, arkworker_sandbox, make_app, tmp_path
):
    run = arkworker_run(make_app(), env={"TASK_ELEMENTS": str(tmp_path / "gone.json")}, elements=[])
    assert run.exit_code == 2
    assert run.output == f"Error: The TASK_ELEMENTS file {tmp_path / 'gone.json'} does not exist.\n"
    assert arkworker_sandbox.requests == []


def test_both_sources_are_refused(arkworker_run, arkworker_sandbox, make_app, elements_file):
    ids = arkworker_sandbox.process_element_ids()
    path = elements_file([{"id": ids[0]}])
    run = arkworker_run(make_app(), "--element", ids[0], "--elements-list", str(path))
    assert run.exit_code == 2
    assert "--element and --elements-list cannot be used together" in run.output
    run = arkworker_run(make_app(), "--element", ids[0], env={"TASK_ELEMENTS": str(path)})
    assert run.exit_code == 2
    assert f"--element and TASK_ELEMENTS ({path}) cannot be used together" in run.output
    assert arkworker_sandbox.requests == []


def test_several_uuids_after_one_element_flag(arkworker_run, arkworker_sandbox, make_app):
    ids = arkworker_sandbox.process_element_ids()
    run = arkworker_run(make_app(), "--element", ids[0], ids[1], "--element", ids[2])
    assert run.summary == "Ran on 3 elements: 3 completed, 0 failed"


def test_an_invalid_uuid_stops_before_any_call(arkworker_run, arkworker_sandbox, make_app):
    run = arkworker_run(make_app(), "--element", arkworker_sandbox.process_element_ids()[0], "nope")
    assert run.exit_code == 2
    assert run.output == "Error: Invalid value for '--element': 'nope' is not a valid UUID.\n"
    assert arkworker_sandbox.requests == []
