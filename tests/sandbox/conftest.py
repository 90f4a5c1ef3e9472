"""Fixtures for the sandbox tests: one demo sandbox per module, reset before each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from arkindex import ArkindexClient

from arkworker.sandbox import Sandbox


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[Sandbox]:
    with Sandbox(page_size=20) as sandbox:
        yield sandbox


@pytest.fixture
def sb(module_sandbox: Sandbox) -> Sandbox:
    """The module's demo sandbox, back to its seeded state (requests and faults cleared)."""
    module_sandbox.reset()
    return module_sandbox


@pytest.fixture(scope="module")
def client(module_sandbox: Sandbox) -> ArkindexClient:
    """The real arkindex-client, loading the sandbox's schema over HTTP."""
    return ArkindexClient(base_url=module_sandbox.url, token=module_sandbox.token)


@pytest.fixture
def named(sb: Sandbox) -> Callable[..., str]:
    """``named("Page 1")`` or ``named("Line 1", parent="Page 2")``: the id of that demo element."""

    def find(name: str, parent: str | None = None) -> str:
        rows = sb.objects("elements", name=name)
        if parent is not None:
            (parent_row,) = sb.objects("elements", name=parent)
            children = {path["child_id"] for path in sb.objects("element_paths", parent_id=parent_row["id"])}
            rows = [row for row in rows if row["id"] in children]
        (row,) = rows
        return row["id"]

    return find
