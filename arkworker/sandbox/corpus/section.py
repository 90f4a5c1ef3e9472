"""The one way a part of the corpus file plugs into the parser: a :class:`Section`.

A section names the top-level keys (and element keys) it reads, and the parser calls its
hooks at fixed points, so that what a section refers to is already parsed:

1. ``declare(top)`` before the elements: what elements refer to (classes, entities...);
2. ``element(entry, loc, element_id)`` for each element, with the element's row made;
3. ``parse(top)`` after the elements and the worker run: what refers to them (datasets,
   the process's tasks...);
4. ``rows()`` once all is parsed: ``(model, rows)`` in an order foreign keys accept.

The sections are listed in :data:`arkworker.sandbox.corpus.parser.SECTIONS`; that order is
the order of their keys in error messages, of their hooks, and of their rows in the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from arkworker.sandbox.corpus.parser import Parser
    from arkworker.sandbox.corpus.spec import Rows


class Section:
    """A part of the corpus file; subclasses override the hooks they need."""

    #: The top-level keys the section reads.
    keys: ClassVar[tuple[str, ...]] = ()
    #: The keys it reads on every element entry.
    element_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, parser: Parser) -> None:
        self.parser = parser

    def declare(self, top: Mapping[str, Any]) -> None:
        """Read what the elements may refer to; called before the elements are parsed."""

    def element(self, entry: Mapping[str, Any], loc: str, element_id: str) -> None:
        """Read the section's keys of one element entry."""

    def parse(self, top: Mapping[str, Any]) -> None:
        """Read what refers to elements or to the process; called after the worker run."""

    def rows(self) -> list[Rows]:
        """The rows to insert, per table, in an order foreign keys accept."""
        return []
