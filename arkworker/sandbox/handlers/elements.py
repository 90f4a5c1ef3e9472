"""Corpora and elements: RetrieveCorpus, RetrieveElement, ListElementChildren, ListElementParents,
ListElements (``current`` API level: a corpus's elements).

Payloads follow Arkindex. Also what other families use on elements: the tree walks
(:func:`child_ids`, :func:`parent_ids`), the checks of a type and of a polygon, element
creation (:func:`add_element`) and the serialisers of elements, zones and element types.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from peewee import SQL, fn

from arkworker.sandbox.handlers.base import Call, Listing, handles, invalid, lookup
from arkworker.sandbox.handlers.process import worker_filters
from arkworker.sandbox.store import first, new_id
from arkworker.sandbox.tables import Corpus, Element, ElementPath, ElementType, Image, Transcription

_CHUNK = 500  # ids per IN (...) query, well below SQLite's variable limit

#: What other families add to listed elements: query flag → (key, function of an element id).
#: Filled by their modules (``with_classes`` → ``classes``, ``with_metadata`` → ``metadata``).
LIST_EXTRAS: dict[str, tuple[str, Callable[[str], Any]]] = {}


def fetch_elements(ids: Iterable[str]) -> list[Element]:
    """Elements by id, in the order of ``ids`` (ids that do not exist are skipped)."""
    ids = list(ids)
    found: dict[str, Element] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        found.update((element.id, element) for element in Element.select().where(Element.id.in_(chunk)))
    return [found[element_id] for element_id in ids if element_id in found]


def check_type(corpus_id: str, slug: str, attr: list[str | int]) -> str:
    """A type slug of the corpus, or the 400 naming the field."""
    if (
        not ElementType.select()
        .where((ElementType.corpus == corpus_id) & (ElementType.slug == slug))
        .exists()
    ):
        raise invalid(f"Type {slug!r} does not exist in this corpus.", attr)
    return slug


def clean_polygon(value: Any, attr: list[str | int], image: Image) -> list[list[float]]:
    """A polygon as Arkindex accepts it: 3 points or more, inside the image; stored as a closed ring."""
    if not isinstance(value, list) or len(value) < 3:
        raise invalid("A polygon needs at least 3 points.", attr)
    for index, point in enumerate(value):
        if not (
            isinstance(point, list)
            and len(point) == 2
            and all(isinstance(c, int | float) and not isinstance(c, bool) for c in point)
        ):
            raise invalid("Each point must be a list of two numbers [x, y].", [*attr, index])
        if not (0 <= point[0] <= image.width and 0 <= point[1] <= image.height):
            raise invalid(
                f"Point {point} is outside the image ({image.width}x{image.height}).", [*attr, index]
            )
    polygon = [list(point) for point in value]
    if polygon[0] != polygon[-1]:
        polygon.append(list(polygon[0]))
    return polygon


def add_element(parent: Element | None, **fields: Any) -> Element:
    """Create an element (id, creation time filled in), last among ``parent``'s children."""
    element = Element.create(id=new_id(), **fields)
    if parent is not None:
        link(parent.id, element.id)
    return element


def link(parent_id: str, child_id: str) -> None:
    """Make ``child_id`` the last child of ``parent_id``."""
    last = ElementPath.select(fn.MAX(ElementPath.ordering)).where(ElementPath.parent == parent_id).scalar()
    ElementPath.create(parent=parent_id, child=child_id, ordering=0 if last is None else last + 1)


# -- tree walks ------------------------------------------------------------------------------


def _links(reverse: bool) -> dict[str, list[str]]:
    """Every parent → children list (ordered), or child → parents (in link creation order)."""
    links: dict[str, list[str]] = {}
    query = ElementPath.select().order_by(ElementPath.ordering, ElementPath.id)
    if reverse:
        query = ElementPath.select().order_by(ElementPath.id)
    for path in query:
        source, target = (path.child_id, path.parent_id) if reverse else (path.parent_id, path.child_id)
        links.setdefault(source, []).append(target)
    return links


