"""Configuration at the current API level (RetrieveWorkerRunConfiguration), and new-style ``--config`` files.

Production configurations are read with :func:`load_configuration` over real HTTP against the
sandbox, at the level a test names; ``--config`` files go through ``arkworker run`` too.
"""

import json
import logging
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
import yaml

from arkworker import Worker
from arkworker.api.client import connect
from arkworker.environment import Environment
from arkworker.errors import BadInput, ConfigurationError
from arkworker.images.downloads import DownloadSettings
from arkworker.run.config import load_configuration, read_config_file
from arkworker.run.context import Context
from arkworker.run.generation import ApiLevel
from tests.conftest import PAGES_CORPUS, requests_of, with_worker_run

CREDS = {"creds.json": json.dumps({"user": "demo"})}

#: A worker declaration's configuration list, as in ``arkindex/<slug>.yml``.
FIELDS = [
    {"key": "threshold", "type": "float", "default": 0.5},
    {"key": "model_name", "type": "string"},
    {"key": "token", "type": "secret", "default": "creds.json"},
    {"key": "optional_token", "type": "secret"},
    {
        "key": "advanced",
        "type": "group",
        "children": [
            {"key": "dropout", "type": "float", "default": 0.1},
            {"key": "layers", "type": "int", "default": 4},
        ],
    },
]

FIELDS_CORPUS = {
    **with_worker_run(
        version={"fields": FIELDS},
        configuration={"configuration": {"threshold": 0.8, "advanced.dropout": 0.2}},
        model_version={"model": {"name": "HTR"}, "configuration": {"threshold": 0.1, "beam": 4}},
    ),
    "secrets": CREDS,
}

#: The configuration FIELDS_CORPUS's worker run gets at the current level, in the items' order.
FIELDS_CONFIG = {
    "threshold": 0.8,
    "model_name": None,
    "token": {"user": "demo"},
    "optional_token": None,
    "advanced.dropout": 0.2,
    "advanced.layers": 4,
}


@pytest.fixture
def configure(arkworker_env):
    """``configure(level, dev=False, config_file=None, env=None)``: load_configuration over HTTP."""

    def configure(level, *, dev=False, config_file=None, env=None):
        variables = {**arkworker_env, **(env or {})}
        local = (config_file, read_config_file(config_file)) if config_file is not None else None
        return load_configuration(
            Environment.from_env(variables), connect(variables), dev=dev, local_config=local, level=level
        )

    return configure


@pytest.fixture
def info_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="arkworker")
    return caplog


def operations(sandbox):
    """The operations the sandbox was asked, in order (the schema download left out)."""
    return [record.operation_id for record in sandbox.requests if record.operation_id is not None]


@pytest.mark.parametrize("arkworker_corpus", [FIELDS_CORPUS])
def test_the_worker_run_configuration_items_are_the_configuration(configure, arkworker_sandbox, info_logs):
    configuration = configure(ApiLevel.CURRENT)
    assert configuration.config == FIELDS_CONFIG
    assert list(configuration.config) == list(FIELDS_CONFIG)  # the items' order
    assert configuration.secrets == {"token": {"user": "demo"}, "optional_token": None}
    # The model version's configuration stays apart, even for a key the run also has.
    assert configuration.model_configuration == {"threshold": 0.1, "beam": 4}
    assert configuration.model_version_id
    assert configuration.model_details["name"] == "HTR"
    assert configuration.worker_details["slug"] == "sandbox-worker"
    assert configuration.process_information["id"] == arkworker_sandbox.process_id
    assert configuration.corpus_id == arkworker_sandbox.corpus_id
    assert not configuration.read_only and not configuration.debug

    run_id = arkworker_sandbox.worker_run_id
    assert operations(arkworker_sandbox) == [
        "RetrieveWorkerRun",
        "RetrieveWorkerRunConfiguration",
        "RetrieveSecret",
    ]
    assert requests_of(arkworker_sandbox, "RetrieveSecret")[0].path.endswith("/secret/creds.json")
    assert "Loaded model version configuration from WorkerRun" in info_logs.text
    assert f"Using worker run configuration {run_id}" in info_logs.text
    assert "Optional secret `optional_token` is not set" in info_logs.text
    assert "User configuration retrieved" not in info_logs.text
    assert "Model version configuration retrieved" not in info_logs.text


#: A 0.3.7-style worker version: the sandbox derives the items from it at the current level.
LEGACY_STYLE = {
    **with_worker_run(
        version={
            "configuration": {
                "configuration": {"p": 0},
                "user_configuration": {"q": {"type": "int", "default": 1}},
                "secrets": ["creds.json"],
            }
        },
        configuration={"configuration": {"q": 2}},
    ),
    "secrets": CREDS,
}


