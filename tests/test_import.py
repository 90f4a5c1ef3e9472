"""``arkworker sandbox import DIR`` and ``arkworker run APP --sandbox DIR`` on a folder of scans."""

import json
import os
import stat
from pathlib import Path

import pytest
import yaml
from arkindex import ArkindexClient
from PIL import Image

from arkworker.cli import cli, invoke
from arkworker.cli.locate import locate_app
from arkworker.models import Element
from arkworker.sandbox import CorpusError, Sandbox
from arkworker.sandbox.importer import folder_corpus, natural_key
from tests.test_commands import ROOT, arkworker


@pytest.fixture
def scans(tmp_path):
    """A nested folder: pages named to test the natural order, noise to ignore."""
    root = tmp_path / "scans"
    (root / "box 2" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / ".git").mkdir()
    Image.new("RGB", (40, 60), (250, 250, 250)).save(root / "p10.png")
    Image.new("RGB", (40, 60), (20, 20, 20)).save(root / "p2.png")
    Image.new("RGB", (30, 20), (200, 200, 200)).save(root / "p1.jpg")
    Image.new("L", (10, 10), 0).save(root / "box 2" / "b.png")
    Image.new("L", (10, 10), 255).save(root / "box 2" / "a.tif")
    Image.new("RGB", (8, 8)).save(root / "box 2" / "deeper" / "c.png")
    Image.new("RGB", (8, 8)).save(root / ".git" / "hidden.png")
    (root / "notes.txt").write_text("not an image")
    (root / ".DS_Store").write_bytes(b"\0")
    return root


def import_(*args):
    return invoke(cli, ["sandbox", "import", *map(str, args)], prog_name="arkworker")


def tree(elements):
    return [
        (item["name"], item["type"], tree(item["children"]))
        if "children" in item
        else (item["name"], item["type"])
        for item in elements
    ]


def test_natural_order():
    names = ["p10", "p2", "P1", "p1b", "page 9", "page 10"]
    assert sorted(names, key=natural_key) == ["P1", "p1b", "p2", "p10", "page 9", "page 10"]


def test_import_a_nested_folder(scans, capsys):
    assert import_(scans) == 0
    out = capsys.readouterr().out
    corpus_file = scans / "corpus.yml"
    assert f"Wrote {corpus_file}: 6 pages in 2 folders." in out
    assert f"arkworker run APP --sandbox {corpus_file}" in out
    corpus = yaml.safe_load(corpus_file.read_text())
    assert corpus["corpus"]["name"] == "scans"
    assert tree(corpus["elements"]) == [
        ("box 2", "folder", [("a", "page"), ("b", "page"), ("deeper", "folder", [("c", "page")])]),
        ("p1", "page"),
        ("p2", "page"),
        ("p10", "page"),
    ]
    assert [image["path"] for image in corpus["images"]] == [
        "box 2/a.tif",
        "box 2/b.png",
        "box 2/deeper/c.png",
        "p1.jpg",
        "p2.png",
        "p10.png",
    ]
    assert "width" not in corpus["images"][0]  # read from the file when the corpus is loaded

    with Sandbox(corpus_file) as sandbox:
        pages = sandbox.process_element_ids()
        assert len(pages) == 6
        client = ArkindexClient(base_url=sandbox.url, token=sandbox.token)
        first = Element(client.request("RetrieveElement", id=pages[3]))
        assert first.name == "p1"
        assert first.open_image().size == (30, 20)
        parents = client.request("ListElementParents", id=pages[5])["results"]
        assert parents == []
        deep = Element(client.request("RetrieveElement", id=pages[2]))
        assert [p["name"] for p in client.paginate("ListElementParents", id=deep.id, recursive=True)] == [
            "deeper",
            "box 2",
        ]


def test_paths_are_relative_to_the_corpus_file_and_ids_stable(scans, tmp_path):
    out = tmp_path / "corpora" / "mine.yml"
    assert import_(scans, "--corpus", out) == 0
    corpus = yaml.safe_load(out.read_text())
    assert corpus["images"][3]["path"] == "../scans/p1.jpg"
    assert corpus["elements"] == folder_corpus(scans)["elements"]  # same ids whatever the output
    with Sandbox(out) as sandbox:
        assert len(sandbox.objects("images")) == 6


