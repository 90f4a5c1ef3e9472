"""Entity helpers over HTTP against the sandbox: types, entities, transcription entities, cache.

Entity types are in both generations; the entities themselves follow the instance's model:
objects placed in texts (legacy), spans marked with entity types (today's Arkindex).
"""

import pytest
from arkindex import ArkindexClient

from arkworker import InvalidArgument, MissingEntityType, OperationUnavailable
from arkworker.models import Transcription
from tests.conftest import requests_of

from .conftest import both_levels, cache_rows, hexid, legacy

FAKE = Transcription(id="00000000-0000-4000-8000-000000000000", text="t")


@both_levels
def test_entity_types_are_loaded_and_created(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        loaded = dict(ctx.list_corpus_entity_types())
        with pytest.raises(MissingEntityType, match="Entity type `date` was not in the corpus"):
            ctx.check_required_entity_types(["person", "date"], create_missing=False)
        ctx.check_required_entity_types(["person", "date"])
        return loaded, dict(ctx.entity_types)

    (loaded, after), _ = call_helpers(handler)
    assert sorted(loaded) == ["person", "place"]
    (date,) = arkworker_sandbox.objects("entity_types", name="date")
    assert after["date"] == date["id"]
    assert requests_of(arkworker_sandbox, "CreateEntityType")[0].body == {
        "name": "date",
        "corpus": arkworker_sandbox.corpus_id,
    }


@both_levels
def test_an_entity_type_created_meanwhile_is_picked_up(call_helpers, arkworker_sandbox):
    client = ArkindexClient(base_url=arkworker_sandbox.url, token=arkworker_sandbox.token)

    def handler(element, ctx):
        ctx.list_corpus_entity_types()
        client.request("CreateEntityType", body={"name": "date", "corpus": ctx.corpus_id})  # another process
        ctx.check_required_entity_types(["date"])
        return ctx.entity_types["date"]

    date, run = call_helpers(handler)
    assert [row["id"] for row in arkworker_sandbox.objects("entity_types", name="date")] == [date]
    assert "Unable to create the entity type `date`. Refreshing corpus entity types cache." in run.output


@legacy
def test_create_entity(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match="Entity type `city` not found in the corpus"):
            ctx.create_entity("Lyon", "city")
        return ctx.create_entity("Lyon", "place", metas={"country": "France"}, validated=True)

    entity_id, run = call_helpers(handler)
    (row,) = run.created["entities"]
    assert (row["id"], row["name"], row["metas"], row["validated"]) == (
        entity_id,
        "Lyon",
        {"country": "France"},
        True,
    )
    body = requests_of(arkworker_sandbox, "CreateEntity")[0].body
    (place,) = arkworker_sandbox.objects("entity_types", name="place")
    assert body == {
        "name": "Lyon",
        "type_id": place["id"],
        "metas": {"country": "France"},
        "validated": True,
        "corpus": arkworker_sandbox.corpus_id,
        "worker_run_id": arkworker_sandbox.worker_run_id,
    }


@legacy
def test_transcription_entities(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        transcription = ctx.create_transcription(element, "Letter from Paris to Lyon", 1.0)
        paris = next(iter(ctx.list_corpus_entities(name="par")))
        single = ctx.create_transcription_entity(transcription, paris, offset=12, length=5, confidence=0.5)
        place = ctx.list_corpus_entity_types()["place"]
        bulk = ctx.create_transcription_entities(
            transcription,
            [
                {"name": "Lyon", "type_id": place, "offset": 21, "length": 4},
                {"name": "Letter", "type_id": place, "offset": 0, "length": 6, "confidence": 0.25},
            ],
            batch_size=1,
        )
        listed = ctx.list_transcription_entities(transcription)
        mine = ctx.list_transcription_entities(transcription, worker_run=ctx.worker_run_id)
        linked = ctx.list_corpus_entities(parent=element)
        return (
            single,
            bulk,
            [(e.entity.name, e.offset) for e in listed],
            len(list(mine)),
            sorted(e.name for e in linked.values()),
        )

    (single, bulk, listed, mine, linked), run = call_helpers(handler)
    assert single["offset"] == 12 and single["confidence"] == 0.5
    assert [b["entity_id"] for b in bulk] == [row["id"] for row in run.created["entities"]]
    assert listed == [("Letter", 0), ("Paris", 12), ("Lyon", 21)]
    assert mine == 3
    assert linked == ["Letter", "Lyon", "Paris"]
    assert [
        len(r.body["entities"]) for r in requests_of(arkworker_sandbox, "CreateTranscriptionEntities")
    ] == [1, 1]
    assert len(run.created["transcription_entities"]) == 3


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ctx, t: ctx.create_entity_type(""), "name must be a non-empty string"),
        (
            lambda ctx, t: ctx.check_required_entity_types(["person", 3]),
            "Entity type at index 1 in entity_types: the type name must be a non-empty string",
        ),
        (
            lambda ctx, t: ctx.create_transcription_entity({"id": "x"}, "e", 0, 1),
            "transcription must be a Transcription",
        ),
        (lambda ctx, t: ctx.create_transcription_entity(t, "e", -1, 1), "offset must be an integer >= 0"),
        (lambda ctx, t: ctx.create_transcription_entity(t, "e", 0, 0), "length must be an integer >= 1"),
        (
            lambda ctx, t: ctx.create_transcription_entity(t, "e", 0, 1, confidence=1),
            "confidence must be a float",
        ),
        (lambda ctx, t: ctx.create_transcription_entities(t, []), "entities must be a non-empty list"),
        (
            lambda ctx, t: ctx.create_transcription_entities(
                t, [{"name": "a", "type_id": "t", "offset": 0, "length": 1}] * 2
            ),
            "Entity at index 1 in entities: the same entity",
        ),
        (lambda ctx, t: ctx.create_entity("", "place"), "name must be a non-empty string"),
        (lambda ctx, t: ctx.create_entity("a", "place", metas=[1]), "metas must be a dict"),
        (lambda ctx, t: ctx.list_corpus_entities(parent="abc"), "parent must be an Element"),
        (lambda ctx, t: ctx.list_corpus_entities(name=""), "name must be a non-empty string"),
        (
            lambda ctx, t: ctx.list_transcription_entities(t, worker_version=True),
            "worker_version must be an id or False",
        ),
    ],
)
@legacy
def test_validation(call_helpers, arkworker_sandbox, call, message):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match=message):
            call(ctx, Transcription(id="00000000-0000-4000-8000-000000000000", text="t"))

    call_helpers(handler)
    assert [r for r in arkworker_sandbox.requests if r.method == "POST"] == []


