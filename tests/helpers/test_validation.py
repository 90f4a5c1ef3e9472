"""The reference's argument checks not covered per family: each raises before any write request."""

import pytest

from arkworker import InvalidArgument, MetaType
from arkworker.models import Element, Transcription

from .conftest import SQUARE, legacy

TRANSCRIPTION = Transcription(id="00000000-0000-4000-8000-000000000000", text="t")

CASES = {
    "update type": (lambda ctx, e: ctx.partial_update_element(e, type=3), "type must be a non-empty string"),
    "update name": (
        lambda ctx, e: ctx.partial_update_element(e, name=None),
        "name must be a non-empty string",
    ),
    "update polygon": (
        lambda ctx, e: ctx.partial_update_element(e, polygon=[[0, 0], [1, "a"], [2, 2]]),
        "polygon point 1 must be",
    ),
    "update confidence": (
        lambda ctx, e: ctx.partial_update_element(e, confidence=1),
        "confidence must be a float",
    ),
    "update mirrored": (
        lambda ctx, e: ctx.partial_update_element(e, mirrored=1),
        "mirrored must be True or False",
    ),
    "update image": (lambda ctx, e: ctx.partial_update_element(e, image="abc"), "image must be a UUID"),
    "update element": (
        lambda ctx, e: ctx.partial_update_element(e.id, name="x"),
        "element must be an Element",
    ),
    "link child": (lambda ctx, e: ctx.create_element_parent(e, "abc"), "child must be an Element"),
    "no type slug": (lambda ctx, e: ctx.check_required_types(), "needs at least one type slug"),
    "type slug": (lambda ctx, e: ctx.check_required_types("page", 3), "type slug must be a non-empty string"),
    "sub-element polygon without image": (
        lambda ctx, e: ctx.create_sub_element(
            Element(id=e.id, corpus=e.corpus, zone=None), "word", "w", polygon=SQUARE
        ),
        "has no image",
    ),
    "bulk metadata value": (
        lambda ctx, e: ctx.create_metadata_bulk(e, [{"type": "text", "name": "n", "value": None}]),
        "Metadata at index 0 in metadata_list: value must be a string or a number",
    ),
    "bulk metadata type": (
        lambda ctx, e: ctx.create_metadata_bulk(e, [{"type": "color", "name": "n", "value": "v"}]),
        "Metadata at index 0 in metadata_list: type must be a MetaType",
    ),
    "metadata load_parents": (
        lambda ctx, e: ctx.list_element_metadata(e, load_parents="yes"),
        "load_parents must be True or False",
    ),
    "entity types": (
        lambda ctx, e: ctx.check_required_entity_types("place"),
        "entity_types must be a non-empty list",
    ),
    "bulk classification": (
        lambda ctx, e: ctx.create_classifications(
            e, [{"ml_class": "cat", "confidence": 0.5, "high_confidence": 1}]
        ),
        "Classification at index 0 in classifications: high_confidence must be True or False",
    ),
    "element transcriptions type": (
        lambda ctx, e: ctx.create_element_transcriptions(
            e, "", [{"text": "t", "confidence": 0.5, "polygon": SQUARE}]
        ),
        "sub_element_type must be a non-empty string",
    ),
    "batch size": (
        lambda ctx, e: ctx.create_transcriptions(
            [{"element_id": str(e.id), "text": "t", "confidence": 0.5}], batch_size=0
        ),
        "batch_size must be a positive integer",
    ),
}


#: Checks of the helpers of the 0.3.7 entity model, on a legacy instance.
LEGACY_CASES = {
    "metadata entity": (
        lambda ctx, e: ctx.create_metadata(e, MetaType.Text, "n", "v", entity=3),
        "entity must be a non-empty string",
    ),
    "entity validated": (
        lambda ctx, e: ctx.create_entity("Lyon", "place", validated="yes"),
        "validated must be True or False",
    ),
    "transcription entity": (
        lambda ctx, e: ctx.create_transcription_entity(TRANSCRIPTION, "", 0, 1),
        "entity must be a non-empty string",
    ),
}


def check_no_write(call_helpers, sandbox, call, message):
    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match=message):
            call(ctx, element)

    call_helpers(handler)
    writes = [r.operation_id for r in sandbox.requests if r.method != "GET"]
    assert set(writes) <= {"UpdateWorkerActivity"}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_arguments_raise_before_any_write(call_helpers, arkworker_sandbox, case):
    check_no_write(call_helpers, arkworker_sandbox, *CASES[case])


@legacy
@pytest.mark.parametrize("case", list(LEGACY_CASES))
def test_bad_arguments_of_the_legacy_entity_model_raise_before_any_write(
    call_helpers, arkworker_sandbox, case
):
    check_no_write(call_helpers, arkworker_sandbox, *LEGACY_CASES[case])
