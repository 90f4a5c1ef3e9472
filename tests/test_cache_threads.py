"""The run's files used from 16 threads at once, as the handlers of a ``--jobs`` run use them.

Threads wait at a barrier before each step, so that they act at once. The cache: no write
fails with "database is locked", and the file stays a rollback-journal SQLite file that the
next task of a process can be handed. A dataset's archive: extracted once.
"""

import sqlite3
import threading
import uuid

import pytest
from peewee import IntegrityError

from arkworker.storage.archives import create_tar_zst
from arkworker.storage.cache import open_cache
from arkworker.storage.dataset_archive import LocalArchive

THREADS = 16


@pytest.fixture
def db(tmp_path):
    """A cache with one image and, for each thread, a page with three lines."""
    cache = open_cache(tmp_path / "db.sqlite")
    with cache.atomic():
        image = cache.CachedImage.create(
            id=uuid.uuid4(), width=10, height=10, url="http://iiif.example.com/scan"
        )
        for _ in range(THREADS):
            page = cache.CachedElement.create(id=uuid.uuid4(), type="page", image=image)
            for _ in range(3):
                cache.CachedElement.create(id=uuid.uuid4(), parent_id=page.id, type="line", image=image)
    yield cache
    cache.close()


def in_threads(work):
    """Run ``work(index, barrier)`` in 16 threads; the exceptions they raised, None for those that did not."""
    barrier = threading.Barrier(THREADS, timeout=60)
    errors = [None] * THREADS

    def run(index):
        try:
            work(index, barrier)
        except BaseException as error:
            errors[index] = error
            barrier.abort()  # the others stop at once

    threads = [threading.Thread(target=run, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_threads_creating_one_image_at_once_create_it_once(db):
    """A read then a write in one transaction (get_or_create), in every thread at once."""
    image_id = uuid.uuid4()

    def work(index, barrier):
        barrier.wait()
        with db.atomic():
            db.CachedImage.get_or_create(id=image_id, defaults={"width": 1, "height": 1, "url": "http://new"})
            db.CachedElement.create(id=uuid.UUID(int=index), type="line", image=image_id)

    assert in_threads(work) == [None] * THREADS
    assert db.CachedImage.select().where(db.CachedImage.id == image_id).count() == 1
    assert db.CachedElement.select().where(db.CachedElement.image == image_id).count() == THREADS


def test_threads_writing_while_they_iterate_rows(db):
    """Each thread writes a transcription per line while it iterates its page's lines, all at once."""
    pages = list(db.CachedElement.select().where(db.CachedElement.type == "page"))

    def work(index, barrier):
        for line in db.CachedElement.select().where(db.CachedElement.parent_id == pages[index].id):
            barrier.wait()
            with db.atomic():
                db.CachedTranscription.create(
                    id=uuid.uuid4(), element=line, text="text", orientation="horizontal-lr"
                )

    assert in_threads(work) == [None] * THREADS
    assert db.CachedTranscription.select().count() == 3 * THREADS


def test_a_failed_transaction_leaves_none_of_its_rows(db):
    """A transaction that fails in one thread is rolled back whole; the others' are committed."""
    taken = db.CachedElement.select().first().id

    def work(index, barrier):
        barrier.wait()
        with db.atomic():
            db.CachedElement.create(id=uuid.UUID(int=index), type="word")
            if index == 0:
                db.CachedElement.create(id=taken, type="word")

    errors = in_threads(work)
    assert isinstance(errors[0], IntegrityError) and errors[1:] == [None] * (THREADS - 1)
    words = {row.id for row in db.CachedElement.select().where(db.CachedElement.type == "word")}
    assert words == {uuid.UUID(int=index) for index in range(1, THREADS)}


def test_the_file_keeps_its_rollback_journal(db, tmp_path):
    def work(index, barrier):
        barrier.wait()
        with db.atomic():
            db.CachedElement.create(id=uuid.UUID(int=index), type="word")

    assert in_threads(work) == [None] * THREADS
    db.close()
    path = tmp_path / "db.sqlite"
    assert sorted(item.name for item in tmp_path.iterdir()) == ["db.sqlite"]  # no -wal, -shm, -journal
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("SELECT count(*) FROM elements WHERE type = 'word'").fetchone() == (
            THREADS,
        )
    finally:
        connection.close()


def test_rows_being_iterated_hold_no_lock(db, tmp_path):
    """A query's rows are read when it runs: another connection writes while they are iterated."""
    other = sqlite3.connect(tmp_path / "db.sqlite", timeout=0)  # no wait: a lock held fails at once
    try:
        lines = iter(db.CachedElement.select().where(db.CachedElement.type == "line"))
        first = next(lines)
        with other:
            other.execute("UPDATE elements SET confidence = 0.5 WHERE type = 'line'")
        assert first.confidence is None and len(list(lines)) == 3 * THREADS - 1
    finally:
        other.close()
    cursor = db.execute_sql("SELECT type FROM elements ORDER BY rowid")
    assert [column[0] for column in cursor.description] == ["type"]
    assert (cursor.fetchone(), cursor.fetchmany(3), len(cursor.fetchall()), cursor.fetchone()) == (
        ("page",),
        [("line",)] * 3,
        4 * THREADS - 4,
        None,
    )


def test_threads_extracting_one_dataset_archive_share_one_extraction(tmp_path):
    """A dataset's archive asked for by several threads at once (its sets' handlers) is extracted once."""
    source = tmp_path / "source"
    (source / "images").mkdir(parents=True)
    (source / "images" / "1.txt").write_text("one")
    create_tar_zst(source, tmp_path / "dataset.tar.zst")
    archive = LocalArchive(tmp_path / "dataset.tar.zst", downloaded=False, scratch_dir=tmp_path / "scratch")
    folders = [None] * THREADS

    def work(index, barrier):
        barrier.wait()
        folders[index] = archive.extract()

    assert in_threads(work) == [None] * THREADS
    assert len(set(folders)) == 1 and (folders[0] / "images" / "1.txt").read_text() == "one"
    assert list((tmp_path / "scratch").iterdir()) == [folders[0]]
    archive.remove()
    assert list((tmp_path / "scratch").iterdir()) == []
