"""Single-result creates check whether a request whose answer was lost was applied, instead of duplicating it.

Each helper runs in a real run whose API goes through :class:`~tests.faulty_proxy.FaultyProxy`:
``reset_after`` and ``cut_after`` let the request reach the sandbox and lose (or break) the
answer; ``reset`` loses the request itself. The sandbox's rows say what was created.
"""

import pytest

from arkworker import MetaType
from arkworker.models import Set
from tests.conftest import requests_of
from tests.faulty_proxy import FaultyProxy

from .conftest import SQUARE, cache_rows, hexid, legacy

#: Faults after which the request was applied, and how the warning describes them.
LOST = [
    ("reset_after", "connection reset while waiting for the answer"),
    ("cut_after", "connection reset while reading the answer"),
]


@pytest.fixture
def proxy(arkworker_sandbox):
    with FaultyProxy(arkworker_sandbox) as proxy:
        yield proxy


@pytest.fixture
def through(call_helpers, proxy):
    """``through(handler)``: ``call_helpers`` with the run's API behind the proxy."""

    def run(handler, *args, **kwargs):
        return call_helpers(handler, *args, env=proxy.env(), **kwargs)

    return run


def lost_answer_lines(operation, noun, failure):
    return [
        f"{operation} failed ({failure}); checking in 0.0 s whether it was applied",
        f"{operation}: the answer was lost but the {noun} was created; not sending it again",
    ]


@pytest.mark.parametrize(("fault", "failure"), LOST)
def test_create_transcription_whose_answer_was_lost(through, proxy, fault, failure):
    proxy.add("CreateTranscription", fault)
    created, run = through(lambda element, ctx: ctx.create_transcription(element, "lost", 0.5))
    (row,) = run.created["transcriptions"]
    assert (created["id"], created["text"], created.element.id) == (row["id"], "lost", row["element_id"])
    assert proxy.faults_of("CreateTranscription") == [fault]
    for line in lost_answer_lines("CreateTranscription", "transcription", failure):
        assert line in run.output


def test_create_transcription_whose_request_was_lost_is_sent_again(through, proxy):
    proxy.add("CreateTranscription", "reset")
    created, run = through(lambda element, ctx: ctx.create_transcription(element, "resent", 0.5))
    assert [row["id"] for row in run.created["transcriptions"]] == [created["id"]]
    assert proxy.faults_of("CreateTranscription") == ["reset", None]
    assert "CreateTranscription was not applied; attempt 2 of 5" in run.output


def test_every_lost_answer_of_a_run_is_found_without_duplicates(through, proxy, named):
    """The measured case: answers to CreateTranscription cut over and over."""
    proxy.add("CreateTranscription", "reset_after", times=None)

    def handler(element, ctx):
        for line in ctx.list_element_children(element, type="text_line"):
            ctx.create_transcription(line, f"text of {line.name}", 0.9)
        ctx.create_transcription(element, "text of the page", 0.9)

    _, run = through(handler)
    texts = sorted((row["element_id"], row["text"]) for row in run.created["transcriptions"])
    assert texts == sorted(
        [
            (named("Line 1"), "text of Line 1"),
            (named("Line 2"), "text of Line 2"),
            (named("Page 1"), "text of the page"),
        ]
    )


def test_a_transcription_only_matches_the_same_text_confidence_and_orientation(through, proxy):
    def handler(element, ctx):
        ctx.create_transcription(element, "same text", 0.4)
        proxy.add("CreateTranscription", "reset")  # lost before reaching the sandbox
        return ctx.create_transcription(element, "same text", 0.5)

    created, run = through(handler)
    assert sorted(row["confidence"] for row in run.created["transcriptions"]) == [0.4, 0.5]
    assert created["confidence"] == 0.5


def test_an_identical_earlier_result_of_the_run_counts_as_landed(through, proxy):
    """The documented limit of matching by worker run and content, not by date."""

    def handler(element, ctx):
        first = ctx.create_transcription(element, "twice", 0.5)
        proxy.add("CreateTranscription", "reset")
        return first, ctx.create_transcription(element, "twice", 0.5)

    (first, second), run = through(handler)
    assert second["id"] == first["id"]
    assert len(run.created["transcriptions"]) == 1


