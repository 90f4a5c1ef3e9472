"""Configuration: read-only YAML files, the legacy level's precedence, secrets, environment rules.

The production tests here run on a legacy sandbox (``api_level: legacy``), whose worker runs are
configured the 0.3.7 way; test_config_current.py has the current level.
"""

import json

import pytest
import yaml

from arkworker import Worker
from arkworker.api.client import RetryPolicy
from arkworker.environment import Environment
from tests.conftest import PAGES_CORPUS, with_worker_run


def legacy(corpus):
    """``corpus`` served by a 0.3.7-era instance."""
    return {**corpus, "api_level": "legacy"}


def capture(ctx_seen):
    app = Worker("config-probe")

    @app.element
    def process(element, ctx):
        ctx_seen.append(ctx)

    return app


@pytest.mark.parametrize(
    "arkworker_corpus", [{**PAGES_CORPUS, "secrets": {"token.json": '{"user": "demo"}'}}]
)
def test_read_only_with_a_yaml_file(arkworker_run, arkworker_sandbox, tmp_path):
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({"model": "small", "threshold": 0.3, "secrets": ["token.json"]}))
    seen = []
    run = arkworker_run(
        capture(seen),
        "--dev",
        "--config",
        str(config),
        env={"ARKINDEX_CORPUS_ID": arkworker_sandbox.corpus_id, "ARKINDEX_MODEL_ID": "m1"},
        elements=arkworker_sandbox.process_element_ids()[:1],
    )
    assert run.exit_code == 0, run.output
    ctx = seen[0]
    assert ctx.is_read_only
    assert ctx.config == {"model": "small", "threshold": 0.3, "secrets": ["token.json"]}
    assert ctx.worker_details == {"name": "Local worker"}
    assert ctx.secrets == {"token.json": {"user": "demo"}}
    assert ctx.corpus_id == arkworker_sandbox.corpus_id
    assert ctx.model_details == {"id": "m1"}
    assert ctx.model_version_id is None and ctx.process_information is None
    assert f"Running with local configuration from {config}" in run.output


def test_read_only_without_configuration(arkworker_run, arkworker_sandbox, make_app):
    seen = []
    run = arkworker_run(
        capture(seen),
        env={"ARKINDEX_WORKER_RUN_ID": ""},
        elements=arkworker_sandbox.process_element_ids()[:1],
    )
    assert run.exit_code == 0
    assert seen[0].is_read_only and seen[0].config == {}
    assert "worker is in read-only mode" in run.output
    assert "Running without any extra configuration" in run.output


def test_missing_corpus_in_read_only_mode_fails_the_element_clearly(arkworker_run, arkworker_sandbox):
    app = Worker("corpus-less")
    app.element(lambda element, ctx: ctx.corpus_id)
    run = arkworker_run(
        app, "--dev", env={"ARKINDEX_CORPUS_ID": ""}, elements=arkworker_sandbox.process_element_ids()[:1]
    )
    assert run.exit_code == 1
    assert "Missing ARKINDEX_CORPUS_ID environment variable" in run.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a: [1, 2", "is not valid YAML at line 1, column 9"),
        (
            "- a\n- b\n",
            "must hold a mapping (key: value lines, or a new-style 'configuration' list), not a list.",
        ),
        ("secrets: token.json\n", "'secrets' must be a list of secret names."),
    ],
)
def test_bad_configuration_files(arkworker_run, arkworker_sandbox, make_app, tmp_path, content, message):
    config = tmp_path / "config.yml"
    config.write_text(content)
    run = arkworker_run(make_app(), "--dev", "--config", str(config))
    assert run.exit_code == 2
    assert run.output.startswith("Error: ") and run.output.count("\n") == 1
    assert str(config) in run.output and message in run.output
    assert arkworker_sandbox.requests == []


def precedence_corpus(defaults=None, model=None, run=None):
    """A corpus whose worker run has a base configuration p=0 and the given extra layers."""
    worker_run = {
        "version": {"configuration": {"configuration": {"p": 0}, "user_configuration": defaults or {}}}
    }
    if model is not None:
        worker_run["model_version"] = {"model": {"name": "HTR"}, "configuration": model}
    if run is not None:
        worker_run["configuration"] = {"name": "Run config", "configuration": run}
    return legacy(with_worker_run(**worker_run))


