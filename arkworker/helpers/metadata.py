"""Metadata: create_metadata, create_metadata_bulk, list_element_metadata."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from arkworker.enums import MetaType
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
        """Add one metadata to ``element``; its id, None in read-only mode."""
        check.element(element)
        body = {
            "type": check.meta_type(type),
            "name": check.text(name, "name"),
            "value": check.text(value, "value"),
            "entity_id": check.text(entity, "entity", optional=True) if entity else None,
            "worker_run_id": self.worker_run_id,
        }
        if self._read_only_skip("metadata"):
            return None
        element_id = check.element_id(element)
        landed = partial(self._created_metadata, element_id, body)
        return self.request("CreateMetaData", id=element_id, body=body, landed=landed)["id"]

    def _created_metadata(self, element_id: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """The metadata of a lost CreateMetaData answer: this run's, same type, name, value and entity."""
        wanted = (body["type"], body["name"], body["value"], body["entity_id"], self.worker_run_id)
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
            items.append(
                {
                    "type": check.meta_type(item.get("type"), prefix),
                    "name": check.text(item.get("name"), "name", prefix),
                    "value": value,
                    "entity_id": entity_id,
                }
            )
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
