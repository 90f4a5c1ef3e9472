"""The ``secrets`` section: ``{name: content}``, served by ``RetrieveSecret``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from arkworker.sandbox.corpus.section import Section
from arkworker.sandbox.corpus.values import show
from arkworker.sandbox.handlers.secrets import Secret

if TYPE_CHECKING:
    from arkworker.sandbox.corpus.parser import Parser
    from arkworker.sandbox.corpus.spec import Rows


class Secrets(Section):
    """The secrets a worker may read, by name."""

    keys = ("secrets",)

    def __init__(self, parser: Parser) -> None:
        super().__init__(parser)
        self.secrets: list[dict[str, Any]] = []

    def parse(self, top: Mapping[str, Any]) -> None:
        p = self.parser
        for name, content in p.dictionary(top.get("secrets") or {}, "secrets").items():
            loc = f"secrets[{name!r}]"
            p.string(name, loc)
            if not isinstance(content, str):
                p.fail(loc, f"expected the secret's content as a string, got {show(content)}")
            secret_id = p.identifier({}, loc, "secrets", derive_from=f"secrets\n{name}")
            self.secrets.append({"id": secret_id, "name": name, "content": content})

    def rows(self) -> list[Rows]:
        return [(Secret, self.secrets)]
