"""Build ``reference_cache.sqlite``: a cache written the way arkindex-base-worker 0.3.7 writes it.

Independent of arkworker on purpose: the DDL below is written by hand from the format's
description (one statement per table and index, columns in their physical order), and the
rows use the reference's storage conventions (UUIDs as 32 hex digits, JSON as text,
booleans as 0/1). The tests read this file with arkworker, and compare it with a file
arkworker writes. Regenerate with ``python tests/data/make_reference_cache.py``.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

DDL = (
    'CREATE TABLE IF NOT EXISTS "version" ("version" INTEGER NOT NULL PRIMARY KEY)',
    'CREATE TABLE IF NOT EXISTS "images" ("id" TEXT NOT NULL PRIMARY KEY, "width" INTEGER NOT NULL, '
    '"height" INTEGER NOT NULL, "url" TEXT NOT NULL)',
    'CREATE TABLE IF NOT EXISTS "elements" ("id" TEXT NOT NULL PRIMARY KEY, "parent_id" TEXT, '
    '"type" VARCHAR(50) NOT NULL, "image_id" TEXT, "polygon" text, "rotation_angle" INTEGER NOT NULL, '
    '"mirrored" INTEGER NOT NULL, "initial" INTEGER NOT NULL, "worker_version_id" TEXT, '
    '"worker_run_id" TEXT, "confidence" REAL, FOREIGN KEY ("image_id") REFERENCES "images" ("id"))',
    'CREATE INDEX IF NOT EXISTS "cachedelement_image_id" ON "elements" ("image_id")',
    'CREATE TABLE IF NOT EXISTS "transcriptions" ("id" TEXT NOT NULL PRIMARY KEY, "element_id" TEXT NOT NULL, '
    '"text" TEXT NOT NULL, "confidence" REAL, "orientation" VARCHAR(50) NOT NULL, "worker_version_id" TEXT, '
    '"worker_run_id" TEXT, FOREIGN KEY ("element_id") REFERENCES "elements" ("id"))',
    'CREATE INDEX IF NOT EXISTS "cachedtranscription_element_id" ON "transcriptions" ("element_id")',
    'CREATE TABLE IF NOT EXISTS "classifications" ("id" TEXT NOT NULL PRIMARY KEY, "element_id" TEXT NOT NULL, '
    '"class_name" TEXT NOT NULL, "confidence" REAL NOT NULL, "state" VARCHAR(10) NOT NULL, '
    '"worker_run_id" TEXT, FOREIGN KEY ("element_id") REFERENCES "elements" ("id"))',
    'CREATE INDEX IF NOT EXISTS "cachedclassification_element_id" ON "classifications" ("element_id")',
    'CREATE TABLE IF NOT EXISTS "entities" ("id" TEXT NOT NULL PRIMARY KEY, "type" VARCHAR(50) NOT NULL, '
    '"name" TEXT NOT NULL, "validated" INTEGER NOT NULL, "metas" text, "worker_run_id" TEXT)',
    'CREATE TABLE IF NOT EXISTS "transcription_entities" ("transcription_id" TEXT NOT NULL, '
    '"entity_id" TEXT NOT NULL, "offset" INTEGER NOT NULL CHECK (offset >= 0), '
    '"length" INTEGER NOT NULL CHECK (length > 0), "worker_run_id" TEXT, "confidence" REAL, '
    'PRIMARY KEY ("transcription_id", "entity_id"), '
    'FOREIGN KEY ("transcription_id") REFERENCES "transcriptions" ("id"), '
    'FOREIGN KEY ("entity_id") REFERENCES "entities" ("id"))',
    'CREATE INDEX IF NOT EXISTS "cachedtranscriptionentity_transcription_id" '
    'ON "transcription_entities" ("transcription_id")',
    'CREATE INDEX IF NOT EXISTS "cachedtranscriptionentity_entity_id" ON "transcription_entities" ("entity_id")',
    'CREATE TABLE IF NOT EXISTS "datasets" ("id" TEXT NOT NULL PRIMARY KEY, "name" VARCHAR(255) NOT NULL, '
    '"state" VARCHAR(255) NOT NULL DEFAULT \'open\', "sets" TEXT NOT NULL)',
    'CREATE TABLE IF NOT EXISTS "dataset_elements" ("id" TEXT NOT NULL PRIMARY KEY, '
    '"element_id" TEXT NOT NULL, "dataset_id" TEXT NOT NULL, "set_name" VARCHAR(255) NOT NULL, '
    'FOREIGN KEY ("element_id") REFERENCES "elements" ("id"), '
    'FOREIGN KEY ("dataset_id") REFERENCES "datasets" ("id"))',
    'CREATE INDEX IF NOT EXISTS "cacheddatasetelement_element_id" ON "dataset_elements" ("element_id")',
    'CREATE INDEX IF NOT EXISTS "cacheddatasetelement_dataset_id" ON "dataset_elements" ("dataset_id")',
)

IMAGE = "11111111111111111111111111111111"
FOLDER = "22222222222222222222222222222222"
PAGE_1 = "33333333333333333333333333333333"
PAGE_2 = "44444444444444444444444444444444"
LINE = "55555555555555555555555555555555"
RUN = "66666666666666666666666666666666"
VERSION = "77777777777777777777777777777777"
TRANSCRIPTION = "88888888888888888888888888888888"
ENTITY = "99999999999999999999999999999999"
DATASET = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
DATASET_ELEMENT = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
CLASSIFICATION = "cccccccccccccccccccccccccccccccc"

POLYGON = [[0, 0], [0, 1500], [1000, 1500], [1000, 0], [0, 0]]

#: Rows per table, values in the physical column order of the DDL.
ROWS: dict[str, list[tuple]] = {
    "version": [(3,)],
    "images": [(IMAGE, 1000, 1500, "https://iiif.example.com/iiif/2/scan")],
    "elements": [
        (FOLDER, None, "folder", None, None, 0, 0, 0, None, None, None),
        (PAGE_1, FOLDER, "page", IMAGE, json.dumps(POLYGON), 0, 0, 1, None, None, None),
        (PAGE_2, FOLDER, "page", IMAGE, json.dumps(POLYGON), 90, 1, 1, VERSION, RUN, 0.75),
        (
            LINE,
            PAGE_1,
            "text_line",
            IMAGE,
            json.dumps([[0, 0], [0, 10], [10, 10], [0, 0]]),
            0,
            0,
            0,
            None,
            RUN,
            1.0,
        ),
    ],
    "transcriptions": [(TRANSCRIPTION, LINE, "Hello world", 0.5, "horizontal-lr", None, RUN)],
    "classifications": [(CLASSIFICATION, PAGE_1, "handwritten", 0.9, "pending", RUN)],
    "entities": [(ENTITY, "person", "Ada", 1, json.dumps({"birth": "1815"}), RUN)],
    "transcription_entities": [(TRANSCRIPTION, ENTITY, 6, 5, RUN, 0.8)],
    "datasets": [(DATASET, "Training set", "open", json.dumps(["train", "dev", "test"]))],
    "dataset_elements": [(DATASET_ELEMENT, PAGE_1, DATASET, "train")],
}


def build(path: Path) -> Path:
    """Write the reference cache to ``path`` (replaced if it exists)."""
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path)
    try:
        for statement in DDL:
            connection.execute(statement)
        for table, rows in ROWS.items():
            for row in rows:
                marks = ", ".join("?" * len(row))
                connection.execute(f'INSERT INTO "{table}" VALUES ({marks})', row)
        connection.commit()
    finally:
        connection.close()
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("reference_cache.sqlite")
    print(f"Wrote {build(target)}")
