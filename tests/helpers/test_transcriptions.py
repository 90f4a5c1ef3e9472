"""Transcription helpers over HTTP against the sandbox: bodies, validation, read-only, cache, batches."""

import pytest
from arkindex.exceptions import ArkindexValidationError

from arkworker import InvalidArgument, TextOrientation
from arkworker.models import Element, Transcription
from tests.conftest import requests_of

from .conftest import SQUARE, cache_rows, hexid


def test_create_transcription_sends_the_worker_run(call_helpers, arkworker_sandbox):
    created, run = call_helpers(
        lambda element, ctx: ctx.create_transcription(
            element, text="Hello", confidence=0.5, orientation=TextOrientation.VerticalLeftToRight
        )
    )
    (record,) = requests_of(arkworker_sandbox, "CreateTranscription")
    assert record.body == {
        "text": "Hello",
        "worker_run_id": arkworker_sandbox.worker_run_id,
        "confidence": 0.5,
        "orientation": "vertical-lr",
    }
    (row,) = run.created["transcriptions"]
    assert (row["id"], row["text"], row["orientation"]) == (created["id"], "Hello", "vertical-lr")
    assert row["element_id"] == arkworker_sandbox.process_element_ids()[0]


def test_orientation_defaults_to_horizontal_and_accepts_its_text(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        ctx.create_transcription(element, "A", 1.0)
        ctx.create_transcription(element, "B", 1.0, "horizontal-rl")

    call_helpers(handler)
    rows = arkworker_sandbox.created()["transcriptions"]
    assert [row["orientation"] for row in rows] == ["horizontal-lr", "horizontal-rl"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": "", "confidence": 0.5}, "text must be a non-empty string, got ''"),
        ({"text": 3, "confidence": 0.5}, r"text must be a non-empty string, got 3 \(int\)"),
        ({"text": "a", "confidence": 1}, "confidence must be a float between 0 and 1"),
        ({"text": "a", "confidence": 1.5}, "confidence must be a float between 0 and 1"),
        (
            {"text": "a", "confidence": 0.5, "orientation": "diagonal"},
            "orientation must be a TextOrientation",
        ),
    ],
)
def test_bad_arguments_raise_before_any_request(call_helpers, arkworker_sandbox, kwargs, message):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match=message):
            ctx.create_transcription(element, **kwargs)

    call_helpers(handler)
    assert requests_of(arkworker_sandbox, "CreateTranscription") == []


def test_the_element_must_be_an_element(call_helpers):
    def handler(element, ctx):
        with pytest.raises(AssertionError, match="element must be an Element or a CachedElement, got 'abc'"):
            ctx.create_transcription("abc", "text", 0.5)

    call_helpers(handler)


def test_read_only_mode_writes_nothing(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        return [
            ctx.create_transcription(element, "a", 0.5),
            ctx.create_transcriptions([{"element_id": element.id, "text": "b", "confidence": 0.5}]),
            ctx.create_element_transcriptions(
                element, "text_line", [{"text": "c", "confidence": 0.5, "polygon": SQUARE}]
            ),
        ]

    results, run = call_helpers(handler, "--dev")
    assert results == [None, None, None]
    assert "Cannot create transcription as this worker is in read-only mode" in run.output
    assert all(record.method == "GET" for record in arkworker_sandbox.requests)


def test_create_transcriptions_in_batches_keeps_the_input_order(call_helpers, arkworker_sandbox, named):
    lines = [named("Line 1"), named("Line 2")]
    items = [{"element_id": lines[i % 2], "text": f"text {i}", "confidence": 0.5} for i in range(7)]
    originals = [dict(item) for item in items]
    created, _ = call_helpers(lambda element, ctx: ctx.create_transcriptions(items, batch_size=3))
    assert [t["text"] for t in created] == [f"text {i}" for i in range(7)]
    assert [t["element_id"] for t in created] == [item["element_id"] for item in items]
    assert items == originals  # the caller's dicts are not changed
    records = requests_of(arkworker_sandbox, "CreateTranscriptions")
    assert [len(r.body["transcriptions"]) for r in records] == [3, 3, 1]
    assert records[0].body["worker_run_id"] == arkworker_sandbox.worker_run_id
    assert records[0].body["transcriptions"][0] == {
        "element_id": lines[0],
        "text": "text 0",
        "confidence": 0.5,
        "orientation": "horizontal-lr",
    }
    stored = arkworker_sandbox.created()["transcriptions"]
    assert [row["id"] for row in stored] == [t["id"] for t in created]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([], "transcriptions must be a non-empty list"),
        (["text"], "Transcription at index 0 in transcriptions: must be a dict"),
        (
            [{"text": "a", "confidence": 0.5}],
            "Transcription at index 0 in transcriptions: element_id must be",
        ),
        (
            [
                {"element_id": "x", "text": "a", "confidence": 0.5},
                {"element_id": "x", "text": "", "confidence": 0.5},
            ],
            "Transcription at index 1 in transcriptions: text must be a non-empty string",
        ),
    ],
)
def test_bulk_validation_names_the_item(call_helpers, arkworker_sandbox, items, message):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match=message):
            ctx.create_transcriptions(items)

    call_helpers(handler)
    assert requests_of(arkworker_sandbox, "CreateTranscriptions") == []


