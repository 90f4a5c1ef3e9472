"""The ``models`` section of corpus files: Arkindex models and their versions, to train and publish.

::

    models:
      - name: Line detector                 # required; also id, description
        versions:                           # default: none
          - {tag: v1, configuration: {epochs: 10}}      # state: available by default
          - {tag: v2, parent: v1, state: created}       # parent: a tag of this model, or a version id
          - {tag: v3, hash: 9e107d9d372bb6826bd81d3542a419d6}   # its content hash (MD5)

The worker run's ``model_version`` (:mod:`.run`) is a model version too: it is added with its
model, so that a worker can fine-tune it (``parent=ctx.model_version_id`` on
``ctx.model_details["id"]``). To give that model other versions, declare it here with the
``id`` of ``worker_run.model_version.model``: both are then one model, named as here.

A version's ``hash`` makes ``ValidateModelVersion`` answer 409 for an archive of the same
content, as Arkindex does for an available version.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from arkworker.sandbox.corpus.section import Section
from arkworker.sandbox.handlers.models import VERSION_STATES, Model, ModelVersion

if TYPE_CHECKING:
    from arkworker.sandbox.corpus.parser import Parser
    from arkworker.sandbox.corpus.spec import Rows

_MODEL_KEYS = ("id", "name", "description", "versions")
_VERSION_KEYS = ("id", "tag", "description", "configuration", "state", "parent", "hash")


class Models(Section):
    """The models and versions of the sandbox, the worker run's model version included."""

    keys = ("models",)

    def __init__(self, parser: Parser) -> None:
        super().__init__(parser)
        self.models: list[dict[str, Any]] = []
        self.versions: list[dict[str, Any]] = []

    def parse(self, top: Mapping[str, Any]) -> None:
        p = self.parser
        run_version = p.spec.worker_run.get("model_version")
        run_model = run_version["model"] if run_version else None
        if run_version is not None:
            self.versions.append(
                _version_row(
                    run_version["id"],
                    run_version["model"]["id"],
                    configuration=run_version["configuration"],
                    state=run_version["state"],
                )
            )
        for index, entry in enumerate(p.sequence(top.get("models") or [], "models")):
            loc = f"models[{index}]"
            entry = p.mapping(entry, loc, _MODEL_KEYS)
            if "name" not in entry:
                p.fail(loc, "missing 'name'")
            name = p.string(entry["name"], f"{loc}.name")
            if run_model is not None and _same_id(entry.get("id"), run_model["id"]):
                model_id = run_model["id"]
                run_model["name"] = name  # one model: the worker run's payload names it as here
            else:
                model_id = p.identifier(entry, loc, "models")
            description = entry.get("description", "")
            if not isinstance(description, str):
                p.fail(f"{loc}.description", f"expected a string, got {description!r}")
            self.models.append({"id": model_id, "name": name, "description": description})
            self._parse_versions(entry.get("versions") or [], f"{loc}.versions", model_id)
        if run_model is not None and all(model["id"] != run_model["id"] for model in self.models):
            self.models.insert(0, {"id": run_model["id"], "name": run_model["name"], "description": ""})

    def _parse_versions(self, value: Any, loc: str, model_id: str) -> None:
        p = self.parser
        tags: dict[str, str] = {}
        for index, entry in enumerate(p.sequence(value, loc)):
            here = f"{loc}[{index}]"
            entry = p.mapping(entry, here, _VERSION_KEYS)
            tag = p.string(entry["tag"], f"{here}.tag") if entry.get("tag") is not None else None
            if tag is not None and tag in tags:
                p.fail(f"{here}.tag", f"duplicate tag {tag!r} (a model's tags are unique)")
            description = entry.get("description")
            if description is not None and not isinstance(description, str):
                p.fail(f"{here}.description", f"expected a string, got {description!r}")
            content_hash = entry.get("hash")
            if content_hash is not None:
                content_hash = p.string(content_hash, f"{here}.hash")
                if len(content_hash) != 32 or any(c not in "0123456789abcdef" for c in content_hash):
                    p.fail(
                        f"{here}.hash",
                        f"expected an MD5 hash (32 lowercase hexadecimal digits), got {content_hash!r}",
                    )
            version_id = p.identifier(entry, here, "model_versions")
            row = _version_row(
                version_id,
                model_id,
                configuration=p.dictionary(entry.get("configuration", {}), f"{here}.configuration"),
                state=p.string(entry.get("state", "available"), f"{here}.state", choices=VERSION_STATES),
            )
            row.update(
                tag=tag,
                description=description,
                hash=content_hash,
                parent_id=self._parent(entry.get("parent"), f"{here}.parent", tags),
            )
            self.versions.append(row)
            if tag is not None:
                tags[tag] = version_id

    def _parent(self, reference: Any, loc: str, tags: Mapping[str, str]) -> str | None:
        """The id of the version a ``parent`` names: a tag of the same model, or an earlier version's id."""
        if reference is None:
            return None
        reference = self.parser.string(reference, loc)
        if reference in tags:
            return tags[reference]
        for row in self.versions:
            if _same_id(reference, row["id"]):
                return row["id"]
        self.parser.fail(
            loc,
            f"unknown version {reference!r} (give a tag of an earlier version of this model, or the id of "
            "an earlier version)",
        )

    def rows(self) -> list[Rows]:
        return [(Model, self.models), (ModelVersion, self.versions)]


def _version_row(version_id: str, model_id: str, *, configuration: Any, state: str) -> dict[str, Any]:
    return {
        "id": version_id,
        "model": model_id,
        "parent_id": None,
        "tag": None,
        "description": None,
        "configuration": configuration,
        "state": state,
        "hash": None,
    }


def _same_id(reference: Any, identifier: str) -> bool:
    """Whether ``reference`` is the UUID ``identifier`` (in any spelling)."""
    try:
        return str(uuid.UUID(str(reference))) == identifier
    except ValueError:
        return False