def _walk(start: str, links: Mapping[str, list[str]], recursive: bool) -> list[str]:
    """Ids reachable from ``start`` (excluded) depth first, each once; direct ones only if not recursive."""
    if not recursive:
        return list(links.get(start, []))
    result: list[str] = []
    seen = {start}
    stack = [iter(links.get(start, []))]
    while stack:
        following = next(stack[-1], None)
        if following is None:
            stack.pop()
        elif following not in seen:
            seen.add(following)
            result.append(following)
            stack.append(iter(links.get(following, [])))
    return result


def child_ids(element_id: str, recursive: bool = False) -> list[str]:
    """Children by ordering, or all descendants depth first."""
    return _walk(element_id, _links(reverse=False), recursive)


def parent_ids(element_id: str, recursive: bool = False) -> list[str]:
    """Parents in link order, or all ancestors depth first."""
    return _walk(element_id, _links(reverse=True), recursive)


# -- serialisation ---------------------------------------------------------------------------


def image_url(image: Image, base_url: str) -> str:
    """The IIIF base URL of an image; images without one are served by the sandbox itself."""
    return (image.url or f"{base_url}iiif/{image.id}").rstrip("/")


def serialize_image(image: Image, base_url: str) -> dict[str, Any]:
    url = image_url(image, base_url)
    server_url, _, path = url.rpartition("/")
    display_name = "arkworker sandbox" if image.url is None else urlsplit(url).netloc
    return {
        "id": image.id,
        "path": path,
        "width": image.width,
        "height": image.height,
        "url": url,
        "s3_url": image.s3_url,
        "status": "checked",
        "server": {
            "display_name": display_name,
            "url": server_url,
            "max_width": image.max_width,
            "max_height": image.max_height,
        },
    }


def bounding_box(polygon: list[list[float]]) -> tuple[int, int, int, int]:
    """``(x, y, width, height)`` of the smallest integer box holding the polygon."""
    xs = [point[0] for point in polygon]
    ys = [point[1] for point in polygon]
    x, y = math.floor(min(xs)), math.floor(min(ys))
    return x, y, math.ceil(max(xs)) - x, math.ceil(max(ys)) - y


def serialize_zone(element: Element, base_url: str) -> dict[str, Any] | None:
    """The ``zone`` of an element: polygon, image and the IIIF URL of the polygon's bounding box."""
    if element.polygon is None:
        return None
    image = element.image  # None, without a query, when image_id is NULL
    if image is None:
        return None
    x, y, width, height = bounding_box(element.polygon)
    return {
        "id": element.id,
        "polygon": element.polygon,
        "url": f"{image_url(image, base_url)}/{x},{y},{width},{height}/full/0/default.jpg",
        "image": serialize_image(image, base_url),
    }


def serialize_element_type(element_type: ElementType) -> dict[str, Any]:
    """An element type as a corpus lists it (CreateElementType adds its corpus)."""
    return {
        "id": element_type.id,
        "slug": element_type.slug,
        "display_name": element_type.display_name,
        "folder": element_type.folder,
        "color": element_type.color,
    }


def element_brief(element: Element) -> dict[str, Any]:
    """The short form nested in other payloads (a transcription's element)."""
    return {"id": element.id, "name": element.name, "type": element.type}


def _corpus_brief(corpus: Corpus) -> dict[str, Any]:
    return {"id": corpus.id, "name": corpus.name, "public": corpus.public}


def serialize_element(element: Element, base_url: str) -> dict[str, Any]:
    """The RetrieveElement payload."""
    has_children = first(ElementPath, parent=element.id) is not None
    return {
        "id": element.id,
        "name": element.name,
        "type": element.type,
        "corpus": _corpus_brief(element.corpus),
        "zone": serialize_zone(element, base_url),
        "rotation_angle": element.rotation_angle,
        "mirrored": element.mirrored,
        "confidence": element.confidence,
        "worker_version_id": element.worker_version_id,
        "worker_run_id": element.worker_run_id,
        "thumbnail_url": None,
        "created": element.created,
        "has_children": has_children,
    }


