"""What a new worker project is: its slug, what is derived from it, and the values it asks for.

Names derived from the slug are prefixed with ``worker``: a worker slugged ``yaml`` or
``click`` must not get a module that shadows the library of the same name once installed.
Slug ``ocr-lines`` gives:

=====================  ==========================
directory, package     ``worker-ocr-lines``
console script         ``worker-ocr-lines``
module                 ``worker_ocr_lines`` (``worker_ocr_lines.py``)
app reference          ``worker_ocr_lines:app``
=====================  ==========================

A slug that already starts with ``worker-`` is not prefixed twice.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from arkworker.errors import BadInput
from arkworker.scaffold.source import VENDOR, ArkworkerSource, index_source

#: The kinds of worker a project can hold: which main handler its module registers.
KINDS = ("element", "dataset")

#: Lowercase letters and digits, in words joined by single dashes.
SLUG_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

#: The longest slug: Arkindex's own limit (its worker declaration schema). Every name derived
#: from it stays well under the 255 bytes a file name may have: the longest, the staging
#: folder ``.worker-<slug>-<8 hex digits>``, has 117.
MAX_SLUG_LENGTH = 100

#: The longest values Arkindex accepts in a worker declaration (``display_name``, ``type``).
MAX_LENGTHS = {"name": 100, "type": 100}

#: Arkindex's worker type: the category shown in its interface, free-form.
DEFAULT_TYPES = {"element": "recognizer", "dataset": "dataset-worker"}

DEFAULT_DESCRIPTIONS = {
    "element": "Writes a transcription on every element it is given.",
    "dataset": "Counts the elements of every dataset set it is given, by type.",
}


def check_slug(slug: str) -> str:
    """Return ``slug`` if it is valid, else raise :class:`BadInput` with a valid example.

    The length is checked first: a file name made from an over-long slug would fail only
    once the project is being written, and its suggested fix would be as long.
    """
    if len(slug) > MAX_SLUG_LENGTH:
        raise BadInput(
            f"Invalid worker slug {slug[:20] + '...'!r} ({len(slug)} characters): Arkindex accepts at "
            f"most {MAX_SLUG_LENGTH}, give a shorter one."
        )
    if SLUG_PATTERN.fullmatch(slug):
        return slug
    raise BadInput(
        f"Invalid worker slug {slug!r}: use lowercase letters, digits and single dashes "
        f"between words, e.g. {suggest_slug(slug)!r}."
    )


def suggest_slug(text: str) -> str:
    """The closest valid slug to ``text`` (``'OCR_Lines'`` → ``'ocr-lines'``), for messages."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    return "-".join(words) or "my-worker"


def check_line(label: str, value: str) -> str:
    """Refuse what the generated files cannot hold, and values longer than Arkindex accepts.

    A line break would break the YAML and TOML lines; YAML also refuses the C1 control
    characters and folds NEL and the Unicode line separators into spaces, so every control
    character (category ``Cc``) and line or paragraph separator is refused. Bytes that are
    not UTF-8 reach Python from the command line as lone surrogates, which no file can hold.
    """
    categories = {unicodedata.category(char) for char in value}
    if "Cs" in categories:
        raise BadInput(f"The {label} {value!r} holds bytes that are not UTF-8 text: give it in UTF-8.")
    if categories & {"Cc", "Zl", "Zp"}:
        raise BadInput(
            f"The {label} {value!r} holds a line break or a control character: give one line of text."
        )
    value = value.strip()
    limit = MAX_LENGTHS.get(label)
    if limit is not None and len(value) > limit:
        raise BadInput(
            f"The {label} {value[:20] + '...'!r} is {len(value)} characters long: Arkindex accepts at "
            f"most {limit}, give a shorter one."
        )
    return value


@dataclass(frozen=True)
class Project:
    """The values a project is rendered from; empty ones get their defaults.

    ``source`` is where the project gets arkworker from (:mod:`arkworker.scaffold.source`);
    without one it is the package index. ``arkworker new``'s own default, the running
    arkworker, is resolved by the command: it may build a wheel, which a value should not do.
    """

    slug: str
    kind: str = "element"
    name: str = ""
    description: str = ""
    type: str = ""
    author: str = ""
    email: str = ""
    source: ArkworkerSource | None = None

    def __post_init__(self) -> None:
        check_slug(self.slug)
        if self.kind not in KINDS:
            raise BadInput(f"Unknown worker kind {self.kind!r}: use one of {', '.join(KINDS)}.")
        defaults = {
            "name": default_name(self.slug),
            "description": DEFAULT_DESCRIPTIONS[self.kind],
            "type": DEFAULT_TYPES[self.kind],
        }
        for label in ("name", "description", "type", "author", "email"):
            value = check_line(label, getattr(self, label)) or defaults.get(label, "")
            object.__setattr__(self, label, value)

    @property
    def distribution(self) -> str:
        """The package name in pyproject.toml, also the console script and default directory."""
        return self.slug if self.slug.startswith("worker-") else f"worker-{self.slug}"

    @property
    def module(self) -> str:
        """The importable name of the worker's single module."""
        return self.distribution.replace("-", "_")

    @property
    def app_reference(self) -> str:
        """What to give ``arkworker run``."""
        return f"{self.module}:app"

    @property
    def arkworker(self) -> ArkworkerSource:
        """Where the project gets arkworker from."""
        if self.source is not None:
            return self.source
        from arkworker.version import __version__  # read when a project is written, not by --help

        return index_source(__version__)

    def variables(self) -> dict[str, str | bool]:
        """Everything the templates can use."""
        source = self.arkworker
        return {
            "slug": self.slug,
            "kind": self.kind,
            "name": self.name,
            "description": self.description,
            "type": self.type,
            "author": self.author,
            "email": self.email,
            "distribution": self.distribution,
            "module": self.module,
            "app_reference": self.app_reference,
            "arkworker_requirement": source.requirement,
            "arkworker_origin": source.origin,
            "arkworker_source": source.kind,
            "arkworker_vendored": source.vendored,
            "arkworker_vendor_dir": VENDOR,
            "arkworker_git": source.needs_git,
        }


def default_name(slug: str) -> str:
    """A display name from the slug: ``ocr-lines`` → ``Ocr lines``."""
    return slug.replace("-", " ").capitalize()
