"""Elements: types, sub-elements, parents, updates and listings of children and parents."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple

from arkworker.errors import MissingTypeError
from arkworker.helpers import validation as check
from arkworker.helpers.base import (
    DEFAULT_BATCH_SIZE,
    HelperMixin,
    Listing,
    Results,
    batches,
    cache_image,
    cached_by_worker,
    image_of,
    logger,
)
from arkworker.models import Element
from arkworker.storage.cache import Cache, CachedElement, uuid_matches


class ElementType(NamedTuple):
    """An element type to create in the corpus (``ctx.create_required_types``)."""

    name: str
    slug: str
    is_folder: bool


_LIST_FLAGS = (
    "folder",
    "recursive",
    "with_classes",
    "with_corpus",
    "with_has_children",
    "with_metadata",
    "with_zone",
)
_WORKER_FILTERS = ("worker_version", "worker_run", "transcription_worker_version", "transcription_worker_run")
#: The filters the cache can answer; with the cache on, any other is refused.
_CACHE_FILTERS = {"type", "worker_version", "worker_run", "recursive"}


def _list_filters(values: Mapping[str, Any]) -> dict[str, Any]:
    """The validated, non-None filters of list_element_children / list_element_parents."""
    filters: dict[str, Any] = {}
    for name in _LIST_FLAGS:
        if values.get(name) is not None:
            filters[name] = check.boolean(values[name], name)
    for name in ("name", "type"):
        if values.get(name) is not None:
            value = values[name]
            if not isinstance(value, str):
                raise check.fail(f"{name} must be a string, got {value!r}")
            if value:  # an empty text filters nothing, as in the reference
                filters[name] = value
    for name in _WORKER_FILTERS:
        if values.get(name) is not None:
            # Warn at the worker's call: list_element_* -> _list_relatives -> here -> worker_filter.
            filters[name] = check.worker_filter(values[name], name, stacklevel=5)
    return filters


class ElementMixin(HelperMixin):
    """Create, link, update and list elements."""

    # -- types -------------------------------------------------------------------------------

    def create_required_types(self, element_types: Sequence[ElementType]) -> None:
        """Create the given element types in the corpus of the process."""
        types = []
        for index, item in enumerate(check.non_empty_list(element_types, "element_types")):
            prefix = check.item_prefix("Element type", index, "element_types")
            if not isinstance(item, tuple) or len(item) != 3:
                raise check.fail(f"must be an ElementType(name, slug, is_folder), got {item!r}", prefix)
            item = ElementType(*item)
            check.text(item.name, "name", prefix)
            check.text(item.slug, "slug", prefix)
            check.boolean(item.is_folder, "is_folder", prefix)
            types.append(item)
        if self._read_only_skip("element types " + ", ".join(t.slug for t in types)):
            return
        for item in types:
            self.request(
                "CreateElementType",
                body={
                    "slug": item.slug,
                    "display_name": item.name,
                    "folder": item.is_folder,
                    "corpus": self.corpus_id,
                },
            )
            logger.info("Created a new element type with slug `%s`", item.slug)

    def check_required_types(self, *type_slugs: str, create_missing: bool = False) -> bool:
        """Check that the corpus has these element types; create the missing ones if asked to.

        Raises :class:`MissingTypeError` naming the missing types otherwise.
        """
        if not type_slugs:
            raise check.fail("check_required_types needs at least one type slug")
        for slug in type_slugs:
            check.text(slug, "type slug")
        check.boolean(create_missing, "create_missing")
        corpus = self.request("RetrieveCorpus", id=self.corpus_id)
        existing = {item["slug"] for item in corpus["types"]}
        missing = sorted(set(type_slugs) - existing)
        if missing:
            if not create_missing:
                raise MissingTypeError(
                    f"Element type(s) {', '.join(missing)} were not found in the {corpus['name']} corpus "
                    f"({corpus['id']}); create them or call check_required_types(..., create_missing=True)."
                )
            self.create_required_types([ElementType(slug, slug, False) for slug in missing])
        return True

    # -- creation ----------------------------------------------------------------------------

    def create_sub_element(
        self,
        element: Element | CachedElement,
        type: str,
        name: str,
        polygon: list[list[int | float]] | None = None,
        confidence: float | None = None,
        image: str | None = None,
        slim_output: bool = True,
    ) -> str | dict[str, Any] | None:
        """Create a child of ``element``; its id (or the whole element without ``slim_output``)."""
        check.element(element)
        body = {
            "type": check.text(type, "type"),
            "name": check.text(name, "name"),
            "image": check.uuid_text(image, "image", optional=True),
            "corpus": _corpus_of(element, self.corpus_id),
            "polygon": None if polygon is None else check.polygon(polygon),
            "parent": check.element_id(element),
            "worker_run_id": self.worker_run_id,
            "confidence": check.confidence(confidence, optional=True),
        }
        check.boolean(slim_output, "slim_output")
        if polygon is not None and image is None and image_of(element) is None:
            raise check.fail(f"{element} has no image: give image= to place the sub-element's polygon")
        if self._read_only_skip("element"):
            return None
        with self._write_step():
            created = self.request("CreateElement", body=body, landed=partial(self._created_child, body))
            self._cache_write(
                "element",
                lambda db: self._cache_elements(db, element, [{**body, "id": created["id"]}], body["image"]),
            )
        return created["id"] if slim_output else created

    def _created_child(self, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """The element of a lost CreateElement answer: this run's child of the parent, same name, type, zone."""
        children = self.paginate(
            "ListElementChildren",
            id=body["parent"],
            name=body["name"],
            type=body["type"],
            worker_run=self.worker_run_id,
            with_zone=True,
        )
        return next(
            (
                child
                for child in children
                if child["name"] == body["name"]
                and child["type"] == body["type"]
                and child.get("confidence") == body["confidence"]
                and _same_zone(child.get("zone"), body["polygon"], body["image"])
            ),
            None,
        )

    def create_elements(
        self,
        parent: Element | CachedElement,
        elements: list[dict[str, Any]],
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> list[dict[str, str]] | None:
        """Create children of ``parent`` on its image (``name``, ``type``, ``polygon``, ``confidence``).

        Sent ``batch_size`` at a time; the ``{id}`` of each, in input order.
        """
        check.element(parent, "parent")
        if image_of(parent) is None:
            raise check.fail(f"parent {parent} has no image: create_elements places children on it")
        items = []
        for index, item in enumerate(check.non_empty_list(elements, "elements")):
            prefix = check.item_prefix("Element", index, "elements")
            item = dict(check.mapping(item, prefix))
            item["name"] = check.text(item.get("name"), "name", prefix)
            item["type"] = check.text(item.get("type"), "type", prefix)
            item["polygon"] = check.polygon(item.get("polygon"), prefix=prefix)
            if item.get("confidence") is not None:
                check.confidence(item["confidence"], prefix=prefix)
            items.append(item)
        size = check.batch_size(batch_size)
        if self._read_only_skip("elements"):
            return None
        created: list[dict[str, str]] = []
        for batch in batches(items, size):
            with self._write_step():
                answer = self.request(
                    "CreateElements",
                    id=check.element_id(parent),
                    body={"worker_run_id": self.worker_run_id, "elements": list(batch)},
                )
                rows = [{**item, "id": new["id"]} for item, new in zip(batch, answer, strict=True)]
                self._cache_write(
                    "elements", partial(self._cache_elements, parent=parent, rows=rows, image_id=None)
                )
            created.extend(answer)
        return created

    def _cache_elements(
        self,
        db: Cache,
        parent: Element | CachedElement,
        rows: Iterable[Mapping[str, Any]],
        image_id: str | None,
    ) -> None:
        if image_id is None:
            image_id = cache_image(db, parent)
        for row in rows:
            db.CachedElement.create(
                id=row["id"],
                parent_id=check.element_id(parent),
                type=row["type"],
                image=image_id,
                polygon=row.get("polygon"),
                worker_run_id=self.worker_run_id,
                confidence=row.get("confidence"),
            )

    def create_element_parent(
        self, parent: Element | CachedElement, child: Element | CachedElement
    ) -> dict[str, Any] | None:
        """Add ``parent`` to the parents of ``child``."""
        check.element(parent, "parent")
        check.element(child, "child")
        if self._read_only_skip("elements", verb="link"):
            return None
        return self.request(
            "CreateElementParent", parent=check.element_id(parent), child=check.element_id(child)
        )

    def partial_update_element(
        self, element: Element | CachedElement, **kwargs: Any
    ) -> dict[str, Any] | None:
        """Change some attributes of an element (type, name, polygon, confidence, rotation_angle, mirrored, image)."""
        check.element(element)
        body = dict(kwargs)
        if "type" in body:
            body["type"] = check.text(body["type"], "type")
        if "name" in body:
            body["name"] = check.text(body["name"], "name")
        if "polygon" in body:
            body["polygon"] = check.polygon(body["polygon"])
        if "confidence" in body:
            body["confidence"] = check.confidence(body["confidence"], optional=True)
        if "rotation_angle" in body:
            body["rotation_angle"] = check.integer(body["rotation_angle"], "rotation_angle")
        if "mirrored" in body:
            body["mirrored"] = check.boolean(body["mirrored"], "mirrored")
        if "image" in body:
            body["image"] = check.uuid_text(body["image"], "image")
        if self._read_only_skip("element", verb="update"):
            return None
        with self._write_step():
            updated = self.request("PartialUpdateElement", id=check.element_id(element), body=body)
            self._cache_write("element update", lambda db: _cache_update(db, element, body))
        return updated

    # -- listings ----------------------------------------------------------------------------

    def list_element_children(
        self,
        element: Element | CachedElement,
        folder: bool | None = None,
        name: str | None = None,
        recursive: bool | None = None,
        transcription_worker_version: str | bool | None = None,
        transcription_worker_run: str | bool | None = None,
        type: str | None = None,
        with_classes: bool | None = None,
        with_corpus: bool | None = None,
        with_metadata: bool | None = None,
        with_has_children: bool | None = None,
        with_zone: bool | None = None,
        worker_version: str | bool | None = None,
        worker_run: str | bool | None = None,
    ) -> Listing[Element | CachedElement]:
        """The children of ``element`` (all descendants if ``recursive``), lazily, as :class:`Element`.

        Worker filters take an id, or ``False`` for manual elements. With the cache, its
        rows are listed (filters: type, worker_version, worker_run, recursive).
        """
        return self._list_relatives(locals(), children=True)

    def list_element_parents(
        self,
        element: Element | CachedElement,
        folder: bool | None = None,
        name: str | None = None,
        recursive: bool | None = None,
        transcription_worker_version: str | bool | None = None,
        transcription_worker_run: str | bool | None = None,
        type: str | None = None,
        with_classes: bool | None = None,
        with_corpus: bool | None = None,
        with_metadata: bool | None = None,
        with_has_children: bool | None = None,
        with_zone: bool | None = None,
        worker_version: str | bool | None = None,
        worker_run: str | bool | None = None,
    ) -> Listing[Element | CachedElement]:
        """The parents of ``element`` (all ancestors if ``recursive``), lazily, as :class:`Element`."""
        return self._list_relatives(locals(), children=False)

    def _list_relatives(
        self, arguments: Mapping[str, Any], *, children: bool
    ) -> Listing[Element | CachedElement]:
        """Both listings take the same filters: validated once here, answered by the cache or the API."""
        filters = _list_filters(arguments)
        element = check.element(arguments["element"])
        if self.cache is not None:
            return _cached_relatives(self.cache, element, filters, children=children)
        operation = "ListElementChildren" if children else "ListElementParents"
        return Results(self.paginate(operation, id=check.element_id(element), **filters), self._element)


def _corpus_of(element: Element | CachedElement, default: str) -> str:
    if isinstance(element, Element) and isinstance(element.get("corpus"), Mapping):
        return element["corpus"]["id"]
    return default


def _same_zone(
    zone: Mapping[str, Any] | None, polygon: Sequence[Sequence[float]] | None, image: str | None
) -> bool:
    """Whether a listed element's zone is the one asked for (the API closes polygons, and may give floats)."""
    if polygon is None and image is None:
        return True  # whatever the API chose
    if zone is None:
        return False
    if image is not None and zone["image"]["id"] != image:
        return False
    return polygon is None or _ring(zone["polygon"]) == _ring(polygon)


def _ring(polygon: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    points = [(float(x), float(y)) for x, y in polygon]
    return points[:-1] if len(points) > 1 and points[0] == points[-1] else points


def _cache_update(db: Cache, element: Element | CachedElement, changes: Mapping[str, Any]) -> None:
    """Apply an update to the element's cache row (polygons stay JSON lists, unlike the reference)."""
    columns = {
        key: value
        for key, value in changes.items()
        if key in ("type", "polygon", "confidence", "rotation_angle", "mirrored")
    }
    if "image" in changes and db.CachedImage.get_or_none(db.CachedImage.id == changes["image"]) is not None:
        columns["image"] = changes["image"]
    if columns:
        model = db.CachedElement
        model.update(**columns).where(uuid_matches(model.id, check.element_id(element))).execute()


def _cached_relatives(
    db: Cache, element: Element | CachedElement, filters: Mapping[str, Any], *, children: bool
) -> Any:
    unsupported = sorted(set(filters) - _CACHE_FILTERS)
    if unsupported:
        raise check.fail(
            f"the cache cannot filter elements by {', '.join(unsupported)}: "
            f"use only {', '.join(sorted(_CACHE_FILTERS))} when the worker runs with a cache"
        )
    root = check.element_id(element)
    recursive = bool(filters.get("recursive"))
    model = db.CachedElement
    if children and not recursive:
        query = model.select().where(uuid_matches(model.parent_id, root))
    else:
        ids = _descendants(model, root) if children else _ancestors(model, root, recursive=recursive)
        query = model.select().where(uuid_matches(model.id, *ids))
    if filters.get("type"):
        query = query.where(model.type == filters["type"])
    return cached_by_worker(query, model, filters)


def _descendants(model: type[CachedElement], root: str) -> list[Any]:
    found: list[Any] = []
    frontier = [root]
    seen = {model.id.db_value(root)}
    while frontier:
        rows = model.select(model.id).where(uuid_matches(model.parent_id, *frontier))
        frontier = [row.id for row in rows if model.id.db_value(row.id) not in seen]
        seen.update(model.id.db_value(item) for item in frontier)
        found.extend(frontier)
    return found


def _ancestors(model: type[CachedElement], root: str, *, recursive: bool) -> list[Any]:
    found: list[Any] = []
    row = model.get_or_none(uuid_matches(model.id, root))
    while row is not None and row.parent_id is not None and row.parent_id not in found:
        found.append(row.parent_id)
        if not recursive:
            break
        row = model.get_or_none(uuid_matches(model.id, row.parent_id))
    return found
