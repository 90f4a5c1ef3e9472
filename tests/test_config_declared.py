"""Declared configuration at run time: ``ctx.config`` checked against the worker's fields.

Every field type, with good and bad values, in production at both API levels (the sandbox's
worker run gives the values: at the current level as RetrieveWorkerRunConfiguration items
resolved against the fields Arkindex imported, at the legacy level in the worker run's
configuration) and in read-only mode from ``--config`` files.
"""

from __future__ import annotations

import io
import json

import pytest
from arkindex import ArkindexClient

from arkworker import Field, Worker
from arkworker.cli.worker import invoke_app
from tests.conftest import PAGES_CORPUS, requests_of, with_worker_run
from tests.declared import ALL_FIELDS, BAD_VALUES, CREDS, GOOD_CONFIG, GOOD_VALUES, bad, recording_app

#: The fields as Arkindex knows them once the worker's declaration file is imported.
IMPORTED = [field.to_declaration() for field in ALL_FIELDS]


def corpus(values, api_level="current"):
    """PAGES_CORPUS whose worker run has the declared fields and ``values``, at ``api_level``."""
    return {
        **with_worker_run(version={"fields": IMPORTED}, configuration={"configuration": values}),
        "secrets": CREDS,
        "api_level": api_level,
    }


def failure_line(run):
    return run.output.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("arkworker_corpus", "token"),
    [(corpus(GOOD_VALUES), {"user": "demo"}), (corpus(GOOD_VALUES, "legacy"), "creds.json")],
    ids=["current", "legacy"],
)
def test_good_values_of_every_type_in_production(arkworker_run, arkworker_sandbox, token):
    seen = []
    run = arkworker_run(recording_app(seen))
    assert run.exit_code == 0, run.output
    # A legacy instance has no secret fields: the value is what the run's configuration says.
    assert seen == [{**GOOD_CONFIG, "token": token}]
    assert list(seen[0]) == list(GOOD_CONFIG)  # the declaration's order
    current = isinstance(token, dict)
    assert bool(requests_of(arkworker_sandbox, "RetrieveWorkerRunConfiguration")) is current
    assert len(requests_of(arkworker_sandbox, "RetrieveSecret")) == (1 if current else 0)


@pytest.mark.parametrize(
    ("arkworker_corpus", "message"),
    [
        (corpus(bad(key, value), level), message)
        for level in ("current", "legacy")
        for key, value, message in BAD_VALUES
    ],
    ids=[f"{level}-{key}={value!r}" for level in ("current", "legacy") for key, value, _ in BAD_VALUES],
)
def test_a_bad_value_stops_the_run_before_the_first_element(arkworker_run, arkworker_sandbox, message):
    seen = []
    run = arkworker_run(recording_app(seen))
    assert run.exit_code == 1, run.output
    action = "set it" if "required" in message else "fix it"
    assert failure_line(run) == (
        f"Error: Failed to configure this worker: {message}: {action} in the configuration of worker run "
        f"{arkworker_sandbox.worker_run_id}."
    )
    assert seen == []  # no setup function ran
    assert requests_of(arkworker_sandbox, "RetrieveElement") == []
    assert arkworker_sandbox.objects("activities") == []


@pytest.fixture
def arkworker_corpus():
    """The sandbox of read-only runs: the pages, and the secret the token field names."""
    return {**PAGES_CORPUS, "secrets": CREDS}


def new_style(values, secret=("token",)):
    return {
        "configuration": [
            {"key": key, "value": value, "secret": key in secret} for key, value in values.items()
        ]
    }


def test_good_values_of_every_type_from_a_config_file(arkworker_run, arkworker_sandbox, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(new_style(GOOD_VALUES)))
    seen = []
    run = arkworker_run(recording_app(seen), "--dev", "--config", str(path))
    assert run.exit_code == 0, run.output
    assert seen == [GOOD_CONFIG]
    assert requests_of(arkworker_sandbox, "RetrieveSecret")  # the secret item named the secret


def test_an_old_style_file_gives_a_group_as_a_mapping(arkworker_run, tmp_path):
    values = {key: value for key, value in GOOD_VALUES.items() if key not in ("token", "advanced.dropout")}
    path = tmp_path / "config.yml"
    path.write_text(
        json.dumps({**values, "token": "raw", "advanced": {"dropout": 0.3, "layers": "2"}, "extra": 1})
    )
    seen = []
    run = arkworker_run(recording_app(seen), "--dev", "--config", str(path))
    assert run.exit_code == 0, run.output
    expected = {**GOOD_CONFIG, "token": "raw", "advanced.dropout": 0.3, "advanced.layers": 2, "extra": 1}
    assert seen == [expected]
    assert list(seen[0])[-1] == "extra"  # keys the worker does not declare are kept, after the others


