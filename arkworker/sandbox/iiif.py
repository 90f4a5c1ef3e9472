"""The sandbox's IIIF Image API 2.1 server, for images stored on local disk.

Corpus images given by ``path:`` (and folders imported with ``arkworker sandbox import``)
have no IIIF server of their own: the sandbox serves them at ``<sandbox>/iiif/<image id>``
so that ``element.open_image()`` works on a user's scans with no Arkindex instance. The
server follows the Image API 2.1 URL syntax ``{region}/{size}/{rotation}/{quality}.{format}``
and applies the operations in the specified order:

* region: ``full``, ``square``, ``x,y,w,h``, ``pct:x,y,w,h`` (clipped to the image);
* size: ``full``, ``max``, ``w,``, ``,h``, ``pct:n``, ``w,h``, ``!w,h``;
* rotation: ``0``, ``90``, ``180``, ``270``, mirrored first with a ``!`` prefix;
* quality: ``default``, ``color``, ``gray``, ``bitonal``; format: ``jpg``, ``png``.

An image's ``max_width`` / ``max_height`` (corpus file) are advertised in ``info.json``
and enforced: a larger answer is refused with 400, except for size ``max``, which is
scaled down to fit. That is how a test exercises the tiles path of a worker. Every answer
is also held to the server's ``max_area`` (pixels, :data:`DEFAULT_MAX_AREA`), so that no
request (``full/99999,99999/0/default.jpg``) can make the sandbox allocate gigabytes. The
limits are advertised in the profile the way Image API 2.1 says (``maxArea``, ``maxWidth``,
``maxHeight``); an image's own limits also at the top level, where Image API 3 and arkworker's
tile code read them. Images declared with a size only (no ``path``, no ``url``) are served as
blank pages, drawn at the size asked for; a file that cannot be decoded (truncated, corrupt)
is answered with 422, which clients do not retry. Faults are injected by the application in
front of this server (target ``"iiif"``, :mod:`arkworker.sandbox.faults`).
"""

from __future__ import annotations

import io
import json
import math
import re
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from PIL import Image, ImageOps
from werkzeug.wrappers import Request, Response

from arkworker.sandbox.store import Store
from arkworker.sandbox.tables import Image as ImageRow

PREFIX = "/iiif/"
#: The square tile size advertised in info.json, lowered to fit an image's size limits.
TILE_SIZE = 512
#: The colour of images declared with a size but no file.
BLANK = (236, 232, 222)
#: The largest answer by default, in pixels (about 300 MB of RGB): any page scan fits.
DEFAULT_MAX_AREA = 100_000_000
#: Decoded image files kept in memory, in pixels (the most recent one is always kept).
CACHE_PIXELS = 200_000_000
FORMATS = {"jpg": ("JPEG", "image/jpeg"), "png": ("PNG", "image/png")}
QUALITIES = {"default": None, "color": "RGB", "gray": "L", "bitonal": "1"}
#: The modes each encoder writes; others (a CMYK scan as png...) are converted to RGB(A).
WRITABLE_MODES = {"JPEG": ("RGB", "L", "1", "CMYK"), "PNG": ("RGB", "RGBA", "L", "LA", "1", "P")}
#: Numbers in a URL have at most 9 digits: larger ones mean nothing for an image.
_INTEGER = r"\d{1,9}"
_NUMBER = rf"{_INTEGER}(?:\.\d{{1,9}})?"
_IMAGE_PATH = re.compile(
    r"^(?P<id>[^/]+)/(?P<region>[^/]+)/(?P<size>[^/]+)/(?P<rotation>[^/]+)/(?P<file>[^/]+)$"
)


class Limits(NamedTuple):
    """The largest answer the server gives for one image (None: no limit of that kind)."""

    max_width: int | None = None
    max_height: int | None = None
    max_area: int | None = None


NO_LIMITS = Limits()


@dataclass(frozen=True)
class BlankPage:
    """An image declared by its size only: drawn at the size asked for, never at its own."""

    width: int
    height: int


