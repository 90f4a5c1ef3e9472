"""Element helpers over HTTP against the sandbox: types, creation, links, updates, listings, cache."""

import json
import sqlite3

import pytest
from arkindex.exceptions import ArkindexValidationError

from arkworker import ElementType, InvalidArgument, MissingTypeError
from arkworker.models import Element
from tests.conftest import requests_of

from .conftest import SQUARE, both_levels, cache_rows, hexid


@both_levels
def test_check_required_types(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        assert ctx.check_required_types("page", "text_line") is True
        with pytest.raises(
            MissingTypeError, match=r"Element type\(s\) paragraph, zone were not found in the Helpers"
        ):
            ctx.check_required_types("page", "zone", "paragraph")
        return ctx.check_required_types("zone", create_missing=True)

    assert call_helpers(handler)[0] is True
    (zone,) = arkworker_sandbox.objects("element_types", slug="zone")
    assert (zone["display_name"], zone["folder"]) == ("zone", False)
    (record,) = requests_of(arkworker_sandbox, "CreateElementType")
    assert record.body == {
        "slug": "zone",
        "display_name": "zone",
        "folder": False,
        "corpus": arkworker_sandbox.corpus_id,
    }


def test_create_required_types(call_helpers, arkworker_sandbox):
    call_helpers(
        lambda element, ctx: ctx.create_required_types(
            [ElementType("Paragraph", "paragraph", False), ElementType("Box", "box", True)]
        )
    )
    rows = {row["slug"]: row for row in arkworker_sandbox.objects("element_types")}
    assert (rows["paragraph"]["display_name"], rows["box"]["folder"]) == ("Paragraph", True)


@pytest.mark.parametrize(
    ("types", "message"),
    [
        ([], "element_types must be a non-empty list"),
        (["box"], "Element type at index 0 in element_types: must be an ElementType"),
        ([ElementType("Box", "", False)], "index 0 in element_types: slug must be a non-empty string"),
        ([("Box", "box", "no")], "is_folder must be True or False"),
    ],
)
def test_create_required_types_validation(call_helpers, arkworker_sandbox, types, message):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match=message):
            ctx.create_required_types(types)

    call_helpers(handler)
    assert requests_of(arkworker_sandbox, "CreateElementType") == []


def test_types_are_never_created_in_read_only_mode(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        ctx.create_required_types([ElementType("Box", "box", True)])
        return ctx.check_required_types("zone", create_missing=True)

    result, run = call_helpers(handler, "--dev")
    assert result is True
    assert "Cannot create element types zone as this worker is in read-only mode" in run.output
    assert requests_of(arkworker_sandbox, "CreateElementType") == []
    assert not arkworker_sandbox.objects("element_types", slug="zone")


def test_create_sub_element(call_helpers, arkworker_sandbox, named):
    def handler(element, ctx):
        slim = ctx.create_sub_element(element, "text_line", "Line 3", polygon=SQUARE, confidence=0.5)
        whole = ctx.create_sub_element(element, "text_line", "Line 4", slim_output=False)
        return slim, whole

    (slim, whole), run = call_helpers(handler)
    first = requests_of(arkworker_sandbox, "CreateElement")[0]
    assert first.body == {
        "type": "text_line",
        "name": "Line 3",
        "image": None,
        "corpus": arkworker_sandbox.corpus_id,
        "polygon": SQUARE,
        "parent": named("Page 1"),
        "worker_run_id": arkworker_sandbox.worker_run_id,
        "confidence": 0.5,
    }
    rows = run.created["elements"]
    assert [r["id"] for r in rows] == [slim, whole["id"]]
    assert rows[0]["polygon"][:4] == SQUARE and rows[0]["image_id"] is not None
    assert whole["name"] == "Line 4" and whole["zone"] is None
    children = [p["child_id"] for p in arkworker_sandbox.objects("element_paths", parent_id=named("Page 1"))]
    assert children[-2:] == [slim, whole["id"]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": "", "name": "a"}, "type must be a non-empty string"),
        ({"type": "word", "name": None}, "name must be a non-empty string"),
        ({"type": "word", "name": "a", "polygon": [[1, 2]]}, "polygon must have at least 3 points"),
        ({"type": "word", "name": "a", "confidence": 2.0}, "confidence must be a float"),
        ({"type": "word", "name": "a", "image": "not-a-uuid"}, "image must be a UUID"),
        ({"type": "word", "name": "a", "slim_output": "yes"}, "slim_output must be True or False"),
    ],
)
def test_create_sub_element_validation(call_helpers, arkworker_sandbox, kwargs, message):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match=message):
            ctx.create_sub_element(element, **kwargs)

    call_helpers(handler)
    assert requests_of(arkworker_sandbox, "CreateElement") == []


