"""Access to the Arkindex API: one client, one retry policy that knows what is safe to repeat.

arkindex-client 1.3 retries 5xx answers inside ``ArkindexClient.request()`` with fixed
waits of 3, 4, 8 and 16 seconds, and its paginator has another retry loop of its own.
Wrapping either in a second policy multiplies the attempts (5 x 5 calls for one failing
request). arkworker therefore sends every call through ``single_request()`` (no retry) and
applies exactly one policy, :meth:`Api.request`, documented in the README ("Retry policy"):

* a failure that says nothing reached the server (no connection, a 503) is retried, whatever
  the method;
* a failure after the request was sent (another 5xx but 501, the connection lost while waiting
  for or reading the answer, a timeout, a broken body) is retried for the methods that can be
  repeated: GET, HEAD, OPTIONS, PUT, PATCH, DELETE. For a POST it is *ambiguous*, the write
  may have been applied: the call's ``landed`` check decides, and without one the POST is not
  sent again (:class:`AmbiguousWrite`): a duplicate is worse than a failed element;
* 4xx answers, 501, TLS errors while connecting and answers that are not the API's JSON are
  never retried;
* 5 attempts in total, waiting 3, 4, 8 and 16 seconds (the reference's schedule), each wait
  multiplied by ``ARKWORKER_RETRY_BACKOFF`` (default 1; 0 means no waiting, which is what
  tests use); ``ARKWORKER_RETRY_ATTEMPTS`` changes the number of attempts.

Every request has a connect timeout, a read timeout and a total budget, the schema download
included (:class:`Timeouts`, enforced by :mod:`arkworker.api.transport`). The instance is
``ARKINDEX_API_URL``, which has no default (arkindex-client's is a public instance): these
settings are read and checked by :class:`ApiSettings` before anything is sent.
"""

from __future__ import annotations

import enum
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from arkindex import ArkindexClient
from arkindex.exceptions import ErrorResponse, SchemaError

from arkworker.api import failures
from arkworker.api.failures import Failure, classify, describe, is_transient
from arkworker.api.timings import CallTimings
from arkworker.api.transport import DEFAULT_POOL_SIZE, ApiSession, NetworkSettings, TimedAdapter
from arkworker.environment import env_number
from arkworker.errors import BadInput, ConfigurationError

logger = logging.getLogger("arkworker")

#: The address error messages give as an example of an instance. Unlike arkindex-client,
#: arkworker has no default address: a run without ``ARKINDEX_API_URL`` would send its token
#: to this public instance, and wait through its retries if it is unreachable.
EXAMPLE_API_URL = "https://arkindex.teklia.com/"

#: Methods whose repetition has no more effect than one request (RFC 9110, 9.2.2), and PATCH:
#: Arkindex's partial updates set fields, so applying one twice changes nothing more.
REPEATABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "PATCH", "DELETE"})
#: Methods without any effect on the server: no attempt of theirs "lands".
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class LandedEarlier(enum.Enum):
    """The type of :data:`LANDED_EARLIER` (a one-member enum, so that type checkers know it)."""

    LANDED_EARLIER = "an earlier attempt was applied"


#: What :meth:`Api.request` returns when a repeat of a call was answered with one of its
#: ``accept_after_repeat`` errors: an earlier attempt was applied, and its answer was lost.
LANDED_EARLIER = LandedEarlier.LANDED_EARLIER

#: Error statuses, or a test on the error, that mean "already done" when they answer a repeat.
AcceptAfterRepeat = Collection[int] | Callable[[ErrorResponse], bool]


class AmbiguousWrite(Exception):
    """A write was sent and its answer lost: it may or may not have been applied, and is not sent again.

    Raised for a POST (a creation) whose outcome is unknown, when the call has no ``landed``
    check or the check itself failed; sending it again could create a duplicate.
    ``operation_id`` is the operation, ``failure`` what happened to the answer; the original
    exception is the ``__cause__``.
    """

    def __init__(self, operation_id: str, failure: str, check_failure: str | None = None) -> None:
        self.operation_id = operation_id
        self.failure = failure
        reason = failure if check_failure is None else f"{failure}; checking failed: {check_failure}"
        super().__init__(
            f"{operation_id} may or may not have been applied ({reason}): not sent again to avoid a duplicate"
        )


class UnexpectedAnswer(ConfigurationError):
    """The server answered something that is not the API's JSON: a web page, a proxy's login page..."""


