"""Shared helpers for arkworker's own tests (the fixtures come from arkworker's pytest plugin)."""

import pytest

from arkworker import Worker

#: A small corpus: a folder holding three pages, the process running on the pages.
PAGES_CORPUS = {
    "corpus": {"name": "Test corpus"},
    "types": [{"slug": "folder", "folder": True}, "page", "line"],
    "images": [{"name": "scan", "width": 1000, "height": 1500}],
    "elements": [
        {
            "name": "Volume",
            "type": "folder",
            "children": [{"name": f"Page {index}", "type": "page", "image": "scan"} for index in (1, 2, 3)],
        }
    ],
    "worker_run": {"process": {"elements": ["Page 1", "Page 2", "Page 3"]}},
}


def with_worker_run(**worker_run):
    """PAGES_CORPUS with its worker run section extended."""
    return {**PAGES_CORPUS, "worker_run": {**PAGES_CORPUS["worker_run"], **worker_run}}


@pytest.fixture
def arkworker_corpus():
    return PAGES_CORPUS


@pytest.fixture
def make_app():
    """Build a fresh Worker around an element handler (apps are frozen once they ran)."""

    def make(handler=None, name="test-worker", **kwargs):
        app = Worker(name, **kwargs)
        app.element(handler or (lambda element: None))
        return app

    return make


def requests_of(sandbox, operation_id):
    return [record for record in sandbox.requests if record.operation_id == operation_id]
