"""docs/porting.md tells the truth: every arkworker name it gives a porter exists.

The guide maps each public name of arkindex-base-worker to its arkworker counterpart. A
helper renamed or a module moved after it was written would leave advice that fails on the
porter's first run, so the guide is read here as text: its mapping tables row by row (a
known status, a counterpart where it claims one), and every ``ctx.``, ``app.`` and
``arkworker.`` name anywhere in it, code samples included.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

import arkworker
from arkworker.options import RunOptions

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "porting.md"
README = ROOT / "README.md"
TEXT = GUIDE.read_text(encoding="utf-8")

#: Names the guide maps to ``ctx.<name>`` that may be missing while a branch builds them
#: (skipped, with the reason): none today; a name listed here that the guide no longer uses fails.
PENDING: frozenset[str] = frozenset()

STATUSES = {"same name", "renamed", "not needed", "not provided"}
GENERATIONS = {"0.3.7", "0.6.0", "both"}
HEADER = ["arkindex-base-worker", "In", "arkworker", "Status", "Notes"]


# -- Reading the guide -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of a mapping table."""

    line: int
    reference: str
    generation: str
    counterpart: str
    status: str
    notes: str

    def __str__(self) -> str:
        return f"docs/porting.md:{self.line} ({self.reference})"


def split_cells(line: str) -> list[str]:
    """The cells of a Markdown table line; ``\\|`` is a pipe inside a cell."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def mapping_rows(text: str) -> list[Row]:
    """The rows of every table whose header is :data:`HEADER`, in order."""
    rows: list[Row] = []
    header: list[str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("|"):
            header = None
            continue
        cells = split_cells(line)
        if header is None:
            header = cells
        elif header == HEADER and not set(line) <= set("|-: "):
            assert len(cells) == len(HEADER), f"docs/porting.md:{number}: {len(cells)} cells, not 5"
            rows.append(Row(number, *cells))
    return rows


def spans(cell: str) -> list[str]:
    """The code spans of a cell, without their backticks."""
    return re.findall(r"`([^`]+)`", cell)


ROWS = mapping_rows(TEXT)
CTX_NAMES = sorted(set(re.findall(r"\bctx\.(\w+)", TEXT)))
APP_NAMES = sorted(set(re.findall(r"\bapp\.(\w+)", TEXT)))
# Not after a quote: ``getLogger("arkworker.worker")`` names a logger, not a module.
DOTTED = {match.group(0) for match in re.finditer(r"(?<![\w/.\"'])arkworker(?:\.\w+)+", TEXT)}
for module, names in re.findall(r"^from (arkworker[\w.]*) import ([\w, ]+)$", TEXT, flags=re.MULTILINE):
    DOTTED.update(f"{module}.{name.strip()}" for name in names.split(","))
ARKWORKER_NAMES = sorted(DOTTED)
OPTION = re.compile(r"-{1,2}[a-z][\w-]*")
VARIABLE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")


def counterpart_names(cell: str) -> set[str]:
    """The names a counterpart cell gives: ``ctx.x.y`` gives ``x``, ``arkworker.a.B`` gives ``B``."""
    names = set()
    for span in spans(cell):
        span = span.removeprefix("@")
        if span.startswith("ctx."):
            names.add(span.split(".")[1])
        elif span.startswith(("app.", "arkworker.")):
            names.add(span.split("(")[0].split(".")[-1])
        else:
            names.add(span)
    return names


def reference_names(cell: str) -> set[str]:
    """The names a reference cell gives: ``self.x(...)`` and ``module.x`` give ``x``."""
    return {span.split("(")[0].split(".")[-1] for span in spans(cell)}


# -- What arkworker has ------------------------------------------------------------------------


def instance_attributes(cls: type) -> set[str]:
    """The attributes the ``__init__`` methods of ``cls`` and its bases set on ``self``.

    Read from their source, so that nothing has to be constructed: a ``Context`` needs a
    configured run.
    """
    names: set[str] = set()
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None or not klass.__module__.startswith("arkworker"):
            continue
        for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(init)))):
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign):
                targets = [node.target]
            names.update(
                target.attr
                for target in targets
                if isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
            )
    return names


CONTEXT_ATTRIBUTES = instance_attributes(arkworker.Context)


def resolve(dotted: str) -> Any:
    """The object ``dotted`` names: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:end]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[end:]:
            target = getattr(target, attribute)
        return target
    raise ModuleNotFoundError(dotted)