def earlier_attempt_may_have_landed(exc: BaseException) -> bool:
    """Whether an earlier attempt of the call that raised ``exc`` may have been applied.

    :meth:`Api.request` records it on every exception it raises (the attribute of the same
    name), so that a caller can tell an error caused by its own earlier attempt (a 409 on
    the repeat of an update whose first answer was lost) from someone else's doing. For a
    POST, an earlier attempt failed after sending; for PUT, PATCH and DELETE, an earlier
    attempt failed after sending, a 5xx answer (but 503) included; GETs never land.
    """
    return bool(getattr(exc, "earlier_attempt_may_have_landed", False))


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
        """Call ``func`` and retry it on transient failures: for calls without effects (GETs, downloads).

        A plain loop, like :meth:`Api.request`'s: nothing is built per call. Before each wait,
        one warning line says what failed, which attempt comes next, and when.
        """
        attempt = 1
        while True:
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                if attempt >= self.attempts or not is_transient(exc):
                    raise
                wait = self.wait(attempt)
                logger.warning(
                    "%s failed (%s); attempt %d of %d in %.1f s",
                    describe,
                    failures.describe(exc),  # ``describe``, the function the parameter hides
                    attempt + 1,
                    self.attempts,
                    wait,
                )
                time.sleep(wait)
                attempt += 1


@dataclass(frozen=True)
class Timeouts:
    """How long an API request may take, in seconds.

    ``connect``: to get a connection (a reachable server takes milliseconds; 10 s covers a few
    lost packets); ``read``: for the answer to start, and between two reads of it (the calls a
    worker makes are answered in a second or two, 30 s leaves room for a loaded server);
    ``total``: from sending the request to the end of its answer, 60 s, the default of common
    gateways (nginx's ``proxy_read_timeout``), behind which a longer answer becomes a 504
    anyway. ``connect`` and ``read`` never exceed ``total``.
    """

    connect: float = 10.0
    read: float = 30.0
    total: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Timeouts:
        """Read ``ARKWORKER_API_TIMEOUT``, ``ARKWORKER_API_CONNECT_TIMEOUT`` and ``ARKWORKER_API_READ_TIMEOUT``."""

        def seconds(name: str, default: float, what: str) -> float:
            expected = f"a number of seconds > 0 ({what}, default {default:g})"
            return float(env_number(env, name, float, default, minimum=0, inclusive=False, expected=expected))

        total = seconds(
            "ARKWORKER_API_TIMEOUT", cls.total, "the longest an API request may take, answer included"
        )
        connect = seconds("ARKWORKER_API_CONNECT_TIMEOUT", cls.connect, "the longest wait for a connection")
        read = seconds("ARKWORKER_API_READ_TIMEOUT", cls.read, "the longest wait for the API to answer")
        return cls(connect=min(connect, total), read=min(read, total), total=total)


