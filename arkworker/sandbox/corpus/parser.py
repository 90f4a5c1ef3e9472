"""The corpus parser: the core sections, and the hooks that run the others.

The core sections are those every sandbox has: ``corpus``, ``types``, ``images``,
``elements`` (with their ``transcriptions``) and ``worker_run`` (:mod:`.run`). The others
are :class:`~arkworker.sandbox.corpus.section.Section` subclasses listed in
:data:`SECTIONS`; the parser knows them only through that list.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from arkworker.sandbox.corpus.annotations import Annotations
from arkworker.sandbox.corpus.datasets import Datasets
from arkworker.sandbox.corpus.local_images import with_local_file
from arkworker.sandbox.corpus.models import Models
from arkworker.sandbox.corpus.run import parse_worker_run
from arkworker.sandbox.corpus.secrets import Secrets
from arkworker.sandbox.corpus.section import Section
from arkworker.sandbox.corpus.spec import CorpusSpec
from arkworker.sandbox.corpus.tasks import Tasks
from arkworker.sandbox.corpus.values import Values, at, listing, show
from arkworker.sandbox.handlers.transcriptions import ORIENTATIONS
from arkworker.sandbox.operations import API_LEVELS

#: The optional sections, in the order of their keys in messages, of their hooks and of their rows.
SECTIONS: tuple[type[Section], ...] = (Secrets, Tasks, Datasets, Annotations, Models)

TOP_KEYS = (
    "api_level",
    "corpus",
    "types",
    "images",
    "elements",
    "worker_run",
    *(name for section in SECTIONS for name in section.keys),
)
ELEMENT_KEYS = (
    "id",
    "name",
    "type",
    "image",
    "polygon",
    "rotation_angle",
    "mirrored",
    "confidence",
    "transcriptions",
    "children",
    *(name for section in SECTIONS for name in section.element_keys),
)
_COLOR = re.compile(r"^[0-9a-fA-F]{6}$")


class Parser(Values):
    """Turns the data of one corpus file into a :class:`CorpusSpec`, or fails on its first problem."""

    def __init__(
        self, label: str, base_dir: Path | None = None, declared_fields: Sequence[Mapping[str, Any]] = ()
    ) -> None:
        super().__init__(label)
        #: Where relative file paths of the corpus (images, dataset archives) start.
        self.base_dir = base_dir or Path.cwd()
        #: The configuration fields the worker run declares itself (see :mod:`.configuration`).
        self.declared_fields = tuple(declared_fields)
        self.spec: CorpusSpec
        self.sections: list[Section] = []
        self.declared_types: dict[str, dict[str, Any]] | None = None
        self.used_types: list[str] = []
        self.images_by_id: dict[str, dict[str, Any]] = {}
        self.images_by_name: dict[str, dict[str, Any]] = {}
        self.element_locations: dict[str, str] = {}

    def parse(self, data: Any) -> CorpusSpec:
        if data is None:
            self.fail("", "the file is empty; it needs at least corpus: {name: ...}")
        top = self.mapping(data, "", TOP_KEYS)
        if "corpus" not in top:
            self.fail("", "missing the 'corpus' mapping (at least corpus: {name: ...})")
        corpus = self.mapping(top["corpus"], "corpus", ("id", "name", "description", "public"))
        if "name" not in corpus:
            self.fail("corpus", "missing 'name'")
        self.corpus_name = self.string(corpus["name"], "corpus.name")
        description = corpus.get("description", "")
        if not isinstance(description, str):
            self.fail("corpus.description", f"expected a string, got {show(description)}")
        self.spec = CorpusSpec(
            label=self.label,
            corpus={
                "id": self.identifier(corpus, "corpus", "corpora", derive_from="corpus"),
                "name": self.corpus_name,
                "description": description,
                "public": self.boolean(corpus.get("public", False), "corpus.public"),
            },
        )
        if "api_level" in top:
            self.spec.api_level = self.string(top["api_level"], "api_level", choices=API_LEVELS)
        if "types" in top:
            self.parse_types(self.sequence(top["types"], "types"))
        for index, image in enumerate(self.sequence(top.get("images", []), "images")):
            self.parse_image(image, f"images[{index}]")
        self.sections = [section(self) for section in SECTIONS]
        for section in self.sections:
            section.declare(top)
        for index, element in enumerate(self.sequence(top.get("elements", []), "elements")):
            self.parse_element(element, f"elements[{index}]", parent=None, ordering=index)
        if self.declared_types is None:
            self.spec.types = [self.type_row({"slug": slug}, f"types.{slug}") for slug in self.used_types]
        parse_worker_run(self, top.get("worker_run") or {}, "worker_run")
        for section in self.sections:
            section.parse(top)
        self.spec.sections = [rows for section in self.sections for rows in section.rows()]
        return self.spec

    def type_row(self, entry: Mapping[str, Any], loc: str) -> dict[str, Any]:
        slug = entry["slug"]
        display_name = entry.get("display_name", slug.capitalize())
        color = entry.get("color", "28b62c")
        if not isinstance(color, str) or not _COLOR.match(color):
            self.fail(at(loc, "color"), f"expected 6 hexadecimal digits such as 28b62c, got {show(color)}")
        return {
            "id": self.identifier(entry, loc, "element_types", derive_from=f"types\n{slug}"),
            "corpus": self.spec.corpus["id"],
            "slug": slug,
            "display_name": self.string(display_name, at(loc, "display_name")),
            "folder": self.boolean(entry.get("folder", slug == "folder"), at(loc, "folder")),
            "color": color.lower(),
        }

    def parse_types(self, entries: list[Any]) -> None:
        self.declared_types = {}
        for index, entry in enumerate(entries):
            loc = f"types[{index}]"
            if isinstance(entry, str):
                entry = {"slug": entry}
            entry = self.mapping(entry, loc, ("id", "slug", "display_name", "folder", "color"))
            if "slug" not in entry:
                self.fail(loc, "missing 'slug'")
            slug = self.string(entry["slug"], at(loc, "slug"))
            if slug in self.declared_types:
                self.fail(at(loc, "slug"), f"duplicate type {slug!r}")
            self.declared_types[slug] = row = self.type_row(entry, loc)
            self.spec.types.append(row)

    def parse_image(self, entry: Any, loc: str) -> None:
        keys = ("id", "name", "url", "path", "width", "height", "max_width", "max_height", "s3_url")
        entry = self.mapping(entry, loc, keys)
        if entry.get("path") is not None:
            entry = with_local_file(self, entry, loc)
        for required in ("width", "height"):
            if required not in entry:
                self.fail(
                    loc, f"missing '{required}' (the full image size in pixels), or a 'path' to the file"
                )
        row = {
            "id": self.identifier(entry, loc, "images"),
            "name": self.string(entry["name"], at(loc, "name")) if entry.get("name") is not None else None,
            "url": None,
            "width": self.integer(entry["width"], at(loc, "width"), 1),
            "height": self.integer(entry["height"], at(loc, "height"), 1),
            "s3_url": None,
            "max_width": None,
            "max_height": None,
            "path": entry.get("path"),
        }
        for key in ("url", "s3_url"):
            if entry.get(key) is not None:
                url = self.string(entry[key], at(loc, key))
                if not url.startswith(("http://", "https://")):
                    self.fail(at(loc, key), f"expected an http(s) URL, got {url!r}")
                row[key] = url.rstrip("/")
        for key in ("max_width", "max_height"):
            if entry.get(key) is not None:
                row[key] = self.integer(entry[key], at(loc, key), 1)
        if row["name"] is not None:
            if row["name"] in self.images_by_name:
                self.fail(at(loc, "name"), f"duplicate image name {row['name']!r}")
            self.images_by_name[row["name"]] = row
        self.images_by_id[row["id"]] = row
        self.spec.images.append(row)

    def resolve_image(self, reference: Any, loc: str) -> dict[str, Any]:
        """The row of the image a reference names, by id or by name."""
        if not isinstance(reference, str):
            self.fail(loc, f"expected an image id or name, got {show(reference)}")
        try:
            image = self.images_by_id.get(str(uuid.UUID(reference)))
        except ValueError:
            image = None
        image = image or self.images_by_name.get(reference)
        if image is None:
            self.fail(
                loc,
                f"unknown image {reference!r} (images: {listing(self.images_by_name or self.images_by_id)})",
            )
        return image

    def polygon(self, value: Any, loc: str, image: Mapping[str, Any]) -> list[list[int | float]]:
        points = self.sequence(value, loc)
        if len(points) < 3:
            self.fail(loc, f"a polygon needs at least 3 points, got {len(points)}")
        width, height = image["width"], image["height"]
        for index, point in enumerate(points):
            if not (
                isinstance(point, list)
                and len(point) == 2
                and all(isinstance(c, int | float) and not isinstance(c, bool) for c in point)
            ):
                self.fail(f"{loc}[{index}]", f"expected a point [x, y] of two numbers, got {show(point)}")
            if not (0 <= point[0] <= width and 0 <= point[1] <= height):
                self.fail(f"{loc}[{index}]", f"point {point} is outside the image ({width}x{height})")
        polygon = [list(point) for point in points]
        if polygon[0] != polygon[-1]:
            polygon.append(list(polygon[0]))  # Arkindex stores closed rings
        return polygon

    def element_type(self, value: Any, loc: str) -> str:
        slug = self.string(value, loc)
        if self.declared_types is not None and slug not in self.declared_types:
            self.fail(loc, f"unknown type {slug!r} (declared: {listing(self.declared_types)})")
        if slug not in self.used_types:
            self.used_types.append(slug)
        return slug

    def parse_element(self, entry: Any, loc: str, parent: str | None, ordering: int) -> None:
        entry = self.mapping(entry, loc, ELEMENT_KEYS)
        for required in ("name", "type"):
            if required not in entry:
                self.fail(loc, f"missing '{required}'")
        element_id = self.identifier(entry, loc, "elements")
        row: dict[str, Any] = {
            "id": element_id,
            "corpus": self.spec.corpus["id"],
            "type": self.element_type(entry["type"], at(loc, "type")),
            "name": self.string(entry["name"], at(loc, "name")),
            "image": None,
            "polygon": None,
            "rotation_angle": self.integer(entry.get("rotation_angle", 0), at(loc, "rotation_angle"), 0, 359),
            "mirrored": self.boolean(entry.get("mirrored", False), at(loc, "mirrored")),
            "confidence": self.confidence(entry.get("confidence"), at(loc, "confidence")),
        }
        if entry.get("image") is not None:
            image = self.resolve_image(entry["image"], at(loc, "image"))
            row["image"] = image["id"]
            if entry.get("polygon") is not None:
                row["polygon"] = self.polygon(entry["polygon"], at(loc, "polygon"), image)
            else:
                w, h = image["width"], image["height"]
                row["polygon"] = [[0, 0], [0, h], [w, h], [w, 0], [0, 0]]
        elif entry.get("polygon") is not None:
            self.fail(at(loc, "polygon"), "a polygon needs an image: add image: <image id or name>")
        self.spec.elements.append(row)
        self.element_locations[element_id] = loc
        if parent is not None:
            self.spec.paths.append({"parent": parent, "child": element_id, "ordering": ordering})
        transcriptions = self.sequence(entry.get("transcriptions", []), at(loc, "transcriptions"))
        for index, transcription in enumerate(transcriptions):
            self.parse_transcription(transcription, f"{loc}.transcriptions[{index}]", element_id)
        for section in self.sections:
            section.element(entry, loc, element_id)
        children = self.sequence(entry.get("children", []), at(loc, "children"))
        for index, child in enumerate(children):
            self.parse_element(child, f"{loc}.children[{index}]", parent=element_id, ordering=index)

    def parse_transcription(self, entry: Any, loc: str, element_id: str) -> None:
        if isinstance(entry, str):
            entry = {"text": entry}
        entry = self.mapping(entry, loc, ("id", "text", "confidence", "orientation"))
        if "text" not in entry:
            self.fail(loc, "missing 'text'")
        orientation = entry.get("orientation", "horizontal-lr")
        self.spec.transcriptions.append(
            {
                "id": self.identifier(entry, loc, "transcriptions"),
                "element": element_id,
                "text": self.string(entry["text"], at(loc, "text")),
                "confidence": self.confidence(entry.get("confidence"), at(loc, "confidence")),
                "orientation": self.string(orientation, at(loc, "orientation"), choices=ORIENTATIONS),
            }
        )

    def resolve_element(self, reference: Any, loc: str) -> str:
        """The id of the element a reference names: its id, or a name only one element has."""
        if not isinstance(reference, str):
            self.fail(loc, f"expected an element id or name, got {show(reference)}")
        try:
            as_id = str(uuid.UUID(reference))
        except ValueError:
            as_id = None
        if as_id in self.element_locations:
            return as_id
        named = [row["id"] for row in self.spec.elements if row["name"] == reference]
        if not named:
            self.fail(loc, f"unknown element {reference!r} (give an element's id or name)")
        if len(named) > 1:
            self.fail(loc, f"{len(named)} elements are named {reference!r}: give the id of the one to use")
        return named[0]