def test_create_elements_in_batches(call_helpers, arkworker_sandbox, named):
    items = [
        {
            "name": f"Word {i}",
            "type": "word",
            "polygon": [[i, 0], [i + 10, 0], [i + 10, 10]],
            "confidence": 0.5,
        }
        for i in range(5)
    ]
    created, run = call_helpers(lambda element, ctx: ctx.create_elements(element, items, batch_size=2))
    rows = run.created["elements"]
    assert [c["id"] for c in created] == [r["id"] for r in rows]
    assert [r["name"] for r in rows] == [f"Word {i}" for i in range(5)]
    records = requests_of(arkworker_sandbox, "CreateElements")
    assert [len(r.body["elements"]) for r in records] == [2, 2, 1]
    assert records[0].body["worker_run_id"] == arkworker_sandbox.worker_run_id
    assert records[0].path == f"/api/v1/element/{named('Page 1')}/children/bulk/"


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([], "elements must be a non-empty list"),
        ([{"name": "a", "type": "word"}], "Element at index 0 in elements: polygon must be a list"),
        (
            [{"name": "a", "type": "word", "polygon": SQUARE, "confidence": 1}],
            "index 0 in elements: confidence",
        ),
        ([{"name": "", "type": "word", "polygon": SQUARE}], "index 0 in elements: name must be"),
    ],
)
def test_create_elements_validation(call_helpers, arkworker_sandbox, items, message):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match=message):
            ctx.create_elements(element, items)

    call_helpers(handler)
    assert requests_of(arkworker_sandbox, "CreateElements") == []


def test_create_elements_needs_a_parent_with_an_image(call_helpers, named):
    def handler(element, ctx):
        volume = Element(ctx.request("RetrieveElement", id=named("Volume")))
        with pytest.raises(InvalidArgument, match="has no image"):
            ctx.create_elements(volume, [{"name": "a", "type": "word", "polygon": SQUARE}])
        with pytest.raises(TypeError, match="parent must be an Element or a CachedElement"):
            ctx.create_elements(volume["id"], [{"name": "a", "type": "word", "polygon": SQUARE}])

    call_helpers(handler)


def test_the_sandbox_refuses_unknown_types_and_polygons_outside_the_image(call_helpers):
    def handler(element, ctx):
        errors = []
        for item in (
            {"name": "a", "type": "chapter", "polygon": SQUARE},
            {"name": "a", "type": "word", "polygon": [[0, 0], [0, 9000], [10, 10]]},
        ):
            with pytest.raises(ArkindexValidationError) as info:
                ctx.create_elements(element, [item])
            errors.append(info.value.content["errors"][0]["attr"])
        return errors

    errors, run = call_helpers(handler)
    assert errors == [["elements", 0, "type"], ["elements", 0, "polygon", 1]]
    assert "elements" not in run.created


def test_create_element_parent_and_cycles(call_helpers, arkworker_sandbox, named):
    def handler(element, ctx):
        page2 = Element(ctx.request("RetrieveElement", id=named("Page 2")))
        line = Element(ctx.request("RetrieveElement", id=named("Line 1")))
        linked = ctx.create_element_parent(page2, line)
        with pytest.raises(ArkindexValidationError, match="ancestor"):
            ctx.create_element_parent(line, element)
        return linked, [p.name for p in ctx.list_element_parents(line)]

    (linked, parents), _ = call_helpers(handler)
    assert linked == {"parent": named("Page 2"), "child": named("Line 1")}
    assert parents == ["Page 1", "Page 2"]


