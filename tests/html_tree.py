"""HTML pages as a tree of nodes, for tests that assert on what a page holds (the viewer's).

The standard library's parser, building nodes with their tag, attributes, children and text;
``find`` selects by tag and attribute values. Void elements (``<img>``, ``<meta>``...) have
no end tag and no children.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The text inside the node, its descendants' included, whitespace runs as one space."""
        parts = [child if isinstance(child, str) else child.text for child in self.children]
        return " ".join("".join(parts).split())

    def find(self, tag: str, **attrs: str) -> list[Node]:
        """The nodes below this one of ``tag`` whose attributes have these values.

        ``class_="x"`` is ``class``, holding ``x`` among its classes; ``data_item`` is ``data-item``.
        """
        wanted = {name.rstrip("_").replace("_", "-"): value for name, value in attrs.items()}
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if child.tag == tag and all(_has(child, name, value) for name, value in wanted.items()):
                    found.append(child)
                found.extend(child.find(tag, **attrs))
        return found

    def one(self, tag: str, **attrs: str) -> Node:
        (found,) = self.find(tag, **attrs)
        return found


def _has(node: Node, name: str, value: str) -> bool:
    """Whether the node's attribute is ``value`` (for ``class``: one of its classes)."""
    if name == "class":
        return value in node.attrs.get("class", "").split()
    return node.attrs.get(name) == value


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root
