"""The pixels of an element: IIIF URLs, downloads, tiles and the element's orientation.

An Arkindex element points at a region (its polygon) of an image served by a IIIF Image
API server. Opening it means asking the server for the bounding box of the polygon (or the
whole image), at most ``max_width`` x ``max_height`` pixels with the ratio kept, then
applying the element's ``mirrored`` and ``rotation_angle`` as the reference does (mirror
left-right first, then rotate clockwise, growing the canvas). IIIF servers refuse answers
larger than their ``max_width``/``max_height``: such regions are fetched tile by tile at
full resolution and reassembled, then resized locally.

API elements (:class:`arkworker.models.Element`) and cached elements
(:class:`arkworker.cache.CachedElement`) both describe themselves as an :class:`ImageZone`,
so the rules below are written once. Differences with the reference (facts §12.18): a crop
of a cached element is resized like any other; the tiles path keeps the element's polygon;
a resize keeps the ratio when both maxima are given.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

import requests
from PIL import Image

from arkworker.downloads import ImageError, decode, download, fetch_image
from arkworker.orientation import apply_orientation, orient_points, unorient_points

logger = logging.getLogger("arkworker")

__all__ = [
    "BoundingBox",
    "ImageError",
    "ImageZone",
    "api_zone",
    "apply_orientation",
    "cached_zone",
    "iiif_url",
    "open_image",
    "open_zone",
    "open_zone_tempfile",
    "polygon_bounding_box",
    "resized",
    "revert_orientation",
    "trim_polygon",
]

#: Image formats a IIIF request may ask for.
FORMATS = ("jpg", "png")


class BoundingBox(NamedTuple):
    """The smallest integer rectangle holding a polygon."""

    x: int
    y: int
    width: int
    height: int


def _points(polygon: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
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
    points = _points(polygon)
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
    points = _points(polygon)
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


# -- zones and URLs ----------------------------------------------------------------------------


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


# -- orientation -------------------------------------------------------------------------------


def revert_orientation(
    element: Any, polygon: Sequence[Sequence[float]], reverse: bool = False
) -> list[list[int]]:
    """A child's polygon found in the parent's oriented image, in the coordinates of the original image.

    ``element`` is the parent (an API or cached element) and ``polygon`` is in the pixels of
    its ``open_image()`` at full resolution: its box, mirrored then rotated. Call this before
    sending the polygon to Arkindex, which stores polygons in the image's own coordinates.
    ``reverse=True`` does the opposite: a polygon of the image, as it appears in the parent's
    oriented image. Points are rounded to whole pixels; a closed ring stays closed.
    """
    if isinstance(element, Mapping):
        zone = api_zone(element)
        if zone is None:
            raise ValueError(f"Element {element.get('id')} has no zone")
    else:
        zone = cached_zone(element)
    x, y, width, height = zone.region()
    points = _points(polygon)
    if reverse:
        local = [(px - x, py - y) for px, py in points]
        moved = orient_points(local, width, height, zone.rotation_angle, zone.mirrored)
        return [[round(px), round(py)] for px, py in moved]
    moved = unorient_points(points, width, height, zone.rotation_angle, zone.mirrored)
    return [[round(px + x), round(py + y)] for px, py in moved]


# -- opening -----------------------------------------------------------------------------------


def open_zone(
    zone: ImageZone,
    mode: str | None = "RGB",
    *,
    max_width: int | None = None,
    max_height: int | None = None,
    use_full_image: bool = False,
    image_format: str = "jpg",
    env: Mapping[str, str] | None = None,
) -> Image.Image:
    """Download the zone's pixels and orient them like the element.

    ``image_format`` is the format asked to the IIIF server: ``png`` gives lossless pixels.
    Raises :class:`ImageError` when the image cannot be downloaded or read.
    """
    region = zone.region(use_full_image)
    target = resized(region.width, region.height, max_width, max_height)
    with requests.Session() as session:
        if use_full_image and zone.s3_url:
            image = fetch_image(zone.s3_url, session=session, env=env)
        elif zone.exceeds_server(*target):
            image = fetch_tiles(zone, region, session=session, image_format=image_format, env=env)
        else:
            size = "full" if target == region[2:] else f"{target[0]},{target[1]}"
            url = iiif_url(zone.url, region_string(zone, region), size, image_format)
            image = fetch_image(url, session=session, env=env)
    if image.size != target:
        image = image.resize(
            resized(image.width, image.height, max_width, max_height), Image.Resampling.LANCZOS
        )
    return _finish(image, mode, zone.rotation_angle, zone.mirrored)


def _finish(image: Image.Image, mode: str | None, rotation_angle: int, mirrored: bool) -> Image.Image:
    if mode and image.mode != mode:
        image = image.convert(mode)
    return apply_orientation(image, rotation_angle, mirrored)


def open_image(
    source: str | os.PathLike[str],
    mode: str | None = "RGB",
    *,
    rotation_angle: int = 0,
    mirrored: bool = False,
    env: Mapping[str, str] | None = None,
) -> Image.Image:
    """An image that is not an element's zone (a URL, a file), converted and oriented the same way.

    An ``http(s)`` URL is downloaded under the retry policy; anything else is a local file,
    read whole so that a truncated file fails here. :class:`ImageError` names the source
    (the reference downloaded a path that did not exist, failing on a confusing URL error).
    """
    text = os.fspath(source)
    if text.startswith(("http://", "https://")):
        image = fetch_image(text, env=env)
    else:
        try:
            data = Path(text).read_bytes()
        except OSError as error:
            raise ImageError(f"Cannot read the image file {text} ({error.strerror or error})") from None
        image = decode(data, text)
    return _finish(image, mode, rotation_angle, mirrored)


@contextlib.contextmanager
def open_zone_tempfile(zone: ImageZone, format: str = "jpeg", **kwargs: Any) -> Iterator[IO[bytes]]:
    """The zone's image saved to a temporary file (deleted afterwards), for tools wanting a path."""
    image = open_zone(zone, **kwargs)
    suffix = "." + ("jpg" if format.lower() in ("jpeg", "jpg") else format.lower())
    with tempfile.NamedTemporaryFile(suffix=suffix) as file:
        image.save(file, format="JPEG" if format.lower() in ("jpeg", "jpg") else format)
        file.flush()
        file.seek(0)
        yield file


