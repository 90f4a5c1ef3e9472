"""Fixtures for the sandbox tests: one demo sandbox per module, reset before each test; the viewer's run."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

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


#: The example whose output the viewer's tests look at.
LINES_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lines.py"


@pytest.fixture(scope="session")
def lines_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A demo sandbox after ``examples/lines.py --lines 4`` ran on it, its run report shown by the viewer.

    Shared by the viewer's tests, which only read it.
    """
    from arkworker.cli.locate import locate_app
    from arkworker.cli.sandbox import sandbox_environment
    from arkworker.cli.viewer import report_reader
    from arkworker.cli.worker import invoke_app

    folder = tmp_path_factory.mktemp("lines-run")
    report = folder / "report.json"
    with Sandbox() as sandbox:
        env = {
            **sandbox_environment(os.environ, sandbox),
            "ARKWORKER_RETRY_BACKOFF": "0",
            "XDG_DATA_HOME": str(folder / "xdg-data"),
        }
        arguments = ["--lines", "4", "--report", str(report), "--progress", "none"]
        stream = io.StringIO()
        code, _ = invoke_app(
            locate_app(str(LINES_EXAMPLE)),
            [*arguments, "--element", *sandbox.listed_element_ids()],
            env=env,
            stream=stream,
        )
        assert code == 0, stream.getvalue()
        sandbox.show_report(report_reader(report))
        yield sandbox