def test_create_element_transcriptions_reuses_sub_elements_with_the_same_polygon(
    call_helpers, arkworker_sandbox, named
):
    other = [[300, 300], [400, 300], [400, 400]]
    items = [
        {"text": "one", "confidence": 0.5, "polygon": SQUARE, "element_confidence": 0.25},
        {
            "text": "two",
            "confidence": 0.75,
            "polygon": other,
            "orientation": TextOrientation.VerticalRightToLeft,
        },
        {"text": "three", "confidence": 1.0, "polygon": SQUARE},
    ]
    annotations, run = call_helpers(
        lambda element, ctx: ctx.create_element_transcriptions(element, "word", items, batch_size=2)
    )
    assert [a["created"] for a in annotations] == [True, True, False]
    assert annotations[0]["element_id"] == annotations[2]["element_id"]
    words = run.created["elements"]
    assert [w["type"] for w in words] == ["word", "word"]
    assert words[0]["confidence"] == 0.25 and words[0]["polygon"][:4] == SQUARE
    texts = {t["id"]: (t["text"], t["element_id"], t["orientation"]) for t in run.created["transcriptions"]}
    assert texts[annotations[1]["id"]] == ("two", annotations[1]["element_id"], "vertical-rl")
    records = requests_of(arkworker_sandbox, "CreateElementTranscriptions")
    assert [len(r.body["transcriptions"]) for r in records] == [2, 1]
    assert records[0].body["element_type"] == "word" and records[0].body["return_elements"] is True
    children = {p["child_id"] for p in arkworker_sandbox.objects("element_paths", parent_id=named("Page 1"))}
    assert {w["id"] for w in words} <= children


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"text": "a", "confidence": 0.5}], "index 0 in transcriptions: polygon must be a list"),
        ([{"text": "a", "confidence": 0.5, "polygon": SQUARE[:2]}], "polygon must have at least 3 points"),
        (
            [{"text": "a", "confidence": 0.5, "polygon": [[1, 2], [3, "4"], [5, 6]]}],
            "polygon point 1 must be",
        ),
        (
            [{"text": "a", "confidence": 0.5, "polygon": SQUARE, "element_confidence": 2.0}],
            "element_confidence must be a float between 0 and 1",
        ),
    ],
)
def test_element_transcriptions_validation(call_helpers, arkworker_sandbox, items, message):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match=message):
            ctx.create_element_transcriptions(element, "word", items)

    call_helpers(handler)
    assert requests_of(arkworker_sandbox, "CreateElementTranscriptions") == []


def test_the_sandbox_validates_like_arkindex(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        with pytest.raises(ArkindexValidationError) as info:
            ctx.create_element_transcriptions(
                element, "word", [{"text": "a", "confidence": 0.5, "polygon": [[0, 0], [5000, 0], [0, 10]]}]
            )
        return info.value.content["errors"]

    errors, _ = call_helpers(handler)
    assert errors[0]["attr"] == ["transcriptions", 0, "polygon", 1]


def test_list_transcriptions_follows_every_page(call_helpers, arkworker_sandbox, named):
    line = named("Line 2")

    def handler(element, ctx):
        ctx.create_transcriptions(
            [{"element_id": line, "text": f"t{i}", "confidence": 0.5} for i in range(45)]
        )
        everything = ctx.list_transcriptions(element, recursive=True)
        return (
            len(everything),
            [t for t in everything],
            [t.text for t in ctx.list_transcriptions(element)],
            len(list(ctx.list_transcriptions(element, recursive=True, worker_run=False))),
            len(list(ctx.list_transcriptions(element, recursive=True, element_type="text_line"))),
            len(list(ctx.list_transcriptions(element, recursive=True, worker_run=ctx.worker_run_id))),
        )

    (count, listed, own, manual, of_lines, of_run), _ = call_helpers(handler)
    assert count == 47 and len(listed) == 47
    assert all(isinstance(t, Transcription) for t in listed)
    assert own == ["Manual page text"]
    assert (manual, of_lines, of_run) == (2, 46, 45)
    pages = requests_of(arkworker_sandbox, "ListTranscriptions")
    assert [r.query.get("page", "1") for r in pages][:3] == ["1", "2", "3"]


def test_list_filters_are_validated(call_helpers):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match="worker_run must be an id or False"):
            ctx.list_transcriptions(element, worker_run=True)
        with pytest.raises(InvalidArgument, match="recursive must be True or False"):
            ctx.list_transcriptions(element, recursive="yes")

    call_helpers(handler)


