"""What the viewer shows, read from a sandbox's state: the sources, the corpus tree, an element's page.

Every function here runs inside one store session (one transaction, so a page never mixes
two moments of a run still writing) and returns plain data (dataclasses, lists, dicts): the
templates are rendered after the session, never with a query in hand.

A *source* is who made a row: ``manual`` (the corpus file's seed, ``worker_run_id`` NULL)
or a worker run. A sandbox state has one worker run of its own, but its rows are grouped by
whatever ``worker_run_id`` they carry, so any number of runs show up side by side.

What a row belongs to, to count it in the tree: a created element counts for its ancestors;
a row with an ``element`` (transcriptions, classifications, metadata, embeddings) for that
element and its ancestors; a row with a ``transcription`` (entity spans) for that
transcription's element. Rows attached to no element (entities, model versions) are only
counted per run.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from peewee import SQL, fn

from arkworker.sandbox.handlers.classifications import Classification, MLClass
from arkworker.sandbox.handlers.entities import Entity, EntityType, TranscriptionEntity
from arkworker.sandbox.handlers.metadata import MetaData
from arkworker.sandbox.store import MODELS, BaseModel
from arkworker.sandbox.tables import (
    Activity,
    Corpus,
    Element,
    ElementPath,
    ElementType,
    Image,
    Transcription,
    WorkerRun,
)

#: The key of the corpus file's own rows (no worker run) in URLs and counts.
MANUAL = "manual"
#: Arkindex's default element type colour.
DEFAULT_TYPE_COLOUR = "28b62c"
#: Distinct colours for element types, in the order the corpus declares them.
PALETTE = ("e6194b", "3cb44b", "4363d8", "f58231", "911eb4", "42d4f4", "f032e6", "9a6324", "469990", "800000")
#: The longest side of the image a page view asks the IIIF server for, in pixels.
DISPLAY_SIZE = 1600
_COLOUR = re.compile(r"[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class Source:
    """Who made rows: the corpus file (``key`` :data:`MANUAL`) or a worker run (``key`` its id)."""

    key: str
    label: str

    @property
    def worker_run_id(self) -> str | None:
        return None if self.key == MANUAL else self.key

    @property
    def short(self) -> str:
        """``manual`` or ``run 4683a054``: what a list of rows says of each."""
        return MANUAL if self.key == MANUAL else f"run {self.key[:8]}"


def dicts(query: Any) -> list[dict[str, Any]]:
    """The rows of a query as dicts (peewee's stubs type the rows of every query as model instances)."""
    return list(query.dicts())


def tuples(query: Any) -> list[tuple[Any, ...]]:
    """The rows of a query as tuples."""
    return list(query.tuples())


def first_row(query: Any) -> dict[str, Any] | None:
    """The first row of a query as a dict, or None."""
    row: dict[str, Any] | None = query.dicts().first()
    return row


def _source_key(worker_run_id: str | None) -> str:
    return MANUAL if worker_run_id is None else worker_run_id


def plural(kind: str) -> str:
    """``transcription_entities`` as a reader says it."""
    return kind.replace("_", " ")


def _output_models() -> list[type[BaseModel]]:
    return [model for model in MODELS if model.worker_output]


def sources() -> list[Source]:
    """Manual rows first, then the state's worker runs, then any other run id found on a row."""
    runs = {row["id"]: row["summary"] for row in dicts(WorkerRun.select(WorkerRun.id, WorkerRun.summary))}
    seen: dict[str, None] = {}
    for model in _output_models():
        column = model._meta.fields["worker_run_id"]
        for (run_id,) in tuples(model.select(column).distinct()):
            if run_id is not None:
                seen.setdefault(run_id)
    found = [Source(MANUAL, "Manual (corpus file)")]
    for run_id in [*runs, *(run_id for run_id in seen if run_id not in runs)]:
        summary = runs.get(run_id, "Worker run")
        found.append(Source(run_id, f"{summary} · run {run_id[:8]}"))
    return found


def created_counts() -> dict[str, dict[str, int]]:
    """Rows per source key and kind (table name), every worker-output table, empty kinds left out."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for model in _output_models():
        column = model._meta.fields["worker_run_id"]
        kind = model._meta.table_name
        for run_id, number in tuples(model.select(column, fn.COUNT(SQL("*"))).group_by(column)):
            counts[_source_key(run_id)][kind] = number
    return dict(counts)


def corpus_facts() -> dict[str, Any]:
    """The corpus's name and description."""
    return first_row(Corpus.select(Corpus.name, Corpus.description)) or {"name": "", "description": ""}


# -- the tree ------------------------------------------------------------------------------------


@dataclass
class TreeNode:
    """A row of the corpus tree: a folder, or what a folder (or the corpus) holds directly."""

    id: str
    name: str
    type: str
    depth: int
    #: By source key: what the source made in this node's subtree, as ``{label: number}``.
    counts: dict[str, dict[str, int]]


@dataclass
class _Graph:
    """Every element and link of the state, enough to walk the tree and attribute rows."""

    elements: dict[str, dict[str, Any]]
    children: dict[str, list[str]]
    parents: dict[str, list[str]]
    _ancestors: dict[str, frozenset[str]] = field(default_factory=dict)

    def ancestors(self, element_id: str) -> frozenset[str]:
        """Every element above ``element_id``, along all its parents (an element may have several)."""
        known = self._ancestors.get(element_id)
        if known is not None:
            return known
        found: set[str] = set()
        pending = list(self.parents.get(element_id, ()))
        while pending:
            parent = pending.pop()
            if parent not in found:
                found.add(parent)
                pending.extend(self.parents.get(parent, ()))
        self._ancestors[element_id] = frozen = frozenset(found)
        return frozen


def _graph() -> _Graph:
    columns = (Element.id, Element.name, Element.type, Element.worker_run_id)
    elements = {row["id"]: row for row in dicts(Element.select(*columns).order_by(SQL("rowid")))}
    children: dict[str, list[str]] = defaultdict(list)
    parents: dict[str, list[str]] = defaultdict(list)
    links = ElementPath.select(ElementPath.parent, ElementPath.child).order_by(
        ElementPath.parent, ElementPath.ordering, ElementPath.id
    )
    for parent, child in tuples(links):
        children[parent].append(child)
        parents[child].append(parent)
    return _Graph(elements, dict(children), dict(parents))


def _folder_types() -> set[str]:
    return {slug for (slug,) in tuples(ElementType.select(ElementType.slug).where(ElementType.folder))}


def tree() -> list[TreeNode]:
    """The corpus tree, depth first: top-level elements, and below each folder what it holds.

    What a page holds (its lines...) is not listed: it is counted, per source, on the page's
    row, and shown on the page's own view.
    """
    graph = _graph()
    counts = _subtree_counts(graph)
    folders = _folder_types()
    nodes: list[TreeNode] = []
    # Iterative, children in their order: a corpus can be deep and a recursion limit is no reason to fail.
    pending = [(element_id, 0) for element_id in reversed(graph.elements) if element_id not in graph.parents]
    listed: set[str] = set()
    while pending:
        element_id, depth = pending.pop()
        if element_id in listed:  # an element with two parents is listed under the first one
            continue
        listed.add(element_id)
        row = graph.elements[element_id]
        nodes.append(TreeNode(element_id, row["name"], row["type"], depth, counts.get(element_id, {})))
        if row["type"] in folders:
            pending.extend((child, depth + 1) for child in reversed(graph.children.get(element_id, [])))
    return nodes


def _subtree_counts(graph: _Graph) -> dict[str, dict[str, dict[str, int]]]:
    """By element, by source key: ``{label: number}`` of what was made in its subtree."""
    counts: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))

    def add(element_ids: Iterable[str], source: str, label: str) -> None:
        for element_id in element_ids:
            counts[element_id][source][label] += 1

    for row in graph.elements.values():
        add(graph.ancestors(row["id"]), _source_key(row["worker_run_id"]), row["type"])
    transcription_elements: dict[str, str] | None = None
    for model in _output_models():
        fields = model._meta.fields
        kind = plural(model._meta.table_name)
        query: Iterable[tuple[Any, ...]]
        if "element" in fields:
            query = tuples(model.select(fields["element"], fields["worker_run_id"]))
        elif "transcription" in fields:
            if transcription_elements is None:
                transcription_elements = dict(
                    tuples(Transcription.select(Transcription.id, Transcription.element))
                )
            query = (
                (transcription_elements.get(transcription_id), run_id)
                for transcription_id, run_id in tuples(
                    model.select(fields["transcription"], fields["worker_run_id"])
                )
            )
        else:
            continue
        for element_id, run_id in query:
            if element_id in graph.elements:
                add({element_id} | graph.ancestors(element_id), _source_key(run_id), kind)
    return {
        element_id: {source: dict(labels) for source, labels in by_source.items()}
        for element_id, by_source in counts.items()
    }