@legacy
def test_read_only_mode(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        transcription = Transcription(next(iter(ctx.list_transcriptions(element))))
        ctx.check_required_entity_types(["date"])
        return [
            ctx.create_entity("Lyon", "place"),
            ctx.create_transcription_entity(transcription, "e", 0, 1),
            ctx.create_transcription_entities(
                transcription, [{"name": "a", "type_id": "t", "offset": 0, "length": 1}]
            ),
        ]

    results, run = call_helpers(handler, "--dev")
    assert results == [None, None, None]
    assert "Cannot create entity type `date` as this worker is in read-only mode" in run.output
    assert "Cannot create transcription entities in bulk as this worker is in read-only mode" in run.output
    assert all(record.method == "GET" for record in arkworker_sandbox.requests)
    assert not arkworker_sandbox.objects("entity_types", name="date")


@legacy
def test_cache_rows(call_helpers, arkworker_sandbox, cache_path):
    def handler(element, ctx):
        transcription = ctx.create_transcription(element, "Lyon", 1.0)
        entity = ctx.create_entity("Lyon", "place")
        ctx.create_transcription_entity(transcription, entity, 0, 4, confidence=0.5)
        return transcription["id"], entity

    (transcription_id, entity_id), _ = call_helpers(handler, "--database", str(cache_path))
    run_id = hexid(arkworker_sandbox.worker_run_id)
    assert cache_rows(cache_path, "entities") == [
        {
            "id": hexid(entity_id),
            "type": "place",
            "name": "Lyon",
            "validated": 0,
            "metas": "{}",
            "worker_run_id": run_id,
        }
    ]
    assert cache_rows(cache_path, "transcription_entities") == [
        {
            "transcription_id": hexid(transcription_id),
            "entity_id": hexid(entity_id),
            "offset": 0,
            "length": 4,
            "worker_run_id": run_id,
            "confidence": 0.5,
        }
    ]


@legacy
def test_list_corpus_entities_follows_pages(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        for index in range(25):
            ctx.create_entity(f"Person {index}", "person")
        return ctx.list_corpus_entities(), ctx.entities

    (entities, stored), _ = call_helpers(handler)
    assert len(entities) == 26 and stored == entities
    assert all(isinstance(key, str) and value.id == key for key, value in entities.items())
    assert len(requests_of(arkworker_sandbox, "ListCorpusEntities")) == 2


@both_levels
def test_list_transcription_entities_follows_pages_and_filters(call_helpers, arkworker_sandbox):
    legacy_level = arkworker_sandbox.api_level == "legacy"

    def handler(element, ctx):
        transcription = ctx.create_transcription(element, "x" * 30, 1.0)
        person = ctx.list_corpus_entity_types()["person"]
        entities = [{"type_id": person, "offset": i, "length": 1} for i in range(25)]
        if legacy_level:
            entities = [{"name": f"P{i}", **item} for i, item in enumerate(entities)]
        ctx.create_transcription_entities(transcription, entities, batch_size=10)
        listed = ctx.list_transcription_entities(transcription)
        return (
            len(listed),
            [item.entity.name if legacy_level else item.type.name for item in listed],
            len(list(ctx.list_transcription_entities(transcription, worker_run=False))),
            len(list(ctx.list_transcription_entities(transcription, worker_run=ctx.worker_run_id))),
        )

    (count, names, manual, mine), _ = call_helpers(handler)
    assert count == 25
    assert sorted(names) == (sorted(f"P{i}" for i in range(25)) if legacy_level else ["person"] * 25)
    assert (manual, mine) == (0, 25)
    assert len(requests_of(arkworker_sandbox, "ListTranscriptionEntities")) == 2 + 1 + 2


# -- today's entity model: spans marked with entity types ------------------------------------------------


def test_spans_of_entity_types(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        transcription = ctx.create_transcription(element, "Letter from Paris to Lyon", 1.0)
        place = ctx.list_corpus_entity_types()["place"]
        single = ctx.create_transcription_entity(transcription, place, offset=12, length=5, confidence=0.5)
        bulk = ctx.create_transcription_entities(
            transcription,
            [
                {"type_id": place, "offset": 21, "length": 4},
                {"type_id": place, "offset": 0, "length": 6, "confidence": 0.25},
            ],
            batch_size=1,
        )
        listed = ctx.list_transcription_entities(transcription)
        return single, bulk, [(item.type.name, item.offset) for item in listed]

    (single, bulk, listed), run = call_helpers(handler)
    assert (single["type"]["name"], single["offset"], single["length"], single["confidence"]) == (
        "place",
        12,
        5,
        0.5,
    )
    assert [item["offset"] for item in bulk] == [21, 0]
    assert listed == [("place", 0), ("place", 12), ("place", 21)]
    rows = run.created["transcription_entities"]
    assert sorted(item["id"] for item in [single, *bulk]) == sorted(row["id"] for row in rows)
    assert "entities" not in run.created
    assert [
        len(r.body["transcription_entities"])
        for r in requests_of(arkworker_sandbox, "CreateTranscriptionEntities")
    ] == [1, 1]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda ctx, t, place: ctx.create_transcription_entity(t, entity=place, offset=0, length=1),
            r"entity= is arkindex-base-worker 0.3.7's form, but .* is today's Arkindex, which has no entity "
            r"objects: mark the span with an entity type",
        ),
        (
            lambda ctx, t, place: ctx.create_transcription_entity(t, place, 0, 1, entity=place),
            "give the entity type .* or the entity .*, not both",
        ),
        (
            lambda ctx, t, place: ctx.create_transcription_entity(t, None, 0, 1),
            "type_id must be a non-empty string",
        ),
        (
            lambda ctx, t, place: ctx.create_transcription_entity(t, place, length=1),
            "offset must be an integer",
        ),
        (
            lambda ctx, t, place: ctx.create_transcription_entities(
                t, [{"name": "Lyon", "type_id": place, "offset": 0, "length": 1}]
            ),
            "Entity at index 0 in entities: name is arkindex-base-worker 0.3.7's, but .* has no entity names",
        ),
        (
            lambda ctx, t, place: ctx.create_transcription_entities(
                t, [{"type_id": place, "offset": 0, "length": 1}] * 2
            ),
            r"Entity at index 1 in entities: the same entity \(offset, length, type_id\) is given twice",
        ),
        (
            lambda ctx, t, place: ctx.create_entity("Lyon", "place"),
            r"ctx.create_entity\(\) needs the CreateEntity operation, which .* \(API level current\) does not "
            r"offer: today's Arkindex removed it: entities are spans",
        ),
        (
            lambda ctx, t, place: ctx.list_corpus_entities(),
            r"ctx.list_corpus_entities\(\) needs the ListCorpusEntities operation",
        ),
    ],
)
def test_today_s_forms_are_checked(call_helpers, arkworker_sandbox, call, message):
    (place,) = arkworker_sandbox.objects("entity_types", name="place")

    def handler(element, ctx):
        with pytest.raises((InvalidArgument, OperationUnavailable), match=message):
            call(ctx, FAKE, place["id"])

    call_helpers(handler)
    assert [r for r in arkworker_sandbox.requests if r.method == "POST"] == []


