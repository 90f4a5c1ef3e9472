"""Fixtures for the result helpers: a corpus with lines, and a way to call helpers inside a real run."""

import json
import sqlite3
import uuid

import pytest

from arkworker import Worker
from arkworker.storage import cache

#: A page with two lines and a second page; the process runs on Page 1.
HELPERS_CORPUS = {
    "corpus": {"name": "Helpers corpus"},
    "types": [{"slug": "folder", "folder": True}, "page", "text_line", "word"],
    "images": [{"name": "scan", "width": 1000, "height": 1500}],
    "entity_types": ["person", "place"],
    "entities": [{"name": "Paris", "type": "place", "metas": {"country": "France"}}],
    "elements": [
        {
            "name": "Volume",
            "type": "folder",
            "metadata": [{"name": "collection", "value": "Letters"}],
            "children": [
                {
                    "name": "Page 1",
                    "type": "page",
                    "image": "scan",
                    "transcriptions": ["Manual page text"],
                    "metadata": [{"type": "reference", "name": "place", "value": "Paris", "entity": "Paris"}],
                    "children": [
                        {
                            "name": "Line 1",
                            "type": "text_line",
                            "image": "scan",
                            "polygon": [[10, 10], [900, 10], [900, 100], [10, 100]],
                            "transcriptions": ["Manual line text"],
                        },
                        {
                            "name": "Line 2",
                            "type": "text_line",
                            "image": "scan",
                            "polygon": [[10, 110], [900, 110], [900, 200], [10, 200]],
                        },
                    ],
                },
                {"name": "Page 2", "type": "page", "image": "scan"},
            ],
        }
    ],
    "worker_run": {"process": {"elements": ["Page 1"]}},
}

SQUARE = [[100, 100], [200, 100], [200, 200], [100, 200]]

#: The same corpus on a 0.3.7-era instance (its entity model, its cache).
LEGACY_CORPUS = {**HELPERS_CORPUS, "api_level": "legacy"}
#: Run a test on a legacy instance: the helpers of 0.3.7's entity model, the cache.
legacy = pytest.mark.parametrize("arkworker_corpus", [LEGACY_CORPUS], ids=["legacy"])
#: Run a test on both generations of Arkindex (``arkworker_sandbox.api_level`` tells which).
both_levels = pytest.mark.parametrize(
    "arkworker_corpus", [LEGACY_CORPUS, HELPERS_CORPUS], ids=["legacy", "current"]
)


@pytest.fixture
def arkworker_corpus():
    return HELPERS_CORPUS


@pytest.fixture
def named(arkworker_sandbox):
    """``named("Line 1")``: the id of the element with that name."""

    def find(name):
        (row,) = arkworker_sandbox.objects("elements", name=name)
        return row["id"]

    return find


@pytest.fixture
def call_helpers(arkworker_run):
    """Run ``handler(element, ctx)`` on Page 1 in a real run; returns (its return value, the run).

    The run must succeed: a failing handler (an assertion in it included) fails the test
    with the run's output.
    """

    def run(handler, *args, expect_failure=False, **kwargs):
        results = []
        app = Worker("helpers-test", cache="--database" in args)

        @app.element
        def process(element, ctx):
            results.append(handler(element, ctx))

        outcome = arkworker_run(app, *args, **kwargs)
        if expect_failure:
            return outcome
        assert outcome.exit_code == 0 and outcome.result.failures == [], outcome.output
        return (results[0] if len(results) == 1 else results), outcome

    return run


@pytest.fixture
def cache_path(tmp_path, arkworker_sandbox):
    """A cache holding Page 1 (initial, with its image) and its lines, as an initialisation task writes it."""
    path = tmp_path / "db.sqlite"
    cache.open_cache(path).close()
    (page,) = arkworker_sandbox.objects("elements", name="Page 1")
    (image,) = arkworker_sandbox.objects("images")
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO images (id, width, height, url) VALUES (?, ?, ?, ?)",
            (uuid.UUID(image["id"]).hex, image["width"], image["height"], "http://iiif.example.com/scan"),
        )
        rows = [(page, None, 1)]
        for name in ("Line 1", "Line 2"):
            (line,) = arkworker_sandbox.objects("elements", name=name)
            rows.append((line, page["id"], 0))
        for row, parent, initial in rows:
            connection.execute(
                "INSERT INTO elements (id, parent_id, type, image_id, polygon, rotation_angle, mirrored, initial)"
                " VALUES (?, ?, ?, ?, ?, 0, 0, ?)",
                (
                    uuid.UUID(row["id"]).hex,
                    parent and uuid.UUID(parent).hex,
                    row["type"],
                    uuid.UUID(image["id"]).hex,
                    json.dumps(row["polygon"]),
                    initial,
                ),
            )
    return path


def cache_rows(path, table):
    """Rows of a cache table as dicts (UUIDs as stored: 32 hex digits)."""
    connection = sqlite3.connect(path)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute(f"SELECT * FROM {table} ORDER BY rowid")]
    finally:
        connection.close()


def hexid(value):
    return uuid.UUID(str(value)).hex
