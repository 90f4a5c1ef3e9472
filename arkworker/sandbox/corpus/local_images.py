"""Corpus images stored on local disk (``path:``), served by the sandbox's IIIF server.

A path is relative to the corpus file (to the current directory for a corpus given as a
mapping). Width and height may be left out: they are read from the file's header, so a
corpus stays right when its images are replaced by others of another size.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, UnidentifiedImageError

from arkworker.sandbox.corpus.values import at

if TYPE_CHECKING:
    from arkworker.sandbox.corpus.parser import Parser


def with_local_file(p: Parser, entry: dict[str, Any], loc: str) -> dict[str, Any]:
    """The image entry with its file's absolute path, and its size unless given."""
    if entry.get("url") is not None:
        p.fail(loc, "give either 'url' (a IIIF server) or 'path' (a local file), not both")
    try:
        path, width, height = local_image(p.string(entry["path"], at(loc, "path")), p.base_dir)
    except ValueError as error:
        p.fail(at(loc, "path"), str(error))
    return {"width": width, "height": height, **entry, "path": path}


def local_image(value: str, base_dir: Path) -> tuple[str, int, int]:
    """The absolute path of an image file and its size; ValueError with a one-line reason."""
    path = (base_dir / Path(value).expanduser()).resolve()
    if not path.is_file():
        raise ValueError(f"no image file at {path}")
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{path} is not an image Pillow can read ({error})") from None
    return str(path), width, height
