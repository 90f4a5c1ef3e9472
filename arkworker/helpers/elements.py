"""Elements: types, sub-elements, parents, updates and listings of children, parents and the corpus.

Both generations' helpers are here: 0.3.7's (``check_required_types(*slugs)``,
``create_required_types``) and those of arkindex-base-worker 0.4 to 0.6
(``check_required_types([names])``, ``create_element_type``, ``list_corpus_types``,
``list_elements``, ``create_element_children``, ``retrieve_element``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple

from arkindex.exceptions import ErrorResponse

from arkworker.errors import MissingElementType
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


#: The name of the lock under which a run loads and creates element types.
_ELEMENT_TYPES = "element types"

_LIST_FLAGS = (
    "folder",
    "recursive",
    "top_level",
    "with_classes",
    "with_corpus",
    "with_has_children",
    "with_metadata",
    "with_zone",
)
_WORKER_FILTERS = ("worker_version", "worker_run", "transcription_worker_version", "transcription_worker_run")
#: The filters the cache can answer; with the cache on, any other is refused.
_CACHE_FILTERS = {"type", "worker_version", "worker_run", "recursive"}


def _list_filters(values: Mapping[str, Any], *, stacklevel: int) -> dict[str, Any]:
    """The validated, non-None filters of the element listings (list_elements, list_element_children...).

    ``stacklevel`` puts the deprecation warning of a worker version filter on the worker's line.
    """
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
            filters[name] = check.worker_filter(values[name], name, stacklevel=stacklevel)
    return filters


class ElementMixin(HelperMixin):
    """Create, link, update and list elements."""

    # -- types -------------------------------------------------------------------------------

    @property
    def corpus_types(self) -> dict[str, dict[str, Any]]:
        """The corpus's element types loaded so far, ``{slug: type}`` (see :meth:`list_corpus_types`).

        Replaced, never changed, when one is added: a thread reading it never sees it change.
        """
        return self.__dict__.setdefault("_corpus_types", {})

    @corpus_types.setter
    def corpus_types(self, value: dict[str, dict[str, Any]]) -> None:
        self.__dict__["_corpus_types"] = dict(value)

    def list_corpus_types(self) -> dict[str, dict[str, Any]]:
        """Load the element types of the corpus into :attr:`corpus_types` (and return it)."""
        with self._run_locks(_ELEMENT_TYPES):
            corpus = self.request("RetrieveCorpus", id=self.corpus_id)
            self.corpus_types = {item["slug"]: item for item in corpus["types"]}
            loaded = self.corpus_types
        count = len(loaded)
        logger.info(
            "Loaded %d element type%s in corpus (%s).", count, "" if count == 1 else "s", self.corpus_id
        )
        return loaded

    def create_element_type(self, slug: str, name: str, is_folder: bool = False) -> None:
        """Create an element type in the corpus and add it to :attr:`corpus_types`.

        If Arkindex refuses it (400: another process created it meanwhile), the corpus's
        types are reloaded and the type picked up; :class:`MissingElementType` if still absent.
        """
        slug = check.text(slug, "slug")
        item = ElementType(check.text(name, "name"), slug, check.boolean(is_folder, "is_folder"))
        if self._read_only_skip(f"element type `{slug}`"):
            return
        self._create_element_type(item)

    def _create_element_type(self, item: ElementType) -> None:
        body = {
            "slug": item.slug,
            "display_name": item.name,
            "folder": item.is_folder,
            "corpus": self.corpus_id,
        }
        with self._run_locks(_ELEMENT_TYPES):
            try:
                created = self.request(
                    "CreateElementType", body=body, landed=partial(self._corpus_type, item.slug)
                )
            except ErrorResponse as error:
                if error.status_code != 400:
                    raise
                logger.warning(
                    "Unable to create the element type `%s`. Refreshing corpus element types cache.",
                    item.slug,
                )
                if item.slug not in self.list_corpus_types():
                    raise MissingElementType(
                        f"Missing element type `{item.slug}` even after refreshing the corpus's types: "
                        f"Arkindex refused it ({error.content})"
                    ) from error
                return
            self.corpus_types = {**self.corpus_types, item.slug: created}
        logger.info("Created a new element type with slug `%s`.", item.slug)

    def _corpus_type(self, slug: str) -> dict[str, Any] | None:
        """The element type of a lost CreateElementType answer: the corpus's type with that slug (unique)."""
        corpus = self.request("RetrieveCorpus", id=self.corpus_id)
        return next((item for item in corpus["types"] if item["slug"] == slug), None)

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
            self._create_element_type(item)

    def check_required_types(
        self,
        *type_slugs: str | list[str],
        type_names: list[str] | None = None,
        create_missing: bool = False,
    ) -> bool | None:
        """Check that the corpus has these element types; create the missing ones if asked to.

        Two forms: arkindex-base-worker 0.3.7's, slugs as arguments (``check_required_types("page",
        "line")``, True when done), and today's, a list of names (``check_required_types(["Page",
        "line"])`` or ``type_names=[...]``, None when done), whose slugs are the names in lower
        case (a missing type is created with the name as its display name). Raises
        :class:`MissingElementType` naming the missing types unless ``create_missing``. Threads
        of a run checking one missing type create it once: the first creates it, the others
        wait and find it.
        """
        if type_names is not None or (len(type_slugs) == 1 and isinstance(type_slugs[0], list | tuple)):
            if type_names is not None and type_slugs:
                raise check.fail("give the element types either as arguments or as type_names, not both")
            self._check_required_type_names(type_slugs[0] if type_slugs else type_names, create_missing)
            return None
        if not type_slugs:
            raise check.fail("check_required_types needs at least one type slug")
        slugs = []
        for slug in type_slugs:
            if isinstance(slug, list | tuple):
                raise check.fail(
                    "give the element types as one list (check_required_types(['page', 'line'])) "
                    "or as slugs (check_required_types('page', 'line')), not both"
                )
            slugs.append(check.text(slug, "type slug"))
        check.boolean(create_missing, "create_missing")
        with self._run_locks(_ELEMENT_TYPES):
            corpus = self.request("RetrieveCorpus", id=self.corpus_id)
            self.corpus_types = {item["slug"]: item for item in corpus["types"]}
            missing = sorted(set(slugs) - set(self.corpus_types))
            if missing:
                if not create_missing:
                    raise MissingElementType(
                        f"Element type(s) {', '.join(missing)} were not found in the {corpus['name']} corpus "
                        f"({corpus['id']}); create them or call check_required_types(..., create_missing=True)."
                    )
                self.create_required_types([ElementType(slug, slug, False) for slug in missing])
        return True

    def _check_required_type_names(self, type_names: Any, create_missing: Any) -> None:
        """Today's form of :meth:`check_required_types`: names, whose slugs are in lower case."""
        names = [
            check.text(name, "the type name", check.item_prefix("Element type", index, "type_names"))
            for index, name in enumerate(check.non_empty_list(type_names, "type_names"))
        ]
        check.boolean(create_missing, "create_missing")
        known = self.corpus_types
        if known and all(name.lower() in known for name in names):
            return
        with self._run_locks(_ELEMENT_TYPES):
            if not self.corpus_types:
                self.list_corpus_types()
            missing: dict[str, str] = {}  # slug: the first name giving it (its display name)
            for name in names:
                if name.lower() not in self.corpus_types:
                    missing.setdefault(name.lower(), name)
            if not missing:
                return
            slugs = list(missing)
            if not create_missing:
                listed = ", ".join(f"`{slug}`" for slug in slugs)
                what = f"Element type {listed} was" if len(slugs) == 1 else f"Element types {listed} were"
                raise MissingElementType(
                    f"{what} not in the corpus ({self.corpus_id}): create "
                    f"{'it' if len(slugs) == 1 else 'them'}, or call check_required_types([...], create_missing=True)."
                )
            for slug in slugs:
                self.create_element_type(slug, missing[slug])

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

    def create_element_children(
        self,
        parent: Element | CachedElement,
        children: list[Element | CachedElement],
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> list[str] | None:
        """Add ``parent`` to the parents of existing elements; the ids of the children linked, in order.

        Sent ``batch_size`` at a time (needs today's Arkindex: ``CreateElementChildren``).
        """
        check.element(parent, "parent")
        ids = [
            check.element_id(check.element(child, "child", check.item_prefix("Child", index, "children")))
            for index, child in enumerate(check.non_empty_list(children, "children"))
        ]
        size = check.batch_size(batch_size)
        self._require("CreateElementChildren", "create_element_children")
        if self._read_only_skip("elements", verb="link"):
            return None
        parent_id = check.element_id(parent)
        linked: list[str] = []
        for batch in batches(ids, size):
            answer = self.request(
                "CreateElementChildren",
                id=parent_id,
                body={"children": list(batch)},
                landed=partial(self._linked_children, parent_id, batch),
            )
            linked.extend(answer["children"])
        return linked

    def _linked_children(self, parent_id: str, ids: Sequence[str]) -> dict[str, Any] | None:
        """The answer of a lost CreateElementChildren: every child of the batch is now under the parent."""
        children = {
            child["id"]
            for child in self.paginate(
                "ListElementChildren", id=parent_id, with_zone=False, with_corpus=False
            )
        }
        return {"children": list(ids)} if children.issuperset(ids) else None

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

    # -- retrieval and listings ----------------------------------------------------------------

    def retrieve_element(self, element_id: str) -> Element:
        """The element with this id (``RetrieveElement``), as :class:`Element`."""
        return self._element(self.request("RetrieveElement", id=check.uuid_text(element_id, "element_id")))

    def list_elements(
        self,
        folder: bool | None = None,
        name: str | None = None,
        top_level: bool | None = None,
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
    ) -> Listing[Element]:
        """The elements of the corpus (only those without a parent with ``top_level``), lazily.

        The filters are those of :meth:`list_element_children`; the API answers, never the
        cache (needs today's Arkindex: ``ListElements``).
        """
        filters = _list_filters(locals(), stacklevel=4)
        self._require("ListElements", "list_elements")
        return Results(self.paginate("ListElements", corpus=self.corpus_id, **filters), self._element)

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
        # Warn at the worker's call: list_element_* -> _list_relatives -> _list_filters -> worker_filter.
        filters = _list_filters(arguments, stacklevel=5)
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
