"""A generated project, end to end: installed from scratch in a fresh virtual environment.

``arkworker new`` runs from this checkout as a user of a clone runs it, with its default
source: the wheel of this checkout, built into the project's ``vendor/``. Then, in a virtual
environment that has nothing but pip (no arkworker, no access to this checkout), each project
goes through exactly what its CI job says (``.gitlab-ci.yml``: install, lint, ``arkworker
check``, tests) and runs on its sample corpus with ``arkworker run`` and with its console
script, the command of its Docker image. A second project is made by the arkworker that the
first one installed: its default source is the wheel pip recorded installing it from. The
steps of the Dockerfile are played without Docker. One environment serves every project (different slugs, so that
their packages and console scripts do not replace each other).
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
WHEEL = "vendor/arkworker-0.1.0-py3-none-any.whl"

pytestmark = pytest.mark.slow


def run(*command, cwd=None, env=None, shell=False):
    completed = subprocess.run(
        command[0] if shell else [str(part) for part in command],
        cwd=cwd,
        env=env,
        shell=shell,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, f"{command} failed:\n{completed.stdout}\n{completed.stderr}"
    return completed


@pytest.fixture(scope="session")
def base(tmp_path_factory):
    return tmp_path_factory.mktemp("new-project")


@pytest.fixture(scope="session")
def venv(base):
    """The ``bin`` folder of a fresh virtual environment (``python -m venv``: pip only)."""
    run(sys.executable, "-m", "venv", base / "venv")
    return base / "venv" / BIN


@pytest.fixture(scope="session")
def shell(base, venv):
    """The environment of a user's shell with the virtual environment activated: no Arkindex
    task, no path to this checkout."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ARKINDEX_", "PONOS_", "PYTEST_"))
        and key not in ("PYTHONPATH", "TASK_ELEMENTS", "VIRTUAL_ENV")
    }
    env["PATH"] = os.pathsep.join([str(venv), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(venv.parent)
    env["XDG_DATA_HOME"] = str(base / "xdg-data")
    found = subprocess.run(
        [venv / "python", "-c", "import arkworker"], cwd=base, env=env, capture_output=True, check=False
    )
    assert found.returncode != 0, "the fresh virtual environment must not find arkworker"
    return env


def ci_job(project, env):
    """Run the commands of the project's CI test job, in order, in its folder; their outputs."""
    job = yaml.safe_load((project / ".gitlab-ci.yml").read_text())["test"]
    return {line: run(line, cwd=project, env=env, shell=True) for line in job["script"]}


def arkworker_location(venv, env, cwd):
    code = "import arkworker; print(arkworker.__file__)"
    return run(venv / "python", "-c", code, cwd=cwd, env=env).stdout.strip()


@pytest.fixture(scope="session")
def element_project(base, venv, shell):
    """An element worker made by this checkout's ``arkworker new``, through its CI job."""
    checkout_env = {**shell, "PYTHONPATH": str(ROOT)}  # the command only: the project never sees it
    created = run(
        sys.executable, "-m", "arkworker", "new", "ocr-lines", "--no-input", cwd=base, env=checkout_env
    )
    project = base / "worker-ocr-lines"
    return project, created.stdout, ci_job(project, shell)


@pytest.fixture(scope="session")
def dataset_project(base, venv, shell, element_project):
    """A dataset worker made by the arkworker installed in the environment, through its CI job."""
    created = run(
        venv / "arkworker", "new", "set-stats", "--kind", "dataset", "--no-input", cwd=base, env=shell
    )
    project = base / "worker-set-stats"
    return project, created.stdout, ci_job(project, shell)


def test_the_default_source_is_the_checkouts_wheel_and_the_job_installs_it(element_project, venv, shell):
    project, created, job = element_project
    assert f"arkworker comes from {WHEEL}, built from {ROOT}." in created
    assert list(job) == [
        *("pip install -e '.[test]'", "ruff check .", "ruff format --check .", "arkworker check", "pytest")
    ]
    assert job["arkworker check"].stdout == ".: 1 declaration file, no problem found.\n"
    assert "2 passed" in job["pytest"].stdout and "failed" not in job["pytest"].stdout
    assert Path(arkworker_location(venv, shell, project)).is_relative_to(venv.parent)


def test_an_installed_arkworker_vendors_the_wheel_it_was_installed_from(element_project, dataset_project):
    element, _, _ = element_project
    project, created, job = dataset_project
    assert f"arkworker comes from {WHEEL}, copied from {element / WHEEL}." in created
    assert (project / WHEEL).read_bytes() == (element / WHEEL).read_bytes()
    assert job["arkworker check"].stdout == ".: 1 declaration file, no problem found.\n"
    assert "2 passed" in job["pytest"].stdout and "failed" not in job["pytest"].stdout


def test_the_vendored_wheel_ships_every_template(element_project):
    project, _, _ = element_project
    templates = ROOT / "templates"
    expected = {
        f"arkworker/templates/{path.relative_to(templates).as_posix()}"
        for path in templates.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    with zipfile.ZipFile(project / WHEEL) as archive:
        shipped = {name for name in archive.namelist() if name.startswith("arkworker/templates/")}
    assert shipped == expected


@pytest.mark.parametrize(
    ("made", "script", "summary"),
    [
        ("element_project", "worker-ocr-lines", "Ran on 2 elements: 2 completed, 0 failed"),
        ("dataset_project", "worker-set-stats", "Ran on 2 sets: 2 completed, 0 failed"),
    ],
)
def test_each_project_runs_on_its_corpus(request, venv, shell, made, script, summary):
    project, _, _ = request.getfixturevalue(made)
    app = f"{script.replace('-', '_')}:app"
    sandbox_run = run(venv / "arkworker", "run", app, "--sandbox", "tests/corpus.yml", cwd=project, env=shell)
    script_run = run(venv / script, "--sandbox", "tests/corpus.yml", cwd=project, env=shell)
    for completed in (sandbox_run, script_run):
        assert summary in completed.stderr


def test_the_dockerfile_steps_install_and_run_the_worker(base, venv, shell, element_project):
    """What ``docker build`` and Arkindex would do, without Docker: install from only the files
    the Dockerfile copies (not an editable install), then start the declared command elsewhere."""
    element, _, _ = element_project
    run(venv / "arkworker", "new", "ocr-image", "--no-input", cwd=base, env=shell)
    project = base / "worker-ocr-image"
    lines = [line.split(maxsplit=1) for line in (project / "Dockerfile").read_text().splitlines()]
    steps = [(words[0], words[1]) for words in lines if len(words) == 2 and not words[0].startswith("#")]
    assert [instruction for instruction, _ in steps] == [
        *("FROM", "WORKDIR", "COPY", "COPY", "RUN", "RUN", "USER", "WORKDIR", "CMD")
    ]
    installs = [line for instruction, line in steps if instruction == "RUN"]
    assert installs == ["pip install --no-cache-dir .", "useradd --create-home --uid 1000 worker"]
    assert ("USER", "worker") in steps  # the worker does not run as root
    command = json.loads(dict(steps)["CMD"])
    declaration = yaml.safe_load((project / "arkindex" / "ocr-image.yml").read_text())
    assert declaration["docker"]["command"] == " ".join(command) == "worker-ocr-image"

    context = base / "image-src"
    for instruction, line in steps:
        if instruction == "COPY":
            *copied, destination = line.split()
            for name in copied:
                target = context / destination / (Path(name).name if destination == "./" else "")
                target.parent.mkdir(parents=True, exist_ok=True)
                copy = shutil.copytree if (project / name).is_dir() else shutil.copy
                copy(project / name, target)
    assert (context / WHEEL).read_bytes() == (element / WHEEL).read_bytes()
    run(venv / "pip", "install", "-q", context, env=shell)
    shutil.rmtree(context)  # the installed worker must not need its sources

    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    corpus = project / "tests" / "corpus.yml"
    started = run(venv / command[0], *command[1:], "--sandbox", corpus, cwd=elsewhere, env=shell)
    assert "Ran on 2 elements: 2 completed, 0 failed" in started.stderr


def test_the_installed_wheel_serves_the_results_viewer(base, venv, shell, element_project):
    """The viewer's templates, stylesheet and script are package data: found in the wheel, not the checkout."""
    script = (
        "import urllib.request\n"
        "from arkworker.sandbox import Sandbox\n"
        "with Sandbox() as sandbox:\n"
        "    for path in ('/', '/view/run', '/view/static/viewer.css', '/view/static/viewer.js'):\n"
        "        with urllib.request.urlopen(sandbox.url + path) as answer:\n"
        "            print(path, answer.status, len(answer.read()) > 100)\n"
    )
    served = run(venv / "python", "-c", script, cwd=base, env=shell)
    assert served.stdout.splitlines() == [
        "/ 200 True",
        "/view/run 200 True",
        "/view/static/viewer.css 200 True",
        "/view/static/viewer.js 200 True",
    ]
