"""Regions larger than the image server allows, fetched tile by tile at full resolution.

IIIF servers refuse answers larger than their ``max_width``/``max_height``; the server's
``info.json`` says which tiles it serves. :func:`arkworker.images.open_zone` reassembles
such regions here, then resizes them locally.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import requests
from PIL import Image

from arkworker.images.downloads import DownloadSettings, ImageError, decode, download
from arkworker.images.zones import BoundingBox, ImageZone, iiif_url

logger = logging.getLogger("arkworker")


def _info(zone: ImageZone, session: requests.Session, settings: DownloadSettings | None) -> dict[str, Any]:
    url = f"{zone.url}/info.json"
    try:
        info = json.loads(download(url, session=session, settings=settings))
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
    settings: DownloadSettings | None = None,
) -> Image.Image:
    """The region at full resolution, fetched tile by tile (column by column) and pasted together."""
    tile_width, tile_height = tile_size(zone, _info(zone, session, settings))
    canvas = Image.new("RGB", (region.width, region.height))
    for x in range(region.x, region.x + region.width, tile_width):
        for y in range(region.y, region.y + region.height, tile_height):
            width = min(tile_width, region.x + region.width - x)
            height = min(tile_height, region.y + region.height - y)
            url = iiif_url(zone.url, f"{x},{y},{width},{height}", "full", image_format)
            tile = decode(download(url, session=session, settings=settings), url)
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