# -- an element's page ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    """The part of an image a view shows (image pixels), and the size it is fetched at."""

    x: int
    y: int
    width: int
    height: int
    display_width: int
    display_height: int

    @property
    def view_box(self) -> str:
        return f"{self.x} {self.y} {self.width} {self.height}"

    @property
    def ratio(self) -> str:
        """Width over height, for the style that fits the image to the window."""
        return f"{self.width / self.height:.5f}"


@dataclass(frozen=True)
class Segment:
    """A piece of a transcription's text, with the entity spans that cover it (none: plain text)."""

    text: str
    spans: tuple[dict[str, Any], ...] = ()


@dataclass
class Annotations:
    """What sources said about one element: transcriptions (as segments), classifications, metadata."""

    transcriptions: list[dict[str, Any]] = field(default_factory=list)
    classifications: list[dict[str, Any]] = field(default_factory=list)
    metadata: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.transcriptions or self.classifications or self.metadata)


@dataclass
class Item:
    """A child element as a pane shows it: its polygon on the image, and what is said about it."""

    number: int
    element: dict[str, Any]
    source: Source
    colour: str
    #: SVG ``points`` (image coordinates), None when it has no polygon on the viewed image.
    points: str | None
    #: Where its number is drawn (the top-left corner of its bounding box), with ``points``.
    anchor: tuple[float, float] | None
    annotations: Annotations


