"""Embeddings (arkindex-base-worker 0.6): create_embedding and list_embeddings, on today's Arkindex."""

import pytest
from arkindex import ArkindexClient
from arkindex.exceptions import ArkindexValidationError

from arkworker import InvalidArgument, OperationUnavailable
from arkworker.sandbox.report import format_report
from tests.conftest import requests_of

from .conftest import legacy


def test_embeddings_are_created_and_listed(call_helpers, arkworker_sandbox, named):
    def handler(element, ctx):
        created = ctx.create_embedding(element, [0.5, -0.25, 1e-3])
        ctx.create_embedding(element, [0.0, 1.0, 0.5])
        listed = ctx.list_embeddings(element)
        return created, len(listed), [item.value for item in listed]

    (created, count, values), run = call_helpers(handler)
    assert (created.element_id, created.value) == (named("Page 1"), [0.5, -0.25, 1e-3])
    assert created.worker_run.id == arkworker_sandbox.worker_run_id
    assert (count, values) == (2, [[0.5, -0.25, 1e-3], [0.0, 1.0, 0.5]])
    assert run.created["embeddings"][0]["id"] == created.id
    assert requests_of(arkworker_sandbox, "CreateEmbedding")[0].body == {
        "worker_run_id": arkworker_sandbox.worker_run_id,
        "value": [0.5, -0.25, 1e-3],
    }
    assert "2 embeddings" in format_report(arkworker_sandbox)


def test_embeddings_follow_pages(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        for index in range(25):
            ctx.create_embedding(element, [float(index)])
        return [item.value[0] for item in ctx.list_embeddings(element)]

    values, _ = call_helpers(handler)
    assert values == [float(index) for index in range(25)]
    assert len(requests_of(arkworker_sandbox, "ListEmbeddings")) == 2


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ctx, e: ctx.create_embedding(e, []), "value must be a non-empty list"),
        (
            lambda ctx, e: ctx.create_embedding(e, [0.5, 1]),
            r"Point at index 1 in value: must be a finite float \(such as 0.5 or 1.0\), got 1 \(int\)",
        ),
        (
            lambda ctx, e: ctx.create_embedding(e, [float("nan")]),
            "Point at index 0 in value: must be a finite",
        ),
        (lambda ctx, e: ctx.create_embedding(e.id, [0.5]), "element must be an Element"),
        (lambda ctx, e: ctx.list_embeddings(None), "element must be an Element"),
    ],
)
def test_embedding_checks(call_helpers, arkworker_sandbox, call, message):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match=message):
            call(ctx, element)

    call_helpers(handler)
    assert requests_of(arkworker_sandbox, "CreateEmbedding") == []


def test_the_sandbox_refuses_what_arkindex_refuses(arkworker_sandbox, named):
    client = ArkindexClient(base_url=arkworker_sandbox.url, token=arkworker_sandbox.token)
    page = named("Page 1")
    for body, attr in (
        ({"value": [0.5]}, ["worker_run_id"]),
        ({"worker_run_id": arkworker_sandbox.worker_run_id, "value": []}, ["value"]),
        ({"worker_run_id": arkworker_sandbox.worker_run_id, "value": [0.5, "x", True]}, ["value", 1]),
    ):
        with pytest.raises(ArkindexValidationError) as refused:
            client.request("CreateEmbedding", id=page, body=body)
        assert refused.value.content["errors"][0]["attr"] == attr
    assert arkworker_sandbox.created() == {}


@legacy
def test_a_legacy_instance_has_no_embeddings(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        with pytest.raises(OperationUnavailable, match=r"ctx.create_embedding\(\) needs the CreateEmbedding"):
            ctx.create_embedding(element, [0.5])
        with pytest.raises(OperationUnavailable, match=r"ctx.list_embeddings\(\) needs the ListEmbeddings"):
            ctx.list_embeddings(element)

    call_helpers(handler)
    assert requests_of(arkworker_sandbox, "CreateEmbedding") == []