@pytest.mark.parametrize(
    ("arkworker_corpus", "expected"),
    [
        (precedence_corpus(), {"p": 0}),
        (precedence_corpus(defaults={"p": {"type": "int", "default": 1}}), {"p": 1}),
        (precedence_corpus(defaults={"p": {"type": "int"}}), {"p": 0}),
        (precedence_corpus(defaults={"p": {"default": 1}}, model={"p": 2}), {"p": 2}),
        (precedence_corpus(defaults={"p": {"default": 1}}, model={"p": 2}, run={"p": 3}), {"p": 3}),
        (precedence_corpus(run={"p": 3, "q": 4}), {"p": 3, "q": 4}),
    ],
)
def test_production_configuration_precedence(arkworker_run, arkworker_sandbox, expected):
    seen = []
    run = arkworker_run(capture(seen), elements=arkworker_sandbox.process_element_ids()[:1])
    assert run.exit_code == 0, run.output
    assert seen[0].config == expected
    assert not seen[0].is_read_only


@pytest.mark.parametrize(
    "arkworker_corpus",
    [precedence_corpus(defaults={"p": {"default": 1}, "q": {"default": 5}}, model={"p": 2})],
)
def test_model_version_fields(arkworker_run, arkworker_sandbox):
    seen = []
    arkworker_run(capture(seen), elements=arkworker_sandbox.process_element_ids()[:1])
    ctx = seen[0]
    assert ctx.model_configuration == {"p": 2}
    assert ctx.model_details["name"] == "HTR"
    assert ctx.model_version_id
    assert ctx.user_configuration == {"q": 5}  # a default for a key of the model is dropped
    assert ctx.config == {"p": 2, "q": 5}


def test_production_context_fields(arkworker_run, arkworker_sandbox):
    seen = []
    run = arkworker_run(capture(seen), elements=arkworker_sandbox.process_element_ids()[:1])
    assert run.exit_code == 0
    ctx = seen[0]
    assert ctx.worker_run_id == arkworker_sandbox.worker_run_id
    assert ctx.corpus_id == arkworker_sandbox.corpus_id
    assert ctx.process_information["id"] == arkworker_sandbox.process_id
    assert ctx.process_information["activity_state"] == "ready"
    assert ctx.worker_details["slug"]
    assert ctx.api_client.document.url == arkworker_sandbox.url
    assert ctx.work_dir.is_dir()
    assert "Worker will use" in run.output and "Loaded " in run.output


SECRETS_CORPUS = legacy(
    with_worker_run(version={"configuration": {"secrets": ["creds.json", "config.yaml", "plain.txt"]}})
)


@pytest.mark.parametrize(
    "arkworker_corpus",
    [
        {
            **SECRETS_CORPUS,
            "secrets": {
                "creds.json": json.dumps({"token": "s3cr3t-json"}),
                "config.yaml": "url: https://example.com\nretries: 3\n",
                "plain.txt": "s3cr3t-text",
            },
        }
    ],
)
def test_secrets_are_parsed_by_extension(arkworker_run, arkworker_sandbox):
    seen = []
    run = arkworker_run(capture(seen), elements=arkworker_sandbox.process_element_ids()[:1])
    assert run.exit_code == 0
    assert seen[0].secrets == {
        "creds.json": {"token": "s3cr3t-json"},
        "config.yaml": {"url": "https://example.com", "retries": 3},
        "plain.txt": "s3cr3t-text",
    }
    assert "s3cr3t" not in repr(seen[0].secrets)
    assert "s3cr3t" not in run.output


@pytest.mark.parametrize(
    "arkworker_corpus",
    [{**SECRETS_CORPUS, "secrets": {"creds.json": "{s3cr3t", "config.yaml": "a: 1", "plain.txt": "x"}}],
)
def test_a_secret_that_does_not_parse_stops_the_run(arkworker_run, make_app):
    run = arkworker_run(make_app())
    assert run.exit_code == 1
    assert (
        "Error: Failed to configure this worker: Secret creds.json is not valid JSON (line 1, column 2)"
        in run.output
    )
    assert "s3cr3t" not in run.output


@pytest.mark.parametrize("arkworker_corpus", [{**SECRETS_CORPUS, "secrets": {"creds.json": "{}"}}])
def test_a_missing_secret_is_named(arkworker_run, make_app):
    run = arkworker_run(make_app())
    assert run.exit_code == 1
    assert (
        "Error: Failed to configure this worker: Secret config.yaml is not available on the API" in run.output
    )


