"""Writing datasets (``current`` API level): CreateDataset, CreateDatasetElement, DestroyDatasetElement.

Kept apart from what a dataset worker reads (:mod:`.datasets`). As in Arkindex, a dataset's
name is unique in its corpus and its set names are unique in it; an element joins a set of
a dataset of its own corpus, once, and, when the dataset has ``unique_elements``, in one of
its sets only.
"""

from __future__ import annotations

from typing import Any

from arkworker.sandbox.handlers.base import (
    Call,
    Reply,
    Rule,
    ValidationFailed,
    check_value,
    error_entry,
    handles,
    invalid,
    lookup,
    not_found,
    validate,
)
from arkworker.sandbox.handlers.datasets import Dataset, DatasetElement, DatasetSet, serialize_dataset
from arkworker.sandbox.store import new_id
from arkworker.sandbox.tables import Corpus, Element

#: The sets of a dataset created without ``set_names``.
DEFAULT_SET_NAMES = ("training", "validation", "test")


def _set_names(value: Any) -> list[str]:
    """Non-blank, distinct set names; one 400 listing every bad one."""
    if not isinstance(value, list):
        detail = f'Expected a list of items but got type "{type(value).__name__}".'
        raise invalid(detail, ["set_names"], "not_a_list")
    if not value:
        raise invalid("This list may not be empty.", ["set_names"], "empty")
    names: list[str] = []
    errors = []
    for index, item in enumerate(value):
        name, problem = check_value(item, Rule("str"))
        if problem is not None:
            errors.append(error_entry(problem[1], problem[0], ["set_names", index]))
        elif name in names:
            errors.append(error_entry(f"Set name {name!r} is given twice.", "unique", ["set_names", index]))
        else:
            names.append(name)
    if errors:
        raise ValidationFailed(errors)
    return names


@handles("CreateDataset")
def create_dataset(call: Call) -> Reply:
    corpus = lookup(Corpus, call.path["id"])
    data = validate(
        call.body,
        {
            "name": Rule("str"),
            "description": Rule("str"),
            "set_names": Rule("list", required=False, default=list(DEFAULT_SET_NAMES)),
            "unique_elements": Rule("bool", required=False, default=True),
        },
    )
    names = _set_names(data["set_names"])
    if Dataset.select().where((Dataset.corpus == corpus.id) & (Dataset.name == data["name"])).exists():
        raise invalid("A dataset with this name already exists in this corpus.", ["name"], "unique")
    dataset = Dataset.create(
        id=new_id(),
        corpus=corpus.id,
        name=data["name"],
        description=data["description"],
        state="open",
        unique_elements=data["unique_elements"],
    )
    for name in names:
        DatasetSet.create(id=new_id(), dataset=dataset.id, name=name)
    return Reply({**serialize_dataset(dataset), "unique_elements": dataset.unique_elements}, status=201)


@handles("CreateDatasetElement")
def create_dataset_element(call: Call) -> Reply:
    dataset = lookup(Dataset, call.path["id"])
    data = validate(call.body, {"set": Rule("str"), "element_id": Rule("uuid")})
    sets = {row.name: row for row in DatasetSet.select().where(DatasetSet.dataset == dataset.id)}
    dataset_set = sets.get(data["set"])
    if dataset_set is None:
        known = ", ".join(sets) or "none"
        raise invalid(f"{data['set']!r} is not a set of this dataset (its sets: {known}).", ["set"])
    element = lookup(Element, data["element_id"], ["element_id"])
    if element.corpus_id != dataset.corpus_id:
        raise invalid("The element is not in the corpus of the dataset.", ["element_id"])
    memberships = {
        row.dataset_set_id
        for row in DatasetElement.select(DatasetElement.dataset_set).where(
            DatasetElement.element == element.id,
            DatasetElement.dataset_set.in_([row.id for row in sets.values()]),
        )
    }
    if dataset_set.id in memberships:
        raise invalid(f"The element is already in the {dataset_set.name} set.", None, "unique")
    if dataset.unique_elements and memberships:
        other = next(name for name, row in sets.items() if row.id in memberships)
        raise invalid(
            f"The element is already in the {other} set of this dataset, whose elements are unique "
            "(unique_elements).",
            ["element_id"],
            "unique",
        )
    DatasetElement.create(id=new_id(), dataset_set=dataset_set.id, element=element.id)
    return Reply({"set": dataset_set.name, "element_id": element.id}, status=201)


@handles("DestroyDatasetElement")
def destroy_dataset_element(call: Call) -> Reply:
    dataset = lookup(Dataset, call.path["dataset"])
    if "set" not in call.query:
        raise invalid("This field is required.", ["set"], "required")
    row = (
        DatasetElement.select()
        .join(DatasetSet)
        .where(
            (DatasetSet.dataset == dataset.id)
            & (DatasetSet.name == call.query["set"])
            & (DatasetElement.element == call.path["element"])
        )
        .first()
    )
    if row is None:
        raise not_found("DatasetElement")
    row.delete_instance()
    return Reply(None, status=204)
