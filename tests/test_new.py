"""``arkworker new``: naming, validation, prompts, rendering and the refusal to overwrite."""

import os
import shutil
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from arkworker.cli import cli
from arkworker.errors import BadInput
from arkworker.scaffold.project import Project, check_slug, suggest_slug
from arkworker.scaffold.render import render_project, templates_root, write_project
from arkworker.scaffold.source import index_requirement


def load_toml(text):
    """Parse TOML with tomllib (Python >= 3.11), else tomli; the test is skipped without either."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads(text)


COMMON_FILES = {
    ".gitignore",
    ".gitlab-ci.yml",
    "Dockerfile",
    "README.md",
    "pyproject.toml",
    "tests/conftest.py",
    "tests/corpus.yml",
    "tests/test_worker.py",
}


def new(*args, input=None):
    """``arkworker new ARGS``; from the package index unless ARGS say otherwise, so that no
    wheel is built (``test_new_source.py`` tests the sources, and the default)."""
    source = [] if "--arkworker-source" in args else ["--arkworker-source", "index"]
    return CliRunner().invoke(cli, ["new", *args, *source], input=input)


# -- Naming and validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slug", "distribution", "module"),
    [
        ("ocr-lines", "worker-ocr-lines", "worker_ocr_lines"),
        ("yaml", "worker-yaml", "worker_yaml"),  # never shadows an installed library
        ("worker-ocr", "worker-ocr", "worker_ocr"),  # no doubled prefix
        ("3d-pages", "worker-3d-pages", "worker_3d_pages"),
    ],
)
def test_names_derive_from_the_slug(slug, distribution, module):
    project = Project(slug)
    assert (project.distribution, project.module, project.app_reference) == (
        distribution,
        module,
        f"{module}:app",
    )


@pytest.mark.parametrize(
    ("slug", "example"),
    [
        ("OCR_Lines", "ocr-lines"),
        ("ocr lines", "ocr-lines"),
        ("-ocr-", "ocr"),
        ("ocr--lines", "ocr-lines"),
        ("Étude-été", "etude-ete"),
        ("", "my-worker"),
        ("___", "my-worker"),
    ],
)
def test_an_invalid_slug_is_refused_with_a_valid_example(slug, example):
    with pytest.raises(BadInput) as raised:
        check_slug(slug)
    assert raised.value.message == (
        f"Invalid worker slug {slug!r}: use lowercase letters, digits and single dashes between "
        f"words, e.g. {example!r}."
    )
    assert check_slug(suggest_slug(slug)) == example


def test_an_invalid_slug_on_the_command_line_exits_2_and_writes_nothing(tmp_path):
    result = new("My_Worker", "--dir", str(tmp_path / "out"), "--no-input")
    assert result.exit_code == 2
    assert "Error: Invalid worker slug 'My_Worker'" in result.output
    assert "e.g. 'my-worker'" in result.output
    assert not (tmp_path / "out").exists()


def test_a_line_break_in_a_value_is_refused(tmp_path):
    result = new("ocr", "--dir", str(tmp_path), "--no-input", "--description", "one\ntwo")
    assert result.exit_code == 2
    assert "line break" in result.output
    assert list(tmp_path.iterdir()) == []


def test_an_over_long_slug_is_refused_before_any_file_is_made(tmp_path, monkeypatch):
    """300 characters made a file name too long: the command failed with an OSError traceback."""
    monkeypatch.chdir(tmp_path)
    result = new("a" * 300, "--no-input")
    assert result.exit_code == 2
    assert result.output == (
        "Error: Invalid worker slug 'aaaaaaaaaaaaaaaaaaaa...' (300 characters): Arkindex accepts at "
        "most 100, give a shorter one.\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_the_longest_slug_gives_a_project_that_can_be_written(tmp_path):
    project = Project(check_slug("a" * 100))
    write_project(render_project(project), tmp_path / project.distribution)
    assert (tmp_path / project.distribution / f"{project.module}.py").is_file()
    with pytest.raises(BadInput, match=r"\(101 characters\): Arkindex accepts at most 100"):
        check_slug("a" * 101)


@pytest.mark.parametrize(("option", "label"), [("--name", "name"), ("--type", "type")])
def test_a_value_longer_than_arkindex_accepts_is_refused(tmp_path, option, label):
    result = new("ocr", "--dir", str(tmp_path / "out"), "--no-input", option, "x" * 101)
    assert result.exit_code == 2
    assert result.output == (
        f"Error: The {label} 'xxxxxxxxxxxxxxxxxxxx...' is 101 characters long: Arkindex accepts at "
        "most 100, give a shorter one.\n"
    )
    assert not (tmp_path / "out").exists()
    assert Project("ocr", name="x" * 100).name == "x" * 100


@pytest.mark.parametrize(
    "character",
    ["\t", "\x7f", "\x80", "\x85", "\u2028", "\u2029"],
    ids=["tab", "delete", "C1-control", "next-line", "line-separator", "paragraph-separator"],
)
def test_characters_that_yaml_refuses_or_folds_are_refused(tmp_path, character):
    """PyYAML refuses the C1 controls and turns NEL and the separators into spaces."""
    result = new("ocr", "--dir", str(tmp_path), "--no-input", "--name", f"a{character}b")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: The name {f'a{character}b'!r} holds a line break or a control character: give one "
        "line of text.\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", ["--name", "--description", "--author", "--email"])
def test_bytes_that_are_not_utf8_are_refused(tmp_path, option):
    """Python gets them from the command line as lone surrogates: writing them raised UnicodeEncodeError."""
    result = new("ocr", "--dir", str(tmp_path), "--no-input", option, "caf\udce9")
    assert result.exit_code == 2
    label = option.removeprefix("--")
    assert result.output == (
        f"Error: The {label} 'caf\\udce9' holds bytes that are not UTF-8 text: give it in UTF-8.\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_kind_is_a_usage_error(tmp_path):
    result = new("ocr", "--dir", str(tmp_path / "out"), "--kind", "page")
    assert result.exit_code == 2
    assert "'page' is not one of 'element', 'dataset'" in result.output


def test_without_a_slug_and_without_input_the_command_asks_for_one(tmp_path):
    result = new("--dir", str(tmp_path / "out"), "--no-input")
    assert result.exit_code == 2
    assert "Error: Give the worker's slug, e.g. 'arkworker new ocr-lines'." in result.output


@pytest.mark.parametrize(
    ("version", "requirement"),
    [("0.1.0", "arkworker>=0.1.0,<0.2"), ("1.4.2", "arkworker>=1.4.2,<2"), ("dev", "arkworker")],
)
def test_the_arkworker_requirement_follows_the_running_release(version, requirement):
    assert index_requirement(version) == requirement


# -- Rendering -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["element", "dataset"])
def test_every_kind_renders_the_whole_project(kind):
    project = Project("ocr-lines", kind=kind, author="Ada", email="ada@example.com")
    files = render_project(project)

    extra = {"tests/sample-dataset.tar.zst"} if kind == "dataset" else set()
    assert set(files) == COMMON_FILES | extra | {"worker_ocr_lines.py", "arkindex/ocr-lines.yml"}
    assert not any("{{" in content for content in files.values() if isinstance(content, str))
    handler = "@app.element" if kind == "element" else "@app.dataset_set"
    assert handler in files["worker_ocr_lines.py"]
    assert 'Worker(\n    "ocr-lines",' in files["worker_ocr_lines.py"]
    assert "from worker_ocr_lines import app" in files["tests/test_worker.py"]

    pyproject = load_toml(files["pyproject.toml"])
    assert pyproject["project"]["name"] == "worker-ocr-lines"
    assert pyproject["project"]["authors"] == [{"name": "Ada", "email": "ada@example.com"}]
    assert pyproject["project"]["dependencies"][0].startswith("arkworker")
    assert pyproject["project"]["scripts"] == {"worker-ocr-lines": "worker_ocr_lines:app.run"}

    declaration = yaml.safe_load(files["arkindex/ocr-lines.yml"])
    assert declaration["slug"] == "ocr-lines"
    assert declaration["display_name"] == "Ocr lines"
    assert declaration["docker"] == {"command": "worker-ocr-lines"}
    assert set(declaration) >= {"type", "description", "configuration"}

    corpus = yaml.safe_load(files["tests/corpus.yml"])
    assert corpus["worker_run"]["version"]["fields"] == declaration["configuration"]
    assert corpus["worker_run"]["worker"]["slug"] == "ocr-lines"

    assert 'CMD ["worker-ocr-lines"]' in files["Dockerfile"]
    assert "arkworker run worker_ocr_lines:app --sandbox tests/corpus.yml" in files["README.md"]
    assert "pytest" in yaml.safe_load(files[".gitlab-ci.yml"])["test"]["script"]


def test_values_with_quotes_and_backslashes_stay_valid_toml_yaml_and_python():
    text = 'Reads "old" scripts \\ and œuvres'
    project = Project("ocr", name=text, description=text, type="recognizer", author=text)
    files = render_project(project)
    assert load_toml(files["pyproject.toml"])["project"]["description"] == text
    assert yaml.safe_load(files["arkindex/ocr.yml"])["display_name"] == text
    namespace = {}
    exec(compile(files["worker_ocr.py"], "worker_ocr.py", "exec"), namespace)
    assert namespace["app"].description == text


def test_without_an_author_pyproject_has_no_authors():
    pyproject = load_toml(render_project(Project("ocr"))["pyproject.toml"])
    assert "authors" not in pyproject["project"]


def test_templates_are_found_from_the_source_tree():
    root = templates_root()
    assert {path.name for path in root.iterdir()} >= {"common", "element", "dataset"}


def test_a_misspelt_template_variable_is_an_error(tmp_path):
    (tmp_path / "common").mkdir()
    (tmp_path / "element").mkdir()
    (tmp_path / "common" / "README.md.jinja").write_text("{{ slgu }}")
    with pytest.raises(Exception, match="'slgu' is undefined"):
        render_project(Project("ocr"), root=tmp_path)


# -- The command -----------------------------------------------------------------------------


def test_no_input_uses_the_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = new("ocr-lines", "--no-input", "--author", "", "--email", "")
    assert result.exit_code == 0, result.output
    target = tmp_path / "worker-ocr-lines"
    assert "Created the element worker 'ocr-lines' in worker-ocr-lines/ (10 files)." in result.output
    assert "arkworker run worker_ocr_lines:app --sandbox tests/corpus.yml" in result.output
    declaration = yaml.safe_load((target / "arkindex" / "ocr-lines.yml").read_text())
    assert declaration["display_name"] == "Ocr lines"
    assert declaration["type"] == "recognizer"
    assert declaration["description"] == "Writes a transcription on every element it is given."
    assert "@app.element" in (target / "worker_ocr_lines.py").read_text()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git program")
def test_the_default_author_comes_from_git(tmp_path, monkeypatch):
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tname = Ada Lovelace\n\temail = ada@example.com\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.chdir(tmp_path)
    result = new("ocr", "--no-input")
    assert result.exit_code == 0, result.output
    pyproject = load_toml((tmp_path / "worker-ocr" / "pyproject.toml").read_text())
    assert pyproject["project"]["authors"] == [{"name": "Ada Lovelace", "email": "ada@example.com"}]


def test_without_a_terminal_no_question_is_asked(tmp_path):
    result = new("ocr", "--dir", str(tmp_path / "out"), "--author", "A", "--email", "a@b.c")
    assert result.exit_code == 0, result.output
    assert "Kind" not in result.output


def test_missing_values_are_asked_for(tmp_path):
    answers = "OCR_Lines\nocr-lines\ndataset\nOCR lines\nCounts sets.\ntrainer\nAda\nada@example.com\n"
    result = new("--dir", str(tmp_path / "out"), "--input", input=answers)
    assert result.exit_code == 0, result.output
    assert "Invalid worker slug 'OCR_Lines'" in result.output  # asked again
    declaration = yaml.safe_load((tmp_path / "out" / "arkindex" / "ocr-lines.yml").read_text())
    assert (declaration["display_name"], declaration["type"]) == ("OCR lines", "trainer")
    assert declaration["description"] == "Counts sets."
    assert "@app.dataset_set" in (tmp_path / "out" / "worker_ocr_lines.py").read_text()
    pyproject = load_toml((tmp_path / "out" / "pyproject.toml").read_text())
    assert pyproject["project"]["authors"] == [{"name": "Ada", "email": "ada@example.com"}]


def test_given_values_are_not_asked_for(tmp_path):
    args = ["ocr", "--dir", str(tmp_path / "out"), "--input", "--kind", "element", "--name", "OCR"]
    result = new(*args, "--description", "D.", "--type", "ner", input="Ada\n\n")
    assert result.exit_code == 0, result.output
    assert "Kind" not in result.output and "Display name" not in result.output
    assert "Author email" in result.output
    assert yaml.safe_load((tmp_path / "out" / "arkindex" / "ocr.yml").read_text())["type"] == "ner"


def test_a_non_empty_directory_is_refused_listing_what_would_be_overwritten(tmp_path):
    (tmp_path / "README.md").write_text("mine")
    (tmp_path / "notes.txt").write_text("mine")
    result = new("ocr", "--dir", str(tmp_path), "--no-input")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: The directory {tmp_path} is not empty: 1 of its files would be overwritten "
        "(README.md). Give another --dir, or --force to write the project into it anyway.\n"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["README.md", "notes.txt"]
    assert (tmp_path / "README.md").read_text() == "mine"


def test_a_non_empty_directory_without_conflicts_is_refused_too(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = new("ocr", "--dir", str(tmp_path), "--no-input")
    assert result.exit_code == 2
    assert "is not empty: it holds notes.txt." in result.output


def test_force_writes_into_a_non_empty_directory_and_says_what_it_replaced(tmp_path):
    (tmp_path / "README.md").write_text("mine")
    (tmp_path / "notes.txt").write_text("mine")
    result = new("ocr", "--dir", str(tmp_path), "--no-input", "--force")
    assert result.exit_code == 0, result.output
    assert "Overwritten: README.md" in result.output
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / "README.md").read_text().startswith("# Ocr")


def test_an_empty_existing_directory_is_used(tmp_path):
    assert write_project({"a.txt": "x"}, tmp_path) == []
    assert (tmp_path / "a.txt").read_text() == "x"


def test_a_file_as_target_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    result = new("ocr", "--dir", str(tmp_path / "file"), "--no-input")
    assert result.exit_code == 2
    assert "is a file." in result.output
    with pytest.raises(BadInput, match="is a file, not a directory: give another --dir"):
        write_project({"a.txt": "x"}, tmp_path / "file")


def test_a_folder_name_too_long_is_one_error_line(tmp_path):
    result = new("ocr", "--dir", str(tmp_path / ("d" * 300)), "--no-input")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: Cannot write the project in {tmp_path / ('d' * 300)} (File name too long): give "
        "another --dir.\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_way_of_the_folder_is_named(tmp_path):
    (tmp_path / "notes").write_text("mine")
    result = new("ocr", "--dir", str(tmp_path / "notes" / "worker"), "--no-input")
    assert result.exit_code == 2
    assert result.output == f"Error: {tmp_path / 'notes'} is a file, not a directory: give another --dir.\n"
    assert (tmp_path / "notes").read_text() == "mine"


def test_a_broken_symbolic_link_as_folder_is_named(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    result = new("ocr", "--dir", str(tmp_path / "link"), "--no-input")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {tmp_path / 'link'} is a broken symbolic link (to {tmp_path / 'gone'}): remove it "
        "or give another --dir.\n"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["link"]


def refused(action, path):
    """Whether this user is refused ``action(path)`` (root is not, unless it lacks the DAC capabilities)."""
    try:
        action(path)
    except PermissionError:
        return True
    return False


def test_an_unwritable_parent_is_one_error_line(tmp_path):
    parent = tmp_path / "read-only"
    parent.mkdir(mode=0o555)
    if not refused(os.mkdir, parent / "probe"):
        pytest.skip("this user writes in read-only folders")
    result = new("ocr", "--dir", str(parent / "a" / "worker"), "--no-input")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: Cannot write the project in {parent / 'a' / 'worker'} (Permission denied); nothing "
        "was written: give another --dir.\n"
    )
    assert list(parent.iterdir()) == []


def test_an_unreadable_folder_is_one_error_line(tmp_path):
    folder = tmp_path / "hidden"
    folder.mkdir(mode=0o333)
    if not refused(os.listdir, folder):
        pytest.skip("this user reads unreadable folders")
    result = new("ocr", "--dir", str(folder), "--no-input")  # click checks the option first
    assert result.exit_code == 2
    assert "Error: Invalid value for '--dir'" in result.output and "is not readable" in result.output
    with pytest.raises(BadInput) as raised:
        write_project({"a.txt": "x"}, folder)
    assert (
        raised.value.message
        == f"Cannot write the project in {folder} (Permission denied): give another --dir."
    )


@pytest.mark.skipif(sys.platform != "linux", reason="other systems refuse file names that are not UTF-8")
def test_a_folder_name_that_is_not_utf8_is_printed(tmp_path):
    target = tmp_path / "caf\udce9"  # what Python makes of the bytes b"caf\xe9" on the command line
    result = new("ocr", "--dir", str(target), "--no-input")
    assert result.exit_code == 0, result.output
    assert f"in {tmp_path}/caf\ufffd/ (10 files)" in result.output
    assert (target / "worker_ocr.py").is_file()


def test_a_failed_write_leaves_no_half_written_project(tmp_path):
    """The second file's name is too long for the file system: the first must not stay."""
    files = {"README.md": "x", "tests/" + "t" * 300 + ".py": "y"}
    target = tmp_path / "parent" / "project"
    with pytest.raises(BadInput) as raised:
        write_project(files, target)
    assert raised.value.message == (  # the file is named in the project, not in the staging folder
        f"Cannot write the project in {target} (tests/{'t' * 300}.py: File name too long); nothing "
        "was written: give another --dir."
    )
    assert list(tmp_path.iterdir()) == []  # no project, no staging folder, no created parent