def test_import_refuses_to_overwrite_without_force(scans, capsys):
    (scans / "corpus.yml").write_text("mine")
    assert import_(scans) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"Error: {scans / 'corpus.yml'} already exists: pass --force to overwrite it, or choose another --corpus.\n"
    )
    assert (scans / "corpus.yml").read_text() == "mine"
    assert import_(scans, "--force") == 0
    assert (scans / "corpus.yml").read_text().startswith("# Corpus of the images in")


def test_import_writes_a_corpus_file_with_the_usual_mode(scans):
    """Written through a private temporary file, the corpus file still gets a new file's mode."""
    assert import_(scans) == 0
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE((scans / "corpus.yml").stat().st_mode) == 0o666 & ~mask
    assert sorted(path.name for path in scans.iterdir()) == [
        ".DS_Store",
        ".git",
        "box 2",
        "corpus.yml",
        "empty",
        "notes.txt",
        "p1.jpg",
        "p10.png",
        "p2.png",
    ]


def test_import_to_json(scans, tmp_path):
    assert import_(scans, "--corpus", tmp_path / "c.json") == 0
    assert len(json.loads((tmp_path / "c.json").read_text())["images"]) == 6


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: None, "No images found in"),
        (
            lambda root: (root / "broken.png").write_bytes(b"\x89PNG not really"),
            "broken.png is not an image Pillow can read",
        ),
    ],
)
def test_import_errors_are_one_line(tmp_path, capsys, setup, message):
    root = tmp_path / "folder"
    root.mkdir()
    setup(root)
    assert import_(root) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and message in err and err.count("\n") == 1
    assert not (root / "corpus.yml").exists()


def test_import_bad_arguments(scans, tmp_path, capsys):
    assert import_(scans, "--corpus", tmp_path / "c.txt") == 2
    assert "needs a .yml, .yaml or .json extension" in capsys.readouterr().err
    assert import_(tmp_path / "nowhere") == 2
    assert "does not exist" in capsys.readouterr().err


def test_run_on_a_folder_of_scans(scans, tmp_path):
    completed = arkworker(
        "run",
        str(ROOT / "examples" / "brightness.py"),
        "--sandbox",
        str(scans),
        "--keep",
        env={"TMPDIR": str(tmp_path)},  # where the run's work directory is made
    )
    assert completed.returncode == 0, completed.stderr
    assert "Ran on 6 elements: 6 completed, 0 failed" in completed.stderr
    (work_dir,) = tmp_path.glob("arkworker-sandbox-run-*/arkindex")
    assert completed.stdout.splitlines()[-1] == f"The run's work directory is kept: {work_dir}"
    report = json.loads((work_dir / "brightness.json").read_text())
    classes = {entry["name"]: entry["class"] for entry in report.values()}
    assert classes == {"a": "light", "b": "dark", "c": "dark", "p1": "light", "p2": "dark", "p10": "light"}
    assert not (scans / "corpus.yml").exists()  # imported on the fly, nothing written


@pytest.mark.parametrize("arkworker_corpus", [None])  # the demo corpus, whose third page is dark
def test_brightness_classifies_the_demo_pages(arkworker_run, arkworker_env):
    run = arkworker_run(locate_app(str(ROOT / "examples" / "brightness.py")))
    assert run.exit_code == 0, run.output
    sandbox = run.sandbox
    names = {row["id"]: row["name"] for kind in ("elements", "ml_classes") for row in sandbox.objects(kind)}
    classes = [
        (names[row["element_id"]], names[row["ml_class_id"]]) for row in run.created["classifications"]
    ]
    assert sorted(classes) == [("Page 1", "light"), ("Page 2", "light"), ("Page 3", "dark")]
    report = json.loads((Path(arkworker_env["XDG_DATA_HOME"]) / "arkindex" / "brightness.json").read_text())
    assert [entry["class"] for entry in report.values()] == ["light", "light", "dark"]


def test_a_sandbox_seeded_from_a_folder(scans, tmp_path):
    with Sandbox(scans) as sandbox:
        assert len(sandbox.process_element_ids()) == 6
        assert sandbox.corpus_name == "scans"
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="No images found in"):
        Sandbox(tmp_path / "empty")
