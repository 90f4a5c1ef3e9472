"""A corpus from a folder of images: ``arkworker sandbox import DIR`` and ``run --sandbox DIR``.

A user with scans on disk and no Arkindex instance gets a sandbox corpus from the folder
itself: one ``page`` element per image (its polygon the whole image), one ``folder``
element per sub-folder holding images, in natural order (``page2`` before ``page10``), and
a process running on every page. Images are served by the sandbox's IIIF server from
their files, so ``element.open_image()`` works in a worker as it would on Arkindex.

Element ids are derived from the image paths, so importing the same folder twice gives the
same ids (a ``--element`` argument keeps working). Hidden files and folders are skipped;
files that are not images by their extension are ignored; a file named like an image that
Pillow cannot read is an error naming it.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import yaml
from PIL import Image, UnidentifiedImageError

from arkworker.errors import BadInput
from arkworker.files import written_in_place
from arkworker.sandbox.corpus import ID_NAMESPACE, load_corpus

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".jp2")
DEFAULT_CORPUS_NAME = "corpus.yml"


def natural_key(name: str) -> list[Any]:
    """Sort key reading digit runs as numbers: ``page2`` before ``page10``."""
    return [
        (0, int(part), part) if part.isdigit() else (1, part.lower(), part)
        for part in re.split(r"(\d+)", name)
    ]


class _Import:
    def __init__(self, root: Path, base: Path | None) -> None:
        self.root = root
        self.base = base
        self.name = root.resolve().name or "Imported corpus"
        self.images: list[dict[str, Any]] = []
        self.pages: list[str] = []

    def identifier(self, relative: str) -> str:
        return str(uuid.uuid5(ID_NAMESPACE, f"import\n{self.name}\n{relative}"))

    def file_path(self, path: Path) -> str:
        if self.base is None:
            return str(path.resolve())
        return Path(os.path.relpath(path.resolve(), self.base.resolve())).as_posix()

    def check_image(self, path: Path) -> None:
        try:
            with Image.open(path) as image:
                image.size  # noqa: B018 - reading the header is the check
        except (UnidentifiedImageError, OSError) as error:
            raise BadInput(
                f"{path} is not an image Pillow can read ({error}): remove it from the folder or fix it."
            ) from None

    def walk(self, directory: Path) -> list[dict[str, Any]]:
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: natural_key(entry.name))
        except OSError as error:
            raise BadInput(f"Cannot read the folder {directory} ({error.strerror or error}).") from None
        elements: list[dict[str, Any]] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            relative = path.relative_to(self.root).as_posix()
            if entry.is_dir(follow_symlinks=False):
                children = self.walk(path)
                if children:
                    elements.append(
                        {
                            "id": self.identifier(relative),
                            "name": entry.name,
                            "type": "folder",
                            "children": children,
                        }
                    )
            elif entry.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                self.check_image(path)
                self.images.append({"name": relative, "path": self.file_path(path)})
                element_id = self.identifier(relative)
                self.pages.append(element_id)
                elements.append({"id": element_id, "name": path.stem, "type": "page", "image": relative})
        return elements

    def corpus(self) -> dict[str, Any]:
        if not self.root.is_dir():
            raise BadInput(f"{self.root} is not a folder: give the folder holding your images.")
        elements = self.walk(self.root)
        if not self.images:
            raise BadInput(
                f"No images found in {self.root} (looked for {', '.join(IMAGE_SUFFIXES)} files, "
                "sub-folders included)."
            )
        return {
            "corpus": {"name": self.name, "description": f"Images of {self.root.resolve()}"},
            "types": [
                {"slug": "folder", "display_name": "Folder", "folder": True},
                {"slug": "page", "display_name": "Page"},
            ],
            "images": self.images,
            "elements": elements,
            "worker_run": {"process": {"name": f"Import of {self.name}", "elements": self.pages}},
        }


def folder_corpus(directory: str | Path, relative_to: str | Path | None = None) -> dict[str, Any]:
    """The corpus of a folder of images, as a mapping ``Sandbox`` accepts.

    Image paths are absolute, or relative to ``relative_to`` (the folder of the corpus file
    that will hold them).
    """
    return _Import(Path(directory), Path(relative_to) if relative_to is not None else None).corpus()


def write_folder_corpus(directory: str | Path, out: str | Path | None = None, *, force: bool = False) -> Path:
    """Write the corpus of ``directory`` to ``out`` (default ``DIR/corpus.yml``); returns ``out``.

    An existing file is only replaced with ``force``; the file is written whole or not at all.
    """
    out = Path(out) if out is not None else Path(directory) / DEFAULT_CORPUS_NAME
    if out.suffix.lower() not in (".yml", ".yaml", ".json"):
        raise BadInput(f"The corpus file {out} needs a .yml, .yaml or .json extension.")
    if out.exists() and not force:
        raise BadInput(f"{out} already exists: pass --force to overwrite it, or choose another --corpus.")
    out.parent.mkdir(parents=True, exist_ok=True)
    corpus = folder_corpus(directory, relative_to=out.parent)
    header = (
        f"# Corpus of the images in {Path(directory).resolve()}, made by 'arkworker sandbox import'.\n"
        "# Image paths are relative to this file. Run a worker on it with:\n"
        f"#   arkworker run APP --sandbox {out}\n"
    )
    if out.suffix.lower() == ".json":
        text = json.dumps(corpus, indent=2) + "\n"
    else:
        text = header + yaml.safe_dump(corpus, sort_keys=False, allow_unicode=True)
    with written_in_place(out) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return out


def summary(corpus_file: Path) -> str:
    """``3 pages in 1 folder``: what a written corpus holds, read back through the corpus parser."""
    spec = load_corpus(corpus_file)
    pages = sum(1 for row in spec.elements if row["type"] == "page")
    folders = len(spec.elements) - pages
    return f"{pages} page{'s' * (pages != 1)} in {folders} folder{'s' * (folders != 1)}"


def corpus_source(value: str | Path) -> str | Path | dict[str, Any]:
    """What ``--sandbox VALUE`` seeds from: a folder is imported on the fly, a file is read."""
    return folder_corpus(value) if Path(value).is_dir() else value
