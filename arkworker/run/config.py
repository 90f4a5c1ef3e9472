"""The environment and the configuration of a run, read the way Arkindex provides them.

Two modes, as in arkindex-base-worker:

* **read-only** (``--dev``, or no ``ARKINDEX_WORKER_RUN_ID``): configuration from the file
  given with ``--config`` (YAML or JSON), either the old mapping or a new-style list of
  ``{key, value, secret}`` items; corpus and model from the environment; nothing is written;
* **production**: from the worker run, the way the run's API level says
  (:mod:`arkworker.run.generation`):

  - ``legacy`` (arkindex-base-worker 0.3.7): everything from ``RetrieveWorkerRun``, merged
    with this precedence, lowest first: worker version configuration < user configuration
    defaults < model version configuration < worker run configuration;
  - ``current`` (0.5.1 and later): the process, corpus and model from ``RetrieveWorkerRun``,
    the configuration from the items of ``RetrieveWorkerRunConfiguration``, secret items
    resolved by name; the model version's configuration stays apart from ``config``.

Every failure is one :class:`~arkworker.errors.ConfigurationError` line starting with
``Failed to configure this worker:``, as the reference logs it.

A worker that declares its configuration (:mod:`arkworker.fields`) has ``config`` checked
against the declaration once it is loaded, whatever its source: defaults filled in, values
converted, and a missing or wrong value is one line naming the key. In read-only mode the
values come from the user's ``--config`` file (or its absence), so such a line is a usage
error (:class:`~arkworker.errors.BadInput`, exit 2) naming the file; in production it is a
:class:`~arkworker.errors.ConfigurationError` naming the worker run whose configuration to fix.

Deliberate differences from the reference (its known weaknesses): an empty variable counts
as unset everywhere (an empty ``ARKINDEX_WORKER_RUN_ID`` means read-only, an empty
``ARKINDEX_TASK_CHUNK`` means no chunk), ``ARKINDEX_DEBUG=0``/``false``/``no``/``off``
does not turn debug logging on, and a malformed ``--config`` file (an item without a key,
a key given twice, a new-style file with other keys beside ``configuration``) is refused
before any API call instead of being half used.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import requests
import yaml
from arkindex.exceptions import ErrorResponse

from arkworker.api.client import Api
from arkworker.api.failures import describe
from arkworker.environment import Environment
from arkworker.errors import BadInput, ConfigurationError
from arkworker.fields import Field, FieldValueError, resolve_values
from arkworker.run.generation import CURRENT_MARKER, ApiLevel
from arkworker.run.secrets import Secrets, load_secret, load_secrets

logger = logging.getLogger("arkworker")

#: How every configuration failure starts (arkindex-base-worker's words).
FAILED = "Failed to configure this worker:"

#: The key of a new-style configuration document, as RetrieveWorkerRunConfiguration answers it.
NEW_STYLE_KEY = "configuration"

#: The keys of one configuration item.
ITEM_KEYS = ("key", "value", "secret")

#: The warning of ``ctx.user_configuration`` at the current API level.
USER_CONFIGURATION_DEPRECATED = (
    "This worker should be updated to use ctx.config instead of ctx.user_configuration"
)


@dataclass
class Configuration:
    """What a run knows about itself once configured; exposed on the run context."""

    read_only: bool
    worker_run_id: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    #: The user layer of a legacy run's ``config`` (see :attr:`user_configuration`).
    legacy_user_configuration: dict[str, Any] = field(default_factory=dict)
    model_configuration: dict[str, Any] = field(default_factory=dict)
    model_version_id: str | None = None
    model_details: dict[str, Any] = field(default_factory=dict)
    worker_details: dict[str, Any] = field(default_factory=dict)
    secrets: Secrets = field(default_factory=Secrets)
    process_information: dict[str, Any] | None = None
    corpus_id: str | None = None
    debug: bool = False
    worker_run: dict[str, Any] | None = field(default=None, repr=False)
    #: The API level the configuration was read at.
    level: ApiLevel = ApiLevel.LEGACY
    _deprecation_logged: bool = field(default=False, repr=False, compare=False)

    @property
    def store_activity(self) -> bool:
        """Worker activities are reported only in production, for processes that track them."""
        if self.read_only or not self.process_information:
            return False
        return self.process_information.get("activity_state") == "ready"

    @property
    def user_configuration(self) -> dict[str, Any]:
        """The user layer of ``config`` (legacy level), or ``config`` itself, deprecated (current level).

        At the current level the worker run's values are the whole configuration, so the
        reference keeps ``user_configuration`` only as an alias that warns; so does this.
        The warning points at the code that read ``ctx.user_configuration``.
        """
        if self.level is ApiLevel.CURRENT:
            warnings.warn(USER_CONFIGURATION_DEPRECATED, DeprecationWarning, stacklevel=3)
            if not self._deprecation_logged:  # Python hides DeprecationWarning outside __main__
                logger.warning(USER_CONFIGURATION_DEPRECATED)
                self._deprecation_logged = True
            return self.config
        return self.legacy_user_configuration


def is_read_only(environment: Environment, dev: bool) -> bool:
    """Read-only with ``--dev``, or without a worker run to report to."""
    return dev or environment.worker_run_id is None


def load_configuration(
    environment: Environment,
    api: Api,
    *,
    dev: bool = False,
    local_config: tuple[Path, dict[str, Any]] | None = None,
    level: ApiLevel = ApiLevel.LEGACY,
    fields: Sequence[Field] = (),
) -> Configuration:
    """Configure a run in read-only or production mode, at the API level ``level``.

    ``local_config`` is the ``--config`` file and its content as :func:`read_config_file`
    returns it, read beforehand so that a broken file stops the run before any API call.
    A failure is a :class:`ConfigurationError` whose line starts with :data:`FAILED`.
    ``fields`` is the worker's declared configuration, which ``config`` is checked against
    (see :func:`check_declared_values`).
    """
    try:
        if is_read_only(environment, dev):
            if environment.worker_run_id is None and not dev:
                logger.warning(
                    "Missing ARKINDEX_WORKER_RUN_ID environment variable, worker is in read-only mode"
                )
            configuration = _read_only_configuration(environment, api, local_config, level)
        elif level is ApiLevel.CURRENT:
            configuration = _current_configuration(environment, api)
        else:
            configuration = _legacy_configuration(environment, api)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{FAILED} {exc.message}") from exc

    if level is ApiLevel.LEGACY:
        if configuration.model_configuration:
            configuration.config.update(configuration.model_configuration)
            logger.info("Model version configuration retrieved")
        if configuration.legacy_user_configuration:
            configuration.config.update(configuration.legacy_user_configuration)
            logger.info("User configuration retrieved")
    if fields:
        check_declared_values(configuration, fields, local_config)
    return configuration


def check_declared_values(
    configuration: Configuration, fields: Sequence[Field], local_config: tuple[Path, dict[str, Any]] | None
) -> None:
    """Replace ``configuration.config`` with its values checked against the declared ``fields``.

    The line of a refused value says where to fix it: the ``--config`` file (or that one is
    needed) in read-only mode, the worker run's configuration in production.
    """
    try:
        configuration.config = resolve_values(fields, configuration.config)
    except FieldValueError as exc:
        if not configuration.read_only:
            action = "set it" if exc.missing else "fix it"
            raise ConfigurationError(
                f"{FAILED} {exc}: {action} in the configuration of worker run {configuration.worker_run_id}."
            ) from None
        if local_config is None:
            raise BadInput(
                f"{exc}: give it in a configuration file, --config FILE (YAML, 'key: value' lines)."
            ) from None
        raise BadInput(
            f"In the configuration file {local_config[0]}, {exc}: {'add it' if exc.missing else 'fix the value'}."
        ) from None


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse the ``--config`` file; every problem is one line naming the file.

    A ``.json`` file is read as JSON, any other as YAML. A mapping with a ``configuration``
    key is a new-style document: that key alone, a list of ``{key, value, secret}`` items,
    returned with ``value`` (null) and ``secret`` (false) filled in. Any other mapping is the
    old style, ``{key: value}`` whose ``secrets`` key lists secret names. An empty file is an
    empty configuration.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"Cannot read the configuration file {path}: {_reason(exc)}.") from None
    data = _parse_json(path, text) if path.suffix.lower() == ".json" else _parse_yaml(path, text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadInput(
            f"The configuration file {path} must hold a mapping (key: value lines, or a new-style "
            f"'configuration' list), not a {type(data).__name__}."
        )
    if NEW_STYLE_KEY in data:
        return {NEW_STYLE_KEY: _new_style_items(path, data)}
    secrets = data.get("secrets", [])
    if not isinstance(secrets, list) or not all(isinstance(name, str) and name for name in secrets):
        raise BadInput(f"In the configuration file {path}, 'secrets' must be a list of secret names.")
    return data


def _parse_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"The configuration file {path} is not valid JSON at line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}."
        ) from None


def _parse_yaml(path: Path, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BadInput(f"The configuration file {path} is not valid YAML{at}: {problem}.") from None


def _new_style_items(path: Path, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The checked items of a new-style file: a file the user wrote, so typos are refused."""

    def fail(problem: str) -> NoReturn:
        raise BadInput(f"In the configuration file {path}, {problem}.")

    others = [key for key in data if key != NEW_STYLE_KEY]
    if others:
        fail(
            f"{others[0]!r} cannot go beside 'configuration' (a new-style file holds only the "
            "'configuration' list of {key, value, secret} items): make it an item of the list"
        )
    return configuration_items(data[NEW_STYLE_KEY], fail, strict=True)