def test_the_landed_transcription_is_cached(through, proxy, cache_path):
    proxy.add("CreateTranscription", "cut_after")
    created, _ = through(
        lambda element, ctx: ctx.create_transcription(element, "cached", 0.5), "--database", str(cache_path)
    )
    (row,) = [row for row in cache_rows(cache_path, "transcriptions") if row["text"] == "cached"]
    assert row["id"] == hexid(created["id"])


@pytest.mark.parametrize(("fault", "failure"), LOST)
def test_create_sub_element_whose_answer_was_lost(through, proxy, fault, failure):
    proxy.add("CreateElement", fault)
    child_id, run = through(lambda element, ctx: ctx.create_sub_element(element, "word", "lost word", SQUARE))
    (row,) = run.created["elements"]
    assert (row["id"], row["name"]) == (child_id, "lost word")
    for line in lost_answer_lines("CreateElement", "element", failure):
        assert line in run.output


def test_a_sub_element_only_matches_the_same_polygon(through, proxy):
    other = [[300, 300], [400, 300], [400, 400], [300, 400]]

    def handler(element, ctx):
        ctx.create_sub_element(element, "word", "a word", SQUARE)
        proxy.add("CreateElement", "reset")
        return ctx.create_sub_element(element, "word", "a word", other, slim_output=False)

    created, run = through(handler)
    assert len(run.created["elements"]) == 2
    assert created["zone"]["polygon"][:4] == other


def test_create_classification_whose_answer_was_lost_is_repeated_safely(through, proxy, arkworker_sandbox):
    """The API refuses a duplicate classification: the repeat is sent, and its refusal means success."""
    proxy.add("CreateClassification", "cut_after")
    created, run = through(lambda element, ctx: ctx.create_classification(element, "cat", 0.75))
    assert created is None  # the answer, with the id, was lost
    assert len(run.created["classifications"]) == 1
    assert [r.status for r in requests_of(arkworker_sandbox, "CreateClassification")] == [201, 400]
    assert (
        "CreateClassification: the repeat was answered HTTP 400 Bad Request: an earlier attempt was applied"
        in run.output
    )


@pytest.mark.parametrize(("fault", "failure"), LOST)
def test_create_metadata_whose_answer_was_lost(through, proxy, fault, failure):
    proxy.add("CreateMetaData", fault)
    metadata_id, run = through(
        lambda element, ctx: ctx.create_metadata(element, MetaType.Text, "note", "lost")
    )
    (row,) = run.created["metadata"]
    assert (row["id"], row["value"]) == (metadata_id, "lost")
    for line in lost_answer_lines("CreateMetaData", "metadata", failure):
        assert line in run.output


@legacy
def test_create_entity_whose_answer_was_lost(through, proxy):
    proxy.add("CreateEntity", "reset_after")
    entity_id, run = through(
        lambda element, ctx: ctx.create_entity("Lyon", "place", metas={"country": "France"})
    )
    (row,) = run.created["entities"]
    assert row["id"] == entity_id
    assert "CreateEntity: the answer was lost but the entity was created; not sending it again" in run.output


@legacy
def test_create_transcription_entity_whose_answer_was_lost(through, proxy):
    def handler(element, ctx):
        transcription = ctx.create_transcription(element, "Lyon is a city", 1.0)
        entity_id = ctx.create_entity("Lyon", "place")
        proxy.add("CreateTranscriptionEntity", "cut_after")
        return entity_id, ctx.create_transcription_entity(transcription, entity_id, 0, 4, confidence=0.5)

    (entity_id, created), run = through(handler)
    (row,) = run.created["transcription_entities"]
    assert (row["entity_id"], row["offset"], row["length"]) == (entity_id, 0, 4)
    assert created == {
        "entity": entity_id,
        "offset": 0,
        "length": 4,
        "confidence": 0.5,
        "worker_run_id": row["worker_run_id"],
    }
    assert "the answer was lost but the transcription entity was created" in run.output


def test_a_bulk_create_whose_answer_was_lost_fails_without_a_duplicate(through, proxy, arkworker_sandbox):
    proxy.add("CreateTranscriptions", "reset_after")
    page = arkworker_sandbox.process_element_ids()[0]
    run = through(
        lambda element, ctx: ctx.create_transcriptions(
            [{"element_id": page, "text": "bulk", "confidence": 0.5}]
        ),
        expect_failure=True,
    )
    (failure,) = run.result.failures
    assert failure.message.endswith(
        ": CreateTranscriptions may or may not have been applied (connection reset while waiting "
        "for the answer): not sent again to avoid a duplicate"
    )
    assert len(run.created["transcriptions"]) == 1
    assert proxy.faults_of("CreateTranscriptions") == ["reset_after"]


