"""Cache listings find rows whatever the form of their UUIDs: dashless (ours) or dashed (other producers)."""

import sqlite3
import uuid

from .conftest import cache_rows

RUN = "9a1b7c3e-2f4d-4e5a-8b6c-0d1e2f3a4b5c"


def dashed(value):
    return None if value is None else str(uuid.UUID(value))


def rewrite_with_dashes(path, line_id):
    """Store every UUID of the cache dashed, and add a transcription of Line 1 by worker run RUN."""
    with sqlite3.connect(path) as connection:
        for row in cache_rows(path, "images"):
            connection.execute("UPDATE images SET id = ? WHERE id = ?", (dashed(row["id"]), row["id"]))
        for row in cache_rows(path, "elements"):
            connection.execute(
                "UPDATE elements SET id = ?, parent_id = ?, image_id = ? WHERE id = ?",
                (dashed(row["id"]), dashed(row["parent_id"]), dashed(row["image_id"]), row["id"]),
            )
        connection.execute(
            "INSERT INTO transcriptions (id, element_id, text, confidence, orientation, worker_run_id)"
            " VALUES (?, ?, 'Line text', 0.5, 'horizontal-lr', ?)",
            (str(uuid.uuid4()), line_id, RUN),
        )


def test_listings_read_dashed_uuids(call_helpers, cache_path, named):
    rewrite_with_dashes(cache_path, named("Line 1"))

    def handler(element, ctx):
        children = list(ctx.list_element_children(element))
        line = next(child for child in children if str(child.id) == named("Line 1"))
        return (
            sorted(str(child.id) for child in children),
            len(list(ctx.list_element_children(element, worker_run=False))),
            [str(parent.id) for parent in ctx.list_element_parents(line)],
            [t.text for t in ctx.list_transcriptions(line)],
            [t.text for t in ctx.list_transcriptions(element, recursive=True, worker_run=RUN)],
        )

    (children, manual, parents, own, recursive), _ = call_helpers(handler, "--database", str(cache_path))
    assert children == sorted([named("Line 1"), named("Line 2")])
    assert manual == 2
    assert parents == [named("Page 1")]
    assert own == recursive == ["Line text"]
