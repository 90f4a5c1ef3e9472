"""The rules of the worker declaration format, against what Arkindex's own validator says.

``data/declarations/vectors.json`` holds declaration files and the lines teklia-worker-configuration
0.2.4 gives for each (recorded by ``data/declarations/record_vectors.py`` from ``cases.yml``,
most of them taken from the validator's own tests): arkworker must give the same lines, in the
same order, without the validator installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from arkworker.manifest import (
    DeclarationFileError,
    declaration_differences,
    dump_declaration,
    read_declaration,
    validate_declaration,
)

VECTORS = json.loads(
    (Path(__file__).parent / "data" / "declarations" / "vectors.json").read_text(encoding="utf-8")
)


def lines_for(text: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "worker.yml"
    path.write_text(text, encoding="utf-8")
    return [str(problem) for problem in validate_declaration(read_declaration(path))]


def test_the_vectors_come_from_the_validator():
    assert VECTORS["validator"] == "teklia-worker-configuration 0.2.4"
    kinds = {"valid": 0, "invalid": 0, "crash": 0}
    for vector in VECTORS["vectors"]:
        kinds["crash" if "crash" in vector else "invalid" if vector["errors"] else "valid"] += 1
    assert kinds["valid"] >= 20 and kinds["invalid"] >= 70


@pytest.mark.parametrize(
    "vector",
    [vector for vector in VECTORS["vectors"] if "crash" not in vector],
    ids=lambda vector: vector["name"],
)
def test_the_lines_of_the_validator(vector, tmp_path):
    assert lines_for(vector["text"], tmp_path) == vector["errors"]


@pytest.mark.parametrize(
    "vector",
    [vector for vector in VECTORS["vectors"] if "crash" in vector],
    ids=lambda vector: vector["name"],
)
def test_a_file_the_validator_crashes_on_gets_lines(vector, tmp_path):
    """The validator raises a Python error on these files (``arkindex worker import`` shows a traceback)."""
    assert lines_for(vector["text"], tmp_path) == ["configuration.0.children: '{'a': 1}' is not a list."]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "slug: [\n",
            "is not valid YAML at line 2, column 1: expected the node content, but found '<stream end>'",
        ),
        (
            "slug: a\n---\nslug: b\n",
            "holds 2 YAML documents: a declaration file declares one worker, split it",
        ),
        (
            b"\xff\xfe",
            "cannot be read: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
        ),
    ],
    ids=["syntax", "two-documents", "not-utf8"],
)
def test_a_file_that_is_not_one_document(tmp_path, text, message):
    path = tmp_path / "worker.yml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(DeclarationFileError) as raised:
        read_declaration(path)
    assert str(raised.value) == message


DOCUMENT = {
    "slug": "htr",
    "display_name": "HTR: lines",
    "type": "recognizer",
    "description": "Reads lines.\n\nSee *the docs*.",
    "gpu_usage": "supported",
    "model_usage": "disabled",
    "docker": {"command": "worker-htr"},
    "configuration": [
        {"key": "threshold", "display_name": "Threshold", "type": "float", "default": 0.5},
        {"key": "labels", "display_name": "Labels", "type": "dict", "default": {"a": "é"}},
        {
            "key": "advanced",
            "display_name": "Advanced",
            "type": "group",
            "children": [{"key": "layers", "display_name": "Layers", "type": "int", "default": 4}],
        },
    ],
}


def test_dump_is_deterministic_and_reads_back():
    text = dump_declaration(DOCUMENT, header="First line\nsecond line")
    assert text == dump_declaration(json.loads(json.dumps(DOCUMENT)), header="First line\nsecond line")
    assert text.startswith("# First line\n# second line\nslug: htr\ndisplay_name: 'HTR: lines'\n")
    assert "description: |-\n  Reads lines.\n\n  See *the docs*.\n" in text  # Markdown stays readable
    assert "configuration:\n  - key: threshold\n" in text  # lists indented under their key
    assert "é" in text
    assert yaml.safe_load(text) == DOCUMENT
    assert validate_declaration(yaml.safe_load(text)) == []


def changed(**changes):
    document = json.loads(json.dumps(DOCUMENT))
    for path, value in changes.items():
        target = document
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is None:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return document


@pytest.mark.parametrize(
    ("file", "lines"),
    [
        (DOCUMENT, []),
        # The documented defaults are the same as written values, 1 the same number as 1.0.
        (changed(model_usage=None, configuration__0__default=0.5, configuration__0__editable=True), []),
        (changed(display_name="HTR"), ['display_name: the file has "HTR", the app declares "HTR: lines"']),
        (changed(gpu_usage=None), ['gpu_usage: the file has "disabled", the app declares "supported"']),
        (changed(docker=None), ['docker.command: missing from the file (the app declares "worker-htr")']),
        (changed(docker__shm_size="1g"), ['docker.shm_size: in the file ("1g"), not declared by the app']),
        (
            changed(configuration__0__default=0.4),
            ["configuration.threshold.default: the file has 0.4, the app declares 0.5"],
        ),
        (
            changed(configuration__0__type="int"),
            ['configuration.threshold.type: the file has "int", the app declares "float"'],
        ),
        (
            changed(configuration__0__required=True),
            ["configuration.threshold.required: the file has true, the app declares false"],
        ),
        (
            changed(configuration__1__default={"a": "e"}),
            ['configuration.labels.default: the file has {"a": "e"}, the app declares {"a": "é"}'],
        ),
        (
            changed(configuration__1=None),
            ["configuration.labels: declared by the app, missing from the file"],
        ),
        (
            changed(configuration__2__children__0__default=True),
            ["configuration.advanced.layers.default: the file has true, the app declares 4"],
        ),
        (
            changed(configuration__2__children=[]),
            ["configuration.advanced.layers: declared by the app, missing from the file"],
        ),
        (
            {
                **DOCUMENT,
                "configuration": [
                    *DOCUMENT["configuration"],
                    {"key": "x", "display_name": "X", "type": "int"},
                ],
            },
            ["configuration.x: in the file, not declared by the app"],
        ),
        (
            {**DOCUMENT, "configuration": list(reversed(DOCUMENT["configuration"]))},
            ["configuration: the fields are in another order (the app declares threshold, labels, advanced)"],
        ),
        (
            changed(configuration="threshold"),
            ['configuration: the file has "threshold", expected a list of fields'],
        ),
        ([1], ["the file holds [1], not a worker declaration"]),
    ],
    ids=lambda value: None,
)
def test_differences_name_what_differs(file, lines):
    assert declaration_differences(DOCUMENT, file) == lines