@legacy
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda ctx, t, place: ctx.create_transcription_entities(
                t, [{"type_id": place, "offset": 0, "length": 1}]
            ),
            "Entity at index 0 in entities: name is required by .*, a legacy Arkindex, which creates an entity per item",
        ),
        (
            lambda ctx, t, place: ctx.create_transcription_entity(t, place, 0, 1),
            "is the id of the entity type `place`, but .* is a legacy Arkindex, which places entities "
            r"\(arkindex-base-worker 0.3.7's form\): create one with ctx.create_entity\(name, 'place'\)",
        ),
    ],
)
def test_the_legacy_forms_are_checked(call_helpers, arkworker_sandbox, call, message):
    (place,) = arkworker_sandbox.objects("entity_types", name="place")

    def handler(element, ctx):
        ctx.list_corpus_entity_types()
        with pytest.raises(InvalidArgument, match=message):
            call(ctx, FAKE, place["id"])

    call_helpers(handler)
    assert [r for r in arkworker_sandbox.requests if r.method == "POST"] == []


def test_today_s_read_only_mode(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        transcription = Transcription(next(iter(ctx.list_transcriptions(element))))
        place = ctx.list_corpus_entity_types()["place"]
        ctx.create_entity_type("date")
        return [
            ctx.create_transcription_entity(transcription, place, 0, 1),
            ctx.create_transcription_entities(transcription, [{"type_id": place, "offset": 0, "length": 1}]),
        ]

    results, run = call_helpers(handler, "--dev")
    assert results == [None, None]
    assert "Cannot create entity type `date` as this worker is in read-only mode" in run.output
    assert "Cannot create transcription entity as this worker is in read-only mode" in run.output
    assert all(record.method == "GET" for record in arkworker_sandbox.requests)
