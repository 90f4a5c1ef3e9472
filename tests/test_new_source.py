"""``arkworker new --arkworker-source``: where a generated project gets arkworker from.

Each kind of source gives a ``pyproject.toml`` requirement that pip can follow, and a
``Dockerfile`` and CI job that install it the same way; bad values are one line and exit 2,
with nothing written. ``test_new_project.py`` installs such projects for real.
"""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from arkworker.cli import cli
from arkworker.scaffold.project import Project
from arkworker.scaffold.render import render_project, write_project
from arkworker.scaffold.source import index_source, path_source, resolve_source, url_source

ROOT = Path(__file__).resolve().parent.parent
WHEEL_NAME = "arkworker-0.1.0-py3-none-any.whl"
GIT_URL = "git+https://gitlab.example.com/teklia/arkworker.git@v0.1.0"


def load_toml(text):
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads(text)


def new(*args):
    return CliRunner().invoke(cli, ["new", "ocr", "--no-input", *args])


def dockerfile_steps(text):
    """The Dockerfile's instructions as ``(INSTRUCTION, arguments)``, comments left out."""
    lines = [line.split(maxsplit=1) for line in text.splitlines() if line and not line.startswith("#")]
    return [(words[0], words[1]) for words in lines]


@pytest.fixture
def wheel(tmp_path):
    """A file named as arkworker's wheel (its content is only copied)."""
    path = tmp_path / "dist" / WHEEL_NAME
    path.parent.mkdir()
    path.write_bytes(b"PK wheel bytes")
    return path


# -- Vendored: a wheel, an sdist, a checkout ----------------------------------------------


def test_a_wheel_is_copied_into_the_project_and_every_install_takes_it_from_there(wheel):
    files = render_project(Project("ocr", source=path_source(wheel)))

    assert files[f"vendor/{WHEEL_NAME}"] == b"PK wheel bytes"
    pyproject = load_toml(files["pyproject.toml"])
    assert pyproject["project"]["dependencies"] == [f"arkworker @ {{root:uri}}/vendor/{WHEEL_NAME}"]
    assert pyproject["tool"]["hatch"]["metadata"] == {"allow-direct-references": True}
    assert pyproject["tool"]["ruff"]["lint"]["per-file-ignores"] == {"pyproject.toml": ["RUF200"]}

    steps = dockerfile_steps(files["Dockerfile"])
    assert steps.index(("COPY", "vendor/ vendor/")) < steps.index(("RUN", "pip install --no-cache-dir ."))
    assert "git" not in files["Dockerfile"]
    assert "before_script" not in yaml.safe_load(files[".gitlab-ci.yml"])["test"]
    readme = files["README.md"]
    assert f"`vendor/{WHEEL_NAME}`\nis its wheel" in readme
    assert "pypi.org" not in readme


def test_an_sdist_is_vendored_too(tmp_path):
    sdist = tmp_path / "arkworker-0.1.0.tar.gz"
    sdist.write_bytes(b"sdist")
    source = path_source(sdist)
    assert (source.vendored, source.content) == ("vendor/arkworker-0.1.0.tar.gz", b"sdist")
    assert source.origin == f"vendor/arkworker-0.1.0.tar.gz, copied from {sdist}"


def test_a_file_url_is_its_path(wheel):
    assert url_source(wheel.as_uri()) == path_source(wheel)


def test_the_command_writes_the_wheel_and_says_where_arkworker_comes_from(tmp_path, wheel):
    result = new("--dir", str(tmp_path / "out"), "--arkworker-source", str(wheel))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "vendor" / WHEEL_NAME).read_bytes() == b"PK wheel bytes"
    assert f"arkworker comes from vendor/{WHEEL_NAME}, copied from {wheel}.\n" in result.output
    assert "Note:" not in result.output


