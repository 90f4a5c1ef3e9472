"""Corpus files: defaults, derived ids, and a one-line CorpusError for every problem."""

import json
import uuid

import pytest
import yaml

from arkworker.sandbox import Sandbox
from arkworker.sandbox.corpus import DEMO_CORPUS, CorpusError, load_corpus

PAGE = {"name": "Page", "type": "page"}


def write(tmp_path, content, name="demo.yml"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content), encoding="utf-8")
    return path


def error_of(source):
    with pytest.raises(CorpusError) as info:
        load_corpus(source)
    message = str(info.value)
    assert "\n" not in message
    return message


# -- defaults and ids ----------------------------------------------------------------------------


def test_minimal_corpus(tmp_path):
    with Sandbox(write(tmp_path, {"corpus": {"name": "Tiny"}, "elements": [PAGE]})) as sandbox:
        (element,) = sandbox.objects("elements")
        assert (element["name"], element["type"], element["image_id"], element["polygon"]) == (
            "Page",
            "page",
            None,
            None,
        )
        assert sandbox.process_element_ids() == [element["id"]]
        assert [t["slug"] for t in sandbox.objects("element_types")] == ["page"]
        (run,) = sandbox.objects("worker_runs")
        (process,) = sandbox.objects("processes")
        assert (process["activity_state"], process["mode"], process["corpus_id"]) == (
            "ready",
            "workers",
            sandbox.corpus_id,
        )
        assert run["process_id"] == process["id"] == sandbox.process_id
        assert sandbox.objects("workers")[0]["slug"] == "sandbox-worker"
        assert sandbox.objects("worker_versions")[0]["configuration"] == {}


def test_ids_are_derived_deterministically(tmp_path):
    content = {
        "corpus": {"name": "Stable"},
        "elements": [{**PAGE, "children": [{"name": "L", "type": "line"}]}],
    }
    first, second = load_corpus(content), load_corpus(write(tmp_path, content))
    assert [row["id"] for row in first.elements] == [row["id"] for row in second.elements]
    assert first.corpus["id"] == second.corpus["id"]
    assert first.worker_run["id"] == second.worker_run["id"]
    renamed = load_corpus({**content, "corpus": {"name": "Other"}})
    assert renamed.elements[0]["id"] != first.elements[0]["id"]
    assert len({row["id"] for row in first.elements}) == 2
    assert all(uuid.UUID(row["id"]).version == 5 for row in first.elements)


def test_explicit_ids_are_normalised(tmp_path):
    element_id = uuid.uuid4()
    spec = load_corpus({"corpus": {"name": "X"}, "elements": [{**PAGE, "id": element_id.hex.upper()}]})
    assert spec.elements[0]["id"] == str(element_id)


def test_json_corpus_and_polygons(tmp_path):
    content = {
        "corpus": {"name": "JSON"},
        "types": [{"slug": "folder", "folder": True}, "page"],
        "images": [{"name": "scan", "width": 100, "height": 200}],
        "elements": [
            {
                "name": "Book",
                "type": "folder",
                "children": [
                    {"name": "Full", "type": "page", "image": "scan"},
                    {"name": "Part", "type": "page", "image": "scan", "polygon": [[0, 0], [10, 0], [10, 10]]},
                ],
            }
        ],
    }
    spec = load_corpus(write(tmp_path, json.dumps(content), "corpus.json"))
    folder, full, part = spec.elements
    assert full["polygon"] == [[0, 0], [0, 200], [100, 200], [100, 0], [0, 0]]
    assert part["polygon"] == [[0, 0], [10, 0], [10, 10], [0, 0]]
    assert [(t["slug"], t["folder"], t["display_name"]) for t in spec.types] == [
        ("folder", True, "Folder"),
        ("page", False, "Page"),
    ]
    assert [(p["parent"], p["ordering"]) for p in spec.paths] == [(folder["id"], 0), (folder["id"], 1)]


def test_process_elements_by_name_or_id(tmp_path):
    content = {
        "corpus": {"name": "P"},
        "elements": [{"name": "A", "type": "page"}, {"name": "B", "type": "page"}],
    }
    spec = load_corpus(content)
    b_id = spec.elements[1]["id"]
    chosen = load_corpus({**content, "worker_run": {"process": {"elements": ["B", spec.elements[0]["id"]]}}})
    assert chosen.process["element_ids"] == [b_id, spec.elements[0]["id"]]


def test_demo_corpus_is_valid():
    spec = load_corpus(None)
    assert spec.name == "Demo corpus" and spec.label == str(DEMO_CORPUS)
    assert spec.worker["slug"] == "demo" and spec.process["activity_state"] == "ready"
    assert len(spec.process["element_ids"]) == 3


# -- errors ----------------------------------------------------------------------------------------