@dataclass
class Pane:
    """One column of a page view: every source (``source`` None), or the rows of one source."""

    source: Source | None
    own: Annotations
    items: list[Item]


@dataclass
class PageView:
    element: dict[str, Any]
    source: Source
    ancestors: list[dict[str, Any]]
    image_url: str | None
    region: Region | None
    panes: list[Pane]
    #: The element's direct children that are folders or hold children of their own, to browse on.
    browse: list[dict[str, Any]]
    legend: list[tuple[str, str]]


def type_colours() -> dict[str, str]:
    """A colour (6 hex digits) per element type slug: the types' own when they differ, else a palette's.

    Arkindex gives every type the same default colour, which would draw every polygon alike.
    """
    types = list(tuples(ElementType.select(ElementType.slug, ElementType.color).order_by(SQL("rowid"))))
    own = {slug: safe_colour(colour, DEFAULT_TYPE_COLOUR) for slug, colour in types}
    if len(set(own.values())) > 1:
        return own
    return {slug: PALETTE[index % len(PALETTE)] for index, (slug, _) in enumerate(types)}


def safe_colour(value: Any, default: str) -> str:
    """``value`` if it is 6 hex digits (a colour from the corpus goes into a style), else ``default``."""
    return value.lower() if isinstance(value, str) and _COLOUR.fullmatch(value) else default


def region_of(element: Mapping[str, Any], image: Mapping[str, Any]) -> Region:
    """The bounding box of the element's polygon on its image (the whole image without one).

    The display size keeps the box's proportions, fits :data:`DISPLAY_SIZE` and the image's
    own size limits, so that the IIIF server serves it (``!w,h`` never exceeds the box asked).
    """
    width, height = image["width"], image["height"]
    polygon = element.get("polygon")
    if polygon:
        xs = [point[0] for point in polygon]
        ys = [point[1] for point in polygon]
        left, top = max(0, int(min(xs))), max(0, int(min(ys)))
        right, bottom = min(width, int(max(xs) + 0.5)), min(height, int(max(ys) + 0.5))
        if right > left and bottom > top:
            width, height = right - left, bottom - top
        else:
            left = top = 0
    else:
        left = top = 0
    scale = min(1.0, DISPLAY_SIZE / max(width, height))
    if image.get("max_width"):
        scale = min(scale, image["max_width"] / width)
    if image.get("max_height"):
        scale = min(scale, image["max_height"] / height)
    return Region(left, top, width, height, max(1, int(width * scale)), max(1, int(height * scale)))


def image_url(image: Mapping[str, Any], region: Region) -> str:
    """The IIIF URL of the region: the sandbox's own server (a path), or the image's server."""
    base = image["url"].rstrip("/") if image.get("url") else f"/iiif/{image['id']}"
    return (
        f"{base}/{region.x},{region.y},{region.width},{region.height}/"
        f"!{region.display_width},{region.display_height}/0/default.jpg"
    )


