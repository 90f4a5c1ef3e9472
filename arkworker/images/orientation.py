"""An element's orientation: its pixels as a worker sees them, and points between both frames.

Arkindex elements carry a ``rotation_angle`` (clockwise degrees) and a ``mirrored`` flag.
Opening an element's image applies them as the reference does: mirror left-right first,
then rotate clockwise, growing the canvas to hold the whole rotated image (Pillow's
``rotate(expand=True)``). A worker then finds things (lines, words...) in that oriented
image, but Arkindex wants polygons in the coordinates of the original image: the point
mapping below is the exact geometric counterpart of the pixel transform, so a point found in
the oriented image goes back to where its pixel came from.

Coordinates are continuous (pixel corners): the pixel at index ``(i, j)`` covers the square
from ``(i, j)`` to ``(i + 1, j + 1)``, which is how polygons describe regions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image, ImageOps

__all__ = ["apply_orientation", "orient_points", "oriented_size", "unorient_points"]

Point = tuple[float, float]


def apply_orientation(image: Image.Image, rotation_angle: int = 0, mirrored: bool = False) -> Image.Image:
    """Mirror left-right first, then rotate clockwise by ``rotation_angle`` degrees, growing the canvas."""
    if mirrored:
        image = ImageOps.mirror(image)
    if rotation_angle % 360:
        image = image.rotate(-rotation_angle, expand=True)
    return image


def _cos_sin(angle: float) -> tuple[float, float]:
    """Cosine and sine of a clockwise angle in degrees, exact for multiples of 90."""
    angle %= 360
    exact: dict[float, tuple[float, float]] = {
        0: (1.0, 0.0),
        90: (0.0, 1.0),
        180: (-1.0, 0.0),
        270: (0.0, -1.0),
    }
    if angle in exact:
        return exact[angle]
    radians = math.radians(angle)
    return math.cos(radians), math.sin(radians)


def oriented_size(width: int, height: int, rotation_angle: float = 0) -> tuple[int, int]:
    """The size of a ``width`` x ``height`` image once rotated with a grown canvas.

    The rotated corners' extent, rounded outwards as Pillow does, so that both frames share
    their centre exactly as :func:`apply_orientation` places the pixels.
    """
    cos, sin = _cos_sin(rotation_angle)
    if sin == 0 or cos == 0:
        return (height, width) if cos == 0 else (width, height)
    xs, ys = [], []
    for x, y in (
        (-width / 2, -height / 2),
        (width / 2, -height / 2),
        (width / 2, height / 2),
        (-width / 2, height / 2),
    ):
        xs.append(x * cos - y * sin + width / 2)
        ys.append(x * sin + y * cos + height / 2)
    return math.ceil(max(xs)) - math.floor(min(xs)), math.ceil(max(ys)) - math.floor(min(ys))


def orient_points(
    points: Sequence[Point], width: int, height: int, rotation_angle: float = 0, mirrored: bool = False
) -> list[Point]:
    """Points of a ``width`` x ``height`` image, moved where :func:`apply_orientation` puts their pixels."""
    cos, sin = _cos_sin(rotation_angle)
    new_width, new_height = oriented_size(width, height, rotation_angle)
    moved = []
    for x, y in points:
        if mirrored:
            x = width - x
        dx, dy = x - width / 2, y - height / 2
        moved.append((dx * cos - dy * sin + new_width / 2, dx * sin + dy * cos + new_height / 2))
    return moved


def unorient_points(
    points: Sequence[Point], width: int, height: int, rotation_angle: float = 0, mirrored: bool = False
) -> list[Point]:
    """The inverse of :func:`orient_points`: points of the oriented image, back in the original one."""
    cos, sin = _cos_sin(rotation_angle)
    new_width, new_height = oriented_size(width, height, rotation_angle)
    moved = []
    for x, y in points:
        dx, dy = x - new_width / 2, y - new_height / 2
        x, y = dx * cos + dy * sin + width / 2, -dx * sin + dy * cos + height / 2
        moved.append((width - x if mirrored else x, y))
    return moved
