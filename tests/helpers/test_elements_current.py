"""The element helpers of arkindex-base-worker 0.4 to 0.6: types by name, the corpus's elements, links.

``create_element_type``, ``check_required_types([...])``, ``list_corpus_types`` and
``retrieve_element`` call operations both generations have; ``list_elements`` and
``create_element_children`` need today's Arkindex, and say so on a legacy instance.
"""

import uuid
import warnings

import pytest
from arkindex import ArkindexClient
from arkindex.exceptions import ArkindexValidationError

from arkworker import InvalidArgument, MissingElementType, MissingTypeError, OperationUnavailable
from arkworker.models import Element
from tests.conftest import requests_of

from .conftest import both_levels, legacy


@both_levels
def test_check_required_types_takes_names_whose_slugs_are_in_lower_case(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        assert ctx.check_required_types(["Page", "TEXT_LINE"]) is None
        with pytest.raises(
            MissingElementType, match=r"Element types `zone`, `paragraph` were not in the corpus"
        ):
            ctx.check_required_types(["page", "Zone", "Paragraph", "zone"])
        with pytest.raises(
            MissingTypeError, match=r"Element type `zone` was not in the corpus \(.*\): create it"
        ):
            ctx.check_required_types(type_names=["Zone"])
        ctx.check_required_types(["Zone", "Paragraph", "zone"], create_missing=True)
        return dict(ctx.corpus_types)

    types, run = call_helpers(handler)
    assert {"page", "text_line", "zone", "paragraph"} <= set(types)
    rows = {row["slug"]: row for row in arkworker_sandbox.objects("element_types")}
    assert (rows["zone"]["display_name"], rows["paragraph"]["display_name"]) == ("Zone", "Paragraph")
    assert [record.body["slug"] for record in requests_of(arkworker_sandbox, "CreateElementType")] == [
        "zone",
        "paragraph",
    ]
    assert len(requests_of(arkworker_sandbox, "RetrieveCorpus")) == 1  # the types are loaded once
    assert "Loaded 4 element types in corpus" in run.output
    assert "Created a new element type with slug `zone`." in run.output


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ctx: ctx.check_required_types([]), "type_names must be a non-empty list"),
        (
            lambda ctx: ctx.check_required_types(["page", 3]),
            "Element type at index 1 in type_names: the type name must be a non-empty string",
        ),
        (lambda ctx: ctx.check_required_types(["page"], create_missing="yes"), "create_missing must be True"),
        (lambda ctx: ctx.check_required_types("page", ["line"]), "give the element types as one list"),
        (
            lambda ctx: ctx.check_required_types("page", type_names=["line"]),
            "either as arguments or as type_names",
        ),
        (lambda ctx: ctx.create_element_type("", "Box"), "slug must be a non-empty string"),
        (lambda ctx: ctx.create_element_type("box", None), "name must be a non-empty string"),
        (lambda ctx: ctx.create_element_type("box", "Box", is_folder=1), "is_folder must be True or False"),
        (lambda ctx: ctx.retrieve_element("page 1"), "element_id must be a UUID"),
    ],
)
def test_type_checks(call_helpers, arkworker_sandbox, call, message):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match=message):
            call(ctx)

    call_helpers(handler)
    assert requests_of(arkworker_sandbox, "CreateElementType") == []


