"""Dataset and task helpers on ``ctx``, under the names arkindex-base-worker gives them.

``list_process_sets``, ``list_set_elements`` and ``update_dataset_state`` are the dataset
family; ``list_artifacts`` and ``download_artifact`` the task family. Downloads stream to
disk (:mod:`arkworker.api.artifacts`), never holding a whole artifact in memory.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from arkworker.api.artifacts import download_file, stream_into
from arkworker.enums import DatasetState
from arkworker.errors import InvalidArgument
from arkworker.helpers.base import HelperMixin
from arkworker.models import Artifact, Dataset, Element, Set

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


def _task_id(value: uuid.UUID | str) -> str:
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except ValueError:
        raise InvalidArgument(f"{value!r} is not a task UUID") from None
