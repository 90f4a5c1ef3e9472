"""The environment and the configuration of a run, read the way Arkindex provides them.

Two modes, as in arkindex-base-worker:

* **read-only** (``--dev``, or no ``ARKINDEX_WORKER_RUN_ID``): configuration from the YAML
  file given with ``--config``; corpus and model from the environment; nothing is written;
* **production**: everything from ``RetrieveWorkerRun``, merged with this precedence, lowest
  first: worker version configuration < user configuration defaults < model version
  configuration < worker run configuration.

Deliberate differences from the reference (its known weaknesses): an empty variable counts
as unset everywhere (an empty ``ARKINDEX_WORKER_RUN_ID`` means read-only, an empty
``ARKINDEX_TASK_CHUNK`` means no chunk), and ``ARKINDEX_DEBUG=0``/``false``/``no``/``off``
does not turn debug logging on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from arkindex.exceptions import ErrorResponse

from arkworker.api.client import Api
from arkworker.environment import Environment
from arkworker.errors import BadInput, ConfigurationError
from arkworker.run.secrets import Secrets, load_secrets

logger = logging.getLogger("arkworker")


@dataclass
class Configuration:
    """What a run knows about itself once configured; exposed on the run context."""

    read_only: bool
    worker_run_id: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    user_configuration: dict[str, Any] = field(default_factory=dict)
    model_configuration: dict[str, Any] = field(default_factory=dict)
    model_version_id: str | None = None
    model_details: dict[str, Any] = field(default_factory=dict)
    worker_details: dict[str, Any] = field(default_factory=dict)
    secrets: Secrets = field(default_factory=Secrets)
    process_information: dict[str, Any] | None = None
    corpus_id: str | None = None
    debug: bool = False
    worker_run: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def store_activity(self) -> bool:
        """Worker activities are reported only in production, for processes that track them."""
        if self.read_only or not self.process_information:
            return False
        return self.process_information.get("activity_state") == "ready"


def is_read_only(environment: Environment, dev: bool) -> bool:
    """Read-only with ``--dev``, or without a worker run to report to."""
    return dev or environment.worker_run_id is None


def load_configuration(
    environment: Environment,
    api: Api,
    *,
    dev: bool = False,
    local_config: tuple[Path, dict[str, Any]] | None = None,
) -> Configuration:
    """Configure a run in read-only or production mode, then merge the configurations.

    ``local_config`` is the ``--config`` file and its content (see :func:`read_config_file`),
    read beforehand so that a broken file stops the run before any API call.
    """
    if is_read_only(environment, dev):
        if environment.worker_run_id is None and not dev:
            logger.warning("Missing ARKINDEX_WORKER_RUN_ID environment variable, worker is in read-only mode")
        configuration = _read_only_configuration(environment, api, local_config)
    else:
        configuration = _production_configuration(environment, api)

    if configuration.model_configuration:
        configuration.config.update(configuration.model_configuration)
        logger.info("Model version configuration retrieved")
    if configuration.user_configuration:
        configuration.config.update(configuration.user_configuration)
        logger.info("User configuration retrieved")
    return configuration


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse the ``--config`` YAML file; every problem is one line naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"Cannot read the configuration file {path}: {_reason(exc)}.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BadInput(f"The configuration file {path} is not valid YAML{at}: {problem}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadInput(
            f"The configuration file {path} must hold a YAML mapping (key: value lines), "
            f"not a {type(data).__name__}."
        )
    secrets = data.get("secrets", [])
    if not isinstance(secrets, list) or not all(isinstance(name, str) and name for name in secrets):
        raise BadInput(f"In the configuration file {path}, 'secrets' must be a list of secret names.")
    return data


def _read_only_configuration(
    environment: Environment, api: Api, local_config: tuple[Path, dict[str, Any]] | None
) -> Configuration:
    configuration = Configuration(
        read_only=True,
        corpus_id=environment.corpus_id,
        model_version_id=environment.model_version_id,
        model_details={"id": environment.model_id},
        debug=environment.debug,
    )
    if local_config is not None:
        path, configuration.config = local_config
        configuration.worker_details = {"name": "Local worker"}
        logger.info("Running with local configuration from %s", path)
    else:
        logger.warning("Running without any extra configuration")
    names = configuration.config.get("secrets", [])
    configuration.secrets = load_secrets(names, api, environment)
    return configuration


def _production_configuration(environment: Environment, api: Api) -> Configuration:
    run_id = environment.worker_run_id
    try:
        run = api.request("RetrieveWorkerRun", id=run_id)
    except ErrorResponse as exc:
        raise ConfigurationError(_worker_run_error(exc, run_id, api)) from None

    shape = _Shape(f"RetrieveWorkerRun({run_id})")
    shape.mapping(run, "the answer")
    process = shape.mapping(run.get("process"), "process")
    version = shape.mapping(run.get("worker_version"), "worker_version")
    version_configuration = shape.mapping(version.get("configuration"), "worker_version.configuration")
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

    configuration.config = dict(
        shape.mapping(
            version_configuration.get("configuration") or {}, "worker_version.configuration.configuration"
        )
    )
    specs = shape.mapping(
        version_configuration.get("user_configuration") or {},
        "worker_version.configuration.user_configuration",
    )
    for name, spec in specs.items():
        if isinstance(spec, dict) and "default" in spec and name not in configuration.model_configuration:
            configuration.user_configuration[name] = spec["default"]

    names = version_configuration.get("secrets") or []
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        shape.fail("worker_version.configuration.secrets is not a list of names")
    configuration.secrets = load_secrets(names, api, environment)

    run_configuration = run.get("configuration")
    if run_configuration:
        values = shape.mapping(run_configuration, "configuration").get("configuration") or {}
        shape.mapping(values, "configuration.configuration")
        if values:
            configuration.user_configuration.update(values)
            logger.info("Loaded user configuration from WorkerRun")

    if configuration.user_configuration.get("debug"):
        configuration.debug = True
    return configuration


class _Shape:
    """Checks an API answer has the structure the worker relies on, and says what is off."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, problem: str) -> None:
        raise ConfigurationError(f"Unexpected answer from {self.source}: {problem}.")

    def mapping(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(
                f"{path} is {type(value).__name__ if value is not None else 'null'}, expected an object"
            )
        return value


def _worker_run_error(exc: ErrorResponse, run_id: str | None, api: Api) -> str:
    where = f"worker run {run_id} on {api.url}"
    if exc.status_code == 404:
        return f"The {where} does not exist (HTTP 404): check ARKINDEX_WORKER_RUN_ID."
    if exc.status_code in (401, 403):
        return (
            f"Not allowed to read the {where} (HTTP {exc.status_code}): check ARKINDEX_API_TOKEN "
            "or ARKINDEX_TASK_TOKEN."
        )
    return f"Could not retrieve the {where}: HTTP {exc.title}."


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc)
