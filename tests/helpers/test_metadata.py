"""Metadata helpers over HTTP against the sandbox."""

import pytest
from arkindex import ArkindexClient
from arkindex.exceptions import ArkindexValidationError

from arkworker import InvalidArgument, MetaType
from arkworker.sandbox.report import format_report
from tests.conftest import requests_of

from .conftest import both_levels, legacy


@legacy
def test_create_metadata(call_helpers, arkworker_sandbox):
    (paris,) = arkworker_sandbox.objects("entities", name="Paris")
    metadata_id, run = call_helpers(
        lambda element, ctx: ctx.create_metadata(
            element, MetaType.Reference, "born in", "Paris", entity=paris["id"]
        )
    )
    (row,) = run.created["metadata"]
    assert (row["id"], row["type"], row["name"], row["value"]) == (
        metadata_id,
        "reference",
        "born in",
        "Paris",
    )
    assert row["entity_id"] == paris["id"]
    assert requests_of(arkworker_sandbox, "CreateMetaData")[0].body == {
        "type": "reference",
        "name": "born in",
        "value": "Paris",
        "entity_id": paris["id"],
        "worker_run_id": arkworker_sandbox.worker_run_id,
    }


def test_today_s_arkindex_links_no_metadata_to_entities(call_helpers, arkworker_sandbox):
    (paris,) = arkworker_sandbox.objects("entities", name="Paris")

    def handler(element, ctx):
        with pytest.raises(
            InvalidArgument, match=r"entity=\.\.\.\) links the metadata to an entity, but .* is today's"
        ):
            ctx.create_metadata(element, MetaType.Reference, "born in", "Paris", entity=paris["id"])
        with pytest.raises(
            InvalidArgument, match="Metadata at index 0 in metadata_list: entity_id links the"
        ):
            ctx.create_metadata_bulk(
                element, [{"type": "text", "name": "n", "value": "v", "entity_id": paris["id"]}]
            )
        return ctx.create_metadata_bulk(
            element, [{"type": "text", "name": "n", "value": "v", "entity_id": None}]
        )

    (created,), _ = call_helpers(handler)
    assert "entity_id" not in created
    (record,) = requests_of(arkworker_sandbox, "CreateMetaDataBulk")
    assert record.body["metadata_list"] == [{"type": "text", "name": "n", "value": "v"}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("text", "", "v"), "name must be a non-empty string"),
        (("color", "n", "v"), "type must be a MetaType"),
        ((MetaType.Numeric, "n", 12), "value must be a non-empty string"),
    ],
)
def test_create_metadata_validation(call_helpers, arkworker_sandbox, args, message):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match=message):
            ctx.create_metadata(element, *args)

    call_helpers(handler)
    assert requests_of(arkworker_sandbox, "CreateMetaData") == []


def test_the_sandbox_checks_values_by_type(call_helpers):
    def handler(element, ctx):
        with pytest.raises(ArkindexValidationError, match="is not a valid number"):
            ctx.create_metadata(element, MetaType.Numeric, "pages", "many")

    call_helpers(handler)


@both_levels
def test_create_metadata_bulk_in_batches(call_helpers, arkworker_sandbox):
    items = [{"type": MetaType.Numeric, "name": f"n{i}", "value": i} for i in range(5)]
    created, run = call_helpers(lambda element, ctx: ctx.create_metadata_bulk(element, items, batch_size=2))
    assert [m["name"] for m in created] == [f"n{i}" for i in range(5)]
    assert [m["id"] for m in created] == [row["id"] for row in run.created["metadata"]]
    assert [row["value"] for row in run.created["metadata"]] == ["0", "1", "2", "3", "4"]
    records = requests_of(arkworker_sandbox, "CreateMetaDataBulk")
    assert [len(r.body["metadata_list"]) for r in records] == [2, 2, 1]
    entity = {"entity_id": None} if arkworker_sandbox.api_level == "legacy" else {}
    assert records[0].body["metadata_list"][0] == {"type": "numeric", "name": "n0", "value": 0, **entity}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([], "metadata_list must be a non-empty list"),
        (
            [{"type": "text", "name": "a", "value": None}],
            "Metadata at index 0 in metadata_list: value must be",
        ),
        ([{"type": "text", "name": "a", "value": "b", "entity_id": 3}], "entity_id must be a string or None"),
        (
            [{"type": "text", "name": "a", "value": "b"}, "text"],
            "Metadata at index 1 in metadata_list: must be a dict",
        ),
    ],
)
def test_create_metadata_bulk_validation(call_helpers, arkworker_sandbox, items, message):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match=message):
            ctx.create_metadata_bulk(element, items)

    call_helpers(handler)
    assert requests_of(arkworker_sandbox, "CreateMetaDataBulk") == []


