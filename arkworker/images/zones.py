"""Where an element's pixels are: polygons' boxes, the image zone of an element, IIIF URLs.

An Arkindex element points at a region (its polygon) of an image served by a IIIF Image
API server. API elements (:class:`arkworker.models.Element`) and cached elements
(:class:`arkworker.storage.cache.CachedElement`) both describe themselves as an :class:`ImageZone`,
so the rules of :mod:`arkworker.images` and :mod:`arkworker.images.tiles` are written once. This
module downloads nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from arkworker.images.downloads import ImageError

#: Image formats a IIIF request may ask for.
FORMATS = ("jpg", "png")


class BoundingBox(NamedTuple):
    """The smallest integer rectangle holding a polygon."""

    x: int
    y: int
    width: int
    height: int


def polygon_points(polygon: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    """The ``(x, y)`` points of a polygon; ValueError naming the first malformed point."""
    points = []
    for index, point in enumerate(polygon):
        if (
            not isinstance(point, Sequence)
            or len(point) != 2
            or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in point)
        ):
            raise ValueError(f"Polygon point {index} should be [x, y] with two numbers, got {point!r}")
        points.append((point[0], point[1]))
    if len(points) < 3:
        raise ValueError(f"A polygon needs at least 3 points, got {len(points)}")
    return points


def polygon_bounding_box(polygon: Sequence[Sequence[float]]) -> BoundingBox:
    """``(x, y, width, height)`` of a polygon, widened to whole pixels."""
    points = polygon_points(polygon)
    x = math.floor(min(p[0] for p in points))
    y = math.floor(min(p[1] for p in points))
    return BoundingBox(
        x, y, math.ceil(max(p[0] for p in points)) - x, math.ceil(max(p[1] for p in points)) - y
    )


def trim_polygon(polygon: Sequence[Sequence[float]], image_width: int, image_height: int) -> list[list[int]]:
    """The polygon clamped to the image, as integers, repeated points dropped, still closed if it was.

    A worker computing polygons (a detector's boxes, a dilated line) easily crosses the
    image's edge by a pixel, which Arkindex refuses. A polygon entirely outside the image
    is a mistake, not something to clamp: that is a ValueError.
    """
    points = polygon_points(polygon)
    if all(not (0 <= x <= image_width and 0 <= y <= image_height) for x, y in points) and not _overlaps(
        points, image_width, image_height
    ):
        raise ValueError(f"The polygon is entirely outside the image ({image_width}x{image_height})")
    closed = points[0] == points[-1]
    trimmed: list[list[int]] = []
    seen: set[tuple[int, int]] = set()
    for x, y in points:
        point = (min(max(round(x), 0), image_width), min(max(round(y), 0), image_height))
        if point not in seen:
            seen.add(point)
            trimmed.append(list(point))
    if len(trimmed) < 3:
        raise ValueError("The polygon has fewer than 3 distinct points once trimmed to the image")
    if closed:
        trimmed.append(list(trimmed[0]))
    return trimmed


def _overlaps(points: list[tuple[float, float]], width: int, height: int) -> bool:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs) < width and max(xs) > 0 and min(ys) < height and max(ys) > 0


@dataclass(frozen=True)
class ImageZone:
    """What opening an element's image needs, whichever model the element comes from."""

    element_id: str
    #: The IIIF base URL of the image (no trailing slash).
    url: str
    width: int
    height: int
    #: The polygon's bounding box, None when the element has no polygon.
    box: BoundingBox | None = None
    s3_url: str | None = None
    server_max_width: int | None = None
    server_max_height: int | None = None
    rotation_angle: int = 0
    mirrored: bool = False

    def region(self, use_full_image: bool = False) -> BoundingBox:
        """The part of the image to fetch: the polygon's box clipped to the image, or all of it."""
        if use_full_image or self.box is None:
            return BoundingBox(0, 0, self.width, self.height)
        x, y = max(self.box.x, 0), max(self.box.y, 0)
        right = min(self.box.x + self.box.width, self.width)
        bottom = min(self.box.y + self.box.height, self.height)
        if right <= x or bottom <= y:
            raise ImageError(
                f"Element {self.element_id}: its polygon {tuple(self.box)} lies outside its image "
                f"({self.width}x{self.height})"
            )
        return BoundingBox(x, y, right - x, bottom - y)

    def exceeds_server(self, width: int, height: int) -> bool:
        """Whether the image server refuses an answer of ``width`` x ``height`` pixels."""
        return (self.server_max_width is not None and width > self.server_max_width) or (
            self.server_max_height is not None and height > self.server_max_height
        )


def _check_max(value: int | None, name: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be a positive number of pixels or None, got {value!r}")


def resized(width: int, height: int, max_width: int | None, max_height: int | None) -> tuple[int, int]:
    """``width`` x ``height`` scaled down, ratio kept, to fit the maxima (never scaled up)."""
    _check_max(max_width, "max_width")
    _check_max(max_height, "max_height")
    scale = min(
        1.0,
        max_width / width if max_width else 1.0,
        max_height / height if max_height else 1.0,
    )
    if scale == 1.0:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def region_string(zone: ImageZone, region: BoundingBox) -> str:
    """``full`` for the whole image, ``x,y,w,h`` otherwise."""
    return "full" if region == (0, 0, zone.width, zone.height) else ",".join(map(str, region))


def iiif_url(base: str, region: str = "full", size: str = "full", image_format: str = "jpg") -> str:
    """``<base>/<region>/<size>/0/default.<format>`` (IIIF Image API 2)."""
    if image_format not in FORMATS:
        raise ValueError(f"Unsupported IIIF format {image_format!r}: use one of {', '.join(FORMATS)}")
    return f"{base.rstrip('/')}/{region}/{size}/0/default.{image_format}"


def api_zone(element: Mapping[str, Any]) -> ImageZone | None:
    """The zone of an API element payload (``zone.polygon``, ``zone.image``...), None without a zone."""
    zone = element.get("zone")
    if not zone:
        return None
    image = zone["image"]
    server = image.get("server") or {}
    polygon = zone.get("polygon")
    return ImageZone(
        element_id=str(element.get("id")),
        url=image["url"].rstrip("/"),
        width=image["width"],
        height=image["height"],
        box=polygon_bounding_box(polygon) if polygon else None,
        s3_url=image.get("s3_url") or None,
        server_max_width=server.get("max_width"),
        server_max_height=server.get("max_height"),
        rotation_angle=element.get("rotation_angle") or 0,
        mirrored=bool(element.get("mirrored")),
    )


def cached_zone(element: Any) -> ImageZone:
    """The zone of a cached element (its image row and polygon); ValueError without an image."""
    if element.image_id is None or not element.polygon:
        raise ValueError(f"Element {element.id} has no image")
    image = element.image
    return ImageZone(
        element_id=str(element.id),
        url=image.url.rstrip("/"),
        width=image.width,
        height=image.height,
        box=polygon_bounding_box(element.polygon),
        rotation_angle=element.rotation_angle or 0,
        mirrored=bool(element.mirrored),
    )


def element_zone(element: Any) -> ImageZone:
    """The zone of an API element (a mapping) or of a cached one; ValueError when it has none."""
    if not isinstance(element, Mapping):
        return cached_zone(element)
    zone = api_zone(element)
    if zone is None:
        raise ValueError(f"Element {element.get('id')} has no zone")
    return zone
