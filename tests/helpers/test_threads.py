"""The helpers and the cache from 16 threads sharing one run context, as ``--jobs`` runs handlers.

Each thread works on its own page, and all of them wait at a barrier before each step, so
that they ask at once for what the run fills once (the corpus's ML classes, its element and
entity types) and write the cache at once. Everything is stored once, in the sandbox and in
the cache, and each missing class or type is created once.
"""

import threading

import pytest

from arkworker.enums import MetaType
from arkworker.storage import cache
from tests.conftest import requests_of

from .conftest import SQUARE, cache_rows, hexid

THREADS = 16

#: Sixteen pages on two images; the corpus has no ML class, and no `person` or `margin` type.
THREADS_CORPUS = {
    "corpus": {"name": "Threads corpus"},
    "types": [{"slug": "folder", "folder": True}, "page", "text_line"],
    "images": [
        {"name": "scan-a", "width": 1000, "height": 1500},
        {"name": "scan-b", "width": 800, "height": 600},
    ],
    "entity_types": ["place"],
    "elements": [
        {
            "name": "Volume",
            "type": "folder",
            "children": [
                {"name": f"Page {index}", "type": "page", "image": "scan-a" if index % 2 else "scan-b"}
                for index in range(THREADS)
            ],
        }
    ],
    "worker_run": {"process": {"elements": ["Volume"]}},
}


def lines_of(page):
    """Two lines, on the page's image, named after it."""
    return [
        {"name": f"{page['name']} line {index}", "type": "text_line", "polygon": SQUARE, "confidence": 0.5}
        for index in range(2)
    ]


def work_on(ctx, page, barrier, version_id):
    """What a handler does with one page, waiting for the other threads before each step.

    A thread that fails breaks the barrier, so that the others stop at once.
    """
    try:
        steps(ctx, page, barrier, version_id)
    except BaseException:
        barrier.abort()
        raise


def steps(ctx, page, barrier, version_id):
    barrier.wait()
    ctx.create_elements(page, lines_of(page))  # the first thread also caches the page's image
    barrier.wait()
    ctx.check_required_types(["text_line", "margin"], create_missing=True)
    ctx.check_required_entity_types(["person"])
    ctx.get_worker_version(version_id)
    # The cache's rows, iterated while this thread and the others write.
    for line in ctx.list_element_children(page):
        barrier.wait()
        transcription = ctx.create_transcription(line, f"text of {line.id}", 0.9)
        ctx.create_classification(line, "shared class", 0.5)
        ctx.create_metadata(line, MetaType.Text, "page", page["name"])
        if ctx.api_level.value == "legacy":
            entity = ctx.create_entity(f"person of {line.id}", "person")
            ctx.create_transcription_entity(transcription, entity=entity, offset=0, length=4)
        else:
            ctx.create_transcription_entity(transcription, ctx.entity_types["person"], 0, 4)


@pytest.mark.filterwarnings("ignore:WorkerVersion usage is deprecated")
@pytest.mark.parametrize(
    "arkworker_corpus", [{**THREADS_CORPUS, "api_level": "legacy"}, THREADS_CORPUS], ids=["legacy", "current"]
)
def test_sixteen_threads_share_the_helpers_and_the_cache(call_helpers, arkworker_sandbox, tmp_path):
    path = tmp_path / "db.sqlite"
    cache.open_cache(path).close()
    page_ids = [row["id"] for row in arkworker_sandbox.objects("elements", type="page")]
    (version,) = arkworker_sandbox.objects("worker_versions")

    def handler(element, ctx):
        pages = [ctx.retrieve_element(page_id) for page_id in page_ids]
        barrier = threading.Barrier(THREADS, timeout=60)
        with ctx.executor(THREADS) as pool:
            futures = [pool.submit(work_on, ctx, page, barrier, version["id"]) for page in pages]
        errors = [future.exception() for future in futures]
        # The first thread's failure fails the element; the others' broken barrier follows from it.
        first = next((error for error in errors if not isinstance(error, threading.BrokenBarrierError)), None)
        if first is not None:
            raise first
        assert errors == [None] * THREADS

    _, run = call_helpers(handler, "--database", str(path))
    assert "Couldn't save" not in run.output and "locked" not in run.output

    lines = 2 * THREADS
    for operation in ("CreateMLClass", "CreateElementType", "CreateEntityType"):
        assert len(requests_of(arkworker_sandbox, operation)) == 1, operation
    for operation in ("ListCorpusMLClasses", "ListCorpusEntityTypes", "RetrieveWorkerVersion"):
        assert len(requests_of(arkworker_sandbox, operation)) == 1, operation
    assert [row["name"] for row in arkworker_sandbox.objects("ml_classes")] == ["shared class"]

    created = run.created
    stored = {kind: {hexid(row["id"]) for row in created[kind]} for kind in ("elements", "transcriptions")}
    assert len(stored["elements"]) == len(stored["transcriptions"]) == lines
    assert len(created["classifications"]) == len(arkworker_sandbox.objects("metadata", name="page")) == lines

    # Every created row is in the cache once, with the page's image, and nothing else is.
    elements = cache_rows(path, "elements")
    assert {row["id"] for row in elements} == stored["elements"] and len(elements) == lines
    images = {hexid(row["id"]) for row in arkworker_sandbox.objects("images")}
    assert {row["id"] for row in cache_rows(path, "images")} == images
    assert {row["image_id"] for row in elements} == images
    transcriptions = cache_rows(path, "transcriptions")
    assert {row["id"] for row in transcriptions} == stored["transcriptions"] and len(transcriptions) == lines
    classifications = cache_rows(path, "classifications")
    assert {row["id"] for row in classifications} == {hexid(row["id"]) for row in created["classifications"]}
    assert {row["class_name"] for row in classifications} == {"shared class"}
    if arkworker_sandbox.api_level == "legacy":
        assert len(cache_rows(path, "entities")) == len(cache_rows(path, "transcription_entities")) == lines
    assert len(arkworker_sandbox.objects("transcription_entities")) == lines