class IiifError(Exception):
    """A request the server refuses: ``status`` and a plain-text explanation."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_region(value: str, width: int, height: int) -> tuple[int, int, int, int]:
    """``(x, y, w, h)`` of a region parameter, clipped to the image."""
    if value == "full":
        return 0, 0, width, height
    if value == "square":
        side = min(width, height)
        return (width - side) // 2, (height - side) // 2, side, side
    pct = value.startswith("pct:")
    numbers = value[4:] if pct else value
    integers = rf"{_INTEGER},{_INTEGER},{_INTEGER},{_INTEGER}"
    if not re.fullmatch(rf"{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}" if pct else integers, numbers):
        raise IiifError(400, f"Invalid region {value!r}: use full, square, x,y,w,h or pct:x,y,w,h")
    x, y, w, h = (float(part) for part in numbers.split(","))
    if pct:
        x, y, w, h = x * width / 100, y * height / 100, w * width / 100, h * height / 100
    x, y, w, h = round(x), round(y), round(w), round(h)
    if w <= 0 or h <= 0 or x >= width or y >= height:
        raise IiifError(400, f"Region {value!r} is empty or outside the image ({width}x{height})")
    return x, y, min(w, width - x), min(h, height - y)


def parse_size(value: str, width: int, height: int, limits: Limits = NO_LIMITS) -> tuple[int, int]:
    """The output size for a region of ``width`` x ``height`` pixels, within ``limits``."""
    max_width, max_height, max_area = limits
    if value in ("full", "max"):
        size = width, height
        if value == "max":
            scale = min(1.0, (max_width or width) / width, (max_height or height) / height)
            size = max(1, round(width * scale)), max(1, round(height * scale))
            if max_area and size[0] * size[1] > max_area:
                scale = math.sqrt(max_area / (width * height))
                size = max(1, math.floor(width * scale)), max(1, math.floor(height * scale))
    elif match := re.fullmatch(rf"pct:({_NUMBER})", value):
        scale = float(match[1]) / 100
        size = round(width * scale), round(height * scale)
    elif match := re.fullmatch(rf"(!?)({_INTEGER})?,({_INTEGER})?", value):
        bang = match[1]
        w = int(match[2]) if match[2] else None
        h = int(match[3]) if match[3] else None
        if bang:
            if w is None or h is None:
                raise IiifError(400, f"Invalid size {value!r}: !w,h needs both a width and a height")
            scale = min(w / width, h / height)
            size = round(width * scale), round(height * scale)
        elif w is not None and h is not None:
            size = w, h
        elif w is not None:
            size = w, round(height * w / width)
        elif h is not None:
            size = round(width * h / height), h
        else:
            raise IiifError(400, f"Invalid size {value!r}: give a width (w,), a height (,h) or both")
    else:
        raise IiifError(400, f"Invalid size {value!r}: use full, max, w,, ,h, pct:n, w,h or !w,h")
    if size[0] < 1 or size[1] < 1:
        raise IiifError(400, f"Size {value!r} gives an empty image")
    if (max_width and size[0] > max_width) or (max_height and size[1] > max_height):
        raise IiifError(
            400,
            f"Size {size[0]}x{size[1]} exceeds the server's limits (maxWidth {max_width}, "
            f"maxHeight {max_height}): ask for a smaller size or fetch tiles",
        )
    if max_area and size[0] * size[1] > max_area:
        raise IiifError(
            400,
            f"Size {size[0]}x{size[1]} ({size[0] * size[1]} pixels) exceeds the server's maxArea "
            f"({max_area} pixels): ask for a smaller size, or max",
        )
    return size


def parse_rotation(value: str) -> tuple[bool, int]:
    """``(mirrored, degrees clockwise)``; only multiples of 90 are supported.

    The specification allows any number from 0 to 360, so ``90.0`` and ``360`` are read
    as 90 and 0; other angles are refused, as a server declaring only ``rotationBy90s`` does.
    """
    mirrored = value.startswith("!")
    degrees = value[1:] if mirrored else value
    angle = float(degrees) if re.fullmatch(_NUMBER, degrees) else None
    if angle is None or angle > 360 or angle % 90:
        raise IiifError(400, f"Invalid rotation {value!r}: use 0, 90, 180 or 270, with ! to mirror first")
    return mirrored, int(angle) % 360


def render(
    image: Image.Image | BlankPage, region: str, size: str, rotation: str, filename: str, limits: Limits
) -> tuple[bytes, str]:
    """Apply one IIIF request to ``image``: the encoded bytes and their media type.

    Every parameter is checked before a pixel is allocated.
    """
    quality, _, extension = filename.rpartition(".")
    if quality not in QUALITIES:
        raise IiifError(400, f"Invalid quality {quality!r}: use {', '.join(QUALITIES)}")
    if extension not in FORMATS:
        raise IiifError(400, f"Unsupported format {extension!r}: use {' or '.join(FORMATS)}")
    x, y, w, h = parse_region(region, image.width, image.height)
    target = parse_size(size, w, h, limits)
    mirrored, degrees = parse_rotation(rotation)
    if isinstance(image, BlankPage):
        result = Image.new("RGB", target, BLANK)
    else:
        result = image.crop((x, y, x + w, y + h))
        if result.size != target:
            result = result.resize(target, Image.Resampling.LANCZOS)
    if mirrored:
        result = ImageOps.mirror(result)
    if degrees:
        result = result.rotate(-degrees, expand=True)
    mode = QUALITIES[quality]
    if mode and result.mode != mode:
        result = result.convert(mode)
    pillow_format, media_type = FORMATS[extension]
    if result.mode not in WRITABLE_MODES[pillow_format]:
        alpha = pillow_format == "PNG" and result.mode in ("PA", "RGBa", "La")
        result = result.convert("RGBA" if alpha else "RGB")
    buffer = io.BytesIO()
    result.save(buffer, format=pillow_format, quality=90)
    return buffer.getvalue(), media_type


def eight_bits(image: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit or float scan brought to 8-bit grey, as image servers deliver it.

    Pillow would clip such pixels to 255 (a white page) when converting or encoding them.
    Integers are scaled from 16 bits when any exceeds 255; floats from 0..1 when none exceeds 1.
    """
    if not (image.mode.startswith("I") or image.mode == "F"):
        return image
    _, high = image.getextrema()
    if isinstance(high, tuple):  # one (min, max) pair per band: the I and F modes have one band
        raise ValueError(f"Expected a single-band image, got mode {image.mode}")
    if image.mode == "F":
        factor = 255.0 if high <= 1.0 else 1.0
        return image.point(lambda value: value * factor).convert("L")
    image = image.convert("I")
    if high > 255:
        image = image.point(lambda value: value * (1 / 257))
    return image.convert("L")