def test_list_element_metadata(call_helpers):
    def handler(element, ctx):
        own = ctx.list_element_metadata(element)
        return [m.name for m in own], [m.name for m in ctx.list_element_metadata(element, load_parents=True)]

    (own, with_parents), _ = call_helpers(handler)
    assert own == ["place"]
    assert with_parents == ["place", "collection"]


def test_read_only_mode(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        return [
            ctx.create_metadata(element, MetaType.Text, "a", "b"),
            ctx.create_metadata_bulk(element, [{"type": "text", "name": "a", "value": "b"}]),
        ]

    results, run = call_helpers(handler, "--dev")
    assert results == [None, None]
    assert "Cannot create metadata as this worker is in read-only mode" in run.output
    assert all(record.method == "GET" for record in arkworker_sandbox.requests)


@legacy
def test_the_run_report_shows_metadata_and_entities(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        ctx.create_metadata(element, MetaType.Text, "folio", "12r")
        ctx.create_entity("Lyon", "place")

    call_helpers(handler)
    report = format_report(arkworker_sandbox)
    assert "1 entity, 1 metadata" in report
    assert "page Page 1  text  folio  12r" in report
    assert "Lyon  no" in report


@both_levels
def test_html_became_markdown(call_helpers, arkworker_sandbox):
    legacy_level = arkworker_sandbox.api_level == "legacy"
    own, other = (MetaType.HTML, MetaType.Markdown) if legacy_level else (MetaType.Markdown, MetaType.HTML)

    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match=f"type {other.value} is .* which has {own.value} instead"):
            ctx.create_metadata(element, other, "notes", "*text*")
        with pytest.raises(InvalidArgument, match="Metadata at index 0 in metadata_list: type"):
            ctx.create_metadata_bulk(element, [{"type": other.value, "name": "notes", "value": "v"}])
        ctx.create_metadata(element, own, "notes", "*text*")

    _, run = call_helpers(handler)
    assert [row["type"] for row in run.created["metadata"]] == [own.value]
    (record,) = requests_of(arkworker_sandbox, "CreateMetaData")
    assert record.body["type"] == own.value


@both_levels
def test_the_sandbox_knows_each_level_s_types_and_entity_links(arkworker_sandbox):
    client = ArkindexClient(base_url=arkworker_sandbox.url, token=arkworker_sandbox.token)
    (page,) = arkworker_sandbox.objects("elements", name="Page 1")
    (paris,) = arkworker_sandbox.objects("entities", name="Paris")
    legacy_level = arkworker_sandbox.api_level == "legacy"
    other = "markdown" if legacy_level else "html"
    with pytest.raises(ArkindexValidationError, match="is not a valid choice"):
        client.request("CreateMetaData", id=page["id"], body={"type": other, "name": "n", "value": "v"})
    body = {"type": "reference", "name": "place", "value": "Paris", "entity_id": paris["id"]}
    client.request("CreateMetaData", id=page["id"], body=body)
    (row,) = arkworker_sandbox.objects("metadata", element_id=page["id"], name="place", worker_run_id=None)[
        -1:
    ]
    assert row["entity_id"] == (paris["id"] if legacy_level else None)  # no such field today: ignored