def test_unreadable_file(tmp_path):
    assert (
        error_of(tmp_path / "missing.yml")
        == f"{tmp_path / 'missing.yml'}: cannot read the corpus file (No such file or directory)"
    )
    assert "not UTF-8 text" in error_of(write(tmp_path, b"corpus: \xff\xfe", "bin.yml"))


def test_unsupported_extension(tmp_path):
    assert error_of(write(tmp_path, "{}", "corpus.txt")).endswith(
        "unsupported file extension '.txt': use .yml, .yaml or .json"
    )


def test_invalid_yaml(tmp_path):
    path = write(tmp_path, "corpus:\n  name: [unclosed\n")
    message = error_of(path)
    assert message.startswith(f"{path}: line 3, column 1: invalid YAML (")


def test_duplicate_yaml_key(tmp_path):
    path = write(tmp_path, "corpus: {name: A}\ncorpus: {name: B}\n")
    assert error_of(path) == f"{path}: line 2, column 1: invalid YAML (duplicate key 'corpus')"


def test_invalid_json(tmp_path):
    path = write(tmp_path, '{"corpus": {"name": "A"},}', "corpus.json")
    assert error_of(path).startswith(f"{path}: line 1, column 26: invalid JSON (")


def test_empty_file_and_non_mapping_top_level(tmp_path):
    path = write(tmp_path, "")
    assert error_of(path) == f"{path}: top level: the file is empty; it needs at least corpus: {{name: ...}}"
    path = write(tmp_path, "- a\n- b\n", "list.yml")
    assert error_of(path) == f"{path}: top level: expected a mapping, got list ['a', 'b']"


def test_the_example_of_the_documentation(tmp_path):
    content = {
        "corpus": {"name": "Demo"},
        "types": ["folder", "page", "line"],
        "elements": [
            {"name": "V", "type": "folder", "children": [PAGE, PAGE, {"name": "P3", "type": "paeg"}]}
        ],
    }
    path = write(tmp_path, content)
    assert error_of(path) == (
        f"{path}: elements[0].children[2].type: unknown type 'paeg' (declared: folder, page, line)"
    )