def segments(text: str, spans: Sequence[dict[str, Any]]) -> list[Segment]:
    """``text`` cut at every span boundary; each piece carries the spans covering it.

    Spans may overlap or nest (two workers marking the same name): no span is lost, a piece
    covered by two shows both. Spans past the text are clipped.
    """
    bounds = {0, len(text)}
    kept = []
    for span in spans:
        start = max(0, min(len(text), span["offset"]))
        end = max(start, min(len(text), span["offset"] + span["length"]))
        if end > start:
            bounds.update((start, end))
            kept.append((start, end, span))
    cuts = sorted(bounds)
    pieces = []
    for start, end in pairwise(cuts):
        covering = tuple(span for low, high, span in kept if low <= start and end <= high)
        pieces.append(Segment(text[start:end], covering))
    return pieces


def _descendants(element_id: str) -> list[str]:
    """Every element below ``element_id``, depth first in their order, each once."""
    links: dict[str, list[str]] = defaultdict(list)
    frontier = [element_id]
    seen = {element_id}
    while frontier:
        query = (
            ElementPath.select(ElementPath.parent, ElementPath.child)
            .where(ElementPath.parent.in_(frontier))
            .order_by(ElementPath.ordering, ElementPath.id)
        )
        frontier = []
        for parent, child in tuples(query):
            links[parent].append(child)
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    ordered: list[str] = []
    listed = {element_id}
    pending = list(reversed(links.get(element_id, [])))
    while pending:
        current = pending.pop()
        if current in listed:
            continue
        listed.add(current)
        ordered.append(current)
        pending.extend(reversed(links.get(current, [])))
    return ordered


def _annotations(
    element_ids: list[str], label: Mapping[str | None, Source]
) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    """By element: ``(kind, source key, row)`` of its transcriptions, classifications and metadata."""
    found: dict[str, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)
    transcriptions = list(
        dicts(Transcription.select().where(Transcription.element.in_(element_ids)).order_by(SQL("rowid")))
    )
    spans: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if transcriptions:
        entity_types = {row["id"]: row for row in dicts(EntityType.select())}
        query = TranscriptionEntity.select().where(
            TranscriptionEntity.transcription.in_([row["id"] for row in transcriptions])
        )
        names = {}
        for row in dicts(query.order_by(TranscriptionEntity.offset, SQL("rowid"))):
            if row["entity"] is not None and row["entity"] not in names:
                entity = Entity.get_or_none(Entity.id == row["entity"])
                names[row["entity"]] = entity.name if entity else None
            entity_type = entity_types.get(row["type"], {})
            spans[row["transcription"]].append(
                {
                    **row,
                    "type_name": entity_type.get("name", "entity"),
                    "colour": safe_colour(entity_type.get("color"), "ff0000"),
                    "entity_name": names.get(row["entity"]),
                    "source": label[row["worker_run_id"]],
                }
            )
    for row in transcriptions:
        row["segments"] = segments(row["text"], spans.get(row["id"], []))
        row["spans"] = spans.get(row["id"], [])
        found[row["element"]].append(("transcriptions", _source_key(row["worker_run_id"]), row))
    classes = dict(tuples(MLClass.select(MLClass.id, MLClass.name)))
    for row in dicts(
        Classification.select().where(Classification.element.in_(element_ids)).order_by(SQL("rowid"))
    ):
        row["class_name"] = classes.get(row["ml_class"], "?")
        found[row["element"]].append(("classifications", _source_key(row["worker_run_id"]), row))
    for row in dicts(MetaData.select().where(MetaData.element.in_(element_ids)).order_by(SQL("rowid"))):
        found[row["element"]].append(("metadata", _source_key(row["worker_run_id"]), row))
    return found


def _gather(rows: Iterable[tuple[str, str, dict[str, Any]]], source: str | None) -> Annotations:
    gathered = Annotations()
    for kind, key, row in rows:
        if source is None or key == source:
            getattr(gathered, kind).append(row)
    return gathered


