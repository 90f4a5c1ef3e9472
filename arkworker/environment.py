"""The variables Arkindex and Ponos set for a task, read once into an :class:`Environment`.

Everything below the run layer that depends on the task's environment (Ponos task files,
secrets, parent tasks) takes this value rather than ``os.environ``, so a run's environment
is the one it was given, also in tests and for two runs in one process.

Values are checked when they are read: a bad one is a usage error before the run starts,
not a crash in the middle of it.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arkworker.errors import BadInput

_FALSE_WORDS = {"", "0", "false", "no", "off"}


def _get(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name) or None


def env_number(
    env: Mapping[str, str],
    name: str,
    kind: type,
    default: Any,
    *,
    minimum: float,
    inclusive: bool = True,
    expected: str | None = None,
) -> Any:
    """The number in variable ``name`` (``default`` when unset or empty), checked at once.

    A bad value is a :class:`BadInput` naming the variable and what it takes (``expected``
    replaces the generic wording). Every layer reads its numeric variables with this one
    function, so that they all accept and refuse the same way.
    """
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = math.nan  # fails every comparison below, as does a "nan" value
    if value == math.inf or not (value >= minimum if inclusive else value > minimum):
        if expected is None:
            number = "a whole number" if kind is int else "a number"
            expected = f"{number} {'>=' if inclusive else '>'} {minimum:g}"
        raise BadInput(f"{name}={raw!r} is not valid: expected {expected}.")
    return value


def is_task_id(value: object) -> bool:
    """A UUID in its canonical text form (braces, ``urn:`` or missing dashes are refused).

    Task ids become directory names under ``PONOS_DATA``: anything else (``..``, a path)
    would make a worker read files outside the task tree.
    """
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


#: What ``TASK_PARENTS`` holds, for its error messages.
_TASK_PARENTS_FORM = 'a JSON object {"<parent task id>": "<parent slug>", ...}'


def _task_parents(raw: str | None) -> dict[str, str] | None:
    """``TASK_PARENTS``, the parent tasks given without asking the API (ids to slugs, in order)."""
    if raw is None:
        return None
    try:
        parents = json.loads(raw)
    except ValueError as exc:
        raise BadInput(f"TASK_PARENTS is not valid JSON ({exc}): set it to {_TASK_PARENTS_FORM}.") from None
    if not isinstance(parents, dict):
        raise BadInput(
            f"TASK_PARENTS is a JSON {type(parents).__name__}, not an object: set it to {_TASK_PARENTS_FORM}."
        )
    for task_id, slug in parents.items():
        if not is_task_id(task_id):
            raise BadInput(
                f"TASK_PARENTS: {task_id!r} is not a task id (a UUID): set it to {_TASK_PARENTS_FORM}."
            )
        if not isinstance(slug, str):
            raise BadInput(
                f"TASK_PARENTS: the slug of task {task_id} is {json.dumps(slug)}, not a string: "
                f"set it to {_TASK_PARENTS_FORM}."
            )
    return parents


@dataclass(frozen=True)
class Environment:
    """The variables Arkindex and Ponos set for a task (facts section 1), read once."""

    worker_run_id: str | None = None
    corpus_id: str | None = None
    model_version_id: str | None = None
    model_id: str | None = None
    debug: bool = False
    ponos_data: Path | None = None
    ponos_task: str | None = None
    #: The task's chunk (``ARKINDEX_TASK_CHUNK``), a positive whole number written in its plain
    #: decimal form, as it goes into the chunk's file names (``db_<chunk>.sqlite``).
    task_chunk: str | None = None
    task_elements: Path | None = None
    #: ``ARKINDEX_MODEL_DIR``: where Arkindex puts the worker run's model (it may not exist).
    model_dir: Path | None = None
    #: ``TASK_PARENTS``: the parent tasks (ids to slugs, in order) when given without the API.
    task_parents: Mapping[str, str] | None = None
    #: ``SKIP_TASK_ELEMENTS`` is set, whatever its value (even empty), as Arkindex means it.
    skip_task_elements: bool = False
    data_home: Path = field(default_factory=lambda: Path.home() / ".local" / "share")
    config_home: Path = field(default_factory=lambda: Path.home() / ".config")
    variables: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Environment:
        """Read ``env``; raises :class:`BadInput` for a value that cannot be used."""
        home = Path(env.get("HOME") or Path.home())
        ponos_data = _get(env, "PONOS_DATA")
        task_elements = _get(env, "TASK_ELEMENTS")
        model_dir = _get(env, "ARKINDEX_MODEL_DIR")
        chunk = env_number(
            env, "ARKINDEX_TASK_CHUNK", int, None, minimum=1, expected="a positive whole number, e.g. 1"
        )
        return cls(
            worker_run_id=_get(env, "ARKINDEX_WORKER_RUN_ID"),
            corpus_id=_get(env, "ARKINDEX_CORPUS_ID"),
            model_version_id=_get(env, "ARKINDEX_MODEL_VERSION_ID"),
            model_id=_get(env, "ARKINDEX_MODEL_ID"),
            debug=(env.get("ARKINDEX_DEBUG") or "").strip().lower() not in _FALSE_WORDS,
            ponos_data=Path(ponos_data) if ponos_data else None,
            ponos_task=_get(env, "PONOS_TASK"),
            task_chunk=None if chunk is None else str(chunk),
            task_elements=Path(task_elements) if task_elements else None,
            model_dir=Path(model_dir) if model_dir else None,
            task_parents=_task_parents(_get(env, "TASK_PARENTS")),
            skip_task_elements="SKIP_TASK_ELEMENTS" in env,
            data_home=Path(_get(env, "XDG_DATA_HOME") or home / ".local" / "share"),
            config_home=Path(_get(env, "XDG_CONFIG_HOME") or home / ".config"),
            variables=dict(env),
        )

    @property
    def task_data_dir(self) -> Path:
        """Where Ponos puts the outputs of every task of the process (``/data`` by default)."""
        return self.ponos_data or Path("/data")

    @property
    def work_dir(self) -> Path:
        """``$PONOS_DATA/current`` in a Ponos task, else ``$XDG_DATA_HOME/arkindex``."""
        if self.ponos_data:
            return self.ponos_data / "current"
        return self.data_home / "arkindex"
