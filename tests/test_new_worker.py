"""The generated worker, beyond its own tests: its declared options, a run as in its README.

``arkindex/<slug>.yml`` declares configuration fields, the sample corpus repeats them, the
handler reads them in ``ctx.config``: a value set on the worker run must reach it.
The README's run against an Arkindex instance uses three variables and ``--dev`` only.
"""

import importlib.util
import io
import os

import pytest
import yaml

from arkworker.cli.worker import invoke_app
from arkworker.scaffold.project import Project
from arkworker.scaffold.render import render_project, templates_root
from arkworker.testing.pytest_plugin import SandboxRun


def configured(kind, values=None):
    """The rendered project of ``kind``, and its sample corpus with a worker run configured
    with ``values`` (what a user sets in Arkindex from the declared fields)."""
    files = render_project(Project("ocr-lines", kind=kind))
    corpus = yaml.safe_load(files["tests/corpus.yml"])
    if values is not None:
        corpus["worker_run"]["configuration"] = {"name": "Configured", "configuration": values}
    for dataset in corpus.get("datasets", []):  # a dict corpus has no folder to be relative to
        dataset["archive"] = str(templates_root() / kind / "tests" / dataset["archive"])
    return files, corpus


def load_worker(files, tmp_path):
    """The generated worker module, imported from a copy under ``tmp_path``."""
    path = tmp_path / "worker_ocr_lines.py"
    path.write_text(files["worker_ocr_lines.py"])
    spec = importlib.util.spec_from_file_location(f"generated_{tmp_path.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


@pytest.mark.parametrize("kind", ["element", "dataset"])
def test_the_worker_falls_back_to_the_declared_defaults(kind):
    files = render_project(Project("ocr-lines", kind=kind))
    declared = yaml.safe_load(files["arkindex/ocr-lines.yml"])["configuration"]
    for field in declared:
        assert f'ctx.config.get("{field["key"]}", "{field["default"]}")' in files["worker_ocr_lines.py"]


ELEMENT, ELEMENT_CORPUS = configured("element", {"prefix": "Line of"})


@pytest.mark.parametrize("arkworker_corpus", [ELEMENT_CORPUS])
def test_the_element_worker_reads_its_declared_option(arkworker_run, tmp_path):
    run = arkworker_run(load_worker(ELEMENT, tmp_path))
    assert run.exit_code == 0, run.output
    assert {t["text"] for t in run.created["transcriptions"]} == {"Line of Page 1", "Line of Page 2"}


DATASET, DATASET_CORPUS = configured("dataset", {"reports_folder": "stats"})


@pytest.mark.parametrize("arkworker_corpus", [DATASET_CORPUS])
def test_the_dataset_worker_reads_its_declared_option(arkworker_run, arkworker_env, tmp_path):
    run = arkworker_run(load_worker(DATASET, tmp_path))
    assert run.exit_code == 0, run.output
    work_dir = tmp_path / "xdg-data" / "arkindex"
    assert len(list((work_dir / "stats").glob("*.json"))) == 2
    assert not (work_dir / "reports").exists()


def readme_run(app, sandbox, tmp_path, *args):
    """``arkworker run APP --dev ARGS`` with only the variables the README exports."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("ARKINDEX_", "PONOS_", "PYTEST_")) and name != "TASK_ELEMENTS"
    }
    env.update(
        ARKINDEX_API_URL=sandbox.url,
        ARKINDEX_API_TOKEN=sandbox.token,
        ARKINDEX_CORPUS_ID=sandbox.corpus_id,
        ARKWORKER_RETRY_BACKOFF="0",
        XDG_DATA_HOME=str(tmp_path / "xdg-data"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
    )
    stream = io.StringIO()
    code, result = invoke_app(app, ["--dev", *args], env=env, stream=stream, prog_name=app.name)
    return SandboxRun(code, result, stream.getvalue(), sandbox)


ELEMENT_DEFAULTS, ELEMENT_SAMPLE = configured("element")
DATASET_DEFAULTS, DATASET_SAMPLE = configured("dataset")


@pytest.mark.parametrize("arkworker_corpus", [ELEMENT_SAMPLE])
def test_the_readme_run_on_an_element_reads_and_writes_nothing(arkworker_sandbox, tmp_path):
    (page,) = arkworker_sandbox.objects("elements", name="Page 1")
    run = readme_run(
        load_worker(ELEMENT_DEFAULTS, tmp_path), arkworker_sandbox, tmp_path, "--element", page["id"]
    )
    assert run.exit_code == 0, run.output
    assert run.summary == "Ran on 1 element: 1 completed, 0 failed"
    assert run.created == {}


@pytest.mark.parametrize("arkworker_corpus", [DATASET_SAMPLE])
def test_the_readme_run_on_a_dataset_set_reads_and_writes_nothing(arkworker_sandbox, tmp_path):
    (dataset,) = arkworker_sandbox.objects("datasets")
    app = load_worker(DATASET_DEFAULTS, tmp_path)
    run = readme_run(app, arkworker_sandbox, tmp_path, "--set", f"{dataset['id']}:train")
    assert run.exit_code == 0, run.output
    assert run.summary == "Ran on 1 set: 1 completed, 0 failed"
    assert run.created == {}
