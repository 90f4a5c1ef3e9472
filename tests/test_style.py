"""The code base stays ruff-clean and type-checks: CI runs the test suite, so it checks style too.

The tools run without their caches: a test run writes nothing into the checkout (a
developer's own ``ruff`` and ``mypy`` keep theirs).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff(command):
    completed = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "--no-cache", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_mypy():
    """The package ships py.typed, so its annotations must hold: mypy, configured in pyproject.toml."""
    completed = subprocess.run(
        # mypy's documented way not to write a cache: the null device as its directory.
        [sys.executable, "-m", "mypy", "--cache-dir", os.devnull],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
