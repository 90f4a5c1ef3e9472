"""The generated worker reads the options its Arkindex declaration offers to users.

``arkindex/<slug>.yml`` declares them (``user_configuration``), the sample corpus repeats
them, the handler reads them in ``ctx.config``: a value set on the worker run must reach it.
"""

import importlib.util

import pytest
import yaml

from arkworker.scaffold.project import Project
from arkworker.scaffold.render import render_project, templates_root


def configured(kind, values):
    """The rendered project of ``kind``, and its sample corpus with a worker run configured
    with ``values`` (what a user sets in Arkindex from ``user_configuration``)."""
    files = render_project(Project("ocr-lines", kind=kind))
    corpus = yaml.safe_load(files["tests/corpus.yml"])
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
    declared = yaml.safe_load(files["arkindex/ocr-lines.yml"])["user_configuration"]
    for key, spec in declared.items():
        assert f'ctx.config.get("{key}", "{spec["default"]}")' in files["worker_ocr_lines.py"]


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
