"""Both directions of the cache contract with arkindex-base-worker's format version 3.

``tests/data/reference_cache.sqlite`` is written by ``make_reference_cache.py`` with hand
written DDL and raw rows: arkworker must read it, and a cache arkworker writes through its
models must be the same file, statement for statement and row for row.
"""

import importlib.util
import json
import shutil
import sqlite3
import threading
import uuid
from pathlib import Path

import pytest

from arkworker.storage import cache
from arkworker.storage.cache_files import create_cache_file

DATA = Path(__file__).parent / "data"
spec = importlib.util.spec_from_file_location("make_reference_cache", DATA / "make_reference_cache.py")
reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reference)


def schema(path):
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
        ).fetchall()


def dump(path):
    with sqlite3.connect(path) as connection:
        return {
            table: connection.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()
            for table in reference.ROWS
        }


@pytest.fixture
def reference_copy(tmp_path):
    path = tmp_path / "db.sqlite"
    shutil.copyfile(DATA / "reference_cache.sqlite", path)
    return path


@pytest.fixture
def opened():
    """``opened(path)``: the path opened as a cache, closed after the test."""
    caches = []

    def open_(path):
        caches.append(cache.open_cache(path))
        return caches[-1]

    yield open_
    for db in caches:
        db.close()


def test_the_committed_file_is_what_the_script_makes(tmp_path):
    built = reference.build(tmp_path / "rebuilt.sqlite")
    assert schema(built) == schema(DATA / "reference_cache.sqlite")
    assert dump(built) == dump(DATA / "reference_cache.sqlite")


def test_arkworker_reads_a_reference_cache(reference_copy, opened):
    cache.check_version(reference_copy)
    db = opened(reference_copy)
    assert [str(element.id) for element in db.initial_elements()] == [
        str(uuid.UUID(reference.PAGE_1)),
        str(uuid.UUID(reference.PAGE_2)),
    ]
    page = db.CachedElement.get_by_id(uuid.UUID(reference.PAGE_2))
    assert page.parent_id == uuid.UUID(reference.FOLDER)
    assert page.polygon == reference.POLYGON
    assert (page.rotation_angle, page.mirrored, page.initial, page.confidence) == (90, True, True, 0.75)
    assert page.worker_run_id == uuid.UUID(reference.RUN)
    assert page.image.url == "https://iiif.example.com/iiif/2/scan"
    line = db.CachedElement.get_by_id(uuid.UUID(reference.LINE))
    (transcription,) = line.transcriptions
    assert (transcription.text, transcription.orientation) == ("Hello world", "horizontal-lr")
    (link,) = transcription.transcription_entities
    assert (link.entity.name, link.entity.metas, link.entity.validated) == ("Ada", {"birth": "1815"}, True)
    assert (link.offset, link.length, link.confidence) == (6, 5, 0.8)
    (classification,) = db.CachedElement.get_by_id(uuid.UUID(reference.PAGE_1)).classifications
    assert (classification.class_name, classification.state) == ("handwritten", "pending")
    (dataset_element,) = db.CachedDatasetElement.select()
    assert dataset_element.dataset.name == "Training set"
    assert json.loads(dataset_element.dataset.sets) == ["train", "dev", "test"]
    assert schema(reference_copy) == schema(DATA / "reference_cache.sqlite")  # opening changed nothing


def test_dashed_uuids_from_other_producers_are_read(reference_copy, opened):
    with sqlite3.connect(reference_copy) as connection:
        connection.execute(
            "INSERT INTO elements VALUES (?, NULL, 'page', NULL, NULL, 0, 0, 1, NULL, NULL, NULL)",
            ("12345678-1234-5678-1234-567812345678",),
        )
    db = opened(reference_copy)
    assert uuid.UUID("12345678-1234-5678-1234-567812345678") in [e.id for e in db.initial_elements()]


