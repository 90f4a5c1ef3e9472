"""Corpus file sections for annotations: ML classes, entity types, entities, classifications, metadata.

Top-level keys (all optional)::

    classes: [cat, dog]                   # default: the classes the classifications use
    entity_types: [person, {name: place, color: 00ff00}]   # default: those the entities use
    entities:
      - {name: Paris, type: place, metas: {country: France}, validated: true}

Element keys::

    classifications: [cat, {class: dog, confidence: 0.4, high_confidence: false, state: validated}]
    metadata: [{name: folio, value: 12r}, {type: reference, name: place, value: Paris, entity: Paris}]

Annotations in a corpus file are manual (no worker run).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from arkworker.sandbox.corpus.section import Section
from arkworker.sandbox.handlers.classifications import Classification, MLClass
from arkworker.sandbox.handlers.entities import Entity, EntityType
from arkworker.sandbox.handlers.metadata import META_TYPES, MetaData

if TYPE_CHECKING:
    from arkworker.sandbox.corpus.parser import Parser
    from arkworker.sandbox.corpus.spec import Rows

CLASSIFICATION_STATES = ("pending", "validated", "rejected")


class Annotations(Section):
    """The annotation rows of one corpus file: declared at the top, used on elements."""

    keys = ("classes", "entity_types", "entities")
    element_keys = ("classifications", "metadata")

    def __init__(self, parser: Parser) -> None:
        super().__init__(parser)
        self.classes: dict[str, dict[str, Any]] | None = None
        self.used_classes: dict[str, dict[str, Any]] = {}
        self.entity_types: dict[str, dict[str, Any]] | None = None
        self.used_entity_types: dict[str, dict[str, Any]] = {}
        self.entities: list[dict[str, Any]] = []
        self.entities_by_name: dict[str, list[dict[str, Any]]] = {}
        self.classifications: list[dict[str, Any]] = []
        self.metadata: list[dict[str, Any]] = []

    @property
    def corpus_id(self) -> str:
        return self.parser.spec.corpus["id"]

    def rows(self) -> list[Rows]:
        classes = self.classes if self.classes is not None else self.used_classes
        types = self.entity_types if self.entity_types is not None else self.used_entity_types
        return [
            (MLClass, list(classes.values())),
            (EntityType, list(types.values())),
            (Entity, self.entities),
            (Classification, self.classifications),
            (MetaData, self.metadata),
        ]

    # -- top level -----------------------------------------------------------------------------

    def declare(self, top: Mapping[str, Any]) -> None:
        p = self.parser
        if "classes" in top:
            self.classes = {}
            for index, name in enumerate(p.sequence(top["classes"], "classes")):
                name = p.string(name, f"classes[{index}]")
                if name in self.classes:
                    p.fail(f"classes[{index}]", f"duplicate class {name!r}")
                self.classes[name] = self._class_row(name, f"classes[{index}]")
        if "entity_types" in top:
            self.entity_types = {}
            for index, entry in enumerate(p.sequence(top["entity_types"], "entity_types")):
                loc = f"entity_types[{index}]"
                entry = p.mapping(
                    {"name": entry} if isinstance(entry, str) else entry, loc, ("id", "name", "color")
                )
                if "name" not in entry:
                    p.fail(loc, "missing 'name'")
                name = p.string(entry["name"], f"{loc}.name")
                if name in self.entity_types:
                    p.fail(f"{loc}.name", f"duplicate entity type {name!r}")
                self.entity_types[name] = self._entity_type_row(entry, loc)
        for index, entry in enumerate(p.sequence(top.get("entities", []), "entities")):
            self._parse_entity(entry, f"entities[{index}]")

    def _class_row(self, name: str, loc: str) -> dict[str, Any]:
        row_id = self.parser.identifier({}, loc, "ml_classes", derive_from=f"classes\n{name}")
        return {"id": row_id, "corpus": self.corpus_id, "name": name}

    def _entity_type_row(self, entry: Mapping[str, Any], loc: str) -> dict[str, Any]:
        p = self.parser
        row = {
            "id": p.identifier(entry, loc, "entity_types", derive_from=f"entity_types\n{entry['name']}"),
            "corpus": self.corpus_id,
            "name": entry["name"],
            "color": p.string(entry.get("color", "ff0000"), f"{loc}.color"),
        }
        return row

    def _entity_type(self, name: Any, loc: str) -> str:
        p = self.parser
        name = p.string(name, loc)
        if self.entity_types is not None:
            if name not in self.entity_types:
                p.fail(
                    loc, f"unknown entity type {name!r} (declared: {', '.join(self.entity_types) or 'none'})"
                )
            return self.entity_types[name]["id"]
        if name not in self.used_entity_types:
            self.used_entity_types[name] = self._entity_type_row({"name": name}, f"entity_types.{name}")
        return self.used_entity_types[name]["id"]

    def _parse_entity(self, entry: Any, loc: str) -> None:
        p = self.parser
        entry = p.mapping(entry, loc, ("id", "name", "type", "metas", "validated"))
        for required in ("name", "type"):
            if required not in entry:
                p.fail(loc, f"missing '{required}'")
        row: dict[str, Any] = {
            "id": p.identifier(entry, loc, "entities"),
            "corpus": self.corpus_id,
            "type": self._entity_type(entry["type"], f"{loc}.type"),
            "name": p.string(entry["name"], f"{loc}.name"),
            "metas": p.dictionary(entry["metas"], f"{loc}.metas") if entry.get("metas") is not None else None,
            "validated": p.boolean(entry.get("validated", False), f"{loc}.validated"),
        }
        self.entities.append(row)
        self.entities_by_name.setdefault(row["name"], []).append(row)

    # -- element level ---------------------------------------------------------------------------

    def element(self, entry: Mapping[str, Any], loc: str, element_id: str) -> None:
        p = self.parser
        for index, item in enumerate(p.sequence(entry.get("classifications", []), f"{loc}.classifications")):
            self._parse_classification(item, f"{loc}.classifications[{index}]", element_id)
        for index, item in enumerate(p.sequence(entry.get("metadata", []), f"{loc}.metadata")):
            self._parse_metadata(item, f"{loc}.metadata[{index}]", element_id)

    def _ml_class(self, name: Any, loc: str) -> str:
        p = self.parser
        name = p.string(name, loc)
        if self.classes is not None:
            if name not in self.classes:
                p.fail(loc, f"unknown class {name!r} (declared: {', '.join(self.classes) or 'none'})")
            return self.classes[name]["id"]
        if name not in self.used_classes:
            self.used_classes[name] = self._class_row(name, f"classes.{name}")
        return self.used_classes[name]["id"]

    def _parse_classification(self, item: Any, loc: str, element_id: str) -> None:
        p = self.parser
        item = p.mapping(
            {"class": item} if isinstance(item, str) else item,
            loc,
            ("id", "class", "confidence", "high_confidence", "state"),
        )
        if "class" not in item:
            p.fail(loc, "missing 'class'")
        class_id = self._ml_class(item["class"], f"{loc}.class")
        if any(row["element"] == element_id and row["ml_class"] == class_id for row in self.classifications):
            p.fail(f"{loc}.class", f"the element already has the class {item['class']!r}")
        confidence = p.confidence(item.get("confidence", 1.0), f"{loc}.confidence")
        if confidence is None:
            p.fail(f"{loc}.confidence", "a classification needs a confidence between 0 and 1")
        self.classifications.append(
            {
                "id": p.identifier(item, loc, "classifications"),
                "element": element_id,
                "ml_class": class_id,
                "confidence": confidence,
                "high_confidence": p.boolean(item.get("high_confidence", False), f"{loc}.high_confidence"),
                "state": p.string(
                    item.get("state", "pending"), f"{loc}.state", choices=CLASSIFICATION_STATES
                ),
            }
        )

    def _parse_metadata(self, item: Any, loc: str, element_id: str) -> None:
        p = self.parser
        item = p.mapping(item, loc, ("id", "type", "name", "value", "entity"))
        for required in ("name", "value"):
            if required not in item:
                p.fail(loc, f"missing '{required}'")
        value = item["value"]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            p.fail(f"{loc}.value", f"expected a string or a number, got {value!r}")
        entity_id = None
        if item.get("entity") is not None:
            name = p.string(item["entity"], f"{loc}.entity")
            named = self.entities_by_name.get(name, [])
            if len(named) != 1:
                problem = "no entity" if not named else f"{len(named)} entities"
                p.fail(f"{loc}.entity", f"{problem} named {name!r} in the entities section")
            entity_id = named[0]["id"]
        self.metadata.append(
            {
                "id": p.identifier(item, loc, "metadata"),
                "element": element_id,
                "type": p.string(item.get("type", "text"), f"{loc}.type", choices=META_TYPES),
                "name": p.string(item["name"], f"{loc}.name"),
                "value": str(value),
                "entity": entity_id,
            }
        )