def info_document(row: ImageRow, base: str, max_area: int | None = None) -> dict[str, Any]:
    """The ``info.json`` of an image: size, limits, supported features, tiles."""
    tile = min(TILE_SIZE, row.max_width or TILE_SIZE, row.max_height or TILE_SIZE)
    limits = {
        name: value for name, value in (("maxWidth", row.max_width), ("maxHeight", row.max_height)) if value
    }
    profile: dict[str, Any] = {
        "formats": list(FORMATS),
        "qualities": list(QUALITIES),
        "supports": ["mirroring", "rotationBy90s", "regionByPct", "regionSquare", "sizeByPct"],
        **({"maxArea": max_area} if max_area else {}),
        **limits,
    }
    return {
        "@context": "http://iiif.io/api/image/2/context.json",
        "@id": base,
        "protocol": "http://iiif.io/api/image",
        "width": row.width,
        "height": row.height,
        "profile": ["http://iiif.io/api/image/2/level2.json", profile],
        "tiles": [{"width": tile, "height": tile, "scaleFactors": [1]}],
        **limits,
    }


class IiifServer:
    """Answers ``/iiif/...`` requests of one sandbox from the image files its store names."""

    def __init__(self, store: Store, *, max_area: int = DEFAULT_MAX_AREA) -> None:
        if isinstance(max_area, bool) or not isinstance(max_area, int) or max_area < 1:
            raise ValueError(f"iiif_max_area must be a positive number of pixels, got {max_area!r}")
        self.store = store
        self.max_area = max_area
        self._lock = threading.Lock()
        self._images: OrderedDict[tuple[str, int], Image.Image] = OrderedDict()

    def respond(self, request: Request) -> Response:
        try:
            return self._answer(request)
        except IiifError as error:
            return Response(str(error), status=error.status, mimetype="text/plain")

    def _answer(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            raise IiifError(405, "The IIIF server only answers GET")
        path = request.path[len(PREFIX) :]
        identifier, _, rest = path.partition("/")
        row = self._row(identifier)
        base = f"{request.host_url}iiif/{row.id}"
        if rest in ("", "info.json"):
            if rest == "":
                return Response(status=303, headers={"Location": f"{base}/info.json"})
            response = Response(mimetype="application/json")
            response.set_data(json.dumps(info_document(row, base, self.max_area)))
            response.headers["Access-Control-Allow-Origin"] = "*"
            return response
        match = _IMAGE_PATH.match(path)
        if match is None:
            raise IiifError(400, "Expected /iiif/<id>/{region}/{size}/{rotation}/{quality}.{format}")
        image = self._pixels(row)
        data, media_type = render(
            image,
            match["region"],
            match["size"],
            match["rotation"],
            match["file"],
            Limits(row.max_width, row.max_height, self.max_area),
        )
        return Response(data, mimetype=media_type)

    def _row(self, identifier: str) -> ImageRow:
        try:
            key = str(uuid.UUID(identifier))
        except ValueError:
            raise IiifError(404, f"No image {identifier!r}: identifiers are image UUIDs") from None
        with self.store.session():
            row = ImageRow.get_or_none(ImageRow.id == key)
        if row is None:
            raise IiifError(404, f"No image {key} in the sandbox")
        if row.url:
            raise IiifError(404, f"Image {key} is served by {row.url}, not by the sandbox")
        return row

    def _pixels(self, row: ImageRow) -> Image.Image | BlankPage:
        if not row.path:  # a corpus image given by its size only: a blank page of that size
            return BlankPage(row.width, row.height)
        path = Path(row.path)
        try:
            key = (str(path), path.stat().st_mtime_ns)
        except OSError as error:
            raise IiifError(404, f"Image file {path} is not readable ({error.strerror})") from None
        with self._lock:
            image = self._images.get(key)
            if image is not None:
                self._images.move_to_end(key)
                return image
            try:
                with Image.open(path) as opened:
                    opened.load()
                    image = eight_bits(opened.copy())
            except Exception as error:
                # 422, not 500: a broken file stays broken, so a client must not retry it
                # (a worker would wait through its whole retry policy for each such page).
                raise IiifError(
                    422, f"Image file {path} cannot be decoded ({error}): replace or remove it"
                ) from None
            self._images[key] = image
            while (
                len(self._images) > 1
                and sum(i.width * i.height for i in self._images.values()) > CACHE_PIXELS
            ):
                self._images.popitem(last=False)
            return image
