"""Today's dataset writes (arkindex-base-worker 0.6): create_dataset, create_dataset_element, destroy_dataset_element."""

import pytest
from arkindex.exceptions import ArkindexValidationError

from arkworker import InvalidArgument, OperationUnavailable
from arkworker.models import Dataset, Set
from tests.conftest import requests_of

from .conftest import legacy

FAKE_ID = "00000000-0000-4000-8000-000000000000"


def test_a_dataset_is_created_filled_and_emptied(call_helpers, arkworker_sandbox, named):
    def handler(element, ctx):
        dataset = ctx.create_dataset("Pages", "Pages to train on", ["train", "test"], unique_elements=False)
        train, test = (Set(name=name, dataset=dataset) for name in ("train", "test"))
        added = [ctx.create_dataset_element(train, element), ctx.create_dataset_element(test, element)]
        line = ctx.retrieve_element(named("Line 1"))
        ctx.create_dataset_element(train, line)
        before = [item.name for item in ctx.list_set_elements(train)]
        assert ctx.destroy_dataset_element(train, element) is None
        return dataset, added, before, [item.name for item in ctx.list_set_elements(train)]

    (dataset, added, before, after), _ = call_helpers(handler)
    assert isinstance(dataset, Dataset)
    assert (dataset.name, dataset.description, dataset.unique_elements) == (
        "Pages",
        "Pages to train on",
        False,
    )
    assert [item["name"] for item in dataset.sets] == ["train", "test"]
    assert added == [
        {"set": "train", "element_id": named("Page 1")},
        {"set": "test", "element_id": named("Page 1")},
    ]
    assert (before, after) == (["Page 1", "Line 1"], ["Line 1"])
    assert requests_of(arkworker_sandbox, "CreateDataset")[0].body == {
        "name": "Pages",
        "description": "Pages to train on",
        "set_names": ["train", "test"],
        "unique_elements": False,
    }
    assert requests_of(arkworker_sandbox, "CreateDatasetElement")[0].body == {
        "set": "train",
        "element_id": named("Page 1"),
    }
    (destroy,) = requests_of(arkworker_sandbox, "DestroyDatasetElement")
    assert destroy.path == f"/api/v1/datasets/{dataset.id}/elements/{named('Page 1')}/"
    assert destroy.query == {"set": "train"}


def test_arkindex_s_rules_on_datasets(call_helpers):
    def handler(element, ctx):
        dataset = ctx.create_dataset("Pages", "Pages", ["train", "test"])
        with pytest.raises(ArkindexValidationError, match="A dataset with this name already exists"):
            ctx.create_dataset("Pages", "Again", ["train"])
        train, test = (Set(name=name, dataset=dataset) for name in ("train", "test"))
        ctx.create_dataset_element(train, element)
        with pytest.raises(ArkindexValidationError, match="already in the train set"):
            ctx.create_dataset_element(train, element)
        with pytest.raises(ArkindexValidationError, match="whose elements are unique"):
            ctx.create_dataset_element(test, element)
        with pytest.raises(ArkindexValidationError, match="'dev' is not a set of this dataset"):
            ctx.create_dataset_element(Set(name="dev", dataset=dataset), element)

    call_helpers(handler)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ctx, e, s: ctx.create_dataset("", "d", ["train"]), "name must be a non-empty string"),
        (
            lambda ctx, e, s: ctx.create_dataset("n", None, ["train"]),
            "description must be a non-empty string",
        ),
        (lambda ctx, e, s: ctx.create_dataset("n", "d", []), "set_names must be a non-empty list"),
        (
            lambda ctx, e, s: ctx.create_dataset("n", "d", ["train", 3]),
            "Set name at index 1 in set_names: the set name must be a non-empty string",
        ),
        (
            lambda ctx, e, s: ctx.create_dataset("n", "d", ["train", "train"]),
            "Set name at index 1 in set_names: 'train' is given twice",
        ),
        (
            lambda ctx, e, s: ctx.create_dataset("n", "d", ["a"], unique_elements=None),
            "unique_elements must be",
        ),
        (lambda ctx, e, s: ctx.create_dataset_element({"name": "train"}, e), "dataset_set must be a Set"),
        (lambda ctx, e, s: ctx.create_dataset_element(Set(name="train"), e), "has no dataset id"),
        (lambda ctx, e, s: ctx.create_dataset_element(s, e.id), "element must be an Element"),
        (lambda ctx, e, s: ctx.destroy_dataset_element(s, None), "element must be an Element"),
        (
            lambda ctx, e, s: ctx.destroy_dataset_element(Set(name="", dataset=Dataset(id=FAKE_ID)), e),
            "dataset_set.name must be a non-empty string",
        ),
    ],
)
def test_dataset_checks(call_helpers, arkworker_sandbox, call, message):
    dataset_set = Set(name="train", dataset=Dataset(id=FAKE_ID))

    def handler(element, ctx):
        with pytest.raises(InvalidArgument, match=message):
            call(ctx, element, dataset_set)

    call_helpers(handler)
    assert [record for record in arkworker_sandbox.requests if record.method in ("POST", "DELETE")] == []


@legacy
def test_a_legacy_instance_has_no_dataset_writes(call_helpers, arkworker_sandbox):
    dataset_set = Set(name="train", dataset=Dataset(id=FAKE_ID))

    def handler(element, ctx):
        messages = []
        for call in (
            lambda: ctx.create_dataset("Pages", "Pages", ["train"]),
            lambda: ctx.create_dataset_element(dataset_set, element),
            lambda: ctx.destroy_dataset_element(dataset_set, element),
        ):
            with pytest.raises(OperationUnavailable) as refused:
                call()
            messages.append(str(refused.value))
        return messages

    messages, _ = call_helpers(handler)
    assert [message.split(" needs the ")[1].split(" ")[0] for message in messages] == [
        "CreateDataset",
        "CreateDatasetElement",
        "DestroyDatasetElement",
    ]
    assert all("(API level legacy) does not offer" in message for message in messages)
    assert [record for record in arkworker_sandbox.requests if record.method in ("POST", "DELETE")] == []