def test_a_failed_write_into_an_empty_directory_leaves_it_empty(tmp_path):
    with pytest.raises(BadInput, match="nothing was written: give another --dir"):
        write_project({"README.md": "x", "t" * 300: "y"}, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_new_directory_is_created_whole(tmp_path):
    files = render_project(Project("ocr"))
    write_project(files, tmp_path / "a" / "b")
    written = {p.relative_to(tmp_path / "a" / "b").as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert written == set(files)
    assert [p.name for p in tmp_path.iterdir()] == ["a"]  # no staging folder left


def test_force_refuses_a_file_where_a_folder_is_needed_before_writing_anything(tmp_path):
    (tmp_path / "tests").write_text("mine")
    (tmp_path / "README.md").mkdir()
    result = new("ocr", "--dir", str(tmp_path), "--no-input", "--force")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: Cannot write the project in {tmp_path}: README.md, tests must be a folder where it "
        "is a file, or a file where it is a folder. Move them away or give another --dir.\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "tests"]


# -- The generated project passes ruff -------------------------------------------------------


@pytest.mark.parametrize("kind", ["element", "dataset"])
@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_the_generated_project_passes_ruff(tmp_path, kind, command):
    text = 'A "quoted" description that is long enough to go past the line length of the project.'
    project = Project("ocr-lines", kind=kind, description=text, author="Ada")
    write_project(render_project(project), tmp_path)
    completed = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_text_templates_have_the_jinja_suffix_and_other_files_are_copied_as_they_are():
    """A .jinja suffix keeps the templates away from this repository's own ruff and pytest."""
    root = templates_root()
    files = [path for path in root.rglob("*") if path.is_file() and "__pycache__" not in path.parts]
    copied = {path.relative_to(root).as_posix() for path in files if path.suffix != ".jinja"}
    assert copied == {"dataset/tests/sample-dataset.tar.zst"}
    files = render_project(Project("ocr", kind="dataset"))
    archive = root / "dataset" / "tests" / "sample-dataset.tar.zst"
    assert files["tests/sample-dataset.tar.zst"] == archive.read_bytes()
