"""Worker versions (deprecated in Arkindex, kept for workers that still read them)."""

from __future__ import annotations

import warnings
from typing import Any

from arkworker.helpers import validation as check
from arkworker.helpers.base import HelperMixin
from arkworker.models import ApiModel


class WorkerVersionMixin(HelperMixin):
    """Retrieve worker versions, once each."""

    def get_worker_version(self, worker_version_id: str) -> ApiModel:
        """The worker version with this id (fetched once per run, then remembered)."""
        warnings.warn("WorkerVersion usage is deprecated.", DeprecationWarning, stacklevel=2)
        if worker_version_id is None:
            raise check.fail("No worker version ID: give the id of a worker version")
        known: dict[str, Any] = self.__dict__.setdefault("_worker_versions", {})
        key = check.uuid_text(worker_version_id, "worker_version_id")
        if key not in known:
            with self._run_locks("worker versions"):  # one thread fetches it, the others wait
                if key not in known:
                    known[key] = ApiModel(self.request("RetrieveWorkerVersion", id=key))
        return known[key]

    def get_worker_version_slug(self, worker_version_id: str) -> str:
        """The slug of the worker of a worker version."""
        return self.get_worker_version(worker_version_id).worker.slug