def configuration_items(items: Any, fail: Callable[[str], NoReturn], *, strict: bool) -> list[dict[str, Any]]:
    """Check a list of ``{key, value, secret}`` items; each returned with all three keys.

    ``fail`` is called with what is wrong. ``strict`` is for a file the user wrote: keys
    other than those three and a key given twice are refused there, while an API answer
    may carry more fields, and its last item of a key wins (the reference's rule).
    """
    if not isinstance(items, list):
        # In a file, the key may have been meant as an old-style value.
        hint = " (a value named 'configuration' is itself an item of that list)" if strict else ""
        fail(f"'configuration' is {_kind(items)}, expected a list of {{key, value, secret}} items{hint}")
    checked: list[dict[str, Any]] = []
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        problem = _item_problem(index, item, strict=strict)
        if problem is not None:
            fail(problem)
        key = item["key"]
        if strict and key in first:
            fail(f"configuration[{index}] repeats the key {key!r} of configuration[{first[key]}]")
        first.setdefault(key, index)
        checked.append({"key": key, "value": item.get("value"), "secret": item.get("secret", False)})
    return checked


def _item_problem(index: int, item: Any, *, strict: bool) -> str | None:
    """What makes configuration item ``index`` unusable, None when nothing does."""
    where = f"configuration[{index}]"
    if not isinstance(item, dict):
        return f"{where} is {_kind(item)}, expected an object {{key, value, secret}}"
    if "key" not in item:
        return f"{where} has no 'key'"
    key = item["key"]
    if not isinstance(key, str) or not key.strip():
        return f"{where}.key is {_show(key)}, expected a non-empty string"
    secret = item.get("secret", False)
    if not isinstance(secret, bool):
        return f"{where}.secret ({key}) is {_show(secret)}, expected true or false"
    value = item.get("value")
    if secret and value is not None and not isinstance(value, str):
        # Not shown: it may be the secret itself.
        return (
            f"{where} ({key}) is a secret whose value is {_kind(value)}, expected the secret's name or null"
        )
    unknown = [name for name in item if name not in ITEM_KEYS]
    if strict and unknown:
        return f"{where} ({key}) has an unknown key {unknown[0]!r}: an item has only key, value and secret"
    return None


