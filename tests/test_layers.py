"""The package's layers: imports only point down (see the README's Architecture section).

Every import is read from the source, at module level, inside functions and under
``TYPE_CHECKING`` alike: a type-only import upwards is still a dependency upwards.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "arkworker"

#: Layers from the bottom up; a module may import its own layer and the ones below it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("errors", "enums", "environment", "files", "manifest", "version")),
    ("api", ("api",)),
    ("images", ("images",)),
    ("models", ("models",)),
    ("storage", ("storage", "archives")),
    ("helpers", ("helpers",)),
    ("declarations", ("spec", "options", "fields")),
    ("run", ("run",)),
    # Side stacks: the fake Arkindex and the project templates know nothing of the runtime.
    ("sandbox", ("sandbox",)),
    ("scaffold", ("scaffold",)),
    ("cli", ("cli",)),
    ("app", ("app", "__main__")),
    ("testing", ("testing",)),
    ("public", ("",)),  # arkworker/__init__.py: the names users import
]

#: What the side stacks may import besides themselves, whatever their rank.
SIDE_STACKS = {"sandbox": {"base"}, "scaffold": {"base"}}

RANK = {name: rank for rank, (name, _) in enumerate(LAYERS)}
HEADS = {head for _, members in LAYERS for head in members if head}


def layer_of(module: str) -> str:
    """The layer of ``arkworker.x.y`` (``arkworker`` alone is the public face)."""
    parts = module.split(".")[1:]
    head = parts[0] if parts else ""
    for name, members in LAYERS:
        if head in members:
            return name
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in {__file__}")


def module_name(path: Path, root: Path) -> str:
    parts = ["arkworker", *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, module: str) -> set[str]:
    """The ``arkworker`` modules ``path`` imports (``from arkworker import x`` counts as ``arkworker.x``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            if base == "arkworker" and all(alias.name in HEADS for alias in node.names):
                found.update(f"arkworker.{alias.name}" for alias in node.names)  # modules, not names
            else:
                found.add(base)
    return {name for name in found if name == "arkworker" or name.startswith("arkworker.")}


def violations(root: Path) -> list[str]:
    """Every import in the package under ``root`` that points to a higher layer (or across)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        layer = layer_of(module)
        for target in sorted(imported_modules(path, module)):
            if target == "arkworker" and layer != "public":
                found.append(f"{module} ({layer}) imports the package root: import the module itself")
                continue
            target_layer = "public" if target == "arkworker" else layer_of(target)
            if target_layer == layer:
                continue
            allowed = (
                target_layer in SIDE_STACKS[layer]
                if layer in SIDE_STACKS
                else RANK[target_layer] < RANK[layer] and layer not in SIDE_STACKS.get(target_layer, ())
            )
            if not allowed:
                found.append(f"{module} ({layer}) imports {target} ({target_layer})")
    return found


def test_imports_only_point_down() -> None:
    assert violations(PACKAGE) == []


def test_every_module_has_a_layer() -> None:
    for path in PACKAGE.rglob("*.py"):
        layer_of(module_name(path, PACKAGE))


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        (
            "storage/cache.py",
            "from arkworker.run.context import Context\n",
            "arkworker.storage.cache (storage) imports arkworker.run.context (run)",
        ),
        (
            "images/zones.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from arkworker.models import Element\n",
            "arkworker.images.zones (images) imports arkworker.models (models)",
        ),
        (
            "helpers/base.py",
            "def later():\n    from ..cli import main\n",
            "arkworker.helpers.base (helpers) imports arkworker.cli (cli)",
        ),
        (
            "sandbox/server.py",
            "from arkworker.api.client import Api\n",
            "arkworker.sandbox.server (sandbox) imports arkworker.api.client (api)",
        ),
        (
            "run/loop.py",
            "from arkworker.sandbox import Sandbox\n",
            "arkworker.run.loop (run) imports arkworker.sandbox (sandbox)",
        ),
        (
            "models.py",
            "from arkworker import Worker\n",
            "arkworker.models (models) imports the package root: import the module itself",
        ),
    ],
)
def test_an_upward_import_is_reported(tmp_path: Path, module: str, source: str, expected: str) -> None:
    target = tmp_path / module
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    assert expected in violations(tmp_path)


def test_downward_imports_pass(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "loop.py").write_text(
        "from arkworker.helpers.base import HelperMixin\nfrom . import context\nfrom arkworker.errors import BadInput\n"
    )
    (tmp_path / "cli").mkdir()
    (tmp_path / "cli" / "sandbox.py").write_text(
        "from arkworker.sandbox import Sandbox\nfrom arkworker.run import loop\n"
    )
    assert violations(tmp_path) == []
