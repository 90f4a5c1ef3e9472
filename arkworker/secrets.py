"""Secrets a worker declares: fetched from the API, parsed by their name's extension.

Secret values are kept in a :class:`Secrets` mapping whose ``repr`` shows names only, so a
configuration printed in a log or a traceback never shows them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import yaml
from arkindex.exceptions import ErrorResponse

from arkworker.errors import ConfigurationError

if TYPE_CHECKING:
    from arkworker.api import Api
    from arkworker.config import Environment

logger = logging.getLogger("arkworker")


class Secrets(dict):
    """Secret values by name; printing it shows the names, never the values."""

    def __repr__(self) -> str:
        return f"Secrets({sorted(self)!r})"

    __str__ = __repr__


def parse_secret(name: str, content: str) -> Any:
    """Parse ``content`` as JSON or YAML when ``name`` ends in .json, .yaml or .yml.

    A secret that does not parse is an error: silently handing the raw text to a worker
    that expects a mapping only moves the failure somewhere harder to understand.
    """
    suffix = PurePosixPath(name).suffix.lower()
    try:
        if suffix == ".json":
            return json.loads(content)
        if suffix in (".yaml", ".yml"):
            return yaml.safe_load(content)
    except (ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if suffix == ".json" else "YAML"
        where = _position(exc)
        raise ConfigurationError(
            f"Secret {name} is not valid {kind}{where}: fix its content, or rename it without the "
            f"{suffix} extension to receive it as raw text."
        ) from None
    return content


def load_secrets(names: Iterable[str], api: Api, environment: Environment) -> Secrets:
    """Fetch every required secret; a missing one stops the run with its name."""
    secrets = Secrets()
    for name in names:
        secrets[name] = parse_secret(name, _fetch(name, api, environment))
    return secrets


def _fetch(name: str, api: Api, environment: Environment) -> str:
    if api.has_operation("RetrieveSecret"):
        try:
            answer = api.request("RetrieveSecret", name=name)
        except ErrorResponse as exc:
            logger.warning("Secret %s not available on the API: HTTP %s", name, exc.title)
        else:
            if isinstance(answer, dict) and isinstance(answer.get("content"), str):
                return answer["content"]
            logger.warning("Secret %s: the API answer has no text 'content'", name)
    raise ConfigurationError(
        f"Secret {name} is not available on the API ({api.url}): create it on Arkindex, or remove "
        "it from the worker's required secrets."
    )


def _position(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f" (line {exc.lineno}, column {exc.colno})"
    mark = getattr(exc, "problem_mark", None)
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
