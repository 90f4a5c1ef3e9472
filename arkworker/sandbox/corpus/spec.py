"""A validated corpus: the rows of each table, ready to seed a sandbox store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from peewee import chunked

from arkworker.sandbox.store import BaseModel, Store
from arkworker.sandbox.tables import (
    Corpus,
    Element,
    ElementPath,
    ElementType,
    Image,
    Process,
    Transcription,
    Worker,
    WorkerRun,
    WorkerVersion,
)

#: The rows of one table, as a section produces them.
Rows = tuple[type[BaseModel], list[dict[str, Any]]]


@dataclass
class CorpusSpec:
    """The rows of the core tables, then the sections' ``(model, rows)`` in insertion order."""

    label: str
    corpus: dict[str, Any]
    #: The API level the corpus asks to be served at (``api_level``), None when it does not say.
    api_level: str | None = None
    types: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    elements: list[dict[str, Any]] = field(default_factory=list)
    paths: list[dict[str, Any]] = field(default_factory=list)
    transcriptions: list[dict[str, Any]] = field(default_factory=list)
    worker: dict[str, Any] = field(default_factory=dict)
    version: dict[str, Any] = field(default_factory=dict)
    process: dict[str, Any] = field(default_factory=dict)
    worker_run: dict[str, Any] = field(default_factory=dict)
    #: Rows of the sections (secrets, tasks, datasets, annotations), after the core tables.
    sections: list[Rows] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.corpus["name"]

    def seed(self, store: Store) -> None:
        """Insert every row into an initialised, empty store, and record the seeded ids."""
        tables: list[Rows] = [
            (Corpus, [self.corpus]),
            (ElementType, self.types),
            (Image, self.images),
            (Element, self.elements),
            (ElementPath, self.paths),
            (Transcription, self.transcriptions),
            (Worker, [self.worker]),
            (WorkerVersion, [self.version]),
            (Process, [self.process]),
            (WorkerRun, [self.worker_run]),
            *self.sections,
        ]
        with store.session():
            for model, rows in tables:
                for batch in chunked(rows, 100):
                    model.insert_many(batch).execute()
            store.set_meta("corpus_id", self.corpus["id"])
            store.set_meta("corpus_name", self.name)
            store.set_meta("worker_run_id", self.worker_run["id"])
            store.set_meta("process_id", self.process["id"])