def runtime_sources() -> str:
    """The code that runs a worker: not the sandbox, the test fixtures or the project templates."""
    package = ROOT / "arkworker"
    skipped = {"sandbox", "testing", "scaffold"}
    return "\n".join(
        path.read_text(encoding="utf-8")
        for path in sorted(package.rglob("*.py"))
        if path.relative_to(package).parts[0] not in skipped
    )


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    return {anchor(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


# -- The tables --------------------------------------------------------------------------------


def test_the_tables_are_read():
    # A guide whose tables stopped parsing would pass every other test with nothing to check.
    assert len(ROWS) > 200
    assert {row.status for row in ROWS} == STATUSES


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_row_has_a_known_status_and_generation(row):
    assert row.status in STATUSES, f"{row}: status {row.status!r}, expected one of {sorted(STATUSES)}"
    assert row.generation in GENERATIONS, f"{row}: In {row.generation!r}, expected one of {GENERATIONS}"
    assert spans(row.reference), f"{row}: the reference name is not in backticks"


@pytest.mark.parametrize("row", [row for row in ROWS if row.status in ("same name", "renamed")], ids=str)
def test_a_mapped_name_has_a_counterpart(row):
    assert spans(row.counterpart), f"{row}: status {row.status!r} but no counterpart in backticks"


@pytest.mark.parametrize("row", [row for row in ROWS if row.status == "same name"], ids=str)
def test_same_name_means_the_same_name(row):
    assert reference_names(row.reference) & counterpart_names(row.counterpart), (
        f"{row}: 'same name', but {row.counterpart} is named otherwise: say 'renamed'"
    )


def test_every_reference_name_is_mapped_once():
    seen: dict[tuple[str, str], Row] = {}
    for row in ROWS:
        key = (row.reference, row.generation)
        assert key not in seen, f"{row}: already mapped by {seen[key]}"
        seen[key] = row


# -- The names it gives ------------------------------------------------------------------------


@pytest.mark.parametrize("name", CTX_NAMES)
def test_ctx_name_exists(name):
    if hasattr(arkworker.Context, name) or name in CONTEXT_ATTRIBUTES:
        return
    if name in PENDING:
        pytest.skip("added by the helpers branch")
    pytest.fail(f"docs/porting.md names ctx.{name}, which arkworker.Context does not have")


def test_pending_names_are_in_the_guide():
    assert set(PENDING) <= set(CTX_NAMES), f"not in the guide any more: {sorted(PENDING - set(CTX_NAMES))}"


@pytest.mark.parametrize("name", APP_NAMES)
def test_app_name_exists(name):
    assert hasattr(arkworker.Worker, name), f"docs/porting.md names app.{name}, which Worker does not have"


@pytest.mark.parametrize("dotted", ARKWORKER_NAMES)
def test_arkworker_name_imports(dotted):
    resolve(dotted)


def test_options_exist():
    declared = {
        declaration
        for field in dataclasses.fields(RunOptions)
        for declaration in field.metadata.get("param_decls", ())
    }
    named = {span for row in ROWS for span in spans(row.counterpart) if OPTION.fullmatch(span)}
    assert named, "no command-line option found in the tables"
    assert named <= declared, f"not built-in options: {sorted(named - declared)}"


def test_environment_variables_are_read():
    sources = runtime_sources()
    named = {span for row in ROWS for span in spans(row.counterpart) if VARIABLE.fullmatch(span)}
    assert named, "no environment variable found in the tables"
    unread = [name for name in sorted(named) if f'"{name}"' not in sources]
    assert not unread, f"no runtime module reads {unread}"


def test_links_lead_somewhere():
    own, readme = anchors(TEXT), anchors(README.read_text(encoding="utf-8"))
    for target in re.findall(r"\]\((#[^)]+)\)", TEXT):
        assert target[1:] in own, f"docs/porting.md links to {target}, which is no heading of it"
    for target in re.findall(r"\]\(\.\./README\.md#([^)]+)\)", TEXT):
        assert target in readme, f"docs/porting.md links to README.md#{target}, which is no heading of it"