@both_levels
def test_create_element_type(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        assert ctx.create_element_type("box", "Box", is_folder=True) is None
        return ctx.corpus_types["box"]

    created, _ = call_helpers(handler)
    (row,) = arkworker_sandbox.objects("element_types", slug="box")
    assert (created["id"], created["display_name"], created["folder"]) == (row["id"], "Box", True)
    assert requests_of(arkworker_sandbox, "CreateElementType")[0].body == {
        "slug": "box",
        "display_name": "Box",
        "folder": True,
        "corpus": arkworker_sandbox.corpus_id,
    }


@both_levels
def test_a_type_created_meanwhile_is_picked_up(call_helpers, arkworker_sandbox):
    client = ArkindexClient(base_url=arkworker_sandbox.url, token=arkworker_sandbox.token)

    def handler(element, ctx):
        ctx.list_corpus_types()
        body = {"slug": "box", "display_name": "Box", "corpus": ctx.corpus_id}
        client.request("CreateElementType", body=body)  # another process
        ctx.check_required_types(["box"], create_missing=True)
        return ctx.corpus_types["box"]["id"]

    box, run = call_helpers(handler)
    assert [row["id"] for row in arkworker_sandbox.objects("element_types", slug="box")] == [box]
    assert "Unable to create the element type `box`. Refreshing corpus element types cache." in run.output


@both_levels
def test_retrieve_element_and_list_corpus_types(call_helpers, named):
    def handler(element, ctx):
        line = ctx.retrieve_element(named("Line 1"))
        again = ctx.retrieve_element(uuid.UUID(named("Line 1")))
        return line, again, ctx.list_corpus_types()

    (line, again, types), run = call_helpers(handler)
    assert isinstance(line, Element) and line == again
    assert (line.name, line.zone.polygon[0]) == ("Line 1", [10, 10])
    assert list(types) == ["folder", "page", "text_line", "word"]
    assert types["folder"]["folder"] is True
    assert "Loaded 4 element types in corpus" in run.output


def test_list_elements(call_helpers, arkworker_sandbox, named):
    def handler(element, ctx):
        ctx.create_sub_element(element, "text_line", "Line 3")
        everything = ctx.list_elements()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            by_version = list(ctx.list_elements(worker_version=False, type="page"))
        return (
            len(everything),
            [item.name for item in everything],
            [item.name for item in ctx.list_elements(top_level=True)],
            [item.name for item in ctx.list_elements(type="text_line", worker_run=ctx.worker_run_id)],
            [item.name for item in ctx.list_elements(name="line", with_zone=False)],
            [item.name for item in by_version],
            caught,
        )

    (count, names, top, mine, lines, pages, caught), _ = call_helpers(handler)
    assert count == 6
    assert names == ["Volume", "Page 1", "Line 1", "Line 2", "Page 2", "Line 3"]
    assert (top, mine, lines, pages) == (
        ["Volume"],
        ["Line 3"],
        ["Line 1", "Line 2", "Line 3"],
        ["Page 1", "Page 2"],
    )
    (deprecation,) = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert deprecation.filename == __file__  # the worker's line
    (first, *_) = requests_of(arkworker_sandbox, "ListElements")
    assert first.path == f"/api/v1/corpus/{arkworker_sandbox.corpus_id}/elements/"


def test_list_elements_follows_pages(call_helpers, arkworker_sandbox):
    def handler(element, ctx):
        ctx.create_elements(
            element,
            [{"name": f"w{i}", "type": "word", "polygon": [[0, 0], [0, 9], [9, 9]]} for i in range(30)],
        )
        return len(ctx.list_elements(type="word")), len(list(ctx.list_elements(type="word")))

    (count, listed), _ = call_helpers(handler)
    assert (count, listed) == (30, 30)
    assert len(requests_of(arkworker_sandbox, "ListElements")) == 1 + 2  # len(), then two pages


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ctx, e: ctx.list_elements(top_level="yes"), "top_level must be True or False"),
        (lambda ctx, e: ctx.list_elements(worker_run=True), "worker_run must be an id or False"),
        (lambda ctx, e: ctx.create_element_children(e, []), "children must be a non-empty list"),
        (
            lambda ctx, e: ctx.create_element_children(e, [e, "abc"]),
            "Child at index 1 in children: child must be an Element or a CachedElement",
        ),
        (lambda ctx, e: ctx.create_element_children("abc", [e]), "parent must be an Element"),
        (lambda ctx, e: ctx.create_element_children(e, [e], batch_size=0), "batch_size must be a positive"),
    ],
)
def test_listing_and_linking_checks(call_helpers, arkworker_sandbox, call, message):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match=message):
            call(ctx, element)

    call_helpers(handler)
    assert [
        record
        for record in arkworker_sandbox.requests
        if record.operation_id in ("ListElements", "CreateElementChildren")
    ] == []


def test_create_element_children(call_helpers, arkworker_sandbox, named):
    def handler(element, ctx):
        volume = ctx.retrieve_element(named("Volume"))
        lines = list(ctx.list_element_children(element, type="text_line"))
        page_2 = ctx.retrieve_element(named("Page 2"))
        linked = ctx.create_element_children(page_2, lines, batch_size=1)
        with pytest.raises(ArkindexValidationError, match="cannot be a parent of its own ancestor"):
            ctx.create_element_children(element, [volume])
        return linked, [child.name for child in ctx.list_element_children(page_2)]

    (linked, children), _ = call_helpers(handler)
    assert linked == [named("Line 1"), named("Line 2")]
    assert children == ["Line 1", "Line 2"]
    bodies = [record.body for record in requests_of(arkworker_sandbox, "CreateElementChildren")]
    assert bodies[:2] == [{"children": [named("Line 1")]}, {"children": [named("Line 2")]}]
    parents = {
        row["parent_id"] for row in arkworker_sandbox.objects("element_paths", child_id=named("Line 1"))
    }
    assert parents == {named("Page 1"), named("Page 2")}


@legacy
@pytest.mark.parametrize(
    ("call", "helper", "operation"),
    [
        (lambda ctx, e: ctx.list_elements(), "list_elements", "ListElements"),
        (
            lambda ctx, e: ctx.create_element_children(e, [e]),
            "create_element_children",
            "CreateElementChildren",
        ),
    ],
)
def test_a_legacy_instance_lacks_the_operations_of_today(
    call_helpers, arkworker_sandbox, call, helper, operation
):
    def handler(element, ctx):
        with pytest.raises(OperationUnavailable) as refused:
            call(ctx, element)
        return str(refused.value)

    message, _ = call_helpers(handler)
    assert message == (
        f"ctx.{helper}() needs the {operation} operation, which {arkworker_sandbox.url} (API level legacy) "
        "does not offer: it came with today's Arkindex (arkindex-base-worker 0.4 to 0.6)."
    )
    assert requests_of(arkworker_sandbox, operation) == []
