"""An element's image downloaded ahead of its handler, handed over once.

A run whose handler declares ``prefetch_images`` downloads each element's image while
earlier elements are processed (:mod:`arkworker.run.units`). The image waits on the
element: the handler's first ``open_image()`` with the same arguments takes it (and later
calls download again), so memory holds at most the images of the elements fetched ahead.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any


class PrefetchesImage:
    """What :class:`~arkworker.models.Element` and the cache's element add to ``open_image()``."""

    if TYPE_CHECKING:

        def open_image(self, *args: Any, **kwargs: Any) -> Any: ...

    def prefetch_image(self, **arguments: Any) -> None:
        """Download the image ``open_image(**arguments)`` gives, and keep it for that call."""
        image = self.open_image(**arguments)
        self.__dict__["_prefetched_image"] = (self._image_call(arguments), image)

    def _take_prefetched(self, arguments: dict[str, Any]) -> Any:
        """The image kept for ``open_image(**arguments)``, once; None when there is none for them."""
        kept = self.__dict__.pop("_prefetched_image", None)
        if kept is None or kept[0] != self._image_call(arguments):
            return None
        return kept[1]

    def _image_call(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """``arguments`` with the defaults of ``open_image`` filled in: two spellings of one call match."""
        bound = inspect.signature(self.open_image).bind(**arguments)
        bound.apply_defaults()
        return dict(bound.arguments)
