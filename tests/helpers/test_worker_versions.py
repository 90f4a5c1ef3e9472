"""Worker version helpers (deprecated) over HTTP against the sandbox."""

import pytest

from arkworker import InvalidArgument
from tests.conftest import requests_of


def test_worker_versions_are_fetched_once(call_helpers, arkworker_sandbox):
    (version,) = arkworker_sandbox.objects("worker_versions")

    def handler(element, ctx):
        with pytest.warns(DeprecationWarning, match="WorkerVersion usage is deprecated"):
            first = ctx.get_worker_version(version["id"])
        with pytest.warns(DeprecationWarning):
            slug = ctx.get_worker_version_slug(version["id"])
        with pytest.warns(DeprecationWarning), pytest.raises(InvalidArgument, match="No worker version ID"):
            ctx.get_worker_version(None)
        return first, slug

    (first, slug), _ = call_helpers(handler)
    assert first.id == version["id"] and first.worker.slug == slug == "sandbox-worker"
    assert len(requests_of(arkworker_sandbox, "RetrieveWorkerVersion")) == 1