def resolve_items(
    items: list[dict[str, Any]], api: Api, environment: Environment
) -> tuple[dict[str, Any], Secrets]:
    """The configuration and secrets of checked items, in their order (a repeated key: last wins).

    A secret item's value is the secret's name, fetched with :func:`load_secret` (the
    API, then the local GPG file), when the API has ``RetrieveSecret``; without it (Arkindex
    CE), the server sent the secret itself. A null secret is an optional secret not set.
    Every secret item is also in the secrets, under its configuration key.
    """
    by_name = api.has_operation("RetrieveSecret")
    config: dict[str, Any] = {}
    secrets = Secrets()
    for item in items:
        key, value = item["key"], item["value"]
        if item["secret"]:
            if value is None:
                logger.info("Optional secret `%s` is not set", key)
            elif by_name:
                value = load_secret(value, api, environment)
            secrets[key] = value
        config[key] = value
    return config, secrets


def _read_only_configuration(
    environment: Environment,
    api: Api,
    local_config: tuple[Path, dict[str, Any]] | None,
    level: ApiLevel,
) -> Configuration:
    configuration = Configuration(
        read_only=True,
        corpus_id=environment.corpus_id,
        model_version_id=environment.model_version_id,
        model_details={"id": environment.model_id},
        debug=environment.debug,
        level=level,
    )
    if local_config is None:
        logger.warning("Running without any extra configuration")
        return configuration
    path, document = local_config
    configuration.worker_details = {"name": "Local worker"}
    if NEW_STYLE_KEY in document:
        logger.info("Running with local configuration from %s", path)
        configuration.config, configuration.secrets = resolve_items(document[NEW_STYLE_KEY], api, environment)
        return configuration
    if level is ApiLevel.CURRENT:
        logger.warning(
            "Using old-style configuration is deprecated, you should use modern-style configuration: "
            'in %s, {"configuration": [{"key": ..., "value": ..., "secret": false}, ...]}',
            path,
        )
    configuration.config = document
    logger.info("Running with local configuration from %s", path)
    configuration.secrets = load_secrets(document.get("secrets", []), api, environment)
    return configuration