def test_the_default_is_the_wheel_of_the_running_checkout(tmp_path):
    """The suite runs arkworker from this checkout: the default builds its wheel (with pip)."""
    result = new("--dir", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert f"arkworker comes from vendor/{WHEEL_NAME}, built from {ROOT}.\n" in result.output
    with zipfile.ZipFile(tmp_path / "out" / "vendor" / WHEEL_NAME) as built:
        names = set(built.namelist())
    assert {"arkworker/__init__.py", "arkworker/templates/common/Dockerfile.jinja"} <= names


# -- URLs -----------------------------------------------------------------------------------


def test_a_git_url_is_a_direct_reference_and_the_ci_and_the_image_get_git():
    files = render_project(Project("ocr", source=url_source(GIT_URL)))

    assert not any(name.startswith("vendor/") for name in files)
    pyproject = load_toml(files["pyproject.toml"])
    assert pyproject["project"]["dependencies"] == [f"arkworker @ {GIT_URL}"]
    assert pyproject["tool"]["hatch"]["metadata"] == {"allow-direct-references": True}
    assert "per-file-ignores" not in pyproject["tool"]["ruff"]["lint"]

    steps = dockerfile_steps(files["Dockerfile"])
    (git,) = [index for index, (kind, line) in enumerate(steps) if kind == "RUN" and "install -y" in line]
    assert git < steps.index(("RUN", "pip install --no-cache-dir ."))
    (before,) = yaml.safe_load(files[".gitlab-ci.yml"])["test"]["before_script"]
    assert "apt-get install -y --no-install-recommends git" in before
    assert f"arkworker from `{GIT_URL}`" in files["README.md"]


def test_a_git_url_without_a_tag_gets_a_note(tmp_path):
    assert url_source(GIT_URL).note == ""
    source = url_source("git+https://gitlab.example.com/teklia/arkworker.git")
    assert source.note == (
        "The git URL names no tag or commit: every install takes the branch's latest commit. "
        "Add @<tag> to pin it."
    )
    result = new("--dir", str(tmp_path), "--arkworker-source", "git+https://gitlab.example.com/a.git")
    assert "\nNote: The git URL names no tag or commit" in result.output


def test_an_archive_url_needs_no_git():
    url = f"https://gitlab.example.com/api/packages/{WHEEL_NAME}"
    files = render_project(Project("ocr", source=url_source(url)))
    assert load_toml(files["pyproject.toml"])["project"]["dependencies"] == [f"arkworker @ {url}"]
    assert "git" not in files["Dockerfile"]
    assert "before_script" not in yaml.safe_load(files[".gitlab-ci.yml"])["test"]


# -- The package index ----------------------------------------------------------------------


def test_index_is_the_plain_requirement():
    files = render_project(Project("ocr", source=resolve_source("index", "0.1.0")))
    pyproject = load_toml(files["pyproject.toml"])
    assert pyproject["project"]["dependencies"] == ["arkworker>=0.1.0,<0.2"]
    assert "metadata" not in pyproject["tool"]["hatch"]
    assert "COPY vendor" not in files["Dockerfile"]
    assert "from the package index: pip must\nuse an index that has arkworker" in files["README.md"]
    assert index_source("0.1.0").kind == "index"


# -- Refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "ftp://example.com/arkworker.whl",
            "Unusable --arkworker-source 'ftp://example.com/arkworker.whl': give a git URL "
            "(git+https://host/arkworker.git@v0.1.0), a URL ending in .whl, .tar.gz, .zip, a local "
            "checkout, wheel or sdist, or 'index'.",
        ),
        (
            "https://example.com/arkworker.whl; python_version<'3'",
            "Unusable --arkworker-source \"https://example.com/arkworker.whl; python_version<'3'\": give "
            "a git URL (git+https://host/arkworker.git@v0.1.0), a URL ending in .whl, .tar.gz, .zip, a "
            "local checkout, wheel or sdist, or 'index'.",
        ),
        (
            "https://github.com/teklia/arkworker",
            "--arkworker-source 'https://github.com/teklia/arkworker' is not an archive pip can "
            "install: give a URL ending in .whl, .tar.gz, .zip, or a git URL "
            "(git+https://github.com/teklia/arkworker).",
        ),
        (
            "git+file:///home/me/arkworker",
            "Unusable --arkworker-source 'git+file:///home/me/arkworker': give a git URL "
            "(git+https://host/arkworker.git@v0.1.0), a URL ending in .whl, .tar.gz, .zip, a local "
            "checkout, wheel or sdist, or 'index'.",
        ),
    ],
    ids=["scheme", "marker", "web-page", "local-git"],
)
def test_a_url_pip_cannot_install_is_refused(tmp_path, value, message):
    result = new("--dir", str(tmp_path / "out"), "--arkworker-source", value)
    assert result.exit_code == 2
    assert result.output == f"Error: {message}\n"
    assert list(tmp_path.iterdir()) == []


def test_an_empty_value_is_refused(tmp_path):
    result = new("--dir", str(tmp_path / "out"), "--arkworker-source", " ")
    assert result.exit_code == 2
    assert result.output == (
        "Error: --arkworker-source is empty: give arkworker's checkout, a wheel or sdist, a URL, or 'index'.\n"
    )


def test_a_missing_path_is_refused(tmp_path):
    result = new("--dir", str(tmp_path / "out"), "--arkworker-source", str(tmp_path / "dist"))
    assert result.exit_code == 2
    assert result.output == (
        f"Error: --arkworker-source {tmp_path / 'dist'} does not exist: give arkworker's checkout, a "
        "wheel or sdist, a URL, or 'index'.\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_arkworkers_is_refused(tmp_path):
    other = tmp_path / "requests-2.0-py3-none-any.whl"
    other.write_bytes(b"")
    result = new("--dir", str(tmp_path / "out"), "--arkworker-source", str(other))
    assert result.exit_code == 2
    assert result.output == (
        f"Error: --arkworker-source {other} is not arkworker's wheel or sdist (arkworker-<version>-….whl "
        "or arkworker-<version>.tar.gz): give one, a checkout, a URL, or 'index'.\n"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == [other.name]


def test_a_folder_pip_cannot_build_is_one_error_line(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    result = new("--dir", str(tmp_path / "out"), "--arkworker-source", str(folder))
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: Cannot build arkworker's wheel from {folder} (ERROR: ")
    assert result.output.endswith("): give --arkworker-source a wheel file, a URL, or 'index'.\n")
    assert result.output.count("\n") == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes"]


# -- The generated project passes ruff, whatever its source ---------------------------------


@pytest.mark.parametrize("kind", ["vendored", "git"])
def test_the_project_passes_ruff_with_each_source(tmp_path, wheel, kind):
    source = path_source(wheel) if kind == "vendored" else url_source(GIT_URL)
    write_project(render_project(Project("ocr-lines", source=source)), tmp_path / "project")
    for command in (["check"], ["format", "--check"]):
        completed = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "."],
            cwd=tmp_path / "project",
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