@pytest.mark.parametrize(
    ("arkworker_corpus", "level", "config", "secrets"),
    [
        ({**LEGACY_STYLE, "api_level": "legacy"}, ApiLevel.LEGACY, {"p": 0, "q": 2}, {"creds.json"}),
        (LEGACY_STYLE, ApiLevel.CURRENT, {"p": 0, "q": 2, "creds.json": {"user": "demo"}}, {"creds.json"}),
    ],
    ids=["legacy", "current"],
)
def test_one_worker_version_at_both_levels(configure, arkworker_sandbox, level, config, secrets):
    configuration = configure(level)
    assert configuration.config == config
    assert set(configuration.secrets) == secrets
    assert configuration.secrets["creds.json"] == {"user": "demo"}
    assert configuration.level is level
    called = set(operations(arkworker_sandbox))
    assert ("RetrieveWorkerRunConfiguration" in called) is (level is ApiLevel.CURRENT)


@pytest.fixture
def schema_without_retrieve_secret(arkworker_sandbox, tmp_path):
    """The sandbox's schema without RetrieveSecret (Arkindex CE), as a file for ARKINDEX_API_SCHEMA_URL."""
    schema = requests.get(f"{arkworker_sandbox.url}/api/v1/openapi/", timeout=10).json()
    for methods in schema["paths"].values():
        for method, operation in list(methods.items()):
            if operation.get("operationId") == "RetrieveSecret":
                del methods[method]
    path = tmp_path / "schema-ce.json"
    path.write_text(json.dumps(schema))
    return {"ARKINDEX_API_SCHEMA_URL": str(path)}


@pytest.mark.parametrize("arkworker_corpus", [FIELDS_CORPUS])
def test_without_retrieve_secret_a_secret_item_is_the_secret_itself(
    configure, arkworker_sandbox, schema_without_retrieve_secret
):
    configuration = configure(ApiLevel.CURRENT, env=schema_without_retrieve_secret)
    assert configuration.config["token"] == "creds.json"  # what the server sent, used raw
    assert configuration.secrets == {"token": "creds.json", "optional_token": None}
    assert requests_of(arkworker_sandbox, "RetrieveSecret") == []
    assert requests_of(arkworker_sandbox, "RetrieveWorkerRunConfiguration")


@pytest.mark.parametrize(
    "arkworker_corpus",
    [with_worker_run(version={"fields": [{"key": "debug", "type": "bool", "default": True}]})],
)
def test_debug_from_the_worker_run_configuration(configure):
    assert configure(ApiLevel.CURRENT).debug is True


@pytest.mark.parametrize("arkworker_corpus", [FIELDS_CORPUS])
def test_user_configuration_is_a_deprecated_alias_of_config(configure, arkworker_sandbox, arkworker_env):
    configuration = configure(ApiLevel.CURRENT)
    ctx = Context(
        Worker("alias"),
        SimpleNamespace(),
        configuration,
        connect(arkworker_env),
        Environment.from_env(arkworker_env),
        downloads=DownloadSettings(),
    )
    with pytest.warns(DeprecationWarning, match="use ctx.config instead of ctx.user_configuration") as seen:
        assert ctx.user_configuration is ctx.config
    assert seen[0].filename == __file__  # the line that read it
    legacy = configure(ApiLevel.LEGACY)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert legacy.user_configuration == {"threshold": 0.8, "advanced.dropout": 0.2}


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            {"status": 403},
            "Not allowed to read the configuration of worker run {run} on {url} (HTTP 403): check "
            "ARKINDEX_API_TOKEN or ARKINDEX_TASK_TOKEN.",
        ),
        (
            {"body": {"configuration": {"threshold": 1}}},
            "Unexpected answer from RetrieveWorkerRunConfiguration({run}): 'configuration' is a dict, "
            "expected a list of {{key, value, secret}} items.",
        ),
        (
            {"body": {"configuration": [{"value": 1}]}},
            "Unexpected answer from RetrieveWorkerRunConfiguration({run}): configuration[0] has no 'key'.",
        ),
        (
            {"body": {"configuration": [{"key": "a", "value": 1, "secret": "no"}]}},
            "Unexpected answer from RetrieveWorkerRunConfiguration({run}): configuration[0].secret (a) is "
            "'no' (str), expected true or false.",
        ),
        (
            {"body": [1, 2]},
            "Unexpected answer from RetrieveWorkerRunConfiguration({run}): the answer is list, expected an "
            "object.",
        ),
    ],
    ids=["forbidden", "not-a-list", "no-key", "secret-not-bool", "not-an-object"],
)
def test_a_bad_configuration_answer_is_one_failure_line(configure, arkworker_sandbox, fault, message):
    if "status" in fault:
        arkworker_sandbox.fail("RetrieveWorkerRunConfiguration", status=fault["status"])
    else:
        arkworker_sandbox.malformed("RetrieveWorkerRunConfiguration", body=fault["body"])
    with pytest.raises(ConfigurationError) as raised:
        configure(ApiLevel.CURRENT)
    expected = message.format(run=arkworker_sandbox.worker_run_id, url=arkworker_sandbox.url)
    assert raised.value.message == f"Failed to configure this worker: {expected}"
    assert raised.value.exit_code == 1


