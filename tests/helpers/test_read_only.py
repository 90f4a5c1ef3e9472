"""Read-only mode with a cache: every write helper logs, returns None, and writes nowhere."""

import hashlib

from arkworker import ElementType, MetaType
from arkworker.models import Dataset, Set, Transcription

from .conftest import SQUARE, both_levels

FAKE_ID = "00000000-0000-4000-8000-000000000000"


@both_levels
def test_no_helper_writes_to_the_api_or_the_cache(call_helpers, arkworker_sandbox, cache_path):
    before = hashlib.sha256(cache_path.read_bytes()).hexdigest()
    fake = Transcription(id=FAKE_ID, text="t")
    dataset_set = Set(name="train", dataset=Dataset(id=FAKE_ID))
    legacy = arkworker_sandbox.api_level == "legacy"

    def handler(element, ctx):
        results = [
            ctx.create_transcription(element, "a", 0.5),
            ctx.create_transcriptions([{"element_id": str(element.id), "text": "a", "confidence": 0.5}]),
            ctx.create_element_transcriptions(
                element, "word", [{"text": "a", "confidence": 0.5, "polygon": SQUARE}]
            ),
            ctx.create_required_types([ElementType("Box", "box", False)]),
            ctx.create_element_type("box", "Box"),
            ctx.check_required_types(["Zone", "Box"], create_missing=True),
            ctx.create_sub_element(element, "word", "w"),
            ctx.create_elements(element, [{"name": "w", "type": "word", "polygon": SQUARE}]),
            ctx.create_element_parent(element, element),
            ctx.partial_update_element(element, rotation_angle=90),
            ctx.get_ml_class_id("cat"),
            ctx.create_classification(element, "cat", 0.5),
            ctx.create_classifications(element, [{"ml_class": "cat", "confidence": 0.5}]),
            ctx.check_required_entity_types(["date"]),
            ctx.create_entity_type("event"),
            ctx.create_transcription_entity(fake, "e", 0, 1),
            ctx.create_transcription_entities(
                fake,
                [{"name": "a", "type_id": "t", "offset": 0, "length": 1}]
                if legacy
                else [{"type_id": "t", "offset": 0, "length": 1}],
            ),
            ctx.create_metadata(element, MetaType.Text, "a", "b"),
            ctx.create_metadata_bulk(element, [{"type": "text", "name": "a", "value": "b"}]),
        ]
        if legacy:
            results.append(ctx.create_entity("Lyon", "place"))
        else:
            results += [
                ctx.create_element_children(element, [element]),
                ctx.create_dataset("Lines", "Training lines", ["train", "test"]),
                ctx.create_dataset_element(dataset_set, element),
                ctx.destroy_dataset_element(dataset_set, element),
                ctx.create_embedding(element, [0.5, 0.25]),
            ]
        return results, ctx.check_required_types("zone", create_missing=True)

    (results, checked), run = call_helpers(handler, "--dev", "--database", str(cache_path))
    assert results == [None] * len(results)
    assert checked is True
    assert {record.method for record in arkworker_sandbox.requests} == {"GET"}
    assert hashlib.sha256(cache_path.read_bytes()).hexdigest() == before
    # + the second type of check_required_types([...]), + check_required_types("zone")
    assert run.output.count("as this worker is in read-only mode") == len(results) + 2
    assert "Cannot create element type `zone` as this worker is in read-only mode" in run.output
    if not legacy:
        assert "Cannot remove dataset element as this worker is in read-only mode" in run.output
    assert not arkworker_sandbox.objects("element_types", slug="box")