def page_view(element_id: str, keys: Sequence[str]) -> PageView | None:
    """The page of one element, a pane per source key in ``keys`` (none: one pane of every source).

    None when the element does not exist; an unknown key is a :class:`LookupError` naming it.
    """
    element = first_row(Element.select().where(Element.id == element_id))
    if element is None:
        return None
    known = {source.key: source for source in sources()}
    for wanted in keys:
        if wanted not in known:
            raise LookupError(wanted)
    by_run = {source.worker_run_id: source for source in known.values()}
    colours = type_colours()
    image = first_row(Image.select().where(Image.id == element["image"])) if element["image"] else None
    region = region_of(element, image) if image else None
    below = _descendants(element_id)
    rows = {row["id"]: row for row in dicts(Element.select().where(Element.id.in_(below)))}
    said = _annotations([element_id, *below], by_run)
    panes = []
    chosen: list[str | None] = [*keys] or [None]
    for key in chosen:
        items: list[Item] = []
        for child_id in below:
            child = rows[child_id]
            child_key = _source_key(child["worker_run_id"])
            notes = _gather(said.get(child_id, ()), key)
            if key is not None and child_key != key and not notes:
                continue
            points = anchor = None
            polygon = child.get("polygon")
            if polygon and image and child["image"] == image["id"]:
                points = " ".join(f"{_number(x)},{_number(y)}" for x, y in polygon)
                anchor = (min(x for x, _ in polygon), min(y for _, y in polygon))
            colour = colours.get(child["type"], PALETTE[0])
            items.append(
                Item(len(items) + 1, child, by_run[child["worker_run_id"]], colour, points, anchor, notes)
            )
        panes.append(Pane(known[key] if key else None, _gather(said.get(element_id, ()), key), items))
    legend = sorted({(item.element["type"], item.colour) for pane in panes for item in pane.items})
    return PageView(
        element=element,
        source=by_run[element["worker_run_id"]],
        ancestors=_ancestry(element_id),
        image_url=image_url(image, region) if image and region else None,
        region=region,
        panes=panes,
        browse=_browsable(element_id),
        legend=legend,
    )


def _number(value: float) -> str:
    """A coordinate as short as it is exact (``12``, ``12.5``)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _ancestry(element_id: str) -> list[dict[str, Any]]:
    """The first parent's chain up to the top, top first (breadcrumbs)."""
    chain: list[dict[str, Any]] = []
    seen = {element_id}
    current = element_id
    while True:
        link = (
            ElementPath.select(ElementPath.parent)
            .where(ElementPath.child == current)
            .order_by(ElementPath.id)
            .first()
        )
        if link is None or link.parent_id in seen:
            return list(reversed(chain))
        seen.add(link.parent_id)
        current = link.parent_id
        row = first_row(Element.select(Element.id, Element.name, Element.type).where(Element.id == current))
        if row is None:
            return list(reversed(chain))
        chain.append(row)


def _browsable(element_id: str) -> list[dict[str, Any]]:
    """Direct children that hold children of their own (a folder's pages), with how many they hold."""
    children = dicts(
        Element.select(Element.id, Element.name, Element.type)
        .join(ElementPath, on=(ElementPath.child == Element.id))
        .where(ElementPath.parent == element_id)
        .order_by(ElementPath.ordering, ElementPath.id)
    )
    if not children:
        return []
    held = dict(
        tuples(
            ElementPath.select(ElementPath.parent, fn.COUNT(ElementPath.id))
            .where(ElementPath.parent.in_([row["id"] for row in children]))
            .group_by(ElementPath.parent)
        )
    )
    folders = _folder_types()
    return [
        {**row, "children": held.get(row["id"], 0)}
        for row in children
        if held.get(row["id"]) or row["type"] in folders
    ]


# -- the run page --------------------------------------------------------------------------------


@dataclass
class RunActivity:
    """The worker activities of one run: how many elements in each state, and those in error."""

    source: Source
    states: dict[str, int]
    errors: list[dict[str, Any]]


def activities() -> list[RunActivity]:
    """Per worker run that has activities: counts by state, and the elements in ``error``."""
    known = {source.key: source for source in sources()}
    found: dict[str, RunActivity] = {}
    rows = list(
        tuples(Activity.select(Activity.worker_run, Activity.state, Activity.element).order_by(SQL("rowid")))
    )
    names = element_names(element_id for _, state, element_id in rows if state == "error")
    for run_id, state, element_id in rows:
        source = known.get(run_id) or Source(run_id, f"Worker run · run {run_id[:8]}")
        entry = found.setdefault(run_id, RunActivity(source, {}, []))
        entry.states[state] = entry.states.get(state, 0) + 1
        if state == "error":
            entry.errors.append(names.get(element_id, {"id": element_id, "name": element_id, "type": "?"}))
    return list(found.values())


def element_names(element_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{id: {id, name, type}}`` of the elements among ``element_ids`` that exist."""
    ids = list(dict.fromkeys(element_ids))
    rows: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):  # SQLite's limit on bound parameters
        query = Element.select(Element.id, Element.name, Element.type).where(
            Element.id.in_(ids[start : start + 500])
        )
        rows.update((row["id"], row) for row in dicts(query))
    return rows
