"""``arkworker declare APP``: the Arkindex declaration file written from the app, and ``--check``."""

from __future__ import annotations

import pytest
import yaml

from arkworker.cli import cli, invoke
from arkworker.cli.declare import declaration_text
from arkworker.cli.locate import locate_app
from arkworker.manifest import read_declaration, validate_declaration
from arkworker.scaffold.project import KINDS, Project
from arkworker.scaffold.render import render_project, write_project
from tests.declared import ALL_FIELDS

ALL_TYPES_WORKER = """
from arkworker import Worker
from tests.declared import ALL_FIELDS

app = Worker(
    "all-types",
    "Declares a field of every type.",
    type="recognizer",
    gpu_usage="supported",
    docker_command="worker-all-types",
    configuration=ALL_FIELDS,
)
app.element(lambda element: None)
"""


def run_cli(capsys, *argv):
    code = invoke(cli, list(argv), prog_name="arkworker")
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty project folder, the current directory, with a worker file declaring every field type."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "all_types_worker.py").write_text(ALL_TYPES_WORKER)
    return tmp_path


def test_declare_writes_a_valid_file_of_every_field_type(capsys, project):
    code, out, err = run_cli(capsys, "declare", "all_types_worker.py")
    assert (code, err) == (0, "")
    assert out == "Wrote arkindex/all-types.yml: the worker 'all-types', 16 configuration fields.\n"
    path = project / "arkindex" / "all-types.yml"
    document = read_declaration(path)
    assert validate_declaration(document) == []
    assert document["slug"] == "all-types"
    assert document["docker"] == {"command": "worker-all-types"}
    assert document["configuration"] == [field.to_declaration() for field in ALL_FIELDS]
    text = path.read_text()
    assert text.startswith(
        "# The Arkindex declaration of the worker all-types, written by `arkworker declare all_types_worker.py`"
    )
    assert (
        "  - key: advanced\n    display_name: Advanced\n    type: group\n    children:\n      - key: dropout\n"
        in text
    )

    # The same app gives the same bytes; --check finds nothing to say.
    assert run_cli(capsys, "declare", "all_types_worker.py")[0] == 0
    assert path.read_text() == text
    assert run_cli(capsys, "declare", "all_types_worker.py", "--check") == (
        0,
        "arkindex/all-types.yml is up to date.\n",
        "",
    )


def test_check_lists_each_difference_and_writes_nothing(capsys, project):
    assert run_cli(capsys, "declare", "all_types_worker.py")[0] == 0
    path = project / "arkindex" / "all-types.yml"
    document = yaml.safe_load(path.read_text())
    document["description"] = "Edited by hand."
    document["configuration"][3]["default"] = 0.9  # threshold
    del document["configuration"][4]  # size
    stale = yaml.safe_dump(document, sort_keys=False)
    path.write_text(stale)
    code, out, err = run_cli(capsys, "declare", "all_types_worker.py", "--check")
    assert code == 1
    assert out.splitlines() == [
        'arkindex/all-types.yml: description: the file has "Edited by hand.", the app declares "Declares a field of every type."',
        "arkindex/all-types.yml: configuration.threshold.default: the file has 0.9, the app declares 0.5",
        "arkindex/all-types.yml: configuration.size: declared by the app, missing from the file",
    ]
    assert err == (
        "arkindex/all-types.yml is not what all_types_worker.py declares: run 'arkworker declare all_types_worker.py'.\n"
    )
    assert path.read_text() == stale


def test_check_of_a_missing_file(capsys, project):
    code, out, _ = run_cli(capsys, "declare", "all_types_worker.py", "--check", "--output", "elsewhere.yml")
    assert code == 1
    assert out == "elsewhere.yml: missing; write it with 'arkworker declare'\n"
    assert not (project / "elsewhere.yml").exists()


def test_output_elsewhere(capsys, project):
    code, out, _ = run_cli(capsys, "declare", "all_types_worker.py", "-o", "deploy/worker.yaml")
    assert code == 0
    assert out.startswith("Wrote deploy/worker.yaml:")
    assert validate_declaration(read_declaration(project / "deploy" / "worker.yaml")) == []
    assert not (project / "arkindex").exists()


@pytest.mark.parametrize(
    ("source", "argv", "message"),
    [
        (
            'from arkworker import Worker\napp = Worker("My worker")\n',
            [],
            "Error: Worker 'My worker' has no slug for Arkindex (1 to 100 letters, digits, dashes or "
            "underscores): give Worker('My worker', slug='my-worker').\n",
        ),
        (
            'from arkworker import Worker\napp = Worker("w")\napp.description = " "\n',
            [],
            "Error: The declaration of worker 'w' is not valid for Arkindex: description: ' ' cannot be an "
            "empty string.\n",
        ),
        (
            'from arkworker import Worker\napp = Worker("w")\n',
            ["--output", "."],
            "Error: Invalid value for '--output' / '-o': File '.' is a directory.\n",
        ),
    ],
    ids=["no-slug", "changed-after", "output-a-folder"],
)
def test_what_cannot_be_declared_is_one_line(capsys, tmp_path, monkeypatch, source, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad_worker.py").write_text(source)
    code, out, err = run_cli(capsys, "declare", "bad_worker.py", *argv)
    assert (code, out, err) == (2, "", message)
    assert not (tmp_path / "arkindex").exists()


@pytest.mark.parametrize("kind", KINDS)
def test_the_declaration_of_every_template_variant_is_valid(tmp_path, kind):
    """What ``arkworker new`` generates: its app declares a file that Arkindex accepts."""
    project = Project(f"decl-{kind}", kind=kind, description='Says "hello": twice.')
    target = tmp_path / project.distribution
    write_project(render_project(project), target)
    app = locate_app(str(target / f"{project.module}.py"))
    text = declaration_text(app, project.app_reference)
    document = yaml.safe_load(text)
    assert validate_declaration(document) == []
    assert document["slug"] == project.slug
    assert document["description"] == 'Says "hello": twice.'
    assert f"`arkworker declare {project.app_reference}`" in text.splitlines()[0]


def test_declaration_text_of_a_worker_spec():
    """The function ``arkworker new`` can call with a spec built in memory."""
    from arkworker.spec import WorkerSpec

    spec = WorkerSpec(
        "ocr-lines", "Reads lines.", docker_command="worker-ocr-lines", configuration=ALL_FIELDS[:2]
    )
    text = declaration_text(spec, "worker_ocr_lines:app")
    assert text.splitlines()[3:] == [
        "slug: ocr-lines",
        "display_name: Ocr lines",
        "type: worker",
        "description: Reads lines.",
        "gpu_usage: disabled",
        "model_usage: disabled",
        "docker:",
        "  command: worker-ocr-lines",
        "configuration:",
        "  - key: flag",
        "    display_name: Flag",
        "    type: bool",
        "    default: false",
        "  - key: labels",
        "    display_name: Labels",
        "    type: dict",
        "    default:",
        "      a: b",
    ]
