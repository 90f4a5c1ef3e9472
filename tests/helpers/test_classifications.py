"""Classification helpers over HTTP against the sandbox: classes, duplicates, bulk, read-only, cache."""

import pytest

from arkworker import InvalidArgument
from arkworker.models import Element
from tests.conftest import requests_of

from .conftest import cache_rows, hexid


def test_classes_are_loaded_once_and_created_when_missing(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        first = ctx.get_ml_class_id("cat")
        again = ctx.get_ml_class_id("cat")
        return first, again, ctx.retrieve_ml_class(first), dict(ctx.classes)

    (first, again, name, classes), _ = call_helpers(handler)
    assert first == again and name == "cat"
    (row,) = arkworker_sandbox.objects("ml_classes", name="cat")
    assert classes["cat"] == row["id"] == first
    assert len(requests_of(arkworker_sandbox, "CreateMLClass")) == 1
    assert len(requests_of(arkworker_sandbox, "ListCorpusMLClasses")) == 1


def test_a_class_created_meanwhile_is_found_by_reloading(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        ctx.get_ml_class_id("cat")  # loads the classes, then creates this one
        # Another worker creates the class after this one loaded the list.
        other = ctx.request("CreateMLClass", id=ctx.corpus_id, body={"name": "dog"})
        return other["id"], ctx.get_ml_class_id("dog")

    (other, found), run = call_helpers(handler)
    assert found == other
    assert "Reloading corpus classes to see if dog already exists" in run.output


def test_retrieve_ml_class_of_an_unknown_id(call_helpers):
    def handler(element, ctx):
        with pytest.raises(AssertionError, match=r"Missing class with id \(nope\)"):
            ctx.retrieve_ml_class("nope")

    call_helpers(handler)


def test_create_classification_and_its_duplicate(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        created = ctx.create_classification(element, "cat", 0.75, high_confidence=True)
        return created, ctx.create_classification(element, "cat", 0.5)

    (created, duplicate), run = call_helpers(handler)
    assert duplicate is None
    assert "This worker run has already set cat on element" in run.output
    (row,) = run.created["classifications"]
    assert (row["id"], row["confidence"], row["high_confidence"]) == (created["id"], 0.75, True)
    (cat,) = arkworker_sandbox.objects("ml_classes", name="cat")
    assert requests_of(arkworker_sandbox, "CreateClassification")[0].body == {
        "element": arkworker_sandbox.process_element_ids()[0],
        "ml_class": cat["id"],
        "worker_run_id": arkworker_sandbox.worker_run_id,
        "confidence": 0.75,
        "high_confidence": True,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", 0.5), "ml_class must be a non-empty string"),
        (("cat", 1), "confidence must be a float"),
        (("cat", 0.5, "yes"), "high_confidence must be True or False"),
    ],
)
def test_create_classification_validation(call_helpers, arkworker_sandbox, args, message):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match=message):
            ctx.create_classification(element, *args)

    call_helpers(handler)
    assert [r for r in arkworker_sandbox.requests if r.method == "POST"] == []


def test_create_classifications_in_batches(call_helpers, arkworker_sandbox):
    items = [{"ml_class": f"class {i}", "confidence": i / 10, "high_confidence": i == 0} for i in range(5)]
    created, run = call_helpers(lambda element, ctx: ctx.create_classifications(element, items, batch_size=2))
    assert [c["class_name"] for c in created] == [f"class {i}" for i in range(5)]
    assert [c["id"] for c in created] == [row["id"] for row in run.created["classifications"]]
    records = requests_of(arkworker_sandbox, "CreateClassifications")
    assert [len(r.body["classifications"]) for r in records] == [2, 2, 1]
    assert records[0].body["parent"] == arkworker_sandbox.process_element_ids()[0]
    assert records[0].body["worker_run_id"] == arkworker_sandbox.worker_run_id


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([], "classifications must be a non-empty list"),
        (
            [{"ml_class": "a", "confidence": 0.5}, {"confidence": 0.5}],
            "Classification at index 1 in classifications",
        ),
        ([{"ml_class": "a", "confidence": 2.0}], "index 0 in classifications: confidence"),
    ],
)
def test_create_classifications_validation(call_helpers, arkworker_sandbox, items, message):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match=message):
            ctx.create_classifications(element, items)

    call_helpers(handler)
    assert [r for r in arkworker_sandbox.requests if r.method == "POST"] == []


def test_read_only_mode_creates_no_class_nor_classification(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        return [
            ctx.get_ml_class_id("cat"),
            ctx.create_classification(element, "cat", 0.5),
            ctx.create_classifications(element, [{"ml_class": "cat", "confidence": 0.5}]),
        ]

    results, run = call_helpers(handler, "--dev")
    assert results == [None, None, None]
    assert "Cannot create ML class 'cat' as this worker is in read-only mode" in run.output
    assert all(record.method == "GET" for record in arkworker_sandbox.requests)
    assert arkworker_sandbox.objects("ml_classes") == []


def test_listed_elements_carry_their_classes(call_helpers, named):
    def handler(element, ctx):
        ctx.create_classifications(element, [{"ml_class": "cat", "confidence": 0.5}])
        volume = ctx.request("RetrieveElement", id=named("Volume"))
        (page, _) = ctx.list_element_children(Element(volume), with_classes=True)
        return page.classes

    classes, _ = call_helpers(handler)
    assert [(c["ml_class"]["name"], c["confidence"]) for c in classes] == [("cat", 0.5)]


def test_cache_rows(call_helpers, arkworker_sandbox, cache_path):
    def handler(element, ctx):
        one = ctx.create_classification(element, "cat", 0.75)
        bulk = ctx.create_classifications(element, [{"ml_class": "dog", "confidence": 0.25}])
        return one, bulk

    (one, bulk), _ = call_helpers(handler, "--database", str(cache_path))
    rows = cache_rows(cache_path, "classifications")
    page = hexid(arkworker_sandbox.process_element_ids()[0])
    run_id = hexid(arkworker_sandbox.worker_run_id)
    assert rows == [
        {
            "id": hexid(one["id"]),
            "element_id": page,
            "class_name": "cat",
            "confidence": 0.75,
            "state": "pending",
            "worker_run_id": run_id,
        },
        {
            "id": hexid(bulk[0]["id"]),
            "element_id": page,
            "class_name": "dog",
            "confidence": 0.25,
            "state": "pending",
            "worker_run_id": run_id,
        },
    ]


def test_load_corpus_classes_reads_every_page(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        for index in range(25):
            ctx.request("CreateMLClass", id=ctx.corpus_id, body={"name": f"class {index:02}"})
        ctx.load_corpus_classes()
        return dict(ctx.classes)

    classes, run = call_helpers(handler)
    assert sorted(classes) == [f"class {index:02}" for index in range(25)]
    assert classes == {row["name"]: row["id"] for row in arkworker_sandbox.objects("ml_classes")}
    assert len(requests_of(arkworker_sandbox, "ListCorpusMLClasses")) == 2
    assert "Loaded 25 ML classes in corpus" in run.output


def test_read_only_mode_still_reads_existing_classes(call_helpers):
    created, _ = call_helpers(lambda element, ctx: ctx.get_ml_class_id("cat"))  # another run created it
    found, _ = call_helpers(lambda element, ctx: ctx.get_ml_class_id("cat"), "--dev")
    assert found == created
