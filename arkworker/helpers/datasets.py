"""Dataset and task helpers on ``ctx``, under the names arkindex-base-worker gives them.

``list_process_sets``, ``list_set_elements`` and ``update_dataset_state`` are the dataset
family, with today's dataset writes (``create_dataset``, ``create_dataset_element``,
``destroy_dataset_element``, arkindex-base-worker 0.6); ``list_artifacts`` and
``download_artifact`` the task family. Downloads stream to disk
(:mod:`arkworker.api.artifacts`), never holding a whole artifact in memory.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from arkworker.api.artifacts import download_file, stream_into
from arkworker.enums import DatasetState
from arkworker.errors import InvalidArgument
from arkworker.helpers import validation as check
from arkworker.helpers.base import HelperMixin
from arkworker.models import Artifact, Dataset, Element, Set
from arkworker.storage.cache import CachedElement

if TYPE_CHECKING:
    from arkworker.api.client import Api


class DatasetMixin(HelperMixin):
    """Mixin of :class:`arkworker.Context`: datasets, their sets, and task artifacts."""

    if TYPE_CHECKING:
        api: Api

        @property
        def process_information(self) -> dict[str, Any] | None: ...

    def list_process_sets(self) -> Iterator[Set]:
        """The dataset sets of the current process (production only), lazily, page by page."""
        if self.is_read_only or not self.process_information:
            raise RuntimeError(
                "list_process_sets is not available in read-only mode: there is no process; "
                "give the sets with --set <dataset_uuid>:<set_name>."
            )
        for item in self.paginate("ListProcessSets", id=self.process_information["id"]):
            yield Set(name=item["set_name"], dataset=Dataset(item["dataset"]))

    def list_set_elements(self, dataset_set: Set) -> Iterator[Element]:
        """The elements of a dataset set, lazily, page by page."""
        if not isinstance(dataset_set, Set):
            raise InvalidArgument(
                f"list_set_elements needs a Set (the handler's dataset_set), got {dataset_set!r}"
            )
        pages = self.paginate("ListDatasetElements", id=dataset_set.dataset.id, set=dataset_set.name)
        for item in pages:
            yield self._element(item["element"])

    def update_dataset_state(self, dataset: Dataset, state: DatasetState) -> Dataset | None:
        """Set a dataset's state; the given Dataset is updated and returned (None in read-only mode)."""
        if not isinstance(dataset, Dataset):
            raise InvalidArgument(f"update_dataset_state needs a Dataset, got {dataset!r}")
        if not isinstance(state, DatasetState):
            raise InvalidArgument(
                f"update_dataset_state needs a DatasetState (e.g. DatasetState.Building), got {state!r}"
            )
        if self._read_only_skip("dataset", verb="update"):
            return None
        answer = self.request("PartialUpdateDataset", id=dataset.id, body={"state": state.value})
        dataset.update(answer)
        return dataset

    # -- today's dataset writes (CreateDataset, CreateDatasetElement, DestroyDatasetElement) ----------

    def create_dataset(
        self, name: str, description: str, set_names: list[str], unique_elements: bool = True
    ) -> Dataset | None:
        """Create a dataset in the corpus with these sets; the new :class:`Dataset`, None in read-only mode.

        ``unique_elements``: an element may be in one of its sets only.
        """
        body = {
            "name": check.text(name, "name"),
            "description": check.text(description, "description"),
            "set_names": _set_names(set_names),
            "unique_elements": check.boolean(unique_elements, "unique_elements"),
        }
        self._require("CreateDataset", "create_dataset")
        if self._read_only_skip("dataset"):
            return None
        return Dataset(self.request("CreateDataset", id=self.corpus_id, body=body))

    def create_dataset_element(
        self, dataset_set: Set, element: Element | CachedElement
    ) -> dict[str, Any] | None:
        """Add ``element`` to a set of a dataset; the API's answer (``{set, element_id}``)."""
        dataset_id, set_name = _set_of(dataset_set)
        element_id = check.element_id(check.element(element))
        self._require("CreateDatasetElement", "create_dataset_element")
        if self._read_only_skip("dataset element"):
            return None
        return self.request(
            "CreateDatasetElement",
            id=dataset_id,
            body={"set": set_name, "element_id": element_id},
            landed=partial(self._in_set, dataset_id, set_name, element_id),
        )

    def _in_set(self, dataset_id: str, set_name: str, element_id: str) -> dict[str, Any] | None:
        """The answer of a lost CreateDatasetElement: the element is in the set (an element is in a set once)."""
        elements = self.paginate("ListDatasetElements", id=dataset_id, set=set_name)
        if any(item["element"]["id"] == element_id for item in elements):
            return {"set": set_name, "element_id": element_id}
        return None

    def destroy_dataset_element(self, dataset_set: Set, element: Element | CachedElement) -> None:
        """Remove ``element`` from a set of a dataset."""
        dataset_id, set_name = _set_of(dataset_set)
        element_id = check.element_id(check.element(element))
        self._require("DestroyDatasetElement", "destroy_dataset_element")
        if self._read_only_skip("dataset element", verb="remove"):
            return
        # A 404 answering a repeat means the first attempt, whose answer was lost, removed it.
        self.request(
            "DestroyDatasetElement",
            dataset=dataset_id,
            element=element_id,
            set=set_name,
            accept_after_repeat={404},
        )

    def list_artifacts(self, task_id: uuid.UUID | str) -> list[Artifact]:
        """The artifacts of a task (a dataset's ``task_id``)."""
        return [Artifact(item) for item in self.request("ListArtifacts", id=_task_id(task_id))]

    def download_artifact(
        self, task_id: uuid.UUID | str, artifact: Artifact, destination: str | Path | None = None
    ) -> Any:
        """Download an artifact of a task by streaming it to disk.

        With ``destination``, the file is written there (complete, or not at all) and its
        path returned; without, an open temporary file, deleted when closed, is returned.
        """
        if not isinstance(artifact, Artifact):
            raise InvalidArgument(
                f"download_artifact needs an Artifact (from list_artifacts), got {artifact!r}"
            )
        parameters = {"id": _task_id(task_id), "path": artifact.path}
        if destination is not None:
            return download_file(self.api, "DownloadArtifact", Path(destination), **parameters)
        out: IO[bytes] = tempfile.NamedTemporaryFile(suffix=f"-{Path(artifact.path).name}")  # noqa: SIM115
        try:
            stream_into(self.api, "DownloadArtifact", out, **parameters)
        except BaseException:
            out.close()
            raise
        out.seek(0)
        return out