def write_with_arkworker(path):
    """The reference rows, written through arkworker's models."""
    r = reference
    db = cache.open_cache(path)
    try:
        db.CachedImage.create(id=uuid.UUID(r.IMAGE), width=1000, height=1500, url=r.ROWS["images"][0][3])
        db.CachedElement.create(id=uuid.UUID(r.FOLDER), type="folder")
        db.CachedElement.create(
            id=uuid.UUID(r.PAGE_1), parent_id=uuid.UUID(r.FOLDER), type="page", image=uuid.UUID(r.IMAGE),
            polygon=r.POLYGON, initial=True,
        )  # fmt: skip
        db.CachedElement.create(
            id=uuid.UUID(r.PAGE_2), parent_id=uuid.UUID(r.FOLDER), type="page", image=uuid.UUID(r.IMAGE),
            polygon=r.POLYGON, rotation_angle=90, mirrored=True, initial=True,
            worker_version_id=uuid.UUID(r.VERSION), worker_run_id=uuid.UUID(r.RUN), confidence=0.75,
        )  # fmt: skip
        db.CachedElement.create(
            id=uuid.UUID(r.LINE), parent_id=uuid.UUID(r.PAGE_1), type="text_line", image=uuid.UUID(r.IMAGE),
            polygon=[[0, 0], [0, 10], [10, 10], [0, 0]], worker_run_id=uuid.UUID(r.RUN), confidence=1.0,
        )  # fmt: skip
        db.CachedTranscription.create(
            id=uuid.UUID(r.TRANSCRIPTION), element=uuid.UUID(r.LINE), text="Hello world", confidence=0.5,
            orientation="horizontal-lr", worker_run_id=uuid.UUID(r.RUN),
        )  # fmt: skip
        db.CachedClassification.create(
            id=uuid.UUID(r.CLASSIFICATION), element=uuid.UUID(r.PAGE_1), class_name="handwritten",
            confidence=0.9, state="pending", worker_run_id=uuid.UUID(r.RUN),
        )  # fmt: skip
        db.CachedEntity.create(
            id=uuid.UUID(r.ENTITY), type="person", name="Ada", validated=True, metas={"birth": "1815"},
            worker_run_id=uuid.UUID(r.RUN),
        )  # fmt: skip
        db.CachedTranscriptionEntity.create(
            transcription=uuid.UUID(r.TRANSCRIPTION), entity=uuid.UUID(r.ENTITY), offset=6, length=5,
            worker_run_id=uuid.UUID(r.RUN), confidence=0.8,
        )  # fmt: skip
        db.CachedDataset.create(id=uuid.UUID(r.DATASET), name="Training set", sets='["train", "dev", "test"]')
        db.CachedDatasetElement.create(
            id=uuid.UUID(r.DATASET_ELEMENT), element=uuid.UUID(r.PAGE_1), dataset=uuid.UUID(r.DATASET),
            set_name="train",
        )  # fmt: skip
    finally:
        db.close()


def test_a_cache_arkworker_writes_is_the_reference_file(tmp_path):
    path = tmp_path / "arkworker.sqlite"
    write_with_arkworker(path)
    assert schema(path) == schema(DATA / "reference_cache.sqlite")
    assert dump(path) == dump(DATA / "reference_cache.sqlite")


def test_the_merge_schema_is_the_reference_schema(tmp_path):
    create_cache_file(tmp_path / "merged.sqlite")
    assert schema(tmp_path / "merged.sqlite") == schema(DATA / "reference_cache.sqlite")


def test_check_constraints_are_enforced(tmp_path, opened):
    write_with_arkworker(tmp_path / "db.sqlite")
    db = opened(tmp_path / "db.sqlite")
    with pytest.raises(Exception, match="CHECK constraint failed"):
        db.CachedTranscriptionEntity.create(
            transcription=uuid.UUID(reference.TRANSCRIPTION), entity=uuid.UUID(reference.ENTITY),
            offset=-1, length=5,
        )  # fmt: skip


def test_the_cache_is_usable_from_several_threads(tmp_path, opened):
    db = opened(tmp_path / "db.sqlite")
    errors = []

    def insert(batch):
        try:
            for index in range(25):
                db.CachedElement.create(id=uuid.uuid4(), type=f"type-{batch}-{index}")
        except Exception as exc:  # reported below: an assertion in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=insert, args=(batch,)) for batch in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert db.CachedElement.select().count() == 100