class Api:
    """An Arkindex API client with arkworker's retry policy.

    ``client`` is the underlying :class:`arkindex.ArkindexClient`, for anything else.
    """

    def __init__(self, client: ArkindexClient, policy: RetryPolicy | None = None) -> None:
        self.client = client
        self.policy = policy or RetryPolicy()
        #: The duration of every attempt of every call, by operation (the run report shows them).
        self.timings = CallTimings()

    @property
    def url(self) -> str:
        return self.client.document.url

    def has_operation(self, operation_id: str) -> bool:
        return operation_id in self.client.document.links

    def request(
        self,
        operation_id: str,
        *,
        landed: Callable[[], Any] | None = None,
        accept_after_repeat: AcceptAfterRepeat = (),
        **parameters: Any,
    ) -> Any:
        """Call one API operation under the retry policy; its answer.

        ``parameters`` are the operation's (``body=`` for a JSON body).

        ``landed`` is for a POST whose outcome can be checked: when the request was sent and
        its answer lost, ``landed()`` (its own calls are GETs, under this policy) returns what
        the request created, which becomes the call's answer, or None when it was not
        applied: the request is then sent again, as one more attempt. Without it, such a
        POST raises :class:`AmbiguousWrite`.

        ``accept_after_repeat``: error statuses (or a test on the
        :class:`~arkindex.exceptions.ErrorResponse`) that, answered to a repeat of a call an
        earlier attempt of which may have been applied, mean that attempt was: the call then
        returns :data:`LANDED_EARLIER` instead of raising (``{409}`` for a repeated
        ``UpdateWorkerActivity``, ``{404}`` for a repeated DELETE). Given for a POST, it
        declares that the server refuses a duplicate with that error, which makes the POST
        safe to repeat.

        Every exception raised carries ``earlier_attempt_may_have_landed`` (see
        :func:`earlier_attempt_may_have_landed`).
        """
        method = self.client.lookup_operation(operation_id).method
        repeatable = method in REPEATABLE_METHODS or bool(accept_after_repeat)
        attempts = self.policy.attempts
        attempt = 0
        may_have_landed = False  # may an attempt of this call so far have been applied?
        while True:
            attempt += 1
            try:
                return self._send(operation_id, parameters)
            except Exception as exc:
                earlier = may_have_landed
                if earlier and _accepts(accept_after_repeat, exc):
                    logger.warning(
                        "%s: the repeat was answered %s: an earlier attempt was applied",
                        operation_id,
                        describe(exc),
                    )
                    return LANDED_EARLIER
                _record(exc, earlier)
                failure = classify(exc)
                if failure is Failure.FINAL:
                    raise
                if failure is Failure.UNKNOWN and method not in SAFE_METHODS:
                    may_have_landed = True
                if failure is Failure.UNKNOWN and not repeatable:
                    if landed is None:
                        raise _record(AmbiguousWrite(operation_id, describe(exc)), earlier) from exc
                    found = self._check_landed(operation_id, landed, exc, attempt, earlier)
                    if found is not None:
                        return found
                    if attempt >= attempts:
                        raise
                    logger.warning(
                        "%s was not applied; attempt %d of %d", operation_id, attempt + 1, attempts
                    )
                    continue
                if attempt >= attempts:
                    raise
                wait = self.policy.wait(attempt)
                logger.warning(
                    "%s failed (%s); attempt %d of %d in %.1f s",
                    operation_id,
                    describe(exc),
                    attempt + 1,
                    attempts,
                    wait,
                )
                time.sleep(wait)

    def _check_landed(
        self, operation_id: str, landed: Callable[[], Any], exc: Exception, attempt: int, earlier: bool
    ) -> Any:
        """Wait as before a retry, then ask ``landed()`` whether the lost request was applied."""
        wait = self.policy.wait(attempt)
        logger.warning(
            "%s failed (%s); checking in %.1f s whether it was applied", operation_id, describe(exc), wait
        )
        time.sleep(wait)
        try:
            found = landed()
        except Exception as check_error:
            raise _record(
                AmbiguousWrite(operation_id, describe(exc), describe(check_error)), earlier
            ) from exc
        if found is not None:
            logger.warning(
                "%s: the answer was lost but %s; not sending it again", operation_id, _applied(operation_id)
            )
        return found

    def _send(self, operation_id: str, parameters: Mapping[str, Any]) -> Any:
        """One attempt; an answer that is not the API's (an HTML page, broken JSON) is an :class:`UnexpectedAnswer`."""
        started = time.perf_counter()
        failed = True
        try:
            answer = self.client.single_request(operation_id, **parameters)
            failed = False
        except json.JSONDecodeError as exc:
            raise self._unexpected(operation_id, f"invalid JSON, {_quote(exc.doc)}") from exc
        except UnicodeDecodeError as exc:
            raise self._unexpected(operation_id, "bytes that are not text") from exc
        finally:
            self.timings.record(operation_id, time.perf_counter() - started, failed=failed)
        if isinstance(answer, str) and answer.lstrip().startswith("<"):
            raise self._unexpected(operation_id, _markup(answer))
        return answer

    def _unexpected(self, operation_id: str, what: str) -> UnexpectedAnswer:
        return UnexpectedAnswer(
            f"{operation_id} got {what} from {self.url} instead of the API's JSON: check ARKINDEX_API_URL "
            f"(the address of an Arkindex instance, such as {EXAMPLE_API_URL}) and that no proxy or "
            "login page stands in between"
        )

    def paginate(self, operation_id: str, **parameters: Any) -> Paginator:
        """Iterate lazily over every result of a listing operation, page after page."""
        return Paginator(self, operation_id, parameters)


def _record(exc: Exception, earlier: bool) -> Exception:
    """Note on ``exc`` whether an earlier attempt of its call may have been applied; ``exc``."""
    exc.earlier_attempt_may_have_landed = earlier  # type: ignore[attr-defined]
    return exc


def _accepts(accept: AcceptAfterRepeat, exc: Exception) -> bool:
    if not isinstance(exc, ErrorResponse):
        return False
    if callable(accept):
        return bool(accept(exc))
    return exc.status_code in accept


#: What the ``Create…`` operations whose names are not plain words create.
_NOUNS = {"MetaData": "metadata", "MLClass": "ML class"}


