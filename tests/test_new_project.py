"""A generated project, end to end: installed in a fresh virtual environment with arkworker.

arkworker is built as a wheel and installed as a user gets it (so the templates must be
found inside the wheel), ``arkworker new`` creates each kind of project, which is installed,
tested with its own test suite and run on its sample corpus with both ``arkworker run`` and
its console script (the command of its Docker image). One environment serves every kind.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = "Scripts" if sys.platform == "win32" else "bin"

pytestmark = pytest.mark.slow

#: The summary line of a run on each kind's sample corpus.
SUMMARIES = {
    "element": "Ran on 2 elements: 2 completed, 0 failed",
    "dataset": "Ran on 2 sets: 2 completed, 0 failed",
}


def run(*command, cwd=None, env=None):
    completed = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, f"{command} failed:\n{completed.stdout}\n{completed.stderr}"
    return completed


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    """The arkworker wheel built from this checkout."""
    directory = tmp_path_factory.mktemp("wheels")
    run(sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "-q", "-w", directory)
    (built,) = directory.glob("arkworker-*.whl")
    return built


@pytest.fixture(scope="session")
def venv(tmp_path_factory, wheel):
    """A fresh virtual environment holding the arkworker wheel."""
    base = tmp_path_factory.mktemp("new-project")
    run(sys.executable, "-m", "venv", base / "venv")
    python = base / "venv" / BIN / "python"
    # hatchling lets the generated projects install without fetching their build backend.
    run(python, "-m", "pip", "install", "-q", wheel, "pytest", "hatchling")
    return base / "venv" / BIN


@pytest.fixture
def clean_env(tmp_path):
    """The environment of a user's shell: no Arkindex task, no path from this checkout."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ARKINDEX_", "PONOS_", "PYTEST_"))
        and key not in ("PYTHONPATH", "TASK_ELEMENTS")
    }
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg-data")
    return env


def test_the_wheel_ships_every_template(wheel):
    templates = ROOT / "templates"
    expected = {
        f"arkworker/templates/{path.relative_to(templates).as_posix()}"
        for path in templates.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.startswith("arkworker/templates/")}
    assert shipped == expected


@pytest.mark.parametrize("kind", ["element", "dataset"])
def test_a_new_project_installs_passes_its_tests_and_runs_on_its_corpus(venv, clean_env, tmp_path, kind):
    project = tmp_path / "worker-ocr-lines"
    created = run(
        venv / "arkworker", "new", "ocr-lines", "--kind", kind, "--no-input", cwd=tmp_path, env=clean_env
    )
    assert "Created the" in created.stdout

    run(venv / "python", "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps", "-e", project)
    tests = run(venv / "python", "-m", "pytest", "-p", "no:cacheprovider", cwd=project, env=clean_env)
    assert "2 passed" in tests.stdout and "failed" not in tests.stdout and "skipped" not in tests.stdout

    sandbox_run = run(
        venv / "arkworker",
        "run",
        "worker_ocr_lines:app",
        "--sandbox",
        "tests/corpus.yml",
        cwd=project,
        env=clean_env,
    )
    script_run = run(venv / "worker-ocr-lines", "--sandbox", "tests/corpus.yml", cwd=project, env=clean_env)
    for completed in (sandbox_run, script_run):
        assert SUMMARIES[kind] in completed.stderr


def test_the_dockerfile_steps_install_and_run_the_worker(venv, clean_env, tmp_path):
    """What ``docker build`` and Arkindex would do, without Docker: install from only the files
    the Dockerfile copies (not an editable install), then start the declared command elsewhere."""
    run(venv / "arkworker", "new", "ocr-image", "--no-input", cwd=tmp_path, env=clean_env)
    project = tmp_path / "worker-ocr-image"
    steps = [line.split(maxsplit=1) for line in (project / "Dockerfile").read_text().splitlines()]
    steps = [(step[0], step[1]) for step in steps if len(step) == 2 and not step[0].startswith("#")]
    assert [instruction for instruction, _ in steps] == ["FROM", "WORKDIR", "COPY", "RUN", "CMD"]
    instructions = dict(steps)
    *copied, destination = instructions["COPY"].split()
    assert destination == "./"
    assert instructions["RUN"] == "pip install --no-cache-dir ."
    command = json.loads(instructions["CMD"])
    declaration = yaml.safe_load((project / "arkindex" / "ocr-image.yml").read_text())
    assert declaration["docker"]["command"] == " ".join(command) == "worker-ocr-image"

    context = tmp_path / "image-src"
    context.mkdir()
    for name in copied:
        shutil.copy(project / name, context / name)
    run(venv / "python", "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps", context)
    shutil.rmtree(context)  # the installed worker must not need its sources

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    corpus = project / "tests" / "corpus.yml"
    started = run(venv / command[0], *command[1:], "--sandbox", corpus, cwd=elsewhere, env=clean_env)
    assert SUMMARIES["element"] in started.stderr


def test_the_installed_wheel_serves_the_results_viewer(venv, clean_env, tmp_path):
    """The viewer's templates, stylesheet and script are package data: found in the wheel, not the checkout."""
    script = (
        "import urllib.request\n"
        "from arkworker.sandbox import Sandbox\n"
        "with Sandbox() as sandbox:\n"
        "    for path in ('/', '/view/run', '/view/static/viewer.css', '/view/static/viewer.js'):\n"
        "        with urllib.request.urlopen(sandbox.url + path) as answer:\n"
        "            print(path, answer.status, len(answer.read()) > 100)\n"
    )
    served = run(venv / "python", "-c", script, cwd=tmp_path, env=clean_env)
    assert served.stdout.splitlines() == [
        "/ 200 True",
        "/view/run 200 True",
        "/view/static/viewer.css 200 True",
        "/view/static/viewer.js 200 True",
    ]