# -- tiles -------------------------------------------------------------------------------------


def _info(zone: ImageZone, session: requests.Session, env: Mapping[str, str] | None) -> dict[str, Any]:
    url = f"{zone.url}/info.json"
    try:
        info = json.loads(download(url, session=session, env=env))
    except ValueError as exc:
        raise ImageError(f"{url} is not a IIIF info.json document: {exc}") from None
    if not isinstance(info, dict):
        raise ImageError(f"{url} is not a IIIF info.json document (a JSON object)")
    return info


def tile_size(zone: ImageZone, info: Mapping[str, Any]) -> tuple[int, int]:
    """The largest tile the server advertises, within its size limits."""
    specs = [spec for spec in info.get("tiles") or [] if isinstance(spec, dict) and spec.get("width")]
    max_width = info.get("maxWidth") or zone.server_max_width
    max_height = info.get("maxHeight") or info.get("maxWidth") or zone.server_max_height
    if specs:
        spec = max(specs, key=lambda item: item["width"])
        width, height = spec["width"], spec.get("height") or spec["width"]
    elif max_width or max_height:
        width, height = max_width or max_height, max_height or max_width
    else:
        raise ImageError(f"{zone.url}/info.json advertises neither tiles nor a maximum size")
    sizes = (width, height, max_width or 1, max_height or 1)
    if not all(isinstance(value, int) and not isinstance(value, bool) and value > 0 for value in sizes):
        raise ImageError(f"{zone.url}/info.json advertises invalid tile sizes or limits: {info!r:.200}")
    return min(width, max_width or width), min(height, max_height or height)


def fetch_tiles(
    zone: ImageZone,
    region: BoundingBox,
    *,
    session: requests.Session,
    image_format: str = "jpg",
    env: Mapping[str, str] | None = None,
) -> Image.Image:
    """The region at full resolution, fetched tile by tile (column by column) and pasted together."""
    tile_width, tile_height = tile_size(zone, _info(zone, session, env))
    canvas = Image.new("RGB", (region.width, region.height))
    for x in range(region.x, region.x + region.width, tile_width):
        for y in range(region.y, region.y + region.height, tile_height):
            width = min(tile_width, region.x + region.width - x)
            height = min(tile_height, region.y + region.height - y)
            url = iiif_url(zone.url, f"{x},{y},{width},{height}", "full", image_format)
            tile = decode(download(url, session=session, env=env), url)
            if tile.width < width or tile.height < height:
                raise ImageError(
                    f"{url} answered {tile.width}x{tile.height} pixels, expected {width}x{height}"
                )
            if tile.size != (width, height):
                logger.warning(
                    "%s answered %dx%d pixels, expected %dx%d: cropped", url, *tile.size, width, height
                )
                tile = tile.crop((0, 0, width, height))
            canvas.paste(tile.convert("RGB"), (x - region.x, y - region.y))
    return canvas