def _applied(operation_id: str) -> str:
    """``the transcription was created`` for CreateTranscription; ``it was applied`` otherwise."""
    if not operation_id.startswith("Create") or operation_id == "Create":
        return "it was applied"
    name = operation_id.removeprefix("Create")
    noun = _NOUNS.get(name) or " ".join(re.findall(r"[A-Z][a-z]*", name)).lower()
    return f"the {noun} was created"


#: The longest part of an unexpected answer quoted in an error message.
QUOTE_LENGTH = 60


def _quote(text: str) -> str:
    """``starting '<first characters>…'``, white space collapsed."""
    text = " ".join(text.split())
    if len(text) > QUOTE_LENGTH:
        text = text[: QUOTE_LENGTH - 1] + "…"
    return f"starting {text!r}" if text else "empty"


def _markup(text: str) -> str:
    """What a markup answer is: ``an HTML page titled 'Sign in'``."""
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title and " ".join(title.group(1).split()):
        return f"an HTML page titled {' '.join(title.group(1).split())[:QUOTE_LENGTH]!r}"
    kind = "an HTML page" if "<html" in text[:2000].lower() else "a markup document"
    return f"{kind} {_quote(text)}"


class Paginator:
    """A lazy iterator over all results of a paginated operation; ``len()`` gives the count.

    Page-number and cursor pagination are followed through the ``next`` link; operations
    declared ``x-paginated: false`` or answering a plain list are read in one request.
    Each page is one call under the retry policy, so a failing page is retried like any
    other request and a page that cannot be read raises instead of silently missing.
    One paginator may be shared by threads: each iteration is its own, and the first page
    (which ``len()`` reads) is fetched once for all.
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
        self._first_lock = threading.Lock()

    def _fetch(self, extra: Mapping[str, Any]) -> Any:
        return self.api.request(self.operation_id, **self.parameters, **extra)

    def _first_page(self) -> Any:
        """The first page, read once however many threads ask for it (``len()``, then iterations)."""
        with self._first_lock:
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
    A missing or malformed address is a :class:`BadInput` (:func:`_check_addresses`).
    """
    _check_addresses(env)
    options: dict[str, Any] = {"base_url": env["ARKINDEX_API_URL"]}
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


@dataclass(frozen=True)
class ApiSettings:
    """Everything the environment says about reaching the API, read and checked without sending anything.

    A run reads them with its other inputs, so that a missing ``ARKINDEX_API_URL`` or a bad
    timeout is one line before its first call, and connects (:meth:`connect`) only once
    every input is known to be usable.
    """

    options: Mapping[str, Any]
    policy: RetryPolicy
    timeouts: Timeouts
    network: NetworkSettings

    @classmethod
    def from_env(cls, env: Mapping[str, str], policy: RetryPolicy | None = None) -> ApiSettings:
        """Read ``env``; a bad number, or a missing or malformed address, is a :class:`BadInput`."""
        policy = policy or RetryPolicy.from_env(env)
        timeouts = Timeouts.from_env(env)
        network = NetworkSettings.from_env(env)
        return cls(options=client_options(env), policy=policy, timeouts=timeouts, network=network)

    def connect(self, *, pool_size: int = DEFAULT_POOL_SIZE) -> Api:
        """Build the API client; the schema download (its first request) is retried like a GET.

        ``pool_size`` is the number of connections to the API kept open for reuse: at least
        the number of threads sharing the Api (``--jobs``), 32 by default. A schema that
        cannot be obtained or read is a :class:`ConfigurationError` naming the cause.
        """
        timeouts = self.timeouts
        adapter = TimedAdapter(timeouts.connect, timeouts.read, timeouts.total, pool_size=pool_size)

        def build() -> ArkindexClient:
            try:
                return TimedClient(adapter, self.network, **self.options)
            except SchemaError as exc:
                if exc.__cause__ is not None and is_transient(exc.__cause__):
                    raise exc.__cause__ from exc
                raise

        try:
            client = self.policy.call(build, describe="Loading the API schema")
        except Exception as exc:  # any failure to get or read the schema: told as one line
            raise ConfigurationError(
                _schema_problem(self.options.get("schema_url") or self.options["base_url"], exc)
            ) from exc
        return Api(client, self.policy)


