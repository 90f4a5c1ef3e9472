"""Writing helpers insert cache rows only after the API accepted the write, from any thread."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from arkindex.exceptions import ErrorResponse

from arkworker.models import Element

from .conftest import SQUARE, cache_rows, legacy

#: The cache is arkindex-base-worker 0.3.7's: its rows include legacy entities.
pytestmark = legacy

TABLES = ("elements", "transcriptions", "classifications", "entities", "transcription_entities")

#: (operation refused by the sandbox, the helper call that sends it)
WRITES = {
    "CreateTranscription": lambda el, ctx, tr: ctx.create_transcription(el, "refused", 0.5),
    "CreateTranscriptions": lambda el, ctx, tr: ctx.create_transcriptions(
        [{"element_id": str(el.id), "text": "refused", "confidence": 0.5}]
    ),
    "CreateElementTranscriptions": lambda el, ctx, tr: ctx.create_element_transcriptions(
        el, "word", [{"text": "refused", "confidence": 0.5, "polygon": SQUARE}]
    ),
    "CreateElement": lambda el, ctx, tr: ctx.create_sub_element(el, "word", "refused", SQUARE),
    "CreateElements": lambda el, ctx, tr: ctx.create_elements(
        el, [{"name": "refused", "type": "word", "polygon": SQUARE}]
    ),
    "PartialUpdateElement": lambda el, ctx, tr: ctx.partial_update_element(el, polygon=SQUARE),
    "CreateClassification": lambda el, ctx, tr: ctx.create_classification(el, "refused", 0.5),
    "CreateClassifications": lambda el, ctx, tr: ctx.create_classifications(
        el, [{"ml_class": "refused", "confidence": 0.5}]
    ),
    "CreateEntity": lambda el, ctx, tr: ctx.create_entity("Refused", "person"),
    "CreateTranscriptionEntity": lambda el, ctx, tr: ctx.create_transcription_entity(
        tr, ctx.create_entity("Ada", "person"), 0, 3
    ),
}


@pytest.mark.parametrize("operation", WRITES)
def test_a_refused_write_leaves_the_cache_unchanged(call_helpers, arkworker_sandbox, cache_path, operation):
    def handler(element, ctx):
        transcription = ctx.create_transcription(element, "Ada wrote", 0.5)
        before = {table: cache_rows(cache_path, table) for table in TABLES}
        arkworker_sandbox.fail(operation, status=400)
        with pytest.raises(ErrorResponse) as refused:
            WRITES[operation](element, ctx, transcription)
        return refused.value.status_code, before

    (status, before), _ = call_helpers(handler, "--database", str(cache_path))
    assert status == 400
    after = {table: cache_rows(cache_path, table) for table in TABLES}
    if operation == "CreateTranscriptionEntity":  # the entity itself was created before the refusal
        assert [row["name"] for row in after.pop("entities")] == ["Ada"]
        before.pop("entities")
    assert after == before


def test_helpers_write_the_cache_from_several_threads(call_helpers, cache_path, named):
    lines = [named("Line 1"), named("Line 2")]

    def handler(element, ctx):
        def write(index):
            line = ctx.request("RetrieveElement", id=lines[index % 2])
            ctx.create_transcription(Element(line), f"text {index}", 0.5)
            return len(ctx.list_transcriptions(element, recursive=True))

        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(write, range(12)))

    counts, _ = call_helpers(handler, "--database", str(cache_path))
    assert len(counts) == 12 and max(counts) == 12
    assert sorted(row["text"] for row in cache_rows(cache_path, "transcriptions")) == sorted(
        f"text {index}" for index in range(12)
    )