CORPUS = {"name": "C"}
IMAGE = {"name": "scan", "width": 100, "height": 100}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            {"corpus": CORPUS, "elemnts": []},
            "top level: unknown key 'elemnts' (valid keys: api_level, corpus, types, images, "
            "elements, worker_run, secrets, tasks, datasets, classes, entity_types, entities, models)",
        ),
        ({"elements": []}, "top level: missing the 'corpus' mapping (at least corpus: {name: ...})"),
        ({"corpus": {}}, "corpus: missing 'name'"),
        ({"corpus": {"name": " "}}, "corpus.name: may not be blank"),
        ({"corpus": {"name": 3}}, "corpus.name: expected a string, got int 3"),
        ({"corpus": {"name": "C", "id": "nope"}}, "corpus.id: 'nope' is not a valid UUID"),
        (
            {"corpus": CORPUS, "elements": [{**PAGE, "nmae": "x"}]},
            "elements[0]: unknown key 'nmae' (valid keys: id, name, type, image, polygon, rotation_angle, "
            "mirrored, confidence, transcriptions, children, classifications, metadata)",
        ),
        ({"corpus": CORPUS, "elements": [{"type": "page"}]}, "elements[0]: missing 'name'"),
        ({"corpus": CORPUS, "elements": PAGE}, "elements: expected a list, got dict"),
        (
            {
                "corpus": CORPUS,
                "elements": [{**PAGE, "id": str(uuid.UUID(int=1))}, {**PAGE, "id": str(uuid.UUID(int=1))}],
            },
            f"elements[1].id: duplicate id {uuid.UUID(int=1)} (already used by elements[0])",
        ),
        ({"corpus": CORPUS, "types": ["page", "page"]}, "types[1].slug: duplicate type 'page'"),
        ({"corpus": CORPUS, "types": [{"display_name": "P"}]}, "types[0]: missing 'slug'"),
        (
            {"corpus": CORPUS, "types": [{"slug": "p", "color": "red"}]},
            "types[0].color: expected 6 hexadecimal",
        ),
        ({"corpus": CORPUS, "images": [{"name": "s", "width": 10}]}, "images[0]: missing 'height'"),
        ({"corpus": CORPUS, "images": [{**IMAGE, "width": 0}]}, "images[0].width: must be at least 1, got 0"),
        ({"corpus": CORPUS, "images": [IMAGE, IMAGE]}, "images[1].name: duplicate image name 'scan'"),
        (
            {"corpus": CORPUS, "images": [{**IMAGE, "url": "ftp://x"}]},
            "images[0].url: expected an http(s) URL",
        ),
        (
            {"corpus": CORPUS, "images": [IMAGE], "elements": [{**PAGE, "image": "scna"}]},
            "elements[0].image: unknown image 'scna' (images: scan)",
        ),
        (
            {
                "corpus": CORPUS,
                "images": [IMAGE],
                "elements": [{**PAGE, "image": "scan", "polygon": [[0, 0], [1, 1]]}],
            },
            "elements[0].polygon: a polygon needs at least 3 points, got 2",
        ),
        (
            {
                "corpus": CORPUS,
                "images": [IMAGE],
                "elements": [{**PAGE, "image": "scan", "polygon": [[0, 0], [1], [2, 2]]}],
            },
            "elements[0].polygon[1]: expected a point [x, y] of two numbers, got list [1]",
        ),
        (
            {
                "corpus": CORPUS,
                "images": [IMAGE],
                "elements": [{**PAGE, "image": "scan", "polygon": [[0, 0], [1, True], [2, 2]]}],
            },
            "elements[0].polygon[1]: expected a point [x, y] of two numbers",
        ),
        (
            {
                "corpus": CORPUS,
                "images": [IMAGE],
                "elements": [{**PAGE, "image": "scan", "polygon": [[0, 0], [0, 150], [5, 5]]}],
            },
            "elements[0].polygon[1]: point [0, 150] is outside the image (100x100)",
        ),
        (
            {"corpus": CORPUS, "elements": [{**PAGE, "polygon": [[0, 0], [0, 1], [1, 1]]}]},
            "elements[0].polygon: a polygon needs an image: add image: <image id or name>",
        ),
        (
            {"corpus": CORPUS, "elements": [{**PAGE, "rotation_angle": 360}]},
            "elements[0].rotation_angle: must be between 0 and 359, got 360",
        ),
        (
            {"corpus": CORPUS, "elements": [{**PAGE, "mirrored": "yes"}]},
            "elements[0].mirrored: expected true or false, got str 'yes'",
        ),
        (
            {"corpus": CORPUS, "elements": [{**PAGE, "confidence": 2}]},
            "elements[0].confidence: expected a number between 0 and 1, got int 2",
        ),
        (
            {"corpus": CORPUS, "elements": [{**PAGE, "transcriptions": [{"confidence": 1.0}]}]},
            "elements[0].transcriptions[0]: missing 'text'",
        ),
        (
            {
                "corpus": CORPUS,
                "elements": [{**PAGE, "transcriptions": [{"text": "a", "orientation": "up"}]}],
            },
            "elements[0].transcriptions[0].orientation: 'up' is not one of horizontal-lr, horizontal-rl, "
            "vertical-rl, vertical-lr",
        ),
        (
            {"corpus": CORPUS, "worker_run": {"process": {"activity_state": "on"}}},
            "worker_run.process.activity_state: 'on' is not one of ready, disabled, pending, error",
        ),
        (
            {"corpus": CORPUS, "elements": [PAGE], "worker_run": {"process": {"elements": ["Pgae"]}}},
            "worker_run.process.elements[0]: unknown element 'Pgae' (give an element's id or name)",
        ),
        (
            {"corpus": CORPUS, "elements": [PAGE, PAGE], "worker_run": {"process": {"elements": ["Page"]}}},
            "worker_run.process.elements[0]: 2 elements are named 'Page': give the id of the one to use",
        ),
        (
            {"corpus": CORPUS, "worker_run": {"version": {"configuration": ["a"]}}},
            "worker_run.version.configuration: expected a mapping, got list ['a']",
        ),
        (
            {"corpus": CORPUS, "worker_run": {"version": {"configuration": {"secrets": "key"}}}},
            "worker_run.version.configuration.secrets: expected a list, got str 'key'",
        ),
        (
            {"corpus": CORPUS, "worker_run": {"workr": {}}},
            "worker_run: unknown key 'workr' (valid keys: id, summary, process, worker, version, model_version, "
            "configuration)",
        ),
        (
            {"corpus": CORPUS, "worker_run": {"model_version": {"model": {"name": ""}}}},
            "worker_run.model_version.model.name: may not be blank",
        ),
        (
            {"corpus": CORPUS, "secrets": {"key.json": {"a": 1}}},
            "secrets['key.json']: expected the secret's content as a string",
        ),
        ({"corpus": CORPUS, "secrets": ["key"]}, "secrets: expected a mapping, got list ['key']"),
    ],
)
def test_corpus_errors_name_the_file_and_the_location(tmp_path, content, expected):
    path = write(tmp_path, content)
    assert error_of(path).startswith(f"{path}: {expected}")


def test_mapping_corpus_errors_are_labelled():
    assert error_of({"corpus": {}}) == "<corpus mapping>: corpus: missing 'name'"