@pytest.mark.parametrize("arkworker_corpus", [{**PAGES_CORPUS, "api_level": "legacy"}])
def test_the_current_level_on_a_legacy_instance_is_one_line(configure, arkworker_sandbox):
    with pytest.raises(ConfigurationError) as raised:
        configure(ApiLevel.CURRENT)
    assert raised.value.message == (
        f"Failed to configure this worker: The API level is current but {arkworker_sandbox.url} has no "
        "RetrieveWorkerRunConfiguration to read the worker run's configuration from: use --api-level auto "
        "(or legacy), or unset ARKWORKER_API_LEVEL."
    )


def test_the_failure_line_on_the_command_line(arkworker_run, arkworker_sandbox):
    app = Worker("failing")
    app.element(lambda element: None)
    arkworker_sandbox.fail("RetrieveWorkerRun", status=403)
    run = arkworker_run(app)
    assert run.exit_code == 1
    assert run.output.splitlines()[-1] == (
        f"Error: Failed to configure this worker: Not allowed to read the worker run "
        f"{arkworker_sandbox.worker_run_id} on {arkworker_sandbox.url} (HTTP 403): check ARKINDEX_API_TOKEN "
        "or ARKINDEX_TASK_TOKEN."
    )
    assert "Traceback" not in run.output


# -- --config files ------------------------------------------------------------------------

#: A new-style file: the items RetrieveWorkerRunConfiguration would answer.
NEW_STYLE = {
    "configuration": [
        {"key": "threshold", "value": 0.3, "secret": False},
        {"key": "advanced.dropout", "value": 0.2},
        {"key": "model_name"},
        {"key": "token", "value": "creds.json", "secret": True},
        {"key": "optional_token", "value": None, "secret": True},
    ]
}
NEW_STYLE_CONFIG = {
    "threshold": 0.3,
    "advanced.dropout": 0.2,
    "model_name": None,
    "token": {"user": "demo"},
    "optional_token": None,
}


def write_config(tmp_path, document, suffix):
    path = tmp_path / f"config{suffix}"
    path.write_text(json.dumps(document, indent="\t") if suffix == ".json" else yaml.safe_dump(document))
    return path


@pytest.mark.parametrize("arkworker_corpus", [{**PAGES_CORPUS, "secrets": CREDS}])
@pytest.mark.parametrize("suffix", [".yml", ".json"])
@pytest.mark.parametrize("level", [ApiLevel.LEGACY, ApiLevel.CURRENT], ids=["legacy", "current"])
def test_a_new_style_config_file(configure, arkworker_sandbox, tmp_path, info_logs, suffix, level):
    path = write_config(tmp_path, NEW_STYLE, suffix)
    configuration = configure(level, dev=True, config_file=path)
    assert configuration.read_only
    assert configuration.config == NEW_STYLE_CONFIG
    assert configuration.secrets == {"token": {"user": "demo"}, "optional_token": None}
    assert configuration.worker_details == {"name": "Local worker"}
    assert operations(arkworker_sandbox) == ["RetrieveSecret"]
    assert f"Running with local configuration from {path}" in info_logs.text
    assert "old-style" not in info_logs.text


@pytest.mark.parametrize("arkworker_corpus", [{**PAGES_CORPUS, "secrets": CREDS}])
def test_a_new_style_config_file_through_the_command_line(arkworker_run, arkworker_sandbox, tmp_path):
    path = write_config(tmp_path, NEW_STYLE, ".yml")
    seen = []
    app = Worker("new-style")
    app.element(lambda element, ctx: seen.append((dict(ctx.config), dict(ctx.secrets))))
    run = arkworker_run(
        app, "--dev", "--config", str(path), elements=arkworker_sandbox.process_element_ids()[:1]
    )
    assert run.exit_code == 0, run.output
    assert seen == [(NEW_STYLE_CONFIG, {"token": {"user": "demo"}, "optional_token": None})]
    assert "demo" not in run.output