def _list_item(
    element: Element,
    *,
    query: Mapping[str, Any],
    base_url: str,
    parents: set[str],
    corpora: dict[str, Corpus],
) -> dict[str, Any]:
    item: dict[str, Any] = {"id": element.id, "type": element.type, "name": element.name}
    if query.get("with_corpus", True):
        item["corpus"] = _corpus_brief(corpora[element.corpus_id])
    item["thumbnail_url"] = None
    if query.get("with_zone", True):
        item["zone"] = serialize_zone(element, base_url)
    item.update(
        rotation_angle=element.rotation_angle,
        mirrored=element.mirrored,
        created=element.created,
        worker_version_id=element.worker_version_id,
        worker_run_id=element.worker_run_id,
        confidence=element.confidence,
    )
    for flag, (key, extra) in LIST_EXTRAS.items():
        if query.get(flag):
            item[key] = extra(element.id)
    if query.get("with_has_children"):
        item["has_children"] = element.id in parents
    return item


def filter_elements(elements: list[Element], query: Mapping[str, Any]) -> list[Element]:
    """Apply the filters of ListElementChildren/ListElementParents, keeping the order."""
    if "folder" in query:
        folders = {(t.corpus_id, t.slug) for t in ElementType.select().where(ElementType.folder == True)}  # noqa: E712
        elements = [e for e in elements if ((e.corpus_id, e.type) in folders) == query["folder"]]
    if query.get("name"):
        needle = query["name"].casefold()
        elements = [e for e in elements if needle in e.name.casefold()]
    if query.get("type"):
        elements = [e for e in elements if e.type == query["type"]]
    for condition in worker_filters(Element, query):
        ids = {row.id for row in Element.select(Element.id).where(condition)}
        elements = [e for e in elements if e.id in ids]
    for condition in worker_filters(Transcription, query, prefix="transcription_"):
        ids = {row.element_id for row in Transcription.select(Transcription.element).where(condition)}
        elements = [e for e in elements if e.id in ids]
    return elements


def _element_listing(call: Call, ids: list[str]) -> Listing:
    elements = filter_elements(fetch_elements(ids), call.query)
    parents = {path.parent_id for path in ElementPath.select(ElementPath.parent)}
    corpora = {corpus.id: corpus for corpus in Corpus.select()}
    serialize = partial(
        _list_item, query=call.query, base_url=call.base_url, parents=parents, corpora=corpora
    )
    return Listing(elements, serialize)


# -- handlers -----------------------------------------------------------------------------------


@handles("RetrieveCorpus")
def retrieve_corpus(call: Call) -> dict[str, Any]:
    corpus = lookup(Corpus, call.path["id"])
    types = ElementType.select().where(ElementType.corpus == corpus.id).order_by(SQL("rowid"))
    return {
        "id": corpus.id,
        "name": corpus.name,
        "description": corpus.description,
        "public": corpus.public,
        "created": corpus.created,
        "rights": ["read", "write", "admin"],
        "types": [serialize_element_type(element_type) for element_type in types],
    }


@handles("RetrieveElement")
def retrieve_element(call: Call) -> dict[str, Any]:
    return serialize_element(lookup(Element, call.path["id"]), call.base_url)


@handles("ListElementChildren")
def list_element_children(call: Call) -> Listing:
    element = lookup(Element, call.path["id"])
    return _element_listing(call, child_ids(element.id, call.query.get("recursive", False)))


@handles("ListElementParents")
def list_element_parents(call: Call) -> Listing:
    element = lookup(Element, call.path["id"])
    return _element_listing(call, parent_ids(element.id, call.query.get("recursive", False)))


@handles("ListElements")
def list_elements(call: Call) -> Listing:
    corpus = lookup(Corpus, call.path["corpus"])
    ids = [
        row.id for row in Element.select(Element.id).where(Element.corpus == corpus.id).order_by(SQL("rowid"))
    ]
    if "top_level" in call.query:
        children = {path.child_id for path in ElementPath.select(ElementPath.child)}
        ids = [element_id for element_id in ids if (element_id not in children) == call.query["top_level"]]
    return _element_listing(call, ids)