def connect(
    env: Mapping[str, str], policy: RetryPolicy | None = None, *, pool_size: int = DEFAULT_POOL_SIZE
) -> Api:
    """Build the API client from the environment (:class:`ApiSettings`, then its :meth:`~ApiSettings.connect`).

    The proxies (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``…) and the CA bundle
    (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) are read from ``env`` here, once, not by
    requests at every call (:class:`~arkworker.api.transport.NetworkSettings`).

    A missing or malformed ``ARKINDEX_API_URL``, or a malformed ``ARKINDEX_API_SCHEMA_URL``,
    is a :class:`BadInput`; a schema that cannot be obtained or read is a
    :class:`ConfigurationError` naming the cause.
    """
    return ApiSettings.from_env(env, policy).connect(pool_size=pool_size)


class TimedClient(ArkindexClient):
    """An :class:`~arkindex.ArkindexClient` whose session is an :class:`~arkworker.api.transport.ApiSession`
    on ``network``, sending every request through ``adapter``.

    The client creates a plain session and downloads the schema in its constructor, with no
    timeout, and requests would read the environment at every call; that first session is
    replaced when the client assigns it (this property), before anything is sent, which puts
    the schema download under the same timeouts and settings as every later call, without
    touching the library's own class. A session assigned later is kept, the adapter mounted.
    """

    def __init__(
        self, adapter: requests.adapters.HTTPAdapter, network: NetworkSettings, **options: Any
    ) -> None:
        self._adapter = adapter
        self._network = network
        super().__init__(**options)

    @property
    def session(self) -> requests.Session:
        return self._session

    @session.setter
    def session(self, session: requests.Session) -> None:
        if not hasattr(self, "_session") and not isinstance(session, ApiSession):
            # The constructor's own session, before anything is set on it or sent with it.
            session.close()
            session = ApiSession(self._network)
        session.mount("http://", self._adapter)
        session.mount("https://", self._adapter)
        self._session = session


def _is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # an unbalanced [ in the host
        return False


def _check_addresses(env: Mapping[str, str]) -> None:
    """Refuse a missing API address, or an API or schema address that cannot work, before anything is sent."""
    url = env.get("ARKINDEX_API_URL")
    if not url:  # no default: it would send the run's token to a public instance
        raise BadInput(
            "ARKINDEX_API_URL is not set: set it to the address of your Arkindex instance "
            "(ARKINDEX_API_URL=https://arkindex.example.com/), or run on a local sandbox with --sandbox."
        )
    if not _is_http_url(url):
        raise BadInput(
            f"ARKINDEX_API_URL={url!r} is not an http(s) URL: set it to the address of the Arkindex "
            f"instance, such as {EXAMPLE_API_URL}"
        )
    schema = env.get("ARKINDEX_API_SCHEMA_URL")
    if schema and not _is_http_url(schema) and not Path(schema).is_file():
        raise BadInput(
            f"ARKINDEX_API_SCHEMA_URL={schema!r} is neither an http(s) URL nor an existing file: set it to "
            "the URL or the path of an OpenAPI schema in JSON, or unset it to use the instance's own"
        )


def _schema_problem(source: str, exc: Exception) -> str:
    """The one line telling why the schema from ``source`` is unusable, and what to check."""
    cause = exc.__cause__ if isinstance(exc, SchemaError) and exc.__cause__ is not None else exc
    check = "Check ARKINDEX_API_URL (and ARKINDEX_API_SCHEMA_URL if set)"
    if isinstance(cause, json.JSONDecodeError):
        answer = _markup(cause.doc) if cause.doc.lstrip().startswith("<") else f"a text {_quote(cause.doc)}"
        return (
            f"The Arkindex API schema from {source} is not JSON: the server answered {answer}. "
            f"{check}: it must be the address of an Arkindex instance, such as {EXAMPLE_API_URL}"
        )
    if isinstance(cause, requests.RequestException | OSError):
        return (
            f"Could not load the Arkindex API schema from {source} ({describe(cause)}). "
            f"{check} and that the server is reachable."
        )
    return (
        f"The document from {source} is not an OpenAPI schema the Arkindex client can read "
        f"({_schema_errors(cause)}). {check}: it must be the address of an Arkindex instance, "
        f"such as {EXAMPLE_API_URL}"
    )


def _schema_errors(exc: BaseException) -> str:
    """The first errors of a schema validation (typesystem's messages have a path and a text)."""
    messages = exc.messages() if callable(getattr(exc, "messages", None)) else []  # type: ignore[attr-defined]
    if not messages:
        return describe(exc)
    return "; ".join(
        f"{'.'.join(str(key) for key in message.index) or 'the document'}: {message.text.rstrip('.')}"
        for message in messages[:3]
    )
