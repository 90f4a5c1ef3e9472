"""The command line: finding the app, parsing its arguments, one-line errors."""

import subprocess
import sys
import textwrap

import pytest

from arkworker import Worker
from arkworker.cli import cli, invoke
from arkworker.cli.locate import locate_app, split_reference
from arkworker.cli.worker import expand_greedy

WORKER = """
from arkworker import Worker

app = Worker("{name}", description="A test worker.")

@app.option("--threshold", type=float, default=0.5, help="Minimal confidence.")
@app.element
def process(element, ctx):
    pass
"""


@pytest.fixture
def worker_file(tmp_path):
    def write(name="sample", source=WORKER, package=None):
        directory = tmp_path
        if package:
            directory = tmp_path / package
            directory.mkdir(exist_ok=True)
            (directory / "__init__.py").write_text("")
        path = directory / f"{name}.py"
        path.write_text(textwrap.dedent(source.format(name=name)) if "{name}" in source else source)
        return path

    return write


def run_cli(capsys, *argv):
    code = invoke(cli, list(argv), prog_name="arkworker")
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("worker.py", ("worker.py", None)),
        ("worker.py:app", ("worker.py", "app")),
        ("pkg.module:app", ("pkg.module", "app")),
        ("pkg.module:workers.app", ("pkg.module", "workers.app")),
        ("C:\\workers\\ocr.py", ("C:\\workers\\ocr.py", None)),
        ("C:\\workers\\ocr.py:app", ("C:\\workers\\ocr.py", "app")),
    ],
)
def test_split_reference(reference, expected):
    assert split_reference(reference) == expected


def test_locate_app_from_a_file_with_or_without_attribute(worker_file):
    path = worker_file("loader_single")
    app = locate_app(str(path))
    assert isinstance(app, Worker) and app.name == "loader_single"
    assert locate_app(f"{path}:app") is app


def test_locate_app_inside_a_package_uses_the_dotted_name(worker_file, tmp_path):
    path = worker_file("inner", package="loaderpkg")
    app = locate_app(str(path))
    assert type(app).__module__ == "arkworker.app"
    assert sys.modules["loaderpkg.inner"].app is app
    assert locate_app("loaderpkg.inner:app") is app


def test_same_file_name_in_two_directories(tmp_path):
    for index in (1, 2):
        directory = tmp_path / f"d{index}"
        directory.mkdir()
        (directory / "twin_worker.py").write_text(WORKER.format(name=f"twin{index}"))
    assert locate_app(str(tmp_path / "d1" / "twin_worker.py")).name == "twin1"
    assert locate_app(str(tmp_path / "d2" / "twin_worker.py")).name == "twin2"


@pytest.mark.parametrize(
    ("setup", "reference", "message"),
    [
        (None, "missing_file.py", "Could not find the file 'missing_file.py'"),
        (None, "no_such_module_xyz:app", "no module named 'no_such_module_xyz'"),
        ("plain", "{path}:appp", "has no attribute 'appp'. Workers found: app; use '{path}:app'."),
        ("plain", "{path}:Worker", "is a type, not an arkworker Worker"),
        ("none", "{path}", "No Worker found in"),
        ("two", "{path}", "Several Workers in '{path}' (first, second): use '{path}:first'"),
    ],
)
def test_locate_errors_are_one_line_with_exit_code_2(
    capsys, worker_file, tmp_path, setup, reference, message
):
    sources = {
        "plain": WORKER,
        "none": "VALUE = 1\n",
        "two": "from arkworker import Worker\nfirst = Worker('a')\nsecond = Worker('b')\n",
    }
    path = worker_file(f"locate_{setup}", source=sources[setup]) if setup else None
    reference = reference.format(path=path)
    code, _, err = run_cli(capsys, "run", reference)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("Error: ")
    assert message.format(path=path) in err
    assert "Traceback" not in err


def test_an_import_error_inside_the_module_shows_its_traceback(capsys, worker_file):
    path = worker_file("broken_import", source="import not_installed_dependency_xyz\n")
    code, _, err = run_cli(capsys, "run", str(path))
    assert code == 2
    assert "Traceback (most recent call last)" in err
    assert 'broken_import.py", line 1' in err
    assert err.rstrip().splitlines()[-1] == (
        f"Error: Importing '{path}' raised ModuleNotFoundError (traceback above): fix the module."
    )


def test_version(capsys):
    from arkworker import __version__

    code, out, _ = run_cli(capsys, "--version")
    assert code == 0
    assert out.strip() == f"arkworker, version {__version__}"


def test_run_help_lists_builtin_and_app_options(capsys, worker_file):
    path = worker_file("helpful")
    code, out, _ = run_cli(capsys, "run", str(path), "--help")
    assert code == 0
    assert "A test worker." in out
    for option in (
        "--config",
        "--database",
        "--verbose",
        "--dev",
        "--extras-dir",
        "--element",
        "--elements-list",
        "--sandbox",
        "--threshold",
        "Minimal confidence.",
    ):
        assert option in out


