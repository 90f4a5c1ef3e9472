"""``arkworker check [PATH]``: a worker project as Arkindex would take it, one line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from arkworker.cli import cli, invoke
from arkworker.cli.check import check_project
from arkworker.cli.declare import declaration_text
from arkworker.spec import WorkerSpec

MODULE = """
from arkworker import Field, Worker

app = Worker(
    "{slug}",
    "A demo worker.",
    docker_command="{script}",
    configuration=[Field("threshold", default={default}), Field("advanced", children=[Field("layers", default=4)])],
)
app.element(lambda element: None)
"""


def make_project(
    root: Path, *, module="worker_demo", slug="demo", script="worker-demo", default=0.5, target=None
):
    """A project as ``arkworker new`` makes one: a module, its console script, its declaration file."""
    root.mkdir(parents=True)
    (root / f"{module}.py").write_text(MODULE.format(slug=slug, script=script, default=default))
    entry = target or f"{module}:app.run"
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{script}"\n\n[project.scripts]\n{script} = "{entry}"\n'
    )
    spec = WorkerSpec(
        slug, "A demo worker.", docker_command=script, configuration=_fields(default)
    )  # what the module declares, built here so that the file does not depend on importing it
    (root / "arkindex").mkdir()
    (root / "arkindex" / f"{slug}.yml").write_text(declaration_text(spec, f"{module}:app"))
    return root


def _fields(default):
    from arkworker import Field

    return [Field("threshold", default=default), Field("advanced", children=[Field("layers", default=4)])]


def run_cli(capsys, *argv):
    code = invoke(cli, list(argv), prog_name="arkworker")
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_good_project(capsys, tmp_path):
    root = make_project(tmp_path / "good")
    assert check_project(root) == []
    assert run_cli(capsys, "check", str(root)) == (0, f"{root}: 1 declaration file, no problem found.\n", "")


def test_the_current_directory_by_default(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(make_project(tmp_path / "here", module="worker_here"))
    assert run_cli(capsys, "check")[:2] == (0, ".: 1 declaration file, no problem found.\n")


def test_each_problem_is_one_line_and_exit_1(capsys, tmp_path):
    root = make_project(tmp_path / "bad", module="worker_bad")
    path = root / "arkindex" / "demo.yml"
    path.write_text(
        path.read_text() + "user_configuration: {threshold: {type: float}}\ngpu_usage: sometimes\n"
    )
    code, out, err = run_cli(capsys, "check", str(root))
    assert code == 1
    assert out.splitlines() == [
        "arkindex/demo.yml: user_configuration: Unexpected element",
        "arkindex/demo.yml: gpu_usage: 'sometimes' not in ('supported', 'required', 'disabled')",
    ]
    assert err == "2 problems found.\n"


@pytest.mark.parametrize(
    ("spoil", "lines"),
    [
        (
            lambda root: (root / "arkindex" / "demo.yml").write_text("slug: [\n"),
            [
                "arkindex/demo.yml: is not valid YAML at line 2, column 1: expected the node content, but found '<stream end>'"
            ],
        ),
        (
            lambda root: (root / "arkindex" / "demo.yml").rename(root / "demo.yml"),
            ["arkindex/: no declaration file (arkindex/<slug>.yml): write one with 'arkworker declare APP'"],
        ),
        (
            lambda root: (root / "pyproject.toml").unlink(),
            [
                "pyproject.toml: missing: the console script of docker.command is declared in its [project.scripts]"
            ],
        ),
        (
            lambda root: (root / "pyproject.toml").write_text("[project\n"),
            [
                "pyproject.toml: is not valid TOML: Expected ']' at the end of a table declaration (at line 1, column 9)"
            ],
        ),
        (
            lambda root: (root / "pyproject.toml").write_text(
                '[project]\nname = "x"\n[project.scripts]\nother = "m:f"\n'
            ),
            [
                "arkindex/demo.yml: docker.command runs 'worker-demo', which is not a console script of "
                "pyproject.toml (it has other): add 'worker-demo = \"module:app.run\"' to its [project.scripts], "
                "or fix the command"
            ],
        ),
        (
            lambda root: (root / "worker_demo.py").write_text("import not_installed_anywhere\n"),
            [
                "arkindex/demo.yml: the console script 'worker-demo' (worker_demo:app.run) does not load: importing "
                "worker_demo raised ModuleNotFoundError: No module named 'not_installed_anywhere'"
            ],
        ),
        (
            lambda root: (root / "worker_demo.py").write_text("def run(): ...\n"),
            [
                "arkindex/demo.yml: the console script 'worker-demo' (worker_demo:app.run) does not run a Worker, "
                "and worker_demo holds no single Worker to compare with: point it at 'module:app.run', or give --app"
            ],
        ),
        (
            lambda root: (root / "worker_demo.py").write_text(
                MODULE.format(slug="demo", script="worker-demo", default=0.8).replace(
                    'Field("layers", default=4)', 'Field("layers", default=4), Field("depth", type=int)'
                )
            ),
            [
                "arkindex/demo.yml: configuration.threshold.default: the file has 0.5, the app declares 0.8",
                "arkindex/demo.yml: configuration.advanced.depth: declared by the app, missing from the file",
                "arkindex/demo.yml: differs from worker 'demo': run 'arkworker declare' to write it again",
            ],
        ),
    ],
    ids=[
        "yaml",
        "no-file",
        "no-pyproject",
        "bad-toml",
        "no-such-script",
        "import-fails",
        "no-worker",
        "fields-differ",
    ],
)
def test_each_kind_of_problem(tmp_path, spoil, lines):
    root = make_project(tmp_path / "project")
    spoil(root)
    assert check_project(root) == lines


def test_a_script_running_another_function_of_the_worker_module(tmp_path):
    root = make_project(tmp_path / "main", module="worker_main", target="worker_main:main")
    with (root / "worker_main.py").open("a") as module:
        module.write("\n\ndef main():\n    raise SystemExit(app.run())\n")
    assert check_project(root) == []


def test_without_a_docker_command_the_app_is_given(capsys, tmp_path):
    root = tmp_path / "nocommand"
    root.mkdir()
    (root / "worker_nocmd.py").write_text('from arkworker import Worker\napp = Worker("nocmd")\n')
    (root / "arkindex").mkdir()
    (root / "arkindex" / "nocmd.yml").write_text(declaration_text(WorkerSpec("nocmd")))
    assert check_project(root) == [
        "arkindex/nocmd.yml: no docker.command to find the worker's app from: declare "
        "Worker(..., docker_command=...) and run 'arkworker declare', or give --app"
    ]
    assert run_cli(capsys, "check", str(root), "--app", "worker_nocmd:app")[0] == 0
    assert check_project(root, "worker_nocmd:nope") == [
        "--app: Module 'worker_nocmd' has no attribute 'nope'. Workers found: app; use 'worker_nocmd:app'."
    ]


def test_an_app_given_with_another_slug(tmp_path):
    root = make_project(tmp_path / "other", module="worker_other")
    (root / "second.py").write_text('from arkworker import Worker\napp = Worker("second")\n')
    assert check_project(root, "second:app") == [
        "arkindex/: no declaration file has the slug 'second' of second:app: write it with "
        "'arkworker declare second:app'"
    ]


def test_two_projects_with_one_module_name(tmp_path):
    """Each project is checked against its own module, not one imported for another project."""
    first = make_project(tmp_path / "first", module="worker_same", default=0.5)
    second = make_project(tmp_path / "second", module="worker_same", default=0.7)
    assert check_project(first) == []
    assert check_project(second) == []


def test_a_path_that_is_no_folder(capsys, tmp_path):
    code, out, err = run_cli(capsys, "check", str(tmp_path / "nowhere"))
    assert (code, out) == (2, "")
    assert err.startswith("Error: Invalid value for '[PATH]': Directory")
