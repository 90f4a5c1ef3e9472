"""Every result helper keeps arkindex-base-worker 0.3.7's parameters, order and defaults.

Porting a worker means replacing ``self.`` with ``ctx.``: a call passing arguments by
position must reach the same parameters. The only additions are ``batch_size`` at the end
of the bulk helpers.
"""

import inspect

import pytest

from arkworker import Context, TextOrientation

REQUIRED = inspect.Parameter.empty
_LISTING = [
    ("element", REQUIRED),
    ("folder", None),
    ("name", None),
    ("recursive", None),
    ("transcription_worker_version", None),
    ("transcription_worker_run", None),
    ("type", None),
    ("with_classes", None),
    ("with_corpus", None),
    ("with_metadata", None),
    ("with_has_children", None),
    ("with_zone", None),
    ("worker_version", None),
    ("worker_run", None),
]

SIGNATURES = {
    "load_corpus_classes": [],
    "get_ml_class_id": [("ml_class", REQUIRED)],
    "retrieve_ml_class": [("ml_class_id", REQUIRED)],
    "create_classification": [
        ("element", REQUIRED),
        ("ml_class", REQUIRED),
        ("confidence", REQUIRED),
        ("high_confidence", False),
    ],
    "create_classifications": [("element", REQUIRED), ("classifications", REQUIRED), ("batch_size", 50)],
    "create_required_types": [("element_types", REQUIRED)],
    "check_required_types": [("type_slugs", REQUIRED), ("create_missing", False)],
    "create_sub_element": [
        ("element", REQUIRED),
        ("type", REQUIRED),
        ("name", REQUIRED),
        ("polygon", None),
        ("confidence", None),
        ("image", None),
        ("slim_output", True),
    ],
    "create_elements": [("parent", REQUIRED), ("elements", REQUIRED), ("batch_size", 50)],
    "create_element_parent": [("parent", REQUIRED), ("child", REQUIRED)],
    "partial_update_element": [("element", REQUIRED), ("kwargs", REQUIRED)],
    "list_element_children": _LISTING,
    "list_element_parents": _LISTING,
    "create_transcription": [
        ("element", REQUIRED),
        ("text", REQUIRED),
        ("confidence", REQUIRED),
        ("orientation", TextOrientation.HorizontalLeftToRight),
    ],
    "create_transcriptions": [("transcriptions", REQUIRED), ("batch_size", 50)],
    "create_element_transcriptions": [
        ("element", REQUIRED),
        ("sub_element_type", REQUIRED),
        ("transcriptions", REQUIRED),
        ("batch_size", 50),
    ],
    "list_transcriptions": [
        ("element", REQUIRED),
        ("element_type", None),
        ("recursive", None),
        ("worker_version", None),
        ("worker_run", None),
    ],
    "list_corpus_entity_types": [],
    "check_required_entity_types": [("entity_types", REQUIRED), ("create_missing", True)],
    "create_entity": [("name", REQUIRED), ("type", REQUIRED), ("metas", None), ("validated", None)],
    "create_transcription_entity": [
        ("transcription", REQUIRED),
        ("entity", REQUIRED),
        ("offset", REQUIRED),
        ("length", REQUIRED),
        ("confidence", None),
    ],
    "create_transcription_entities": [
        ("transcription", REQUIRED),
        ("entities", REQUIRED),
        ("batch_size", 50),
    ],
    "list_transcription_entities": [
        ("transcription", REQUIRED),
        ("worker_version", None),
        ("worker_run", None),
    ],
    "list_corpus_entities": [("name", None), ("parent", None)],
    "create_metadata": [
        ("element", REQUIRED),
        ("type", REQUIRED),
        ("name", REQUIRED),
        ("value", REQUIRED),
        ("entity", None),
    ],
    "create_metadata_bulk": [("element", REQUIRED), ("metadata_list", REQUIRED), ("batch_size", 50)],
    "list_element_metadata": [("element", REQUIRED), ("load_parents", None)],
    "get_worker_version": [("worker_version_id", REQUIRED)],
    "get_worker_version_slug": [("worker_version_id", REQUIRED)],
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_helper_parameters_match_the_reference(name):
    parameters = list(inspect.signature(getattr(Context, name)).parameters.values())[1:]  # self
    assert [(p.name, p.default) for p in parameters] == SIGNATURES[name]