@pytest.mark.parametrize("arkworker_corpus", [FIELDS_CORPUS])
def test_a_new_style_secret_without_retrieve_secret_is_raw(
    configure, arkworker_sandbox, tmp_path, schema_without_retrieve_secret
):
    path = write_config(tmp_path, NEW_STYLE, ".yml")
    configuration = configure(
        ApiLevel.CURRENT, dev=True, config_file=path, env=schema_without_retrieve_secret
    )
    assert configuration.config["token"] == "creds.json"
    assert operations(arkworker_sandbox) == []


@pytest.mark.parametrize(
    ("level", "warned"), [(ApiLevel.LEGACY, False), (ApiLevel.CURRENT, True)], ids=["legacy", "current"]
)
def test_an_old_style_file_is_only_deprecated_at_the_current_level(
    configure, tmp_path, info_logs, level, warned
):
    path = write_config(tmp_path, {"model": "small", "threshold": 0.3}, ".json")
    configuration = configure(level, dev=True, config_file=path)
    assert configuration.config == {"model": "small", "threshold": 0.3}
    assert ("Using old-style configuration is deprecated" in info_logs.text) is warned


@pytest.mark.parametrize(
    ("suffix", "content", "message"),
    [
        (
            ".yml",
            "configuration: {a: 1}\n",
            "'configuration' is a dict, expected a list of {key, value, secret} "
            "items (a value named 'configuration' is itself an item of that list).",
        ),
        (".yml", "configuration: [{value: 1}]\n", "configuration[0] has no 'key'."),
        (
            ".yml",
            "configuration: [1]\n",
            "configuration[0] is an int, expected an object {key, value, secret}.",
        ),
        (
            ".yml",
            "configuration: [{key: ''}]\n",
            "configuration[0].key is '' (str), expected a non-empty string.",
        ),
        (
            ".yml",
            "configuration: [{key: t, secret: 'yes'}]\n",
            "configuration[0].secret (t) is 'yes' (str), expected true or false.",
        ),
        (
            ".yml",
            "configuration: [{key: t, value: 3, secret: true}]\n",
            "configuration[0] (t) is a secret whose value is an int, expected the secret's name or null.",
        ),
        (
            ".yml",
            "configuration: [{key: t, vaule: 3}]\n",
            "configuration[0] (t) has an unknown key 'vaule': an item has only key, value and secret.",
        ),
        (
            ".yml",
            "configuration: [{key: t}, {key: u}, {key: t}]\n",
            "configuration[2] repeats the key 't' of configuration[0].",
        ),
        (
            ".yml",
            "configuration: []\nsecrets: [a.json]\n",
            "'secrets' cannot go beside 'configuration' (a new-style file holds only the 'configuration' list "
            "of {key, value, secret} items): make it an item of the list.",
        ),
        (".json", '{"configuration": [', "is not valid JSON at line 1, column 20: Expecting value."),
        (
            ".json",
            "[1]",
            "must hold a mapping (key: value lines, or a new-style 'configuration' list), not a list.",
        ),
    ],
)
def test_a_malformed_config_file_is_one_line_before_any_call(
    arkworker_run, arkworker_sandbox, make_app, tmp_path, suffix, content, message
):
    path = tmp_path / f"config{suffix}"
    path.write_text(content)
    run = arkworker_run(make_app(), "--dev", "--config", str(path))
    assert run.exit_code == 2
    assert run.output.startswith("Error: ") and run.output.count("\n") == 1
    assert str(path) in run.output and run.output.rstrip("\n").endswith(message)
    assert arkworker_sandbox.requests == []
    with pytest.raises(BadInput):
        read_config_file(path)


def test_an_empty_json_file_is_an_empty_configuration(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("\n")
    assert read_config_file(path) == {}
    assert read_config_file(Path(write_config(tmp_path, {"configuration": []}, ".json"))) == {
        "configuration": []
    }


def test_a_lost_connection_is_one_failure_line(configure, arkworker_sandbox):
    arkworker_sandbox.reset_connection("RetrieveWorkerRunConfiguration", times=None)
    with pytest.raises(ConfigurationError) as raised:
        configure(ApiLevel.CURRENT, env={"ARKWORKER_RETRY_ATTEMPTS": "2"})
    assert raised.value.message == (
        "Failed to configure this worker: Could not retrieve the configuration of worker run "
        f"{arkworker_sandbox.worker_run_id} on {arkworker_sandbox.url}: connection reset while waiting for "
        "the answer."
    )
    assert len(requests_of(arkworker_sandbox, "RetrieveWorkerRunConfiguration")) == 2  # retried first
