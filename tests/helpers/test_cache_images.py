"""Results on an element fetched from the API bring its image into a cache that lacks it."""

import json
import sqlite3
import uuid

import pytest

from arkworker.models import Element
from arkworker.storage.cache_files import create_cache_file

from .conftest import SQUARE, cache_rows, hexid

#: Two pages on two images; the cache below only holds the first image and page.
TWO_IMAGES_CORPUS = {
    "corpus": {"name": "Two images"},
    "types": ["page", "word"],
    "images": [
        {"name": "front", "width": 1000, "height": 1500},
        {"name": "back", "width": 800, "height": 1200},
    ],
    "elements": [
        {"name": "Page 1", "type": "page", "image": "front"},
        {"name": "Page 2", "type": "page", "image": "back"},
    ],
    "worker_run": {"process": {"elements": ["Page 1"]}},
}


@pytest.fixture
def arkworker_corpus():
    return TWO_IMAGES_CORPUS


@pytest.fixture
def front_only_cache(tmp_path, arkworker_sandbox):
    """A cache holding Page 1 (initial) and its image "front", not the image "back" of Page 2."""
    path = tmp_path / "db.sqlite"
    create_cache_file(path)
    (page,) = arkworker_sandbox.objects("elements", name="Page 1")
    (front,) = arkworker_sandbox.objects("images", name="front")
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO images (id, width, height, url) VALUES (?, ?, ?, ?)",
            (uuid.UUID(front["id"]).hex, front["width"], front["height"], "http://iiif.example.com/front"),
        )
        connection.execute(
            "INSERT INTO elements (id, type, image_id, polygon, rotation_angle, mirrored, initial)"
            " VALUES (?, 'page', ?, ?, 0, 0, 1)",
            (uuid.UUID(page["id"]).hex, uuid.UUID(front["id"]).hex, json.dumps(page["polygon"])),
        )
    return path


def test_element_transcriptions_of_an_api_element_bring_its_image_into_the_cache(
    call_helpers, arkworker_sandbox, front_only_cache
):
    (page_2,) = arkworker_sandbox.objects("elements", name="Page 2")

    def handler(element, ctx):
        page = Element(ctx.request("RetrieveElement", id=page_2["id"]))
        annotations = ctx.create_element_transcriptions(
            page, "word", [{"text": "verso", "confidence": 0.5, "polygon": SQUARE}]
        )
        return annotations, page.zone.image

    (annotations, back), run = call_helpers(handler, "--database", str(front_only_cache))
    assert "Couldn't save" not in run.output
    images = {row["id"]: row for row in cache_rows(front_only_cache, "images")}
    assert images[hexid(back["id"])] == {
        "id": hexid(back["id"]),
        "width": 800,
        "height": 1200,
        "url": back["url"],
    }
    (word,) = [row for row in cache_rows(front_only_cache, "elements") if row["type"] == "word"]
    assert (word["id"], word["parent_id"], word["image_id"]) == (
        hexid(annotations[0]["element_id"]),
        hexid(page_2["id"]),
        hexid(back["id"]),
    )
    (transcription,) = cache_rows(front_only_cache, "transcriptions")
    assert (transcription["id"], transcription["element_id"], transcription["text"]) == (
        hexid(annotations[0]["id"]),
        hexid(annotations[0]["element_id"]),
        "verso",
    )
