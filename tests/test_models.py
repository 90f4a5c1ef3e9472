"""The models are dicts whose keys are also attributes, as arkindex-base-worker's are."""

import copy
import json
import pickle

import pytest

from arkworker.models import Artifact, Dataset, Element, Set, Transcription

PAYLOAD = {
    "id": "e1",
    "name": "Page 1",
    "type": "page",
    "zone": {"image": {"id": "i1", "url": "http://iiif/i1"}, "polygon": [[0, 0], [0, 9], [9, 9]]},
    "classes": [{"ml_class": {"name": "cat"}}],
}


def test_an_element_is_a_dict_with_attributes_at_every_level():
    element = Element(PAYLOAD)
    assert isinstance(element, dict) and element == PAYLOAD
    assert element.zone.image.id == element["zone"]["image"]["id"] == "i1"
    assert element.classes[0].ml_class.name == "cat"
    assert element.polygon == [[0, 0], [0, 9], [9, 9]]
    assert json.loads(json.dumps(element)) == PAYLOAD
    assert Element(**PAYLOAD) == element


def test_attributes_and_keys_are_one():
    element = Element(id="e1")
    element.name = "renamed"
    element["zone"] = {"polygon": []}
    assert element["name"] == "renamed" and element.zone.polygon == []
    del element.name
    assert "name" not in element
    assert not hasattr(element, "missing")
    with pytest.raises(AttributeError, match="missing"):
        element.missing  # noqa: B018


def test_models_survive_copy_and_pickle():
    element = Element(PAYLOAD)
    assert copy.deepcopy(element) == element and type(copy.copy(element)) is Element
    restored = pickle.loads(pickle.dumps(element))
    assert type(restored) is Element and restored.zone.image.url == "http://iiif/i1"


def test_other_models_as_the_reference_shows_them():
    dataset = Dataset(id="d1", name="Letters")
    train = Set(name="train", dataset=dataset)
    assert train.dataset is dataset and train.dataset.filepath == "d1.tar.zst"
    assert str(train) == "Set (train) from Dataset (d1)"
    assert str(Transcription({"id": "t1", "text": "a"})) == "Transcription (t1)"
    assert str(Artifact(id="a1", path="model.tar.zst")) == "Artifact (a1)"
    assert Artifact(id="a1", path="model.tar.zst").path == "model.tar.zst"
