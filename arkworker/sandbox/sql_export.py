"""The SQLite file of a corpus export, built from the sandbox's state.

The tables and columns are those of Arkindex's SQLite exports as the ``arkindex-export``
package (0.2.5) reads them, for the data the sandbox holds: ``image_server``, ``image``,
``worker_version``, ``worker_run``, ``element``, ``element_path``, ``transcription``,
``classification``, ``metadata``, ``dataset`` and ``dataset_element``, with
``export_version``. Entities and embeddings are not exported (their tables are absent, not
empty). Ids are dashed UUID strings, polygons JSON text, ``created``/``updated`` seconds
since the epoch, a dataset's ``sets`` its set names joined by commas.

An export of a dataset (``dataset_id``) holds that dataset, the elements of its sets with
all their descendants, and what refers to them; an export of the corpus holds everything.
"""

from __future__ import annotations

import datetime
import json
import sqlite3
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from peewee import SQL

from arkworker.sandbox.handlers.classifications import Classification
from arkworker.sandbox.handlers.datasets import Dataset, DatasetElement, DatasetSet
from arkworker.sandbox.handlers.elements import image_url
from arkworker.sandbox.handlers.metadata import MetaData
from arkworker.sandbox.tables import Element, ElementPath, Image, Transcription, WorkerRun

#: The ``export_version`` the sandbox stamps (its own number for this layout).
EXPORT_VERSION = 9

_TABLES = """
CREATE TABLE export_version (version INTEGER NOT NULL);
CREATE TABLE image_server (
    id INTEGER PRIMARY KEY, url VARCHAR(200) NOT NULL UNIQUE, display_name VARCHAR(250) NOT NULL,
    max_width INTEGER, max_height INTEGER, version INTEGER NOT NULL DEFAULT 2
);
CREATE TABLE image (
    id VARCHAR(37) PRIMARY KEY, server_id INTEGER NOT NULL REFERENCES image_server (id),
    url TEXT NOT NULL UNIQUE, width INTEGER NOT NULL, height INTEGER NOT NULL
);
CREATE TABLE worker_version (
    id VARCHAR(37) PRIMARY KEY, slug VARCHAR(100) NOT NULL, name VARCHAR(100) NOT NULL,
    repository_url VARCHAR(250), revision VARCHAR(200), version INTEGER, type VARCHAR(50) NOT NULL
);
CREATE TABLE worker_run (
    id VARCHAR(37) PRIMARY KEY, worker_version_id VARCHAR(37) NOT NULL REFERENCES worker_version (id),
    model_version_id VARCHAR(37), model_id VARCHAR(37), model_name VARCHAR(100),
    configuration_id VARCHAR(37), configuration TEXT
);
CREATE TABLE element (
    id VARCHAR(37) PRIMARY KEY, name VARCHAR(250) NOT NULL, type VARCHAR(50) NOT NULL,
    image_id VARCHAR(37) REFERENCES image (id), polygon TEXT, confidence REAL,
    rotation_angle INTEGER NOT NULL DEFAULT 0, mirrored INTEGER NOT NULL DEFAULT 0,
    worker_run_id VARCHAR(37) REFERENCES worker_run (id), created REAL NOT NULL, updated REAL NOT NULL
);
CREATE TABLE element_path (
    id VARCHAR(37) PRIMARY KEY, parent_id VARCHAR(37) NOT NULL REFERENCES element (id),
    child_id VARCHAR(37) NOT NULL REFERENCES element (id), ordering INTEGER NOT NULL DEFAULT 0,
    UNIQUE (parent_id, child_id)
);
CREATE TABLE transcription (
    id VARCHAR(37) PRIMARY KEY, orientation TEXT NOT NULL DEFAULT 'horizontal-lr', text TEXT NOT NULL,
    confidence REAL, element_id VARCHAR(37) NOT NULL REFERENCES element (id),
    worker_run_id VARCHAR(37) REFERENCES worker_run (id)
);
CREATE TABLE classification (
    id VARCHAR(37) PRIMARY KEY, class_name VARCHAR(1024) NOT NULL, confidence REAL NOT NULL,
    element_id VARCHAR(37) NOT NULL REFERENCES element (id), worker_run_id VARCHAR(37) REFERENCES worker_run (id)
);
CREATE TABLE metadata (
    id VARCHAR(37) PRIMARY KEY, name VARCHAR(250) NOT NULL, value TEXT NOT NULL, type VARCHAR(50) NOT NULL,
    element_id VARCHAR(37) NOT NULL REFERENCES element (id), worker_run_id VARCHAR(37) REFERENCES worker_run (id)
);
CREATE TABLE dataset (
    id VARCHAR(37) PRIMARY KEY, name VARCHAR(100) NOT NULL, description TEXT NOT NULL, sets TEXT NOT NULL
);
CREATE TABLE dataset_element (
    id VARCHAR(37) PRIMARY KEY, element_id VARCHAR(37) NOT NULL REFERENCES element (id),
    dataset_id VARCHAR(37) NOT NULL REFERENCES dataset (id), set_name VARCHAR(50) NOT NULL
);
"""


