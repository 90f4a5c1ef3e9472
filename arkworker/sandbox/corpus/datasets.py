"""The ``datasets`` section of corpus files: datasets, their sets and elements, task artifacts.

::

    datasets:
      - name: Handwritten lines          # required; also id, description
        state: complete                  # open, building, complete (default) or error
        sets:                            # set name → elements (ids or names)
          train: [Page 1, Page 2]
          test: [Page 3]
        process_sets: [train, test]      # sets the sandbox's process runs on (default: all)
        archive: lines.tar.zst           # served as the task artifact "<dataset id>.tar.zst"
        artifacts:                       # other files of the dataset's task
          - {path: stats.json, file: stats.json, content_type: application/json}
        task: <uuid>                     # the task that built the dataset (default: derived)
        export: {polls: 2, outcome: done}  # how exports started for it progress (default: done at once)
        exports:                         # exports made before (ListExports lists them)
          - {state: done, created: 2024-05-01T10:00:00Z}   # state: created, running, done or failed
          - {state: running, polls: 1, outcome: failed}    # still being built: listed running once more

File paths are relative to the corpus file (to the current directory for a corpus given as
a mapping); the files must exist, and are read each time the artifact is downloaded.

An export is listed ``running`` for ``polls`` listings, then ends in its ``outcome``
(:mod:`arkworker.sandbox.handlers.exports`); ``created`` defaults to the time of seeding.
"""

from __future__ import annotations

import datetime
import mimetypes
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from arkworker.sandbox.corpus.section import Section
from arkworker.sandbox.handlers.datasets import (
    DATASET_STATES,
    Artifact,
    Dataset,
    DatasetElement,
    DatasetSet,
    ProcessSet,
)
from arkworker.sandbox.handlers.exports import EXPORT_OUTCOMES, EXPORT_STATES, CorpusExport, ExportPlan
from arkworker.sandbox.store import BaseModel

if TYPE_CHECKING:
    from arkworker.sandbox.corpus.parser import Parser
    from arkworker.sandbox.corpus.spec import Rows

_DATASET_KEYS = (
    "id",
    "name",
    "description",
    "state",
    "sets",
    "process_sets",
    "archive",
    "artifacts",
    "task",
    "export",
    "exports",
)
_ARTIFACT_KEYS = ("path", "file", "content_type")
_PLAN_KEYS = ("polls", "outcome")
_EXPORT_KEYS = ("id", "state", "created", *_PLAN_KEYS)


class Datasets(Section):
    """Datasets with their sets, the process's sets, and the files of the tasks that built them."""

    keys = ("datasets",)

    def __init__(self, parser: Parser) -> None:
        super().__init__(parser)
        self.tables: dict[type[BaseModel], list[dict]] = {
            Dataset: [],
            DatasetSet: [],
            DatasetElement: [],
            ProcessSet: [],
            Artifact: [],
            ExportPlan: [],
            CorpusExport: [],
        }

    def parse(self, top: Mapping[str, Any]) -> None:
        p = self.parser
        for index, entry in enumerate(p.sequence(top.get("datasets") or [], "datasets")):
            _parse_dataset(p, entry, f"datasets[{index}]", self.tables)

    def rows(self) -> list[Rows]:
        return list(self.tables.items())


