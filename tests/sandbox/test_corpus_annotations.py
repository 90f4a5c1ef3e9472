"""Corpus file sections for classes, entity types, entities, classifications and metadata."""

import pytest

from arkworker.sandbox import CorpusError, Sandbox

BASE = {"corpus": {"name": "Annotated"}, "images": [{"name": "scan", "width": 100, "height": 100}]}


def corpus(**sections):
    return {**BASE, **sections}


def test_every_section_is_seeded(tmp_path):
    spec = corpus(
        classes=["cat", "dog"],
        entity_types=["person", {"name": "place", "color": "00ff00"}],
        entities=[{"name": "Paris", "type": "place", "metas": {"country": "France"}, "validated": True}],
        elements=[
            {
                "name": "Page",
                "type": "page",
                "image": "scan",
                "classifications": ["cat", {"class": "dog", "confidence": 0.4, "state": "validated"}],
                "metadata": [
                    {"name": "folio", "value": 12},
                    {"type": "reference", "name": "at", "value": "Paris", "entity": "Paris"},
                ],
            }
        ],
    )
    sandbox = Sandbox(spec, db_path=tmp_path / "state.sqlite")
    classes = {row["id"]: row["name"] for row in sandbox.objects("ml_classes")}
    assert sorted(classes.values()) == ["cat", "dog"]
    rows = sandbox.objects("classifications")
    assert [(classes[r["ml_class_id"]], r["confidence"], r["state"]) for r in rows] == [
        ("cat", 1.0, "pending"),
        ("dog", 0.4, "validated"),
    ]
    (paris,) = sandbox.objects("entities")
    assert (paris["metas"], paris["validated"]) == ({"country": "France"}, True)
    assert [t["color"] for t in sandbox.objects("entity_types")] == ["ff0000", "00ff00"]
    metadata = sandbox.objects("metadata")
    assert [(m["type"], m["value"], m["entity_id"]) for m in metadata] == [
        ("text", "12", None),
        ("reference", "Paris", paris["id"]),
    ]
    assert sandbox.created() == {}  # manual annotations belong to no worker run
    again = Sandbox(spec, db_path=tmp_path / "other.sqlite")
    assert again.objects("classifications")[0]["id"] == rows[0]["id"]  # derived ids are stable


def test_undeclared_classes_and_entity_types_are_created_from_their_use(tmp_path):
    spec = corpus(
        entities=[{"name": "Ada", "type": "person"}],
        elements=[{"name": "Page", "type": "page", "classifications": ["cat"]}],
    )
    sandbox = Sandbox(spec, db_path=tmp_path / "state.sqlite")
    assert [row["name"] for row in sandbox.objects("ml_classes")] == ["cat"]
    assert [row["name"] for row in sandbox.objects("entity_types")] == ["person"]


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"classes": ["cat", "cat"]}, "classes[1]: duplicate class 'cat'"),
        (
            {"classes": ["cat"], "elements": [{"name": "P", "type": "page", "classifications": ["dog"]}]},
            "elements[0].classifications[0].class: unknown class 'dog' (declared: cat)",
        ),
        (
            {"elements": [{"name": "P", "type": "page", "classifications": ["cat", "cat"]}]},
            "elements[0].classifications[1].class: the element already has the class 'cat'",
        ),
        (
            {
                "elements": [
                    {"name": "P", "type": "page", "classifications": [{"class": "cat", "confidence": 2}]}
                ]
            },
            "elements[0].classifications[0].confidence: expected a number between 0 and 1",
        ),
        (
            {"entity_types": ["person"], "entities": [{"name": "Paris", "type": "place"}]},
            "entities[0].type: unknown entity type 'place' (declared: person)",
        ),
        ({"entities": [{"name": "Paris"}]}, "entities[0]: missing 'type'"),
        (
            {
                "elements": [
                    {"name": "P", "type": "page", "metadata": [{"name": "a", "value": 1, "type": "color"}]}
                ]
            },
            "elements[0].metadata[0].type: 'color' is not one of text, html",
        ),
        (
            {"elements": [{"name": "P", "type": "page", "metadata": [{"name": "a", "value": [1]}]}]},
            "elements[0].metadata[0].value: expected a string or a number",
        ),
        (
            {
                "elements": [
                    {"name": "P", "type": "page", "metadata": [{"name": "a", "value": 1, "entity": "X"}]}
                ]
            },
            "elements[0].metadata[0].entity: no entity named 'X' in the entities section",
        ),
    ],
)
def test_errors_are_one_line_with_the_location(sections, message):
    with pytest.raises(CorpusError) as info:
        Sandbox(corpus(**sections))
    assert message in str(info.value)
    assert "\n" not in str(info.value)
