"""Metadata: create_metadata, create_metadata_bulk, list_element_metadata.

A legacy instance links a metadata to an entity (``entity``, ``entity_id``); today's Arkindex has
no entity objects, and its bodies have no ``entity_id`` (arkindex-base-worker 0.5 and later).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from arkworker.enums import ApiLevel, MetaType
from arkworker.helpers import validation as check
from arkworker.helpers.base import DEFAULT_BATCH_SIZE, HelperMixin, batches, worker_run_of
from arkworker.models import ApiModel, Element
from arkworker.storage.cache import CachedElement


class MetaDataMixin(HelperMixin):
    """Write and list the metadata of elements (never cached: the cache has no metadata table)."""

    def create_metadata(
        self,
        element: Element | CachedElement,
        type: MetaType,
        name: str,
        value: str,
        entity: str | None = None,
    ) -> str | None:
        """Add one metadata to ``element``; its id, None in read-only mode.

        ``entity`` (an entity's id) is for legacy instances: today's Arkindex has no entities.
        """
        check.element(element)
        body: dict[str, Any] = {
            "type": self._meta_type(type),
            "name": check.text(name, "name"),
            "value": check.text(value, "value"),
        }
        if self._links_entities("create_metadata(..., entity=...)", entity):
            body["entity_id"] = check.text(entity, "entity", optional=True) if entity else None
        body["worker_run_id"] = self.worker_run_id
        if self._read_only_skip("metadata"):
            return None
        element_id = check.element_id(element)
        landed = partial(self._created_metadata, element_id, body)
        return self.request("CreateMetaData", id=element_id, body=body, landed=landed)["id"]

    def _created_metadata(self, element_id: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """The metadata of a lost CreateMetaData answer: this run's, same type, name, value and entity."""
        wanted = (body["type"], body["name"], body["value"], body.get("entity_id"), self.worker_run_id)
        return next(
            (
                item
                for item in self.paginate("ListElementMetaData", id=element_id)
                if (item["type"], item["name"], item["value"], item.get("entity_id"), worker_run_of(item))
                == wanted
            ),
            None,
        )

    def create_metadata_bulk(
        self,
        element: Element | CachedElement,
        metadata_list: list[dict[str, Any]],
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> list[dict[str, Any]] | None:
        """Add several metadata (``type``, ``name``, ``value``, ``entity_id``) to ``element``.

        Sent ``batch_size`` at a time; the created metadata (with their ``id``) in input order.
        """
        check.element(element)
        items = []
        for index, item in enumerate(check.non_empty_list(metadata_list, "metadata_list")):
            prefix = check.item_prefix("Metadata", index, "metadata_list")
            item = check.mapping(item, prefix)
            value = item.get("value")
            if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
                raise check.fail(f"value must be a string or a number, got {value!r}", prefix)
            entity_id = item.get("entity_id")
            if entity_id is not None and not isinstance(entity_id, str):
                raise check.fail(f"entity_id must be a string or None, got {entity_id!r}", prefix)
            cleaned: dict[str, Any] = {
                "type": self._meta_type(item.get("type"), prefix),
                "name": check.text(item.get("name"), "name", prefix),
                "value": value,
            }
            if self._links_entities(f"{prefix}entity_id", entity_id):
                cleaned["entity_id"] = entity_id
            items.append(cleaned)
        size = check.batch_size(batch_size)
        if self._read_only_skip("metadata"):
            return None
        created: list[dict[str, Any]] = []
        for batch in batches(items, size):
            answer = self.request(
                "CreateMetaDataBulk",
                id=check.element_id(element),
                body={"worker_run_id": self.worker_run_id, "metadata_list": list(batch)},
            )
            created.extend(answer["metadata_list"])
        return created

    def _meta_type(self, value: Any, prefix: str = "") -> str:
        """A :class:`MetaType` of the instance's generation: ``html`` (legacy) became ``markdown``."""
        meta_type = check.meta_type(value, prefix)
        if meta_type == MetaType.HTML.value and self.api_level is not ApiLevel.LEGACY:
            raise check.fail(
                f"type html is a legacy Arkindex's, but {self.api.url} is today's Arkindex, which has "
                "markdown instead (MetaType.Markdown)",
                prefix,
            )
        if meta_type == MetaType.Markdown.value and self.api_level is ApiLevel.LEGACY:
            raise check.fail(
                f"type markdown is today's Arkindex's, but {self.api.url} is a legacy Arkindex, which has "
                "html instead (MetaType.HTML)",
                prefix,
            )
        return meta_type

    def _links_entities(self, what: str, entity: Any) -> bool:
        """Whether bodies carry ``entity_id`` (legacy instances); an entity given to today's Arkindex is refused."""
        if self.api_level is ApiLevel.LEGACY:
            return True
        if entity is not None:
            raise check.fail(
                f"{what} links the metadata to an entity, but {self.api.url} is today's Arkindex, which has "
                "no entity objects (arkindex-base-worker 0.5 removed the parameter): drop it"
            )
        return False

    def list_element_metadata(
        self, element: Element | CachedElement, load_parents: bool | None = None
    ) -> list[ApiModel]:
        """The metadata of ``element`` (and of its ancestors with ``load_parents``)."""
        check.element(element)
        filters = {}
        if load_parents is not None:
            filters["load_parents"] = check.boolean(load_parents, "load_parents")
        return [
            ApiModel(item)
            for item in self.paginate("ListElementMetaData", id=check.element_id(element), **filters)
        ]