def _set_names(value: Any) -> list[str]:
    """Distinct, non-empty set names."""
    names: list[str] = []
    for index, name in enumerate(check.non_empty_list(value, "set_names")):
        prefix = check.item_prefix("Set name", index, "set_names")
        name = check.text(name, "the set name", prefix)
        if name in names:
            raise check.fail(f"{name!r} is given twice: a dataset's set names are distinct", prefix)
        names.append(name)
    return names


def _set_of(dataset_set: Any) -> tuple[str, str]:
    """``(dataset id, set name)`` of a :class:`Set` (the handler's ``dataset_set``, or ``Set(name=, dataset=)``)."""
    if not isinstance(dataset_set, Set):
        raise InvalidArgument(
            f"dataset_set must be a Set (a dataset worker's dataset_set, or Set(name=..., dataset=Dataset(...))), "
            f"got {dataset_set!r}"
        )
    dataset = dataset_set.get("dataset")
    if not isinstance(dataset, Mapping) or not dataset.get("id"):
        raise InvalidArgument(f"{dataset_set} has no dataset id: give it a dataset=Dataset(id=...)")
    return check.uuid_text(dataset["id"], "dataset_set.dataset.id"), check.text(
        dataset_set.get("name"), "dataset_set.name"
    )


def _task_id(value: uuid.UUID | str) -> str:
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except ValueError:
        raise InvalidArgument(f"{value!r} is not a task UUID") from None
