"""Imports point down: the declaration layer needs neither the runner nor the command line.

``Worker.run()`` is ``arkworker run``, so :mod:`arkworker.app` imports the CLI; the CLI and
the runner take the :class:`~arkworker.spec.WorkerSpec` it inherits, never ``Worker``.
Each check runs in a fresh interpreter, whose ``sys.modules`` says what an import pulled in.
"""

import subprocess
import sys

import click
import pytest

from arkworker import BadInput, ConfigurationError, Worker
from arkworker.errors import UserError
from arkworker.spec import WorkerSpec


def imported_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint(' '.join(name for name in sys.modules if name.startswith('arkworker')))"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(completed.stdout.split())


@pytest.mark.parametrize("module", ["arkworker.spec", "arkworker.options"])
def test_the_declaration_layer_imports_neither_the_cli_nor_the_runner(module):
    modules = imported_after(f"import {module}")
    assert module in modules
    assert not {"arkworker.app", "arkworker.cli", "arkworker.run.loop"} & modules


@pytest.mark.parametrize("module", ["arkworker.cli", "arkworker.run.loop", "arkworker.testing.pytest_plugin"])
def test_nothing_below_app_imports_it(module):
    assert "arkworker.app" not in imported_after(f"import {module}")


def test_worker_is_a_spec_that_runs():
    assert issubclass(Worker, WorkerSpec)
    assert not hasattr(WorkerSpec, "run")
    assert "arkworker.cli" in imported_after("from arkworker import Worker")


def test_library_errors_are_plain_exceptions():
    for error in (BadInput, ConfigurationError):
        assert not issubclass(error, click.ClickException)
    assert (BadInput.exit_code, ConfigurationError.exit_code) == (2, 1)
    error = BadInput("The file x.json does not exist.")
    assert isinstance(error, UserError)
    assert str(error) == error.message == "The file x.json does not exist."


def test_click_is_spoken_only_by_the_cli_and_the_declaration_layer():
    from pathlib import Path

    import arkworker

    root = Path(arkworker.__file__).parent
    speaking = {
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "import click" in path.read_text(encoding="utf-8")
    }
    assert {name for name in speaking if not name.startswith("cli/")} == {"spec.py", "options.py"}
