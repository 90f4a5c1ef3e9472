"""Embeddings (arkindex-base-worker 0.6): vectors a worker computes for elements, to compare them.

``create_embedding`` stores one for an element, ``list_embeddings`` lists an element's. Both
need today's Arkindex (``CreateEmbedding``, ``ListEmbeddings``).
"""

from __future__ import annotations

import math
from typing import Any

from arkworker.helpers import validation as check
from arkworker.helpers.base import HelperMixin, Listing, Results
from arkworker.models import ApiModel, Element
from arkworker.storage.cache import CachedElement


def _vector(value: Any) -> list[float]:
    """A non-empty list of finite floats (an integer is refused, as by the reference: write ``1.0``)."""
    points = check.non_empty_list(value, "value")
    for index, point in enumerate(points):
        if not isinstance(point, float) or not math.isfinite(point):
            raise check.fail(
                f"must be a finite float (such as 0.5 or 1.0), got {point!r} ({type(point).__name__})",
                check.item_prefix("Point", index, "value"),
            )
    return points


class EmbeddingMixin(HelperMixin):
    """Create and list the embeddings of elements."""

    def create_embedding(self, element: Element | CachedElement, value: list[float]) -> ApiModel | None:
        """Store ``value`` as this worker run's embedding of ``element``; the API's answer, None in read-only mode."""
        element_id = check.element_id(check.element(element))
        body = {"worker_run_id": self.worker_run_id, "value": _vector(value)}
        self._require("CreateEmbedding", "create_embedding")
        if self._read_only_skip("embedding"):
            return None
        return ApiModel(self.request("CreateEmbedding", id=element_id, body=body))

    def list_embeddings(self, element: Element | CachedElement) -> Listing[ApiModel]:
        """The embeddings of ``element``, lazily."""
        element_id = check.element_id(check.element(element))
        self._require("ListEmbeddings", "list_embeddings")
        return Results(self.paginate("ListEmbeddings", id=element_id), ApiModel)
