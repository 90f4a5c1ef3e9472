"""Access to the Arkindex API: one client, one retry policy.

arkindex-client 1.3 retries 5xx answers inside ``ArkindexClient.request()`` with fixed
waits of 3, 4, 8 and 16 seconds, and its paginator has another retry loop of its own.
Wrapping either in a second policy multiplies the attempts (5 x 5 calls for one failing
request). arkworker therefore sends every call through ``single_request()`` (no retry) and
applies exactly one policy, :class:`RetryPolicy`, documented in the README:

* retried: HTTP 5xx answers except 501 (Not Implemented never heals), connection errors
  and timeouts; 4xx answers and TLS errors (a bad certificate) are never retried;
* 5 attempts in total, waiting 3, 4, 8 and 16 seconds (the reference's schedule), each wait
  multiplied by ``ARKWORKER_RETRY_BACKOFF`` (default 1; 0 means no waiting, which is what
  tests use); ``ARKWORKER_RETRY_ATTEMPTS`` changes the number of attempts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import tenacity
from arkindex import ArkindexClient
from arkindex.exceptions import ErrorResponse, SchemaError

from arkworker.errors import BadInput, ConfigurationError

logger = logging.getLogger("arkworker")

DEFAULT_API_URL = "https://arkindex.teklia.com/"


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the call that raised ``exc`` can reasonably succeed."""
    if isinstance(exc, ErrorResponse):
        return 500 <= exc.status_code < 600 and exc.status_code != 501
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return 500 <= exc.response.status_code < 600 and exc.response.status_code != 501
    if isinstance(exc, requests.exceptions.SSLError):
        return False  # a certificate problem does not heal by asking again
    return isinstance(exc, requests.ConnectionError | requests.Timeout)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times a transient failure is retried, and how long to wait in between."""

    attempts: int = 5
    backoff: float = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RetryPolicy:
        """Read ``ARKWORKER_RETRY_ATTEMPTS`` and ``ARKWORKER_RETRY_BACKOFF``."""
        attempts = env_number(env, "ARKWORKER_RETRY_ATTEMPTS", int, cls.attempts, minimum=1)
        backoff = env_number(env, "ARKWORKER_RETRY_BACKOFF", float, cls.backoff, minimum=0)
        return cls(attempts=attempts, backoff=backoff)

    def wait(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry): 3, 4, 8, 16, …"""
        return max(3.0, 2.0**retry) * self.backoff

    def call(self, func: Any, *args: Any, describe: str = "request", **kwargs: Any) -> Any:
        """Call ``func`` and retry it on transient failures."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(is_transient),
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=lambda state: self.wait(state.attempt_number),
            before_sleep=lambda state: _log_retry(state, describe, self.attempts),
            reraise=True,
        )
        return retrying(func, *args, **kwargs)


def _log_retry(state: tenacity.RetryCallState, describe: str, attempts: int) -> None:
    """One warning line before waiting: what failed, which attempt comes next, and when."""
    # tenacity calls before_sleep only after a failed attempt, with the next action decided.
    assert state.outcome is not None and state.next_action is not None
    logger.warning(
        "%s failed (%s); attempt %d of %d in %.1f s",
        describe,
        _describe_failure(state.outcome.exception()),
        state.attempt_number + 1,
        attempts,
        state.next_action.sleep,
    )


class Api:
    """An Arkindex API client with arkworker's retry policy.

    ``client`` is the underlying :class:`arkindex.ArkindexClient`, for anything else.
    """

    def __init__(self, client: ArkindexClient, policy: RetryPolicy | None = None) -> None:
        self.client = client
        self.policy = policy or RetryPolicy()

    @property
    def url(self) -> str:
        return self.client.document.url

    def has_operation(self, operation_id: str) -> bool:
        return operation_id in self.client.document.links

    def request(self, operation_id: str, **parameters: Any) -> Any:
        """Call one API operation, retrying transient failures."""
        return self.policy.call(self.client.single_request, operation_id, describe=operation_id, **parameters)

    def paginate(self, operation_id: str, **parameters: Any) -> Paginator:
        """Iterate lazily over every result of a listing operation, page after page."""
        return Paginator(self, operation_id, parameters)


class Paginator:
    """A lazy iterator over all results of a paginated operation; ``len()`` gives the count.

    Page-number and cursor pagination are followed through the ``next`` link; operations
    declared ``x-paginated: false`` or answering a plain list are read in one request.
    Each page is one call under the retry policy, so a failing page is retried like any
    other request and a page that cannot be read raises instead of silently missing.
    """

    def __init__(self, api: Api, operation_id: str, parameters: dict[str, Any]) -> None:
        self.api = api
        self.operation_id = operation_id
        self.parameters = parameters
        link = api.client.lookup_operation(operation_id)
        fields = {field.name for field in link.fields}
        self._paginated = link.paginated is not False
        self._mode = "cursor" if "cursor" in fields else "page" if "page" in fields else None
        self._with_count = "with_count" in fields
        self._first: Any = None
        self._fetched_first = False

    def _fetch(self, extra: Mapping[str, Any]) -> Any:
        return self.api.request(self.operation_id, **self.parameters, **extra)

    def _first_page(self) -> Any:
        if not self._fetched_first:
            extra = {"with_count": "true"} if self._paginated and self._with_count else {}
            self._first = self._fetch(extra)
            self._fetched_first = True
        return self._first

    def __len__(self) -> int:
        page = self._first_page()
        if isinstance(page, list):
            return len(page)
        if isinstance(page, dict) and isinstance(page.get("count"), int):
            return page["count"]
        raise TypeError(f"{self.operation_id} does not report a count of its results")

    def __iter__(self) -> Iterator[Any]:
        page = self._first_page()
        while True:
            if isinstance(page, list) or not self._paginated:
                yield from page if isinstance(page, list) else [page]
                return
            yield from page.get("results") or []
            following = self._next_parameter(page.get("next"))
            if following is None:
                return
            page = self._fetch(following)

    def _next_parameter(self, next_url: str | None) -> dict[str, str] | None:
        if not next_url or self._mode is None:
            return None
        values = parse_qs(urlsplit(next_url).query).get(self._mode)
        return {self._mode: values[0]} if values else None

    def __repr__(self) -> str:
        return f"<Paginator {self.operation_id} {self.parameters!r}>"


def client_options(env: Mapping[str, str]) -> dict[str, Any]:
    """The ArkindexClient arguments given by the environment, as arkindex-client reads them.

    Empty values count as unset. ``ARKINDEX_TASK_TOKEN`` (scheme ``Ponos``) wins over
    ``ARKINDEX_API_TOKEN`` (scheme ``Token``); ``ARKINDEX_API_AUTH_SCHEME`` overrides the scheme.
    """
    options: dict[str, Any] = {"base_url": env.get("ARKINDEX_API_URL") or DEFAULT_API_URL}
    if env.get("ARKINDEX_TASK_TOKEN"):
        options.update(token=env["ARKINDEX_TASK_TOKEN"], auth_scheme="Ponos")
    elif env.get("ARKINDEX_API_TOKEN"):
        options.update(token=env["ARKINDEX_API_TOKEN"], auth_scheme="Token")
    if env.get("ARKINDEX_API_AUTH_SCHEME"):
        options["auth_scheme"] = env["ARKINDEX_API_AUTH_SCHEME"]
    if env.get("ARKINDEX_API_SCHEMA_URL"):
        options["schema_url"] = env["ARKINDEX_API_SCHEMA_URL"]
    if env.get("ARKINDEX_API_CSRF_COOKIE"):
        options["csrf_cookie"] = env["ARKINDEX_API_CSRF_COOKIE"]
    return options


def connect(env: Mapping[str, str], policy: RetryPolicy | None = None) -> Api:
    """Build the API client from the environment; the schema download is retried like a call."""
    policy = policy or RetryPolicy.from_env(env)
    options = client_options(env)

    def build() -> ArkindexClient:
        try:
            return ArkindexClient(**options)
        except SchemaError as exc:
            if exc.__cause__ is not None and is_transient(exc.__cause__):
                raise exc.__cause__ from exc
            raise

    try:
        client = policy.call(build, describe="Loading the API schema")
    except (SchemaError, requests.RequestException) as exc:
        source = options.get("schema_url") or options["base_url"]
        cause = exc.__cause__ if isinstance(exc, SchemaError) and exc.__cause__ else exc
        raise ConfigurationError(
            f"Could not load the Arkindex API schema from {source} ({_describe_failure(cause)}). "
            "Check ARKINDEX_API_URL (and ARKINDEX_API_SCHEMA_URL if set) and that the server is reachable."
        ) from exc
    return Api(client, policy)


def _describe_failure(exc: BaseException | None) -> str:
    if isinstance(exc, ErrorResponse):
        return f"HTTP {exc.title}"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error: check the server's certificate, or the http/https scheme of the URL"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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

    A bad value is a usage error raised before the run starts (not a crash in the middle of
    it), naming the variable and what it takes; ``expected`` replaces the generic wording.
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
