"""Which dataset sets a run processes: the process's sets and ``--set <dataset_uuid>:<set_name>``.

In production the sets come from the process (ListProcessSets) and from the command line;
in read-only mode only from the command line. Unlike the reference, a set listed twice is
processed once, each dataset is retrieved once, and the sets of one dataset are processed
one after the other (in the order the datasets first appear), so that its archive is
downloaded once. The ``--set`` values arrive parsed (:func:`arkworker.options.parse_set`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from arkindex.exceptions import ErrorResponse

from arkworker.errors import BadInput
from arkworker.models import Dataset, Set
from arkworker.run.context import Context

logger = logging.getLogger("arkworker")


def list_sets(ctx: Context, cli_sets: Sequence[tuple[str, str]]) -> list[Set]:
    """The sets to process, without duplicates, grouped by dataset."""
    datasets: dict[str, Dataset] = {}
    by_dataset: dict[str, dict[str, Set]] = {}

    def add(dataset: Dataset, dataset_set: Set, origin: str) -> None:
        dataset_id = str(dataset["id"])
        dataset = datasets.setdefault(dataset_id, dataset)
        sets = by_dataset.setdefault(dataset_id, {})
        if dataset_set["name"] in sets:
            logger.info("%s is listed more than once (%s); it is processed once", dataset_set, origin)
            return
        dataset_set["dataset"] = dataset  # one Dataset object per dataset, shared by its sets
        sets[dataset_set["name"]] = dataset_set

    if not ctx.is_read_only:
        for dataset_set in ctx.list_process_sets():
            add(dataset_set.dataset, dataset_set, "by the process")
    for dataset_id, name in cli_sets:
        dataset = datasets.get(dataset_id) or retrieve_dataset(ctx, dataset_id, name)
        check_set_name(dataset, name)
        add(dataset, Set(name=name, dataset=dataset), "with --set")
    return [dataset_set for sets in by_dataset.values() for dataset_set in sets.values()]


def retrieve_dataset(ctx: Context, dataset_id: str, set_name: str) -> Dataset:
    """RetrieveDataset for a ``--set`` value; an unknown dataset is a usage error."""
    try:
        return Dataset(ctx.request("RetrieveDataset", id=dataset_id))
    except ErrorResponse as exc:
        if exc.status_code == 404:
            raise BadInput(
                f"--set {dataset_id}:{set_name}: there is no dataset {dataset_id} (or it is not visible "
                "with this token); check the dataset UUID."
            ) from None
        raise


def check_set_name(dataset: Dataset, name: str) -> None:
    """A ``--set`` name its dataset does not have is a usage error, found before any download."""
    known = [str(item["name"] if isinstance(item, Mapping) else item) for item in dataset.get("sets") or []]
    if known and name not in known:
        raise BadInput(
            f"--set {dataset['id']}:{name}: {dataset} ({dataset.get('name')}) has no set {name!r} "
            f"(its sets: {', '.join(known)}); check the set name."
        )