def test_an_unknown_worker_run_is_one_line(arkworker_run, arkworker_sandbox, make_app):
    run = arkworker_run(make_app(), env={"ARKINDEX_WORKER_RUN_ID": "22222222-2222-2222-2222-222222222222"})
    assert run.exit_code == 1
    assert run.output.splitlines()[-1] == (
        "Error: Failed to configure this worker: The worker run 22222222-2222-2222-2222-222222222222 on "
        f"{arkworker_sandbox.url} does not exist (HTTP 404): check ARKINDEX_WORKER_RUN_ID."
    )


def test_a_wrong_token_is_one_line(arkworker_run, make_app):
    run = arkworker_run(make_app(), env={"ARKINDEX_API_TOKEN": "wrong"})
    assert run.exit_code == 1
    assert "Not allowed to read the worker run" in run.output
    assert "check ARKINDEX_API_TOKEN or ARKINDEX_TASK_TOKEN" in run.output


def test_an_unreachable_api_is_one_line(arkworker_run, make_app):
    run = arkworker_run(make_app(), env={"ARKINDEX_API_URL": "http://127.0.0.1:9"})
    assert run.exit_code == 1
    assert run.output.splitlines()[-1].startswith(
        "Error: Could not load the Arkindex API schema from http://127.0.0.1:9 (connection refused)."
    )
    assert "Traceback" not in run.output


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "ARKWORKER_RETRY_ATTEMPTS",
            "0",
            "ARKWORKER_RETRY_ATTEMPTS='0' is not valid: expected a whole number >= 1.",
        ),
        (
            "ARKWORKER_RETRY_BACKOFF",
            "soon",
            "ARKWORKER_RETRY_BACKOFF='soon' is not valid: expected a number >= 0.",
        ),
    ],
)
def test_bad_retry_settings(arkworker_run, make_app, variable, value, message):
    run = arkworker_run(make_app(), env={variable: value})
    assert run.exit_code == 2
    assert run.output == f"Error: {message}\n"


def test_retry_schedule():
    assert [RetryPolicy().wait(n) for n in (1, 2, 3, 4)] == [3, 4, 8, 16]
    assert RetryPolicy(backoff=0.5).wait(4) == 8
    assert RetryPolicy.from_env(
        {"ARKWORKER_RETRY_ATTEMPTS": "2", "ARKWORKER_RETRY_BACKOFF": "0"}
    ) == RetryPolicy(2, 0)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, {"worker_run_id": None, "debug": False, "task_chunk": None}),
        (
            {"ARKINDEX_WORKER_RUN_ID": "", "ARKINDEX_TASK_CHUNK": ""},
            {"worker_run_id": None, "task_chunk": None},
        ),
        ({"ARKINDEX_DEBUG": "0"}, {"debug": False}),
        ({"ARKINDEX_DEBUG": "False"}, {"debug": False}),
        ({"ARKINDEX_DEBUG": "1"}, {"debug": True}),
        ({"ARKINDEX_DEBUG": "yes"}, {"debug": True}),
        ({"ARKINDEX_TASK_CHUNK": "2"}, {"task_chunk": "2"}),
    ],
)
def test_environment_rules(variables, expected):
    environment = Environment.from_env({"HOME": "/home/u", **variables})
    for name, value in expected.items():
        assert getattr(environment, name) == value


def test_directories(tmp_path):
    assert Environment.from_env({"HOME": "/home/u"}).work_dir.as_posix() == "/home/u/.local/share/arkindex"
    assert Environment.from_env({"XDG_DATA_HOME": "/x"}).work_dir.as_posix() == "/x/arkindex"
    ponos = Environment.from_env({"PONOS_DATA": "/data", "XDG_DATA_HOME": "/x"})
    assert ponos.work_dir.as_posix() == "/data/current"
    assert ponos.task_data_dir.as_posix() == "/data"
    assert Environment.from_env({}).task_data_dir.as_posix() == "/data"


@pytest.mark.parametrize(
    "arkworker_corpus", [legacy(with_worker_run(configuration={"configuration": {"debug": True}}))]
)
def test_debug_from_user_configuration(arkworker_run, make_app):
    run = arkworker_run(make_app())
    assert "DEBUG/arkworker" in run.output


def test_arkindex_debug_variable(arkworker_run, make_app):
    assert "DEBUG/arkworker" in arkworker_run(make_app(), env={"ARKINDEX_DEBUG": "1"}).output
    assert "DEBUG/arkworker" not in arkworker_run(make_app(), env={"ARKINDEX_DEBUG": "false"}).output
