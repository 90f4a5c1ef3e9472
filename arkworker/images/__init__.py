"""The pixels of an element: downloads, orientation, and polygons back in the image's frame.

Opening an element means asking its IIIF server for the bounding box of the polygon (or the
whole image), at most ``max_width`` x ``max_height`` pixels with the ratio kept, then
applying the element's ``mirrored`` and ``rotation_angle`` as the reference does (mirror
left-right first, then rotate clockwise, growing the canvas). Regions larger than the
server allows come from :mod:`arkworker.images.tiles`; where a zone is and how it is asked for
lives in :mod:`arkworker.images.zones`, whose public names are also importable from here.

Differences with the reference (facts §12.18): a crop of a cached element is resized like
any other; the tiles path keeps the element's polygon; a resize keeps the ratio when both
maxima are given.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from PIL import Image

from arkworker.images.downloads import DownloadSettings, ImageError, decode, fetch_image, session_for
from arkworker.images.orientation import apply_orientation, orient_points, unorient_points
from arkworker.images.tiles import fetch_tiles
from arkworker.images.zones import (
    BoundingBox,
    ImageZone,
    api_zone,
    cached_zone,
    element_zone,
    iiif_url,
    polygon_bounding_box,
    polygon_points,
    region_string,
    resized,
    trim_polygon,
)

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
    zone = element_zone(element)
    x, y, width, height = zone.region()
    points = polygon_points(polygon)
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
    settings: DownloadSettings | None = None,
) -> Image.Image:
    """Download the zone's pixels and orient them like the element.

    ``image_format`` is the format asked to the IIIF server: ``png`` gives lossless pixels.
    ``settings`` (retries, timeouts) default to :func:`~arkworker.images.downloads.current_settings`.
    Raises :class:`ImageError` when the image cannot be downloaded or read.
    """
    region = zone.region(use_full_image)
    target = resized(region.width, region.height, max_width, max_height)
    with session_for(settings) as session:
        if use_full_image and zone.s3_url:
            image = fetch_image(zone.s3_url, session=session, settings=settings)
        elif zone.exceeds_server(*target):
            image = fetch_tiles(zone, region, session=session, image_format=image_format, settings=settings)
        else:
            size = "full" if target == region[2:] else f"{target[0]},{target[1]}"
            url = iiif_url(zone.url, region_string(zone, region), size, image_format)
            image = fetch_image(url, session=session, settings=settings)
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
    settings: DownloadSettings | None = None,
) -> Image.Image:
    """An image that is not an element's zone (a URL, a file), converted and oriented the same way.

    An ``http(s)`` URL is downloaded under the retry policy; anything else is a local file,
    read whole so that a truncated file fails here. :class:`ImageError` names the source
    (the reference downloaded a path that did not exist, failing on a confusing URL error).
    """
    text = os.fspath(source)
    if text.startswith(("http://", "https://")):
        image = fetch_image(text, settings=settings)
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