def test_cache_rows_follow_the_api_writes(call_helpers, arkworker_sandbox, cache_path, named):
    def handler(element, ctx):
        first = ctx.create_transcription(element, "page text", 0.5)
        bulk = ctx.create_transcriptions(
            [{"element_id": named("Line 1"), "text": "line text", "confidence": 0.25}], batch_size=1
        )
        words = ctx.create_element_transcriptions(
            element,
            "word",
            [{"text": "word", "confidence": 1.0, "polygon": SQUARE, "element_confidence": 0.5}],
        )
        cached = ctx.list_transcriptions(element, recursive=True)
        return first, bulk, words, type(element).__name__, [(type(t).__name__, t.text) for t in cached]

    (first, bulk, words, kind, cached), _ = call_helpers(handler, "--database", str(cache_path))
    assert kind == "CachedElement"
    rows = cache_rows(cache_path, "transcriptions")
    assert [(r["id"], r["text"], r["worker_run_id"]) for r in rows] == [
        (hexid(first["id"]), "page text", hexid(arkworker_sandbox.worker_run_id)),
        (hexid(bulk[0]["id"]), "line text", hexid(arkworker_sandbox.worker_run_id)),
        (hexid(words[0]["id"]), "word", hexid(arkworker_sandbox.worker_run_id)),
    ]
    (word,) = [r for r in cache_rows(cache_path, "elements") if r["type"] == "word"]
    assert word["parent_id"] == hexid(named("Page 1")) and word["confidence"] == 0.5
    assert sorted(cached) == sorted(
        [
            ("CachedTranscription", "page text"),
            ("CachedTranscription", "line text"),
            ("CachedTranscription", "word"),
        ]
    )
    assert requests_of(arkworker_sandbox, "ListTranscriptions") == []


def test_cache_reads_filter_like_the_api(call_helpers, cache_path, named):
    def handler(element, ctx):
        ctx.create_transcriptions(
            [{"element_id": named(n), "text": n, "confidence": 0.5} for n in ("Page 1", "Line 1", "Line 2")]
        )
        return (
            [t.text for t in ctx.list_transcriptions(element)],
            [t.text for t in ctx.list_transcriptions(element, element_type="text_line")],
            sorted(
                t.text for t in ctx.list_transcriptions(element, recursive=True, element_type="text_line")
            ),
            [t.text for t in ctx.list_transcriptions(element, recursive=True, worker_run=False)],
        )

    (own, wrong_type, lines, manual), _ = call_helpers(handler, "--database", str(cache_path))
    assert (own, wrong_type, lines, manual) == (["Page 1"], [], ["Line 1", "Line 2"], [])


def test_a_cache_refusal_is_a_warning_not_a_failure(call_helpers, cache_path, arkworker_sandbox, named):
    # Page 2 is not in the cache: its transcription cannot reference it there.
    def handler(element, ctx):
        page = Element(ctx.request("RetrieveElement", id=named("Page 2")))
        return ctx.create_transcription(page, "elsewhere", 0.5)

    created, run = call_helpers(handler, "--database", str(cache_path))
    assert "Couldn't save the created transcription in the local cache" in run.output
    assert arkworker_sandbox.objects("transcriptions", id=created["id"])
    assert cache_rows(cache_path, "transcriptions") == []


def test_worker_version_filters_are_deprecated(call_helpers, arkworker_sandbox):
    (version,) = arkworker_sandbox.objects("worker_versions")

    def handler(element, ctx):
        with pytest.warns(DeprecationWarning, match="Filtering on worker_version is deprecated") as first:
            listed = list(ctx.list_transcriptions(element, worker_version=version["id"]))
        with pytest.warns(DeprecationWarning, match="transcription_worker_version") as second:
            ctx.list_element_children(element, transcription_worker_version=False)
        # The warnings name the worker's own line, not the framework's.
        assert [warning.filename for warning in (*first, *second)] == [__file__, __file__]
        return listed

    listed, _ = call_helpers(handler)
    assert listed == []


def test_a_failing_batch_raises_and_keeps_the_earlier_batches(call_helpers, arkworker_sandbox, named):
    unknown = "00000000-0000-4000-8000-000000000000"
    items = [
        {"element_id": eid, "text": "t", "confidence": 0.5}
        for eid in (named("Line 1"), named("Line 2"), unknown)
    ]

    def handler(element, ctx):
        with pytest.raises(ArkindexValidationError) as info:
            ctx.create_transcriptions(items, batch_size=2)
        return info.value.content["errors"][0]["attr"]

    attr, run = call_helpers(handler)
    assert attr == ["transcriptions", 0, "element_id"]
    assert [row["element_id"] for row in run.created["transcriptions"]] == [named("Line 1"), named("Line 2")]


def test_helpers_retry_server_errors(call_helpers, arkworker_sandbox):
    arkworker_sandbox.fail("CreateTranscription", status=502, times=2)
    created, run = call_helpers(lambda element, ctx: ctx.create_transcription(element, "after retries", 0.5))
    assert [row["id"] for row in run.created["transcriptions"]] == [created["id"]]
    assert [r.status for r in requests_of(arkworker_sandbox, "CreateTranscription")] == [502, 502, 201]