def test_run_without_app_describes_itself(capsys):
    code, out, _ = run_cli(capsys, "run", "--help")
    assert code == 0
    assert "Usage: arkworker run APP [OPTIONS]" in out
    assert "package.module[:attr]" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--element", "not-a-uuid"], "Invalid value for '--element': 'not-a-uuid' is not a valid UUID."),
        (["--threshold", "high"], "Invalid value for '--threshold': 'high' is not a valid float."),
        (
            ["--config", "nowhere.yml"],
            "Invalid value for '-c' / '--config': File 'nowhere.yml' does not exist.",
        ),
        (["--unknown"], "No such option"),
    ],
)
def test_bad_cli_values_are_one_line_with_exit_code_2(capsys, worker_file, argv, message):
    path = worker_file("strict")
    code, _, err = run_cli(capsys, "run", str(path), *argv)
    assert code == 2
    assert err.startswith(f"Error: {message}") and err.count("\n") == 1


def test_expand_greedy():
    assert expand_greedy(["--element", "a", "b", "--dev", "c"], ["--element"]) == [
        "--element",
        "a",
        "--element",
        "b",
        "--dev",
        "c",
    ]
    assert expand_greedy(["--element=a", "b"], ["--element"]) == ["--element=a", "--element", "b"]
    assert expand_greedy(["--element", "a", "--", "b"], ["--element"]) == ["--element", "a", "--", "b"]
    assert expand_greedy(["--other", "a", "b"], ["--element"]) == ["--other", "a", "b"]


def test_console_script_entry_point():
    completed = subprocess.run(
        [sys.executable, "-m", "arkworker", "--help"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0
    assert "run" in completed.stdout and "sandbox" in completed.stdout


def test_run_app_help_is_the_worker_command_built_once(capsys, worker_file, monkeypatch):
    from arkworker.cli import worker

    built = []
    original = worker.worker_command
    monkeypatch.setattr(
        worker, "worker_command", lambda *args, **kwargs: built.append(args) or original(*args, **kwargs)
    )
    path = worker_file("parsed_once")
    code, out, _ = run_cli(capsys, "run", str(path), "--help")
    assert code == 0
    assert len(built) == 1
    assert " ".join(out.split()[:4]) == f"Usage: arkworker run {path}"
    assert "--threshold FLOAT" in out and "Minimal confidence." in out
    assert "--element UUID" in out and "--sandbox [CORPUS|DIR]" in out


def test_run_help_explains_app_and_lists_the_options_of_every_worker(capsys):
    code, out, _ = run_cli(capsys, "run", "--help")
    assert code == 0
    assert out.startswith("Usage: arkworker run APP [OPTIONS]\n")
    assert "attr may be omitted when the module holds one Worker" in out
    assert "Options of every worker:" in out
    for option in ("--config", "--element UUID", "--set UUID:NAME", "--sandbox [CORPUS|DIR]"):
        assert option in out
    assert "Commands:" not in out


def test_run_without_app_prints_its_help(capsys):
    code, out, _ = run_cli(capsys, "run")
    assert code == 0
    assert out.startswith("Usage: arkworker run APP [OPTIONS]")


def test_arkworker_without_command_prints_its_help(capsys):
    code, out, err = run_cli(capsys)
    assert code == 0
    assert out.startswith("Usage: arkworker [OPTIONS] COMMAND") and not err


def test_options_before_app_are_one_line_naming_the_order(capsys):
    code, _, err = run_cli(capsys, "run", "--element", "x")
    assert code == 2
    assert err == (
        "Error: Give the worker before its options: 'arkworker run APP --element ...', where APP is "
        "'path/to/file.py[:attr]' or 'package.module[:attr]'.\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--threshold"], "Error: Option '--threshold' requires an argument.\n"),
        (["--set", "nope"], "Error: Invalid value for '--set': 'nope' is not <dataset_uuid>:<set_name>"),
        (["--sandbox", "a", "extra"], "Error: Got unexpected extra argument (extra)\n"),
    ],
)
def test_a_parse_error_in_the_worker_options_is_one_line_with_exit_code_2(capsys, worker_file, argv, message):
    path = worker_file("parse_errors")
    code, out, err = run_cli(capsys, "run", str(path), *argv)
    assert code == 2
    assert err.startswith(message) and err.count("\n") == 1
    assert not out


def test_app_run_parses_the_same_command(capsys, worker_file):
    app = locate_app(str(worker_file("direct")))
    assert app.run(["--threshold", "high"], env={}) == 2
    assert capsys.readouterr().err == "Error: Invalid value for '--threshold': 'high' is not a valid float.\n"