def test_every_bad_value_of_a_config_file_is_one_usage_line(arkworker_run, arkworker_sandbox, tmp_path):
    """One sandbox for every file: the runs stop before any element."""
    app = recording_app(seen := [])
    wrong = []
    for index, (key, value, message) in enumerate(BAD_VALUES):
        path = tmp_path / f"config-{index}.json"
        path.write_text(json.dumps(new_style(bad(key, value))))
        run = arkworker_run(app, "--dev", "--config", str(path))
        action = "add it" if "required" in message else "fix the value"
        expected = f"Error: In the configuration file {path}, {message}: {action}."
        if run.exit_code != 2 or failure_line(run) != expected:
            wrong.append((key, value, run.exit_code, failure_line(run)))
    assert wrong == []
    assert seen == []
    assert requests_of(arkworker_sandbox, "RetrieveElement") == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            {"advanced": 3},
            "advanced is 3 (int), but it is a group: give its fields as advanced.dropout, advanced.layers",
        ),
        (
            {"advanced": {"depth": 2}},
            "advanced.depth is not a field of the group advanced (its fields: dropout, layers)",
        ),
    ],
)
def test_a_group_given_wrongly_in_a_file(arkworker_run, tmp_path, content, message):
    path = tmp_path / "config.yml"
    path.write_text(json.dumps({"size": 1, "token": "t", **content}))
    run = arkworker_run(recording_app([]), "--dev", "--config", str(path))
    assert run.exit_code == 2
    assert failure_line(run) == f"Error: In the configuration file {path}, {message}: fix the value."


def test_a_required_field_without_a_config_file(arkworker_run):
    run = arkworker_run(recording_app([]), "--dev")
    assert run.exit_code == 2
    assert failure_line(run) == (
        "Error: size is required and has no value: give it in a configuration file, --config FILE "
        "(YAML, 'key: value' lines)."
    )


def test_defaults_without_a_config_file(arkworker_run):
    seen = []
    app = Worker("defaults", configuration=[Field("threshold", default=0.5), Field("model", type="model")])
    app.setup(lambda ctx: seen.append(dict(ctx.config)))
    app.element(lambda element: None)
    run = arkworker_run(app, "--dev")
    assert run.exit_code == 0, run.output
    assert seen == [{"threshold": 0.5, "model": None}]


def test_a_worker_that_declares_nothing_keeps_its_configuration(arkworker_run, tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("threshold: high\nadvanced: {dropout: x}\n")
    seen = []
    app = Worker("undeclared")
    app.setup(lambda ctx: seen.append(dict(ctx.config)))
    app.element(lambda element: None)
    run = arkworker_run(app, "--dev", "--config", str(path))
    assert run.exit_code == 0, run.output
    assert seen == [{"threshold": "high", "advanced": {"dropout": "x"}}]


# -- The sandbox serves the declared defaults -----------------------------------------------------

DECLARED = [
    Field("threshold", default=0.5),
    Field("token", type="secret"),
    Field("advanced", children=[Field("layers", default=4)]),
]
#: A corpus that knows nothing of the worker's fields: a value for one, a key of its own.
SPARSE = {
    **with_worker_run(
        version={"configuration": {"configuration": {"p": 0}}},
        configuration={"configuration": {"token": "creds.json", "advanced.layers": 8}},
    ),
    "secrets": CREDS,
}


def test_the_sandbox_fills_what_the_corpus_leaves_unset_with_the_declaration():
    from arkworker.sandbox import Sandbox

    declared = [field.to_declaration() for field in DECLARED]
    with Sandbox(SPARSE, declared_fields=declared) as sandbox:
        client = ArkindexClient(base_url=sandbox.url, token=sandbox.token)
        answer = client.request("RetrieveWorkerRunConfiguration", id=sandbox.worker_run_id)
    assert answer["configuration"] == [
        {"key": "threshold", "value": 0.5, "secret": False},  # the declared default
        {"key": "token", "value": "creds.json", "secret": True},  # sent as a secret, as declared
        {"key": "advanced.layers", "value": 8, "secret": False},  # the corpus's value wins
        {"key": "p", "value": 0, "secret": False},  # the corpus's own key, after
    ]
    with Sandbox({**SPARSE, "api_level": "legacy"}, declared_fields=declared) as sandbox:
        client = ArkindexClient(base_url=sandbox.url, token=sandbox.token)
        run = client.request("RetrieveWorkerRun", id=sandbox.worker_run_id)
    assert run["worker_version"]["configuration"] == {
        "configuration": {"p": 0},
        "user_configuration": {
            "threshold": {"title": "Threshold", "type": "float", "default": 0.5},
            "advanced.layers": {"title": "Layers", "type": "int", "default": 4},
        },
    }


def test_a_sandbox_run_gives_the_sandbox_the_declaration(tmp_path):
    corpus = tmp_path / "corpus.json"
    corpus.write_text(json.dumps(SPARSE))
    answers = []
    app = Worker("sandboxed", configuration=DECLARED)
    app.setup(lambda ctx: answers.append(ctx.request("RetrieveWorkerRunConfiguration", id=ctx.worker_run_id)))
    app.element(lambda element: None)
    env = {"ARKWORKER_RETRY_BACKOFF": "0", "XDG_DATA_HOME": str(tmp_path / "data")}
    code, _ = invoke_app(app, ["--sandbox", str(corpus)], env=env, stream=io.StringIO())
    assert code == 0
    assert [item["key"] for item in answers[0]["configuration"]] == [
        "threshold",
        "token",
        "advanced.layers",
        "p",
    ]
    assert answers[0]["configuration"][1]["secret"] is True
