"""Corpus files: the data a sandbox is seeded with, validated with one-line errors.

A corpus file is YAML (``.yml``/``.yaml``) or JSON (``.json``). Only ``corpus.name`` is
required at the top; every section has a default, and inside a section only what
identifies an entry is required (an element's ``name`` and ``type``, an image's ``width``
and ``height``, a transcription's ``text``, a type's ``slug``). Every id is optional: a
missing id is derived with ``uuid5`` from the corpus name and the entry's position, so the
same file always gives the same ids (tests and ``--element`` arguments can rely on them)::

    corpus: {name: Demo corpus}          # also id, description, public
    types:                               # default: the types the elements use, named after
                                         # their slug; only "folder" is a folder type
      - {slug: folder, display_name: Folder, folder: true}
      - page                             # shorthand for {slug: page}
    images:
      - {name: scan-1, width: 2000, height: 3000, url: https://iiif.example.com/iiif/2/scan-1}
      - {name: scan-2, path: scans/2.jpg}  # a local file (relative to this file), served by
                                           # the sandbox's IIIF server; size read from the file
    elements:                            # a tree; image: an image's id or name
      - name: Volume 1
        type: folder
        children:
          - name: Page 1
            type: page
            image: scan-1                # polygon defaults to the full image
            transcriptions: ["Manual text", {text: Other, confidence: 0.5}]
    worker_run:                          # all optional: a default run and process exist
      process: {activity_state: ready, elements: [Page 1]}
      worker: {slug: demo, name: Demo}
      version: {configuration: {configuration: {threshold: 0.5}}}
    secrets: {path/to/key.json: '{"api": "xyz"}'}
    tasks: [{slug: init}, {slug: worker, parents: [init]}]   # see corpus_tasks.py
    datasets:                            # see arkworker.sandbox.corpus_datasets
      - {name: Lines, sets: {train: [Page 1]}, archive: lines.tar.zst}

Annotation sections (``classes``, ``entity_types``, ``entities`` at the top; ``classifications``
and ``metadata`` on elements) are described in :mod:`arkworker.sandbox.corpus_annotations`.

Every problem raises :class:`CorpusError` whose message is one line naming the file and
the location, e.g. ``demo.yml: elements[0].children[2].type: unknown type 'paeg'
(declared: folder, page, line)``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml
from peewee import chunked

from arkworker.sandbox import corpus_annotations
from arkworker.sandbox.corpus_datasets import parse_datasets
from arkworker.sandbox.corpus_images import local_image
from arkworker.sandbox.corpus_tasks import parse_tasks
from arkworker.sandbox.handlers.tasks import Task
from arkworker.sandbox.store import (
    Corpus,
    Element,
    ElementPath,
    ElementType,
    Image,
    Process,
    Secret,
    Store,
    Transcription,
    Worker,
    WorkerRun,
    WorkerVersion,
)

DEMO_CORPUS = Path(__file__).parent / "demo" / "corpus.yml"

#: Fixed namespace of derived ids: changing it would change every derived id.
ID_NAMESPACE = uuid.UUID("0f5d3c43-5f5e-5b3e-9d5a-61726b776f72")

ACTIVITY_STATES = ("ready", "disabled", "pending", "error")
PROCESS_MODES = ("workers", "files", "template", "s3", "local", "dataset", "export")
ORIENTATIONS = ("horizontal-lr", "horizontal-rl", "vertical-rl", "vertical-lr")

_TOP_KEYS = (
    "corpus",
    "types",
    "images",
    "elements",
    "worker_run",
    "secrets",
    "tasks",
    "datasets",
    *corpus_annotations.TOP_KEYS,
)
_ELEMENT_KEYS = (
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
    *corpus_annotations.ELEMENT_KEYS,
)
_COLOR = re.compile(r"^[0-9a-fA-F]{6}$")


class CorpusError(ValueError):
    """A corpus file that cannot seed a sandbox; the message is one line: file, location, problem."""


@dataclass
class CorpusSpec:
    """A validated corpus: the rows of each table, in insertion order, ready to seed a store."""

    label: str
    corpus: dict[str, Any]
    types: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    elements: list[dict[str, Any]] = field(default_factory=list)
    paths: list[dict[str, Any]] = field(default_factory=list)
    transcriptions: list[dict[str, Any]] = field(default_factory=list)
    worker: dict[str, Any] = field(default_factory=dict)
    version: dict[str, Any] = field(default_factory=dict)
    process: dict[str, Any] = field(default_factory=dict)
    worker_run: dict[str, Any] = field(default_factory=dict)
    secrets: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    #: Rows of other sections (datasets...), per table, inserted after the worker run.
    extra: list[tuple[Any, list[dict[str, Any]]]] = field(default_factory=list)
    #: (model, rows) of the annotation sections (classes, entities...), inserted last.
    annotations: list[tuple[Any, list[dict[str, Any]]]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.corpus["name"]

    def seed(self, store: Store) -> None:
        """Insert every row into an initialised, empty store, and record the seeded ids."""
        with store.session():
            Corpus.insert(**self.corpus).execute()
            for model, rows in (
                (ElementType, self.types),
                (Image, self.images),
                (Element, self.elements),
                (ElementPath, self.paths),
                (Transcription, self.transcriptions),
                (Secret, self.secrets),
                *self.annotations,
            ):
                for batch in chunked(rows, 100):
                    model.insert_many(batch).execute()
            Worker.insert(**self.worker).execute()
            WorkerVersion.insert(**self.version).execute()
            Process.insert(**self.process).execute()
            WorkerRun.insert(**self.worker_run).execute()
            for batch in chunked(self.tasks, 100):
                Task.insert_many(batch).execute()
            for model, rows in self.extra:
                for batch in chunked(rows, 100):
                    model.insert_many(batch).execute()
            store.set_meta("corpus_id", self.corpus["id"])
            store.set_meta("corpus_name", self.name)
            store.set_meta("worker_run_id", self.worker_run["id"])
            store.set_meta("process_id", self.process["id"])


# -- reading files ---------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping = loader.construct_mapping(node, deep=deep)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read(path: Path, label: str) -> Any:
    suffix = path.suffix.lower()
    if suffix not in (".yml", ".yaml", ".json"):
        raise CorpusError(
            f"{label}: unsupported file extension {suffix or '(none)'!r}: use .yml, .yaml or .json"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise CorpusError(f"{label}: not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise CorpusError(f"{label}: cannot read the corpus file ({error.strerror or error})") from None
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise CorpusError(
                f"{label}: line {error.lineno}, column {error.colno}: invalid JSON ({error.msg})"
            ) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: safe
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = " ".join(str(getattr(error, "problem", None) or error).split())
        raise CorpusError(f"{label}: {where}invalid YAML ({problem})") from None


def load_corpus(source: str | Path | Mapping[str, Any] | CorpusSpec | None) -> CorpusSpec:
    """Validate a corpus file (YAML or JSON by extension), a mapping, or None for the demo corpus."""
    if isinstance(source, CorpusSpec):
        return source
    if source is None:
        source = DEMO_CORPUS
    if isinstance(source, Mapping):
        return _Parser("<corpus mapping>").parse(source)
    return _Parser(str(source), Path(source).parent).parse(_read(Path(source), str(source)))


# -- validation ------------------------------------------------------------------------------


def _show(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _key(loc: str, key: str) -> str:
    return f"{loc}.{key}" if loc else key


def _listing(values: Iterable[str], limit: int = 10) -> str:
    values = list(values)
    shown = ", ".join(values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "") if values else "none"


class _Parser:
    def __init__(self, label: str, base_dir: Path | None = None) -> None:
        self.label = label
        self.base_dir = base_dir or Path.cwd()
        self.spec: CorpusSpec
        self.corpus_name = ""
        self.ids: dict[tuple[str, str], str] = {}
        self.declared_types: dict[str, dict[str, Any]] | None = None
        self.used_types: list[str] = []
        self.images_by_id: dict[str, dict[str, Any]] = {}
        self.images_by_name: dict[str, dict[str, Any]] = {}
        self.element_locations: dict[str, str] = {}

    # -- primitives --------------------------------------------------------------------------

    def fail(self, loc: str, message: str) -> NoReturn:
        raise CorpusError(f"{self.label}: {loc or 'top level'}: {message}")

    def mapping(self, value: Any, loc: str, keys: Collection[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(loc, f"expected a mapping, got {_show(value)}")
        for key in value:
            if key not in keys:
                self.fail(loc, f"unknown key {key!r} (valid keys: {', '.join(keys)})")
        return value

    def sequence(self, value: Any, loc: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(loc, f"expected a list, got {_show(value)}")
        return value

    def string(self, value: Any, loc: str, *, choices: Collection[str] | None = None) -> str:
        if not isinstance(value, str):
            self.fail(loc, f"expected a string, got {_show(value)}")
        if not value.strip():
            self.fail(loc, "may not be blank")
        if choices is not None and value not in choices:
            self.fail(loc, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def integer(self, value: Any, loc: str, minimum: int, maximum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(loc, f"expected an integer, got {_show(value)}")
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            self.fail(loc, f"must be {bounds}, got {value}")
        return value

    def confidence(self, value: Any, loc: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            self.fail(loc, f"expected a number between 0 and 1, got {_show(value)}")
        return float(value)

    def boolean(self, value: Any, loc: str) -> bool:
        if not isinstance(value, bool):
            self.fail(loc, f"expected true or false, got {_show(value)}")
        return value

    def dictionary(self, value: Any, loc: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(loc, f"expected a mapping, got {_show(value)}")
        return value

    def identifier(
        self, entry: Mapping[str, Any], loc: str, table: str, derive_from: str | None = None
    ) -> str:
        """The entry's ``id`` (a UUID, unique in its table) or one derived from its position."""
        if "id" in entry:
            value = entry["id"]
            if not isinstance(value, str):
                self.fail(_key(loc, "id"), f"expected a UUID string, got {_show(value)}")
            try:
                identifier = str(uuid.UUID(value))
            except ValueError:
                self.fail(_key(loc, "id"), f"{value!r} is not a valid UUID")
        else:
            identifier = str(uuid.uuid5(ID_NAMESPACE, f"{self.corpus_name}\n{derive_from or loc}"))
        previous = self.ids.setdefault((table, identifier), loc or "corpus")
        if previous != (loc or "corpus"):
            self.fail(_key(loc, "id"), f"duplicate id {identifier} (already used by {previous})")
        return identifier

    # -- sections ------------------------------------------------------------------------------

    def parse(self, data: Any) -> CorpusSpec:
        if data is None:
            self.fail("", "the file is empty; it needs at least corpus: {name: ...}")
        top = self.mapping(data, "", _TOP_KEYS)
        if "corpus" not in top:
            self.fail("", "missing the 'corpus' mapping (at least corpus: {name: ...})")
        corpus = self.mapping(top["corpus"], "corpus", ("id", "name", "description", "public"))
        if "name" not in corpus:
            self.fail("corpus", "missing 'name'")
        self.corpus_name = self.string(corpus["name"], "corpus.name")
        description = corpus.get("description", "")
        if not isinstance(description, str):
            self.fail("corpus.description", f"expected a string, got {_show(description)}")
        self.spec = CorpusSpec(
            label=self.label,
            corpus={
                "id": self.identifier(corpus, "corpus", "corpora", derive_from="corpus"),
                "name": self.corpus_name,
                "description": description,
                "public": self.boolean(corpus.get("public", False), "corpus.public"),
            },
        )
        if "types" in top:
            self.parse_types(self.sequence(top["types"], "types"))
        for index, image in enumerate(self.sequence(top.get("images", []), "images")):
            self.parse_image(image, f"images[{index}]")
        self.annotations = corpus_annotations.Annotations(self)
        self.annotations.parse_top(top)
        for index, element in enumerate(self.sequence(top.get("elements", []), "elements")):
            self.parse_element(element, f"elements[{index}]", parent=None, ordering=index)
        if self.declared_types is None:
            self.spec.types = [self.type_row({"slug": slug}, f"types.{slug}") for slug in self.used_types]
        self.spec.annotations = self.annotations.rows()
        self.parse_worker_run(top.get("worker_run") or {}, "worker_run")
        self.spec.extra = parse_datasets(self, top.get("datasets") or [], "datasets")
        secrets = top.get("secrets") or {}
        for name, content in self.dictionary(secrets, "secrets").items():
            loc = f"secrets[{name!r}]"
            self.string(name, loc)
            if not isinstance(content, str):
                self.fail(loc, f"expected the secret's content as a string, got {_show(content)}")
            secret_id = self.identifier({}, loc, "secrets", derive_from=f"secrets\n{name}")
            self.spec.secrets.append({"id": secret_id, "name": name, "content": content})
        self.spec.tasks = parse_tasks(self, top.get("tasks") or [], "tasks", self.spec.process["id"])
        return self.spec

    def type_row(self, entry: Mapping[str, Any], loc: str) -> dict[str, Any]:
        slug = entry["slug"]
        display_name = entry.get("display_name", slug.capitalize())
        color = entry.get("color", "28b62c")
        if not isinstance(color, str) or not _COLOR.match(color):
            self.fail(_key(loc, "color"), f"expected 6 hexadecimal digits such as 28b62c, got {_show(color)}")
        return {
            "id": self.identifier(entry, loc, "element_types", derive_from=f"types\n{slug}"),
            "corpus": self.spec.corpus["id"],
            "slug": slug,
            "display_name": self.string(display_name, _key(loc, "display_name")),
            "folder": self.boolean(entry.get("folder", slug == "folder"), _key(loc, "folder")),
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
            slug = self.string(entry["slug"], _key(loc, "slug"))
            if slug in self.declared_types:
                self.fail(_key(loc, "slug"), f"duplicate type {slug!r}")
            self.declared_types[slug] = row = self.type_row(entry, loc)
            self.spec.types.append(row)

    def parse_image(self, entry: Any, loc: str) -> None:
        keys = ("id", "name", "url", "path", "width", "height", "max_width", "max_height", "s3_url")
        entry = self.mapping(entry, loc, keys)
        if entry.get("path") is not None:
            entry = self.local_image(entry, loc)
        for required in ("width", "height"):
            if required not in entry:
                self.fail(
                    loc, f"missing '{required}' (the full image size in pixels), or a 'path' to the file"
                )
        row = {
            "id": self.identifier(entry, loc, "images"),
            "name": self.string(entry["name"], _key(loc, "name")) if entry.get("name") is not None else None,
            "url": None,
            "width": self.integer(entry["width"], _key(loc, "width"), 1),
            "height": self.integer(entry["height"], _key(loc, "height"), 1),
            "s3_url": None,
            "max_width": None,
            "max_height": None,
            "path": entry.get("path"),
        }
        for key in ("url", "s3_url"):
            if entry.get(key) is not None:
                url = self.string(entry[key], _key(loc, key))
                if not url.startswith(("http://", "https://")):
                    self.fail(_key(loc, key), f"expected an http(s) URL, got {url!r}")
                row[key] = url.rstrip("/")
        for key in ("max_width", "max_height"):
            if entry.get(key) is not None:
                row[key] = self.integer(entry[key], _key(loc, key), 1)
        if row["name"] is not None:
            if row["name"] in self.images_by_name:
                self.fail(_key(loc, "name"), f"duplicate image name {row['name']!r}")
            self.images_by_name[row["name"]] = row
        self.images_by_id[row["id"]] = row
        self.spec.images.append(row)

    def local_image(self, entry: dict[str, Any], loc: str) -> dict[str, Any]:
        """The entry with its file's absolute path, and its size unless given."""
        if entry.get("url") is not None:
            self.fail(loc, "give either 'url' (a IIIF server) or 'path' (a local file), not both")
        try:
            path, width, height = local_image(self.string(entry["path"], _key(loc, "path")), self.base_dir)
        except ValueError as error:
            self.fail(_key(loc, "path"), str(error))
        return {"width": width, "height": height, **entry, "path": path}

    def resolve_image(self, reference: Any, loc: str) -> dict[str, Any]:
        if not isinstance(reference, str):
            self.fail(loc, f"expected an image id or name, got {_show(reference)}")
        try:
            image = self.images_by_id.get(str(uuid.UUID(reference)))
        except ValueError:
            image = None
        image = image or self.images_by_name.get(reference)
        if image is None:
            self.fail(
                loc,
                f"unknown image {reference!r} (images: {_listing(self.images_by_name or self.images_by_id)})",
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
                self.fail(f"{loc}[{index}]", f"expected a point [x, y] of two numbers, got {_show(point)}")
            if not (0 <= point[0] <= width and 0 <= point[1] <= height):
                self.fail(f"{loc}[{index}]", f"point {point} is outside the image ({width}x{height})")
        polygon = [list(point) for point in points]
        if polygon[0] != polygon[-1]:
            polygon.append(list(polygon[0]))  # Arkindex stores closed rings
        return polygon

    def element_type(self, value: Any, loc: str) -> str:
        slug = self.string(value, loc)
        if self.declared_types is not None and slug not in self.declared_types:
            self.fail(loc, f"unknown type {slug!r} (declared: {_listing(self.declared_types)})")
        if slug not in self.used_types:
            self.used_types.append(slug)
        return slug

    def parse_element(self, entry: Any, loc: str, parent: str | None, ordering: int) -> None:
        entry = self.mapping(entry, loc, _ELEMENT_KEYS)
        for required in ("name", "type"):
            if required not in entry:
                self.fail(loc, f"missing '{required}'")
        element_id = self.identifier(entry, loc, "elements")
        row: dict[str, Any] = {
            "id": element_id,
            "corpus": self.spec.corpus["id"],
            "type": self.element_type(entry["type"], _key(loc, "type")),
            "name": self.string(entry["name"], _key(loc, "name")),
            "image": None,
            "polygon": None,
            "rotation_angle": self.integer(
                entry.get("rotation_angle", 0), _key(loc, "rotation_angle"), 0, 359
            ),
            "mirrored": self.boolean(entry.get("mirrored", False), _key(loc, "mirrored")),
            "confidence": self.confidence(entry.get("confidence"), _key(loc, "confidence")),
        }
        if entry.get("image") is not None:
            image = self.resolve_image(entry["image"], _key(loc, "image"))
            row["image"] = image["id"]
            if entry.get("polygon") is not None:
                row["polygon"] = self.polygon(entry["polygon"], _key(loc, "polygon"), image)
            else:
                w, h = image["width"], image["height"]
                row["polygon"] = [[0, 0], [0, h], [w, h], [w, 0], [0, 0]]
        elif entry.get("polygon") is not None:
            self.fail(_key(loc, "polygon"), "a polygon needs an image: add image: <image id or name>")
        self.spec.elements.append(row)
        self.element_locations[element_id] = loc
        if parent is not None:
            self.spec.paths.append({"parent": parent, "child": element_id, "ordering": ordering})
        transcriptions = self.sequence(entry.get("transcriptions", []), _key(loc, "transcriptions"))
        for index, transcription in enumerate(transcriptions):
            self.parse_transcription(transcription, f"{loc}.transcriptions[{index}]", element_id)
        self.annotations.parse_element(entry, loc, element_id)
        children = self.sequence(entry.get("children", []), _key(loc, "children"))
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
                "text": self.string(entry["text"], _key(loc, "text")),
                "confidence": self.confidence(entry.get("confidence"), _key(loc, "confidence")),
                "orientation": self.string(orientation, _key(loc, "orientation"), choices=ORIENTATIONS),
            }
        )

    # -- worker run ------------------------------------------------------------------------------

    def resolve_element(self, reference: Any, loc: str) -> str:
        if not isinstance(reference, str):
            self.fail(loc, f"expected an element id or name, got {_show(reference)}")
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

    def parse_worker_run(self, value: Any, loc: str) -> None:
        run = self.mapping(
            value, loc, ("id", "summary", "process", "worker", "version", "model_version", "configuration")
        )
        worker = self.mapping(run.get("worker") or {}, f"{loc}.worker", ("id", "name", "slug", "type"))
        self.spec.worker = {
            "id": self.identifier(worker, f"{loc}.worker", "workers"),
            "name": self.string(worker.get("name", "Sandbox worker"), f"{loc}.worker.name"),
            "slug": self.string(worker.get("slug", "sandbox-worker"), f"{loc}.worker.slug"),
            "type": self.string(worker.get("type", "worker"), f"{loc}.worker.type"),
        }
        version = self.mapping(run.get("version") or {}, f"{loc}.version", ("id", "configuration"))
        configuration = self.dictionary(version.get("configuration", {}), f"{loc}.version.configuration")
        self.check_version_configuration(configuration, f"{loc}.version.configuration")
        self.spec.version = {
            "id": self.identifier(version, f"{loc}.version", "worker_versions"),
            "worker": self.spec.worker["id"],
            "configuration": configuration,
        }
        self.spec.process = self.parse_process(run.get("process") or {}, f"{loc}.process")
        run_id = self.identifier(run, loc, "worker_runs")
        summary = run.get("summary", f"Worker {self.spec.worker['name']} @ {self.spec.version['id'][:6]}")
        self.spec.worker_run = {
            "id": run_id,
            "process": self.spec.process["id"],
            "version": self.spec.version["id"],
            "summary": self.string(summary, f"{loc}.summary"),
            "model_version": self.parse_model_version(run.get("model_version"), f"{loc}.model_version"),
            "configuration": self.parse_run_configuration(run.get("configuration"), f"{loc}.configuration"),
        }

    def check_version_configuration(self, configuration: Mapping[str, Any], loc: str) -> None:
        if "configuration" in configuration:
            self.dictionary(configuration["configuration"], f"{loc}.configuration")
        if "user_configuration" in configuration:
            specs = self.dictionary(configuration["user_configuration"], f"{loc}.user_configuration")
            for name, spec in specs.items():
                self.dictionary(spec, f"{loc}.user_configuration.{name}")
        if "secrets" in configuration:
            for index, name in enumerate(self.sequence(configuration["secrets"], f"{loc}.secrets")):
                self.string(name, f"{loc}.secrets[{index}]")

    def parse_process(self, value: Any, loc: str) -> dict[str, Any]:
        process = self.mapping(value, loc, ("id", "name", "mode", "activity_state", "elements"))
        if process.get("elements") is None:
            element_ids = [row["id"] for row in self.spec.elements]
        else:
            references = self.sequence(process["elements"], f"{loc}.elements")
            element_ids = [
                self.resolve_element(ref, f"{loc}.elements[{i}]") for i, ref in enumerate(references)
            ]
        return {
            "id": self.identifier(process, loc, "processes"),
            "name": self.string(process.get("name", "Sandbox process"), f"{loc}.name"),
            "corpus": self.spec.corpus["id"],
            "mode": self.string(process.get("mode", "workers"), f"{loc}.mode", choices=PROCESS_MODES),
            "activity_state": self.string(
                process.get("activity_state", "ready"), f"{loc}.activity_state", choices=ACTIVITY_STATES
            ),
            "element_ids": element_ids,
        }

    def parse_model_version(self, value: Any, loc: str) -> dict[str, Any] | None:
        if value is None:
            return None
        entry = self.mapping(value, loc, ("id", "model", "configuration"))
        model = self.mapping(entry.get("model") or {}, f"{loc}.model", ("id", "name"))
        return {
            "id": self.identifier(entry, loc, "model_versions"),
            "model": {
                "id": self.identifier(model, f"{loc}.model", "models"),
                "name": self.string(model.get("name", "Sandbox model"), f"{loc}.model.name"),
            },
            "state": "available",
            "configuration": self.dictionary(entry.get("configuration", {}), f"{loc}.configuration"),
        }

    def parse_run_configuration(self, value: Any, loc: str) -> dict[str, Any] | None:
        if value is None:
            return None
        entry = self.mapping(value, loc, ("id", "name", "configuration"))
        return {
            "id": self.identifier(entry, loc, "worker_configurations"),
            "name": self.string(entry.get("name", "Sandbox configuration"), f"{loc}.name"),
            "configuration": self.dictionary(entry.get("configuration", {}), f"{loc}.configuration"),
        }
