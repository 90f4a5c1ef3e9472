"""Ponos tasks in the sandbox: the corpus section, RetrieveTaskFromAgent and RetrieveTask, adding tasks."""

import pytest
from arkindex import ArkindexClient
from arkindex.exceptions import ErrorResponse

from arkworker.sandbox import CorpusError, Sandbox

CORPUS = {
    "corpus": {"name": "Tasks"},
    "tasks": [
        {"slug": "init"},
        {"slug": "ocr", "parents": ["init"]},
        {"slug": "ner", "parents": ["init", "ocr"], "id": "0e0b5a94-4f0e-4a8e-9d1e-2b3c4d5e6f70"},
    ],
}


@pytest.fixture
def tasks_sandbox():
    with Sandbox(CORPUS) as sandbox:
        yield sandbox


def test_declared_tasks_and_their_parents(tasks_sandbox):
    tasks = {task["slug"]: task for task in tasks_sandbox.objects("tasks")}
    assert [tasks[slug]["depth"] for slug in ("init", "ocr", "ner")] == [0, 1, 2]
    assert tasks["ner"]["parents"] == [tasks["init"]["id"], tasks["ocr"]["id"]]
    assert tasks["ner"]["process_id"] == tasks_sandbox.process_id
    assert Sandbox(CORPUS).objects("tasks")[0]["id"] == tasks["init"]["id"]  # ids are stable


def test_retrieve_task_from_agent_over_http(tasks_sandbox):
    client = ArkindexClient(base_url=tasks_sandbox.url, token=tasks_sandbox.token, auth_scheme="Ponos")
    answer = client.request("RetrieveTaskFromAgent", id="0e0b5a94-4f0e-4a8e-9d1e-2b3c4d5e6f70")
    (init,) = tasks_sandbox.objects("tasks", slug="init")
    (ocr,) = tasks_sandbox.objects("tasks", slug="ocr")
    assert answer["parents"] == [init["id"], ocr["id"]]
    assert answer["slug"] == "ner"
    with pytest.raises(ErrorResponse) as raised:
        client.request("RetrieveTaskFromAgent", id="00000000-0000-0000-0000-000000000000")
    assert raised.value.status_code == 404


def test_retrieve_task_answers_the_same_task(tasks_sandbox):
    client = ArkindexClient(base_url=tasks_sandbox.url, token=tasks_sandbox.token, auth_scheme="Ponos")
    task_id = "0e0b5a94-4f0e-4a8e-9d1e-2b3c4d5e6f70"
    assert client.lookup_operation("RetrieveTask").url == "/api/v1/task/{id}/"
    answer = client.request("RetrieveTask", id=task_id)
    assert answer == client.request("RetrieveTaskFromAgent", id=task_id)
    assert (answer["id"], answer["slug"], len(answer["parents"])) == (task_id, "ner", 2)
    (init,) = tasks_sandbox.objects("tasks", slug="init")
    assert client.request("RetrieveTask", id=init["id"])["parents"] == []
    with pytest.raises(ErrorResponse) as raised:
        client.request("RetrieveTask", id="00000000-0000-0000-0000-000000000000")
    assert raised.value.status_code == 404


def test_tasks_added_at_run_time(tasks_sandbox):
    (init,) = tasks_sandbox.objects("tasks", slug="init")
    extra = tasks_sandbox.add_task("extra", [init["id"]])
    child = tasks_sandbox.add_task("child")
    tasks_sandbox.set_task_parents(child, [init["id"], extra])
    (row,) = tasks_sandbox.objects("tasks", id=child)
    assert (row["parents"], row["depth"]) == ([init["id"], extra], 2)
    with pytest.raises(ValueError, match="Unknown parent task"):
        tasks_sandbox.add_task("orphan", ["00000000-0000-0000-0000-000000000000"])


@pytest.mark.parametrize(
    ("tasks", "expected"),
    [
        ([{"parents": []}], "tasks[0]: missing 'slug'"),
        ([{"slug": "a"}, {"slug": "a"}], "tasks[1].slug: duplicate task slug 'a'"),
        ([{"slug": "a", "parents": ["b"]}, {"slug": "b"}], "tasks[0].parents[0]: unknown task 'b'"),
        ([{"slug": "a", "colour": "red"}], "tasks[0]: unknown key 'colour'"),
        ([{"slug": "a", "state": "sleeping"}], "tasks[0].state:"),
        ({"slug": "a"}, "tasks: expected a list"),
    ],
)
def test_bad_tasks_sections(tasks, expected):
    with pytest.raises(
        CorpusError, match="^<corpus mapping>: " + expected.replace("[", r"\[").replace("]", r"\]")
    ):
        Sandbox({"corpus": {"name": "C"}, "tasks": tasks})
