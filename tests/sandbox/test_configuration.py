"""RetrieveWorkerRunConfiguration: the worker run's {key, value, secret} items, from the corpus file."""

from __future__ import annotations

from typing import Any

import pytest
from arkindex import ArkindexClient
from arkindex.exceptions import ArkindexClientError

from arkworker.sandbox import CorpusError, Sandbox

UNKNOWN = "00000000-0000-4000-8000-000000000000"
FIELDS = [
    {"key": "threshold", "display_name": "Threshold", "type": "float", "default": 0.5},
    {"key": "model_name", "type": "string"},
    {"key": "labels", "type": "string", "many": True, "default": ["a", "b"]},
    {"key": "token", "type": "secret", "default": "demo/api-key.txt"},
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


def configuration(corpus: dict[str, Any], tmp_path) -> list[dict[str, Any]]:
    with Sandbox(corpus, db_path=tmp_path / "state.sqlite") as sandbox:
        client = ArkindexClient(base_url=sandbox.url, token=sandbox.token)
        answer = client.request("RetrieveWorkerRunConfiguration", id=sandbox.worker_run_id)
    assert set(answer) == {"configuration"}
    return answer["configuration"]


def run_corpus(**worker_run: Any) -> dict[str, Any]:
    return {"corpus": {"name": "Configured"}, "worker_run": worker_run}


def test_declared_fields_resolved_against_the_run_values(tmp_path):
    corpus = run_corpus(
        version={"fields": FIELDS},
        configuration={"configuration": {"threshold": 0.8, "advanced.dropout": 0.2, "token": "other.json"}},
    )
    assert configuration(corpus, tmp_path) == [
        {"key": "threshold", "value": 0.8, "secret": False},
        {"key": "model_name", "value": None, "secret": False},
        {"key": "labels", "value": ["a", "b"], "secret": False},
        {"key": "token", "value": "other.json", "secret": True},
        {"key": "optional_token", "value": None, "secret": True},
        {"key": "advanced.dropout", "value": 0.2, "secret": False},
        {"key": "advanced.layers", "value": 4, "secret": False},
    ]


def test_no_fields_and_no_configuration_is_an_empty_list(tmp_path):
    assert configuration(run_corpus(), tmp_path) == []
    assert configuration(run_corpus(version={"fields": []}), tmp_path) == []


def test_the_demo_corpus_derives_its_fields_from_the_legacy_configuration(client, sb):
    answer = client.request("RetrieveWorkerRunConfiguration", id=sb.worker_run_id)
    assert answer == {
        "configuration": [
            {"key": "threshold", "value": 0.5, "secret": False},
            {"key": "batch_size", "value": 1, "secret": False},
            {"key": "demo/api-key.txt", "value": "demo/api-key.txt", "secret": True},
        ]
    }


def test_derived_fields_follow_the_legacy_precedence(tmp_path):
    version_configuration = {
        "configuration": {"p": 0, "static": "s"},
        "user_configuration": {
            "p": {"default": 1},
            "static": {"title": "No default"},
            "free": {"type": "int"},
        },
        "secrets": ["key.json"],
    }
    corpus = run_corpus(
        version={"configuration": version_configuration},
        configuration={"configuration": {"free": 7, "run_only": True}},
    )
    assert configuration(corpus, tmp_path) == [
        {"key": "p", "value": 1, "secret": False},
        {"key": "static", "value": "s", "secret": False},
        {"key": "free", "value": 7, "secret": False},
        {"key": "key.json", "value": "key.json", "secret": True},
        {"key": "run_only", "value": True, "secret": False},
    ]


def test_unknown_worker_run_is_404(client):
    with pytest.raises(ArkindexClientError) as info:
        client.request("RetrieveWorkerRunConfiguration", id=UNKNOWN)
    assert info.value.status_code == 404


def test_path(client):
    assert client.lookup_operation("RetrieveWorkerRunConfiguration").url == (
        "/api/v1/workers/runs/{id}/configuration/"
    )


@pytest.mark.parametrize(
    ("worker_run", "expected"),
    [
        (
            {"version": {"fields": [{"type": "int"}]}},
            "worker_run.version.fields[0]: missing 'key'",
        ),
        (
            {"version": {"fields": [{"key": "x", "type": "integer"}]}},
            "worker_run.version.fields[0].type: 'integer' is not one of bool, corpus_export",
        ),
        (
            {"version": {"fields": [{"key": "x", "unknown": 1}]}},
            "worker_run.version.fields[0]: unknown key 'unknown'",
        ),
        (
            {"version": {"fields": [{"key": "x"}, {"key": " x "}]}},
            "worker_run.version.fields[1].key: duplicate configuration key 'x'",
        ),
        (
            {
                "version": {
                    "fields": [{"key": "g", "type": "group", "children": [{"key": "x"}]}, {"key": "g.x"}]
                }
            },
            "worker_run.version.fields[1].key: duplicate configuration key 'g.x'",
        ),
        (
            {"version": {"fields": [{"key": "g", "type": "group"}]}},
            "worker_run.version.fields[0]: a group needs 'children'",
        ),
        (
            {"version": {"fields": [{"key": "g", "type": "group", "children": []}]}},
            "worker_run.version.fields[0].children: a group needs at least one child field",
        ),
        (
            {
                "version": {
                    "fields": [{"key": "g", "type": "group", "default": {}, "children": [{"key": "x"}]}]
                }
            },
            "worker_run.version.fields[0].default: a group has no default",
        ),
        (
            {
                "version": {
                    "fields": [
                        {
                            "key": "g",
                            "type": "group",
                            "children": [{"key": "h", "type": "group", "children": []}],
                        }
                    ]
                }
            },
            "worker_run.version.fields[0].children[0].type: a group cannot contain another group",
        ),
        (
            {"version": {"fields": [{"key": "x", "children": [{"key": "y"}]}]}},
            "worker_run.version.fields[0].children: only a field of type group has children",
        ),
        (
            {"version": {"fields": [{"key": "s", "type": "secret", "default": 3}]}},
            "worker_run.version.fields[0].default: a secret's default is the secret's name, a string; got int 3",
        ),
        (
            {"version": {"fields": [{"key": "x"}]}, "configuration": {"configuration": {"y": 1}}},
            "worker_run.configuration.configuration.y: not a field of the worker version (fields: x)",
        ),
        (
            {
                "version": {"fields": [{"key": "s", "type": "secret"}]},
                "configuration": {"configuration": {"s": ["a"]}},
            },
            "worker_run.configuration.configuration.s: a secret's value is the secret's name, a string",
        ),
    ],
)
def test_field_errors_name_the_location(worker_run, expected):
    with pytest.raises(CorpusError) as info:
        Sandbox(run_corpus(**worker_run))
    assert expected in str(info.value)
    assert "\n" not in str(info.value)
