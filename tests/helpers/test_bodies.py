"""The request bodies of the write helpers are the reference's, worker_run_id included, per generation."""

import uuid

from arkworker import MetaType
from tests.conftest import requests_of

from .conftest import SQUARE, both_levels, legacy


@both_levels
def test_bodies_of_the_write_helpers(call_helpers, arkworker_sandbox, named):
    (image,) = arkworker_sandbox.objects("images")

    def handler(element, ctx):
        ctx.create_classifications(element, [{"ml_class": "cat", "confidence": 0.5}])
        ctx.create_element_transcriptions(
            element, "word", [{"text": "w", "confidence": 0.5, "polygon": SQUARE}]
        )
        ctx.create_elements(element, [{"name": "e", "type": "word", "polygon": SQUARE}])
        ctx.create_metadata(element, MetaType.Text, "folio", "1r")
        ctx.create_metadata_bulk(element, [{"type": MetaType.Text, "name": "n", "value": "v"}])
        ctx.partial_update_element(element, image=uuid.UUID(image["id"]), polygon=[(0, 0), (0, 9), (9, 9)])
        return ctx.classes["cat"]

    cat, _ = call_helpers(handler)
    run = arkworker_sandbox.worker_run_id
    # Today's Arkindex has no entities: its metadata bodies have no entity_id (0.5).
    entity = {"entity_id": None} if arkworker_sandbox.api_level == "legacy" else {}
    assert requests_of(arkworker_sandbox, "CreateMLClass")[0].body == {"name": "cat"}
    assert requests_of(arkworker_sandbox, "CreateClassifications")[0].body == {
        "parent": named("Page 1"),
        "worker_run_id": run,
        "classifications": [{"ml_class": cat, "confidence": 0.5}],
    }
    assert requests_of(arkworker_sandbox, "CreateElementTranscriptions")[0].body == {
        "element_type": "word",
        "worker_run_id": run,
        "transcriptions": [
            {"text": "w", "confidence": 0.5, "orientation": "horizontal-lr", "polygon": SQUARE}
        ],
        "return_elements": True,
    }
    assert requests_of(arkworker_sandbox, "CreateElements")[0].body == {
        "worker_run_id": run,
        "elements": [{"name": "e", "type": "word", "polygon": SQUARE}],
    }
    assert requests_of(arkworker_sandbox, "CreateMetaData")[0].body == {
        "type": "text",
        "name": "folio",
        "value": "1r",
        **entity,
        "worker_run_id": run,
    }
    assert requests_of(arkworker_sandbox, "CreateMetaDataBulk")[0].body == {
        "worker_run_id": run,
        "metadata_list": [{"type": "text", "name": "n", "value": "v", **entity}],
    }
    assert requests_of(arkworker_sandbox, "PartialUpdateElement")[0].body == {
        "image": image["id"],
        "polygon": [[0, 0], [0, 9], [9, 9]],
    }


@legacy
def test_bodies_of_the_legacy_entity_helpers(call_helpers, arkworker_sandbox):
    (place,) = arkworker_sandbox.objects("entity_types", name="place")

    def handler(element, ctx):
        transcription = ctx.create_transcription(element, "Paris and Lyon", 1.0)
        entity = ctx.create_entity("Paris", "place")
        ctx.create_transcription_entity(transcription, entity, 0, 5)
        ctx.create_transcription_entity(transcription, entity=entity, offset=10, length=4, confidence=0.5)
        ctx.create_transcription_entities(
            transcription, [{"name": "Lyon", "type_id": place["id"], "offset": 10, "length": 4}]
        )
        return entity, ctx.entity_types["place"]

    (entity_id, place_id), _ = call_helpers(handler)
    run = arkworker_sandbox.worker_run_id
    assert requests_of(arkworker_sandbox, "CreateEntity")[0].body == {
        "name": "Paris",
        "type_id": place_id,
        "metas": {},
        "validated": None,
        "corpus": arkworker_sandbox.corpus_id,
        "worker_run_id": run,
    }
    single, scored = requests_of(arkworker_sandbox, "CreateTranscriptionEntity")
    assert single.path.endswith("/entity/")
    assert single.body == {"entity": entity_id, "length": 5, "offset": 0, "worker_run_id": run}
    assert scored.body == {
        "entity": entity_id,
        "length": 4,
        "offset": 10,
        "worker_run_id": run,
        "confidence": 0.5,
    }
    (bulk,) = requests_of(arkworker_sandbox, "CreateTranscriptionEntities")
    assert bulk.body == {
        "worker_run_id": run,
        "entities": [{"name": "Lyon", "type_id": place["id"], "offset": 10, "length": 4}],
    }


def test_bodies_of_the_entity_helpers_of_today(call_helpers, arkworker_sandbox):
    (place,) = arkworker_sandbox.objects("entity_types", name="place")

    def handler(element, ctx):
        transcription = ctx.create_transcription(element, "Paris and Lyon", 1.0)
        ctx.create_transcription_entity(transcription, place["id"], 0, 5)
        ctx.create_transcription_entity(
            transcription, type_id=place["id"], offset=10, length=4, confidence=0.5
        )
        ctx.create_transcription_entities(
            transcription, [{"type_id": place["id"], "offset": 6, "length": 3, "confidence": 0.25}]
        )
        ctx.create_entity_type("date")
        ctx.check_required_types(["Chapter"], create_missing=True)

    call_helpers(handler)
    run = arkworker_sandbox.worker_run_id
    single, scored = requests_of(arkworker_sandbox, "CreateTranscriptionEntity")
    assert single.path.endswith("/entities/")
    assert single.body == {"type_id": place["id"], "length": 5, "offset": 0, "worker_run_id": run}
    assert scored.body == {
        "type_id": place["id"],
        "length": 4,
        "offset": 10,
        "worker_run_id": run,
        "confidence": 0.5,
    }
    (bulk,) = requests_of(arkworker_sandbox, "CreateTranscriptionEntities")
    assert bulk.body == {
        "worker_run_id": run,
        "transcription_entities": [{"type_id": place["id"], "offset": 6, "length": 3, "confidence": 0.25}],
    }
    assert requests_of(arkworker_sandbox, "CreateEntityType")[0].body == {
        "name": "date",
        "corpus": arkworker_sandbox.corpus_id,
    }
    assert requests_of(arkworker_sandbox, "CreateElementType")[0].body == {
        "slug": "chapter",
        "display_name": "Chapter",
        "folder": False,
        "corpus": arkworker_sandbox.corpus_id,
    }