def _worker_run(environment: Environment, api: Api, level: ApiLevel) -> tuple[Configuration, dict[str, Any]]:
    """What both levels read from ``RetrieveWorkerRun``: process, corpus, worker, model version.

    Returns the configuration so far and the worker version of the run.
    """
    run_id = environment.worker_run_id
    run = _retrieve(api, "RetrieveWorkerRun", f"worker run {run_id}", id=run_id)
    shape = _Shape(f"RetrieveWorkerRun({run_id})")
    shape.mapping(run, "the answer")
    process = shape.mapping(run.get("process"), "process")
    version = shape.mapping(run.get("worker_version"), "worker_version")
    worker = shape.mapping(version.get("worker") or {}, "worker_version.worker")
    if "summary" not in run:
        shape.fail("the 'summary' field is missing")

    configuration = Configuration(
        read_only=False,
        worker_run_id=run_id,
        process_information=process,
        corpus_id=process.get("corpus"),
        worker_details=worker,
        worker_run=run,
        debug=environment.debug,
        level=level,
    )
    logger.info("Loaded %s from API", run["summary"])

    model_version = run.get("model_version")
    if model_version:
        shape.mapping(model_version, "model_version")
        configuration.model_configuration = dict(
            shape.mapping(model_version.get("configuration") or {}, "model_version.configuration")
        )
        configuration.model_version_id = model_version.get("id")
        configuration.model_details = dict(
            shape.mapping(model_version.get("model") or {}, "model_version.model")
        )
        logger.info("Loaded model version configuration from WorkerRun")
    return configuration, version


