"""A start-up imports only what it uses: ``import arkworker``, a worker module, every ``--help``.

Writing ``from arkworker import Worker``, decorating handlers and asking for ``--help`` need
neither the API client (arkindex, requests, typesystem, tenacity) nor Pillow, peewee, the
sandbox (Werkzeug), the runner or what only a run reads: secrets (gnupg), archives
(zstandard), configuration files and corpora (yaml), project templates (jinja2). Each check
runs in a fresh interpreter and reads its ``sys.modules``; how long a start-up takes is
measured by ``bench/startup.py``, never asserted here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HELLO = "examples/hello.py"  # the subprocesses run in ROOT

#: Packages (with their submodules) that no start-up below may import.
HEAVY = (
    "arkindex",
    "requests",
    "typesystem",
    "tenacity",
    "PIL",
    "werkzeug",
    "peewee",
    "gnupg",
    "zstandard",
    "yaml",
    "jinja2",
    "arkworker.sandbox",
    "arkworker.run.loop",
    "arkworker.run.context",
)


def heavy_modules_after(code: str) -> list[str]:
    """The :data:`HEAVY` modules in ``sys.modules`` once ``code`` has run in a fresh interpreter."""
    script = f"{code}\nimport sys\nprint(' '.join(sys.modules), file=sys.stderr)"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=ROOT, env=env
    )
    assert completed.returncode == 0, completed.stderr
    loaded = completed.stderr.split()
    return sorted(
        name for name in loaded if any(name == heavy or name.startswith(f"{heavy}.") for heavy in HEAVY)
    )


def test_import_arkworker_is_light():
    assert heavy_modules_after("import arkworker") == []


def test_a_worker_module_is_light():
    """examples/hello.py imports Worker, registers an option and a handler: nothing heavy."""
    assert heavy_modules_after(f"import runpy\nrunpy.run_path({HELLO!r})") == []


def test_the_pytest_plugin_is_light():
    """pytest loads the plugin in every session of a project with arkworker installed."""
    assert heavy_modules_after("import arkworker.testing.pytest_plugin") == []


@pytest.mark.parametrize(
    "argv",
    [
        ["run", HELLO, "--help"],
        ["run", "--help"],
        ["--help"],
        ["new", "--help"],
        ["sandbox", "--help"],
        ["sandbox", "serve", "--help"],
        ["cache", "--help"],
        ["declare", "--help"],
        ["check", "--help"],
        ["--version"],
    ],
    ids=" ".join,
)
def test_help_is_light(argv):
    """The console script's entry point, in the subprocess, exits 0 having loaded nothing heavy."""
    code = f"from arkworker.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit as exit:\n    assert exit.code == 0, exit.code"
    assert heavy_modules_after(code) == []


def test_the_lazy_names_are_the_modules_own():
    """``from arkworker import Context`` still works, and gives the class its module defines."""
    import arkworker
    from arkworker import Context, ElementType, Listing, RunResult, Worker, __version__
    from arkworker.app import Worker as AppWorker
    from arkworker.helpers.base import Listing as BaseListing
    from arkworker.helpers.elements import ElementType as HelperElementType
    from arkworker.run.context import Context as RunContext
    from arkworker.run.loop import RunResult as LoopRunResult
    from arkworker.version import __version__ as installed

    assert (Context, ElementType, Listing, RunResult, Worker, __version__) == (
        RunContext,
        HelperElementType,
        BaseListing,
        LoopRunResult,
        AppWorker,
        installed,
    )
    assert set(arkworker.__all__) <= set(dir(arkworker))
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        arkworker.Nope  # noqa: B018