def moment_of(created: str) -> datetime.datetime:
    """The time of a sandbox ``created`` field (ISO 8601, ``Z`` for UTC)."""
    return datetime.datetime.fromisoformat(created.replace("Z", "+00:00"))


def build_export(corpus_id: str, dataset_id: str | None, base_url: str) -> bytes:
    """The SQLite file of an export of ``corpus_id`` (of its dataset ``dataset_id``), as bytes.

    Call it inside a store session; ``base_url`` is the sandbox's address, which the images
    it serves itself have in their URL.
    """
    rows = _rows(corpus_id, dataset_id, base_url)
    with tempfile.TemporaryDirectory(prefix="arkworker-sandbox-export-") as directory:
        path = Path(directory) / "export.sqlite"
        connection = sqlite3.connect(path)
        try:
            connection.executescript(_TABLES)
            connection.execute("INSERT INTO export_version VALUES (?)", (EXPORT_VERSION,))
            for table, table_rows in rows.items():
                if table_rows:
                    marks = ", ".join("?" * len(table_rows[0]))
                    connection.executemany(f"INSERT INTO {table} VALUES ({marks})", table_rows)
            connection.commit()
        finally:
            connection.close()
        return path.read_bytes()


def _rows(corpus_id: str, dataset_id: str | None, base_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of each table, in an order foreign keys accept."""
    datasets = Dataset.select().where(Dataset.corpus == corpus_id)
    if dataset_id is not None:
        datasets = datasets.where(Dataset.id == dataset_id)
    dataset_rows, members = _datasets(list(datasets.order_by(SQL("rowid"))))
    if dataset_id is None:
        query = Element.select().where(Element.corpus == corpus_id)
    else:
        query = Element.select().where(Element.id.in_(_with_descendants(row[1] for row in members)))
    elements = list(query.order_by(SQL("rowid")))
    ids = [element.id for element in elements]
    image_ids = sorted({element.image_id for element in elements if element.image_id is not None})
    servers, images = _images(Image.select().where(Image.id.in_(image_ids)).order_by(SQL("rowid")), base_url)
    transcriptions = [
        (row.id, row.orientation, row.text, row.confidence, row.element_id, row.worker_run_id)
        for row in _of_elements(Transcription, ids)
    ]
    classifications = [
        (row.id, row.ml_class.name, row.confidence, row.element_id, row.worker_run_id)
        for row in _of_elements(Classification, ids)
    ]
    metadata = [
        (row.id, row.name, row.value, row.type, row.element_id, row.worker_run_id)
        for row in _of_elements(MetaData, ids)
    ]
    element_rows = [_element(element) for element in elements]
    runs = {row[-1] for table in (element_rows, transcriptions, classifications, metadata) for row in table}
    versions, worker_runs = _worker_runs(sorted(run for run in runs if run))
    paths = ElementPath.select().where(ElementPath.parent.in_(ids) & ElementPath.child.in_(ids))
    return {
        "image_server": servers,
        "image": images,
        "worker_version": versions,
        "worker_run": worker_runs,
        "element": element_rows,
        "element_path": [
            (_path_id(path), path.parent_id, path.child_id, path.ordering)
            for path in paths.order_by(SQL("rowid"))
        ],
        "transcription": transcriptions,
        "classification": classifications,
        "metadata": metadata,
        "dataset": dataset_rows,
        "dataset_element": members,
    }


def _datasets(datasets: Sequence[Dataset]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The ``dataset`` rows and the ``dataset_element`` rows of their sets."""
    dataset_rows: list[tuple[Any, ...]] = []
    members: list[tuple[Any, ...]] = []
    for dataset in datasets:
        sets = list(DatasetSet.select().where(DatasetSet.dataset == dataset.id).order_by(SQL("rowid")))
        dataset_rows.append((dataset.id, dataset.name, dataset.description, ",".join(s.name for s in sets)))
        for dataset_set in sets:
            query = DatasetElement.select().where(DatasetElement.dataset_set == dataset_set.id)
            members.extend(
                (row.id, row.element_id, dataset.id, dataset_set.name) for row in query.order_by(SQL("rowid"))
            )
    return dataset_rows, members


def _with_descendants(element_ids: Iterable[str]) -> set[str]:
    found = set(element_ids)
    frontier = set(found)
    while frontier:
        children = ElementPath.select(ElementPath.child).where(ElementPath.parent.in_(list(frontier)))
        frontier = {path.child_id for path in children} - found
        found |= frontier
    return found


def _of_elements(model: Any, element_ids: list[str]) -> list[Any]:
    return list(model.select().where(model.element.in_(element_ids)).order_by(SQL("rowid")))


def _path_id(path: ElementPath) -> str:
    """A stable UUID for a link, which the sandbox numbers instead."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"element-path:{path.parent_id}:{path.child_id}"))


def _element(element: Element) -> tuple[Any, ...]:
    zoned = element.image_id is not None and element.polygon is not None
    created = moment_of(element.created).timestamp()
    return (
        element.id,
        element.name,
        element.type,
        element.image_id if zoned else None,
        json.dumps(element.polygon) if zoned else None,
        element.confidence,
        element.rotation_angle,
        int(element.mirrored),
        element.worker_run_id,
        created,
        created,
    )


def _images(images: Iterable[Image], base_url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The ``image_server`` rows (one per server address) and the ``image`` rows."""
    servers: dict[str, tuple[Any, ...]] = {}
    rows: dict[str, tuple[Any, ...]] = {}
    for image in images:
        url = image_url(image, base_url)
        server_url = url.rpartition("/")[0]
        if server_url not in servers:
            name = "arkworker sandbox" if image.url is None else server_url
            servers[server_url] = (len(servers) + 1, server_url, name, image.max_width, image.max_height, 2)
        rows[image.id] = (image.id, servers[server_url][0], url, image.width, image.height)
    return list(servers.values()), list(rows.values())


def _worker_runs(run_ids: list[str]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The ``worker_version`` and ``worker_run`` rows of the worker runs the sandbox knows."""
    versions: dict[str, tuple[Any, ...]] = {}
    runs = []
    for run in WorkerRun.select().where(WorkerRun.id.in_(run_ids)).order_by(SQL("rowid")):
        worker = run.version.worker
        versions[run.version_id] = (run.version_id, worker.slug, worker.name, None, None, 1, worker.type)
        model_version = run.model_version or {}
        model = model_version.get("model") or {}
        configuration = run.configuration or {}
        runs.append(
            (
                run.id,
                run.version_id,
                model_version.get("id"),
                model.get("id"),
                model.get("name"),
                configuration.get("id"),
                json.dumps(configuration.get("configuration")) if configuration else None,
            )
        )
    return list(versions.values()), runs