def _current_configuration(environment: Environment, api: Api) -> Configuration:
    """Current level: the items of ``RetrieveWorkerRunConfiguration`` are the configuration."""
    configuration, _ = _worker_run(environment, api, ApiLevel.CURRENT)
    run_id = configuration.worker_run_id
    if not api.has_operation(CURRENT_MARKER):
        raise ConfigurationError(
            f"The API level is current but {api.url} has no {CURRENT_MARKER} to read the worker run's "
            "configuration from: use --api-level auto (or legacy), or unset ARKWORKER_API_LEVEL."
        )
    logger.info("Using worker run configuration %s", run_id)
    answer = _retrieve(api, CURRENT_MARKER, f"configuration of worker run {run_id}", id=run_id)
    shape = _Shape(f"{CURRENT_MARKER}({run_id})")
    items = configuration_items(
        shape.mapping(answer, "the answer").get(NEW_STYLE_KEY), shape.fail, strict=False
    )
    configuration.config, configuration.secrets = resolve_items(items, api, environment)
    if configuration.config.get("debug"):
        configuration.debug = True
    return configuration


def _legacy_configuration(environment: Environment, api: Api) -> Configuration:
    """Legacy level: the worker version's configuration, its defaults and the run's values."""
    configuration, version = _worker_run(environment, api, ApiLevel.LEGACY)
    shape = _Shape(f"RetrieveWorkerRun({configuration.worker_run_id})")
    version_configuration = shape.mapping(version.get("configuration"), "worker_version.configuration")
    configuration.config = dict(
        shape.mapping(
            version_configuration.get("configuration") or {}, "worker_version.configuration.configuration"
        )
    )
    specs = shape.mapping(
        version_configuration.get("user_configuration") or {},
        "worker_version.configuration.user_configuration",
    )
    user = configuration.legacy_user_configuration
    for name, spec in specs.items():
        if isinstance(spec, dict) and "default" in spec and name not in configuration.model_configuration:
            user[name] = spec["default"]

    names = version_configuration.get("secrets") or []
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        shape.fail("worker_version.configuration.secrets is not a list of names")
    configuration.secrets = load_secrets(names, api, environment)

    run = configuration.worker_run or {}
    run_configuration = run.get("configuration")
    if run_configuration:
        values = shape.mapping(run_configuration, "configuration").get("configuration") or {}
        shape.mapping(values, "configuration.configuration")
        if values:
            user.update(values)
            logger.info("Loaded user configuration from WorkerRun")

    if user.get("debug"):
        configuration.debug = True
    return configuration


class _Shape:
    """Checks an API answer has the structure the worker relies on, and says what is off."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, problem: str) -> NoReturn:
        raise ConfigurationError(f"Unexpected answer from {self.source}: {problem}.")

    def mapping(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(
                f"{path} is {type(value).__name__ if value is not None else 'null'}, expected an object"
            )
        return value


def _retrieve(api: Api, operation: str, what: str, **parameters: Any) -> Any:
    """``operation``'s answer; its failure is one line about ``what`` (``worker run <id>``...)."""
    try:
        return api.request(operation, **parameters)
    except ErrorResponse as exc:
        where = f"{what} on {api.url}"
        if exc.status_code == 404:
            message = f"The {where} does not exist (HTTP 404): check ARKINDEX_WORKER_RUN_ID."
        elif exc.status_code in (401, 403):
            message = (
                f"Not allowed to read the {where} (HTTP {exc.status_code}): check ARKINDEX_API_TOKEN "
                "or ARKINDEX_TASK_TOKEN."
            )
        else:
            message = f"Could not retrieve the {where}: HTTP {exc.title}."
        raise ConfigurationError(message) from None
    except requests.RequestException as exc:
        raise ConfigurationError(f"Could not retrieve the {what} on {api.url}: {describe(exc)}.") from exc


def _kind(value: Any) -> str:
    """``a list``, ``an int``, ``null``: what a value is, for a message that must not show it."""
    if value is None:
        return "null"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _show(value: Any) -> str:
    """A value and its type for a message, shortened."""
    if value is None:
        return "null"
    text = repr(value)
    return f"{text if len(text) <= 40 else text[:37] + '...'} ({type(value).__name__})"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc)