def test_partial_update_element(call_helpers, arkworker_sandbox, named):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match="rotation_angle must be an integer >= 0"):
            ctx.partial_update_element(element, rotation_angle=-90)
        return ctx.partial_update_element(
            element, name="Renamed", rotation_angle=90, mirrored=True, confidence=0.5
        )

    updated, _ = call_helpers(handler)
    assert (updated["name"], updated["rotation_angle"], updated["mirrored"]) == ("Renamed", 90, True)
    (row,) = arkworker_sandbox.objects("elements", id=named("Renamed"))
    assert (row["confidence"], row["rotation_angle"]) == (0.5, 90)


def test_read_only_mode_creates_links_and_updates_nothing(call_helpers, arkworker_sandbox, named):
    def handler(element, ctx):
        return [
            ctx.create_sub_element(element, "word", "w"),
            ctx.create_elements(element, [{"name": "w", "type": "word", "polygon": SQUARE}]),
            ctx.create_element_parent(element, element),
            ctx.partial_update_element(element, name="Renamed"),
        ]

    results, run = call_helpers(handler, "--dev")
    assert results == [None] * 4
    assert "Cannot link elements as this worker is in read-only mode" in run.output
    assert "Cannot update element as this worker is in read-only mode" in run.output
    assert all(record.method == "GET" for record in arkworker_sandbox.requests)


def test_listings_follow_pages_and_filters(call_helpers, arkworker_sandbox, named):
    def handler(element, ctx):
        volume = Element(ctx.request("RetrieveElement", id=named("Volume")))
        ctx.create_elements(
            element, [{"name": f"W{i}", "type": "word", "polygon": SQUARE} for i in range(30)], batch_size=7
        )
        children = ctx.list_element_children(element)
        return (
            len(children),
            [c for c in children],
            [c.name for c in ctx.list_element_children(element, type="text_line")],
            len(list(ctx.list_element_children(element, worker_run=False))),
            len(list(ctx.list_element_children(element, worker_run=ctx.worker_run_id, with_zone=False))),
            [p.name for p in ctx.list_element_parents(element)],
            len(list(ctx.list_element_children(volume, recursive=True))),
        )

    (count, children, lines, manual, mine, parents, everything), _ = call_helpers(handler)
    assert count == 32 and len(children) == 32
    assert all(isinstance(child, Element) for child in children)
    assert lines == ["Line 1", "Line 2"]
    assert (manual, mine, parents) == (2, 30, ["Volume"])
    assert everything == 34
    pages = [r.query.get("page", "1") for r in requests_of(arkworker_sandbox, "ListElementChildren")]
    assert pages[:2] == ["1", "2"]


def test_listing_filters_keep_the_reference_positions(call_helpers):
    """A ported call passing filters by position reaches the same filters as in arkindex-base-worker."""

    def handler(element, ctx):
        # element, folder, name, recursive, transcription_worker_version, transcription_worker_run, type
        lines = ctx.list_element_children(element, None, "Line", None, None, None, "text_line")
        return [child.name for child in lines]

    names, _ = call_helpers(handler)
    assert names == ["Line 1", "Line 2"]


def test_listing_filters_are_validated(call_helpers):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match="with_classes must be True or False"):
            ctx.list_element_children(element, with_classes="yes")
        with pytest.raises(InvalidArgument, match="worker_version must be an id or False"):
            ctx.list_element_parents(element, worker_version=True)
        with pytest.raises(InvalidArgument, match="type must be a string"):
            ctx.list_element_children(element, type=3)

    call_helpers(handler)