# -- the helpers of today's Arkindex -------------------------------------------------------------


@pytest.mark.parametrize(("fault", "failure"), LOST)
def test_a_span_whose_answer_was_lost(through, proxy, arkworker_sandbox, fault, failure):
    (place,) = arkworker_sandbox.objects("entity_types", name="place")

    def handler(element, ctx):
        transcription = ctx.create_transcription(element, "Lyon is a city", 1.0)
        proxy.add("CreateTranscriptionEntity", fault)
        return ctx.create_transcription_entity(transcription, place["id"], 0, 4, confidence=0.5)

    created, run = through(handler)
    (row,) = run.created["transcription_entities"]
    assert (created["id"], created["type"]["id"], created["offset"]) == (row["id"], place["id"], 0)
    for line in lost_answer_lines("CreateTranscriptionEntity", "transcription entity", failure):
        assert line in run.output


def test_types_whose_answers_were_lost(through, proxy, arkworker_sandbox):
    proxy.add("CreateElementType", "reset_after")
    proxy.add("CreateEntityType", "cut_after")

    def handler(element, ctx):
        ctx.create_element_type("chapter", "Chapter", is_folder=True)
        ctx.create_entity_type("date")
        return ctx.corpus_types["chapter"], ctx.entity_types["date"]

    (chapter, date), run = through(handler)
    (row,) = arkworker_sandbox.objects("element_types", slug="chapter")
    assert (chapter["id"], chapter["folder"]) == (row["id"], True)
    assert [row["id"] for row in arkworker_sandbox.objects("entity_types", name="date")] == [date]
    assert "CreateElementType: the answer was lost but the element type was created" in run.output
    assert "CreateEntityType: the answer was lost but the entity type was created" in run.output


def test_children_whose_answer_was_lost(through, proxy, named):
    proxy.add("CreateElementChildren", "reset_after")

    def handler(element, ctx):
        page = ctx.retrieve_element(named("Page 2"))
        return ctx.create_element_children(page, [element])

    linked, run = through(handler)
    assert linked == [named("Page 1")]
    assert "CreateElementChildren: the answer was lost but the element children was created" in run.output


def test_dataset_elements_whose_answers_were_lost(through, proxy, arkworker_sandbox):
    def handler(element, ctx):
        dataset = ctx.create_dataset("Pages", "Pages to train on", ["train", "test"])
        train = Set(name="train", dataset=dataset)
        proxy.add("CreateDatasetElement", "cut_after")
        added = ctx.create_dataset_element(train, element)
        proxy.add("DestroyDatasetElement", "reset_after")
        ctx.destroy_dataset_element(train, element)
        return added

    added, run = through(handler)
    assert added == {"set": "train", "element_id": arkworker_sandbox.process_element_ids()[0]}
    assert arkworker_sandbox.objects("dataset_elements") == []
    assert proxy.faults_of("DestroyDatasetElement") == ["reset_after", None]
    assert "DestroyDatasetElement: the repeat was answered HTTP 404 Not Found" in run.output


@pytest.mark.parametrize(
    ("operation", "call"),
    [
        ("CreateDataset", lambda element, ctx: ctx.create_dataset("Pages", "Pages", ["train"])),
        ("CreateEmbedding", lambda element, ctx: ctx.create_embedding(element, [0.5, 0.25])),
        (
            "CreateTranscriptionEntities",
            lambda element, ctx: ctx.create_transcription_entities(
                ctx.create_transcription(element, "Lyon", 1.0),
                [{"type_id": ctx.list_corpus_entity_types()["place"], "offset": 0, "length": 4}],
            ),
        ),
    ],
)
def test_writes_without_a_lookup_are_not_repeated(through, proxy, operation, call):
    proxy.add(operation, "reset_after")
    run = through(call, expect_failure=True)
    (failure,) = run.result.failures
    assert f"{operation} may or may not have been applied" in failure.message
    assert proxy.faults_of(operation) == ["reset_after"]
