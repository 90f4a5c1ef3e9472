"""Every result helper keeps arkindex-base-worker's parameters, order and defaults (0.3.7's, and 0.4-0.6's).

Porting a worker means replacing ``self.`` with ``ctx.``: a call passing arguments by
position must reach the same parameters. The additions are ``batch_size`` at the end of
the bulk helpers, and the keyword of the other generation where two share a helper
(``check_required_types``, ``create_transcription_entity``).
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
    "check_required_types": [("type_slugs", REQUIRED), ("type_names", None), ("create_missing", False)],
    "create_element_type": [("slug", REQUIRED), ("name", REQUIRED), ("is_folder", False)],
    "list_corpus_types": [],
    "retrieve_element": [("element_id", REQUIRED)],
    "list_elements": [
        ("folder", None),
        ("name", None),
        ("top_level", None),
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
    ],
    "create_element_children": [("parent", REQUIRED), ("children", REQUIRED), ("batch_size", 50)],
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
    "create_entity_type": [("name", REQUIRED)],
    # 0.6's names, positions kept; 0.3.7's entity (second by position) also by keyword.
    "create_transcription_entity": [
        ("transcription", REQUIRED),
        ("type_id", None),
        ("offset", None),
        ("length", None),
        ("confidence", None),
        ("entity", None),
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
    "create_dataset": [
        ("name", REQUIRED),
        ("description", REQUIRED),
        ("set_names", REQUIRED),
        ("unique_elements", True),
    ],
    "create_dataset_element": [("dataset_set", REQUIRED), ("element", REQUIRED)],
    "destroy_dataset_element": [("dataset_set", REQUIRED), ("element", REQUIRED)],
    "create_embedding": [("element", REQUIRED), ("value", REQUIRED)],
    "list_embeddings": [("element", REQUIRED)],
    "get_worker_version": [("worker_version_id", REQUIRED)],
    "get_worker_version_slug": [("worker_version_id", REQUIRED)],
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_helper_parameters_match_the_reference(name):
    parameters = list(inspect.signature(getattr(Context, name)).parameters.values())[1:]  # self
    assert [(p.name, p.default) for p in parameters] == SIGNATURES[name]
