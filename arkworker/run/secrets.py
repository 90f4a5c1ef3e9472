"""Secrets a worker declares: fetched from the API or a local GPG file, parsed by extension.

Each secret is asked to the API first (``RetrieveSecret``); when the API does not have it,
the local file ``$XDG_CONFIG_HOME/arkindex/secrets/<name>`` is decrypted with GPG (the
keyring of ``GNUPGHOME``, else gpg's default). Unlike arkindex-base-worker, a local file
never silently overrides the API's value, and a file that cannot be decrypted or parsed
is an error, not a fallback to something else.

Secret values are kept in a :class:`Secrets` mapping whose ``repr`` shows names only, so a
configuration printed in a log or a traceback never shows them; the run also redacts their
values from every log line (:func:`arkworker.run.logs.redact_secrets`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import gnupg
import yaml
from arkindex.exceptions import ErrorResponse

from arkworker.errors import ConfigurationError

if TYPE_CHECKING:
    from arkworker.api.client import Api
    from arkworker.environment import Environment

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
    return Secrets({name: load_secret(name, api, environment) for name in names})


def load_secret(name: str, api: Api, environment: Environment) -> Any:
    """The secret ``name`` from the API or its local file, parsed by the extension of its name."""
    return parse_secret(name, _fetch(name, api, environment))


def local_secret_path(name: str, environment: Environment) -> Path:
    """Where a secret is looked for locally (``name`` may contain ``/``)."""
    return environment.config_home / "arkindex" / "secrets" / name


def _fetch(name: str, api: Api, environment: Environment) -> str:
    api_problem = "the API has no RetrieveSecret operation"
    if api.has_operation("RetrieveSecret"):
        try:
            answer = api.request("RetrieveSecret", name=name)
        except ErrorResponse as exc:
            api_problem = f"HTTP {exc.title}"
            logger.debug("Secret %s not available on the API: %s", name, api_problem)
        else:
            if isinstance(answer, dict) and isinstance(answer.get("content"), str):
                return answer["content"]
            api_problem = "the answer has no text 'content'"
            logger.warning("Secret %s: %s", name, api_problem)
    path = local_secret_path(name, environment)
    if path.is_file():
        content = _decrypt(name, path, environment)
        logger.info("Secret %s read from the local file %s", name, path)
        return content
    raise ConfigurationError(
        f"Secret {name} is not available on the API ({api.url}: {api_problem}) nor locally "
        f"({path} does not exist): create it on Arkindex, or put a GPG-encrypted file there."
    )


def _decrypt(name: str, path: Path, environment: Environment) -> str:
    home = environment.variables.get("GNUPGHOME") or None
    try:
        gpg = gnupg.GPG(gnupghome=home)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ConfigurationError(
            f"Cannot decrypt the local secret {path}: gpg is unusable ({exc}); install GnuPG."
        ) from None
    with path.open("rb") as encrypted:
        result = gpg.decrypt_file(encrypted)
    if not result.ok:
        raise ConfigurationError(
            f"Cannot decrypt the local secret {path} for secret {name} (gpg: {result.status or 'failed'}): "
            "encrypt it for a key of your keyring (GNUPGHOME)."
        )
    try:
        return result.data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(
            f"The local secret {path} is not UTF-8 text once decrypted: re-encrypt a text file."
        ) from None


def _position(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f" (line {exc.lineno}, column {exc.colno})"
    mark = getattr(exc, "problem_mark", None)
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