def test_cache_writes_and_reads(call_helpers, arkworker_sandbox, cache_path, named):
    def handler(element, ctx):
        single = ctx.create_sub_element(element, "word", "Single", polygon=SQUARE, confidence=0.25)
        bulk = ctx.create_elements(element, [{"name": "Bulk", "type": "word", "polygon": SQUARE}])
        ctx.partial_update_element(element, polygon=[[0, 0], [0, 10], [10, 10]], rotation_angle=90)
        line = next(iter(ctx.list_element_children(element, type="text_line")))
        deep = ctx.create_sub_element(line, "word", "Deep", polygon=SQUARE)
        descendants = sorted(
            str(c.id) for c in ctx.list_element_children(element, recursive=True, type="word")
        )
        ancestors = [
            str(p.id)
            for p in ctx.list_element_parents(next(iter(ctx.list_element_children(line))), recursive=True)
        ]
        return (
            single,
            bulk,
            sorted(str(c.type) for c in ctx.list_element_children(element)),
            [
                str(c.id)
                for c in ctx.list_element_children(element, type="word", worker_run=ctx.worker_run_id)
            ],
            [str(c.id) for c in ctx.list_element_children(element, worker_run=False)],
            [str(p.id) for p in ctx.list_element_parents(line)],
            (deep, descendants, ancestors),
        )

    (single, bulk, kinds, words, manual, parents, deep), _ = call_helpers(
        handler, "--database", str(cache_path)
    )
    rows = {r["id"]: r for r in cache_rows(cache_path, "elements")}
    assert rows[hexid(single)]["confidence"] == 0.25
    assert rows[hexid(single)]["parent_id"] == hexid(named("Page 1"))
    assert rows[hexid(bulk[0]["id"])]["worker_run_id"] == hexid(arkworker_sandbox.worker_run_id)
    page = rows[hexid(named("Page 1"))]
    assert (page["polygon"], page["rotation_angle"]) == ("[[0, 0], [0, 10], [10, 10]]", 90)
    assert kinds == ["text_line", "text_line", "word", "word"]
    assert sorted(words) == sorted([single, bulk[0]["id"]])
    assert sorted(manual) == sorted([named("Line 1"), named("Line 2")])
    assert parents == [named("Page 1")]
    deep_id, descendants, ancestors = deep
    assert descendants == sorted([single, bulk[0]["id"], deep_id])
    assert ancestors == [named("Line 1"), named("Page 1")]
    assert requests_of(arkworker_sandbox, "ListElementChildren") == []


def test_the_cache_refuses_filters_it_cannot_answer(call_helpers, cache_path):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match="the cache cannot filter elements by with_classes"):
            ctx.list_element_children(element, with_classes=True)

    call_helpers(handler, "--database", str(cache_path))


def test_children_of_an_api_element_bring_its_image_into_the_cache(
    call_helpers, arkworker_sandbox, cache_path, named
):
    with sqlite3.connect(cache_path) as connection:
        connection.execute("UPDATE elements SET image_id = NULL")
        connection.execute("DELETE FROM images")
    (image,) = arkworker_sandbox.objects("images")

    def handler(element, ctx):
        page = Element(ctx.request("RetrieveElement", id=named("Page 1")))
        return ctx.create_elements(
            page, [{"name": "W", "type": "word", "polygon": SQUARE}]
        ), page.zone.image.url

    (created, url), _ = call_helpers(handler, "--database", str(cache_path))
    assert cache_rows(cache_path, "images") == [
        {"id": hexid(image["id"]), "width": 1000, "height": 1500, "url": url}
    ]
    (word,) = [row for row in cache_rows(cache_path, "elements") if row["type"] == "word"]
    assert (word["id"], word["image_id"], word["parent_id"]) == (
        hexid(created[0]["id"]),
        hexid(image["id"]),
        hexid(named("Page 1")),
    )
    assert json.loads(word["polygon"]) == SQUARE


def test_listings_fetch_pages_only_as_they_are_read(call_helpers, arkworker_sandbox):
    def fetched():
        return len(requests_of(arkworker_sandbox, "ListElementChildren"))

    def handler(element, ctx):
        ctx.create_elements(
            element, [{"name": f"W{i}", "type": "word", "polygon": SQUARE} for i in range(30)]
        )
        children = ctx.list_element_children(element)
        before = fetched()
        first = next(iter(children))
        after_first = fetched()
        everything = list(children)
        return before, first.name, after_first, len(everything), fetched()

    (before, first, after_first, total, after_all), _ = call_helpers(handler)
    assert (before, first, after_first) == (0, "Line 1", 1)
    assert (total, after_all) == (32, 2)  # the first page is read once, then the second