def _parse_dataset(parser: Parser, value: Any, loc: str, tables: dict[type[BaseModel], list[dict]]) -> None:
    entry = parser.mapping(value, loc, _DATASET_KEYS)
    if "name" not in entry:
        parser.fail(loc, "missing 'name'")
    name = parser.string(entry["name"], f"{loc}.name")
    dataset_id = parser.identifier(entry, loc, "datasets")
    task_entry = {"id": entry["task"]} if "task" in entry else {}
    task_id = parser.identifier(task_entry, f"{loc}.task", "dataset_tasks")
    description = entry.get("description", "")
    if not isinstance(description, str):
        parser.fail(f"{loc}.description", "expected a string")
    tables[Dataset].append(
        {
            "id": dataset_id,
            "corpus": parser.spec.corpus["id"],
            "name": name,
            "description": description,
            "state": parser.string(entry.get("state", "complete"), f"{loc}.state", choices=DATASET_STATES),
            "task_id": task_id,
        }
    )
    set_ids: dict[str, str] = {}
    for set_name, elements in parser.dictionary(entry.get("sets") or {}, f"{loc}.sets").items():
        set_loc = f"{loc}.sets.{set_name}"
        parser.string(set_name, set_loc)
        set_id = parser.identifier({}, set_loc, "dataset_sets")
        set_ids[set_name] = set_id
        tables[DatasetSet].append({"id": set_id, "dataset": dataset_id, "name": set_name})
        seen: set[str] = set()
        for position, reference in enumerate(parser.sequence(elements or [], set_loc)):
            element_id = parser.resolve_element(reference, f"{set_loc}[{position}]")
            if element_id in seen:
                parser.fail(f"{set_loc}[{position}]", f"element {reference!r} is already in this set")
            seen.add(element_id)
            row_id = parser.identifier({}, f"{set_loc}[{position}]", "dataset_elements")
            tables[DatasetElement].append({"id": row_id, "dataset_set": set_id, "element": element_id})
    process_sets = entry.get("process_sets")
    names = list(set_ids) if process_sets is None else parser.sequence(process_sets, f"{loc}.process_sets")
    for position, set_name in enumerate(names):
        item_loc = f"{loc}.process_sets[{position}]"
        if set_name not in set_ids:
            parser.fail(
                item_loc, f"unknown set {set_name!r} (the dataset's sets: {', '.join(set_ids) or 'none'})"
            )
        tables[ProcessSet].append(
            {
                "id": parser.identifier({}, item_loc, "process_sets"),
                "process": parser.spec.process["id"],
                "dataset_set": set_ids[set_name],
            }
        )
    rows = []
    if "archive" in entry:
        file = parser.string(entry["archive"], f"{loc}.archive")
        rows.append(_artifact(parser, f"{loc}.archive", f"{dataset_id}.tar.zst", file, task_id))
    for position, value in enumerate(parser.sequence(entry.get("artifacts") or [], f"{loc}.artifacts")):
        item_loc = f"{loc}.artifacts[{position}]"
        artifact = parser.mapping(value, item_loc, _ARTIFACT_KEYS)
        for key in ("path", "file"):
            if key not in artifact:
                parser.fail(item_loc, f"missing {key!r}")
        path = parser.string(artifact["path"], f"{item_loc}.path")
        file = parser.string(artifact["file"], f"{item_loc}.file")
        content_type = artifact.get("content_type")
        if content_type is not None:
            content_type = parser.string(content_type, f"{item_loc}.content_type")
        if any(row["path"] == path for row in rows):
            parser.fail(f"{item_loc}.path", f"the task already has an artifact at {path!r}")
        rows.append(_artifact(parser, item_loc, path, file, task_id, content_type))
    tables[Artifact].extend(rows)
    if "export" in entry:
        plan = parser.mapping(entry["export"], f"{loc}.export", _PLAN_KEYS)
        tables[ExportPlan].append({"dataset": dataset_id, **_progress(parser, plan, f"{loc}.export")})
    for position, value in enumerate(parser.sequence(entry.get("exports") or [], f"{loc}.exports")):
        item_loc = f"{loc}.exports[{position}]"
        export = parser.mapping(value, item_loc, _EXPORT_KEYS)
        row = {
            "id": parser.identifier(export, item_loc, "corpus_exports"),
            "corpus": parser.spec.corpus["id"],
            "dataset": dataset_id,
            "state": parser.string(export.get("state", "done"), f"{item_loc}.state", choices=EXPORT_STATES),
            **_progress(parser, export, item_loc),
        }
        if "created" in export:
            row["created"] = row["updated"] = _moment(parser, export["created"], f"{item_loc}.created")
        tables[CorpusExport].append(row)


def _progress(parser: Parser, entry: Mapping[str, Any], loc: str) -> dict[str, Any]:
    """How an export progresses: listed ``running`` ``polls`` times, then ``outcome``."""
    return {
        "polls": parser.integer(entry.get("polls", 0), f"{loc}.polls", minimum=0),
        "outcome": parser.string(entry.get("outcome", "done"), f"{loc}.outcome", choices=EXPORT_OUTCOMES),
    }


def _moment(parser: Parser, value: Any, loc: str) -> str:
    """An ISO 8601 date and time (UTC when it names no zone), in the form the sandbox stores."""
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
    if not isinstance(moment, datetime.datetime):
        parser.fail(loc, f"expected a date and time such as 2024-05-01T10:00:00Z, got {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _artifact(
    parser: Parser,
    loc: str,
    path: str,
    file: str,
    task_id: str,
    content_type: str | None = None,
) -> dict[str, Any]:
    location = (parser.base_dir / file).resolve()
    if not location.is_file():
        parser.fail(loc, f"the file {location} does not exist (paths are relative to the corpus file)")
    if content_type is None:
        guessed = "application/zstd" if path.endswith(".zst") else mimetypes.guess_type(path)[0]
        content_type = guessed or "application/octet-stream"
    return {
        "id": parser.identifier({}, loc, "artifacts"),
        "task_id": task_id,
        "path": path,
        "size": location.stat().st_size,
        "content_type": content_type,
        "file": str(location),
    }
