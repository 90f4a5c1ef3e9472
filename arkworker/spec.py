"""What a worker declares, and nothing that runs: :class:`WorkerSpec`, the base of ``Worker``.

A worker module is imported by ``arkworker run``, by tests and by ``arkworker new`` checks;
importing it must stay free of I/O. The decorators below therefore only record a small
frozen spec and hand the function back unchanged, so handlers remain plain functions that a
unit test can call directly. Running (HTTP, SQLite, files) lives in :mod:`arkworker.run.loop`,
and the command line in :mod:`arkworker.cli`; both take a ``WorkerSpec``, and only
:class:`arkworker.app.Worker` adds ``run()`` on top, so that this module imports neither
(like Flask's ``sansio/app.py`` under its ``app.py``).

Example::

    from arkworker import Worker

    app = Worker("demo", description="Demo worker")

    @app.option("--threshold", type=float, default=0.5)
    @app.element
    def process(element, ctx):
        ctx.request("RetrieveElement", id=element.id)
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar, overload

import click

from arkworker.errors import RegistrationError
from arkworker.fields import Field, check_declared
from arkworker.manifest import SHM_SIZE_NAME, SLUG_PATTERN, USAGES, display_name_for, is_shm_size
from arkworker.models import Element
from arkworker.options import BUILTIN_OPTION_NAMES

F = TypeVar("F", bound=Callable[..., Any])

#: The most elements a run may process at once (``--jobs``), and the largest batch: beyond,
#: threads and memory cost more than they give.
MAX_JOBS = 256
MAX_BATCH = 4096

#: The kinds of main handler a worker can have; exactly one per worker.
MAIN_KINDS = ("element", "dataset_set")

#: What each kind of handler receives, used to check signatures and to explain them.
_ARGUMENTS = {
    "element": ("element", "ctx"),
    "dataset_set": ("dataset_set", "ctx"),
    "setup": ("ctx",),
    "teardown": ("ctx",),
    "finish": ("result", "ctx"),
}


@dataclass(frozen=True)
class HandlerSpec:
    """A registered function and how to call it."""

    kind: str
    func: Callable[..., Any]
    #: Whether the function asked for the run context as its last positional argument.
    takes_ctx: bool
    #: Elements per call when the function takes a :class:`~arkworker.run.units.Batch`; None:
    #: it takes one element.
    batch_size: int | None = None
    #: False when the function must not run in several threads at once: ``--jobs`` is refused.
    thread_safe: bool = True
    #: The ``element.open_image()`` arguments to download each element's image with ahead of
    #: the call (``{}``: the defaults), None to download nothing ahead.
    prefetch_images: Mapping[str, Any] | None = None

    @property
    def name(self) -> str:
        return getattr(self.func, "__qualname__", repr(self.func))

    @property
    def location(self) -> str:
        """``module:line`` of the function, to name it in error messages."""
        code = getattr(self.func, "__code__", None)
        module = getattr(self.func, "__module__", "?")
        return f"{module}:{code.co_firstlineno}" if code else module

    def __call__(self, *args: Any, ctx: Any = None) -> Any:
        if self.takes_ctx:
            return self.func(*args, ctx)
        return self.func(*args)


@dataclass(frozen=True)
class OptionSpec:
    """A custom CLI option declared with :meth:`WorkerSpec.option`."""

    param_decls: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def to_click(self) -> click.Option:
        return click.Option(self.param_decls, **self.attrs)

    @cached_property
    def name(self) -> str:
        """The parameter name click derives from the declarations: the handler's ``ctx.args.<name>``."""
        return str(self.to_click().name)


#: The type a worker is declared with when it gives none (the format's ``type`` is free text).
DEFAULT_WORKER_TYPE = "worker"


class WorkerSpec:
    """An Arkindex worker's declaration: a name, handlers, options and configuration fields.

    Use :class:`arkworker.Worker`, which adds :meth:`~arkworker.app.Worker.run`; the runner
    and the command line accept any ``WorkerSpec``.

    :param name: the worker's name, shown in logs and in ``--help``.
    :param description: one sentence shown in ``--help``, and in Arkindex (default: the display name).
    :param cache: whether the worker can use the SQLite cache of an Arkindex process.
    :param jobs: how many elements are processed at once by default (``--jobs`` overrides it).
    :param configuration: the worker's configuration fields (:class:`~arkworker.fields.Field`),
        before those of :meth:`config_field`.

    What only its Arkindex declaration (``arkworker declare``) uses:

    :param slug: the worker's slug in Arkindex (default: the name, when it is a valid slug).
    :param display_name: its name in Arkindex (default: the name as words, ``ocr-lines`` → ``Ocr lines``).
    :param type: its type in Arkindex, free text such as ``recognizer``, ``classifier``, ``dla``
        (default: ``worker``).
    :param gpu_usage: ``disabled`` (default), ``supported`` or ``required``.
    :param model_usage: the same, for a model.
    :param docker_command: the command Arkindex runs in the worker's image (default: the image's CMD).
    :param docker_shm_size: the image's shared memory, ``<number>[b|k|m|g]`` (default: Docker's 64m).
    """

    def __init__(
        self,
        name: str,
        description: str | None = None,
        *,
        cache: bool = False,
        jobs: int = 1,
        configuration: Iterable[Field] = (),
        slug: str | None = None,
        display_name: str | None = None,
        type: str | None = None,
        gpu_usage: str = "disabled",
        model_usage: str = "disabled",
        docker_command: str | None = None,
        docker_shm_size: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise RegistrationError("Worker() needs a non-empty name, e.g. Worker('my-worker').")
        if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= MAX_JOBS:
            raise RegistrationError(
                f"Worker({name!r}, jobs={jobs!r}): jobs is how many elements are processed at once, "
                f"a whole number from 1 to {MAX_JOBS}."
            )
        self.name = name
        self.description = _declared_text(name, "description", description, None)
        self.cache = bool(cache)
        self.jobs = jobs
        if slug is not None and not (isinstance(slug, str) and SLUG_PATTERN.fullmatch(slug)):
            raise RegistrationError(
                f"Worker({name!r}, slug={slug!r}): a slug has 1 to 100 letters, digits, dashes or "
                "underscores, e.g. slug='ocr-lines'."
            )
        self._slug = slug
        self.display_name = _declared_text(name, "display_name", display_name, 100)
        self.type = _declared_text(name, "type", type, 100)
        for label, usage in (("gpu_usage", gpu_usage), ("model_usage", model_usage)):
            if usage not in USAGES:
                raise RegistrationError(
                    f"Worker({name!r}, {label}={usage!r}): give one of {', '.join(repr(u) for u in USAGES)}."
                )
        self.gpu_usage = gpu_usage
        self.model_usage = model_usage
        self.docker_command = _declared_text(name, "docker_command", docker_command, None)
        if docker_shm_size is not None and not is_shm_size(docker_shm_size):
            raise RegistrationError(
                f"Worker({name!r}, docker_shm_size={docker_shm_size!r}) is not a {SHM_SIZE_NAME}: "
                "a number above 0 and a lowercase unit, e.g. '512m' or '2g'."
            )
        self.docker_shm_size = docker_shm_size
        self._handler: HandlerSpec | None = None
        self._setup: list[HandlerSpec] = []
        self._teardown: list[HandlerSpec] = []
        self._finish: list[HandlerSpec] = []
        self._options: list[OptionSpec] = []
        self._fields: list[Field] = []
        self._started = False
        if isinstance(configuration, Field) or not isinstance(configuration, Iterable):
            raise RegistrationError(
                f"Worker({name!r}, configuration={configuration!r}): give a list of Field(...)."
            )
        for declared in configuration:
            self._add_field(declared)

    def __repr__(self) -> str:
        kind = self.kind or "no handler"
        return f"<{type(self).__name__} {self.name!r} ({kind})>"

    # -- Registration -------------------------------------------------------------------

    @overload
    def element(self, func: F) -> F: ...
    @overload
    def element(
        self,
        *,
        batch_size: int | None = None,
        thread_safe: bool = True,
        prefetch_images: bool | Mapping[str, Any] = False,
    ) -> Callable[[F], F]: ...
    def element(
        self,
        func: F | None = None,
        *,
        batch_size: int | None = None,
        thread_safe: bool = True,
        prefetch_images: bool | Mapping[str, Any] = False,
    ) -> F | Callable[[F], F]:
        """Register the function called once per element, as ``func(element[, ctx])``.

        ``batch_size=N`` (1 included) calls it once per N elements instead, as ``func(batch[, ctx])``: ``batch`` is a list of elements (a
        :class:`~arkworker.run.units.Batch`, the last one of a run may be shorter), with
        ``batch.fail(element, error)`` to fail one element and not the others.
        ``thread_safe=False`` says the function must never run twice at once: a run with
        ``--jobs`` above 1 is refused. ``prefetch_images=True`` (or the keyword arguments of
        :meth:`~arkworker.models.Element.open_image`, ``{"max_width": 1024}``) downloads each
        element's image while earlier elements are processed; ``element.open_image()`` with
        the same arguments then returns it without a request.
        """
        if batch_size is not None and (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int)
            or not 1 <= batch_size <= MAX_BATCH
        ):
            raise RegistrationError(
                f"@app.element(batch_size={batch_size!r}): the batch size is a whole number from 1 to {MAX_BATCH}."
            )
        if prefetch_images is True:
            images: Mapping[str, Any] | None = {}
        elif prefetch_images is False:
            images = None
        elif isinstance(prefetch_images, Mapping) and _open_image_accepts(prefetch_images):
            images = dict(prefetch_images)
        else:
            raise RegistrationError(
                f"@app.element(prefetch_images={prefetch_images!r}): give True, or the keyword arguments "
                'of element.open_image() as a dict, e.g. {"max_width": 1024}.'
            )
        options = {"batch_size": batch_size, "thread_safe": bool(thread_safe), "prefetch_images": images}
        return self._register("element", func, **options)

    @overload
    def dataset_set(self, func: F) -> F: ...
    @overload
    def dataset_set(self) -> Callable[[F], F]: ...
    def dataset_set(self, func: F | None = None) -> F | Callable[[F], F]:
        """Register the function called once per dataset set, as ``func(dataset_set[, ctx])``."""
        return self._register("dataset_set", func)

    @overload
    def setup(self, func: F) -> F: ...
    @overload
    def setup(self) -> Callable[[F], F]: ...
    def setup(self, func: F | None = None) -> F | Callable[[F], F]:
        """Register a function called once, after configuration and before the first item.

        Several setup functions run in registration order.
        """
        return self._register("setup", func)

    @overload
    def teardown(self, func: F) -> F: ...
    @overload
    def teardown(self) -> Callable[[F], F]: ...
    def teardown(self, func: F | None = None) -> F | Callable[[F], F]:
        """Register a function called once at the end of the run, also after failures.

        Several teardown functions run in reverse registration order, like an exit stack.
        """
        return self._register("teardown", func)

    @overload
    def finish(self, func: F) -> F: ...
    @overload
    def finish(self) -> Callable[[F], F]: ...
    def finish(self, func: F | None = None) -> F | Callable[[F], F]:
        """Register a function called once after the loop, as ``func(result[, ctx])``.

        ``result`` is the run's accounting (:class:`arkworker.RunResult`: ``completed``,
        ``failed``, ``failures``...). It runs only when the loop ran: not after a failed setup
        function, not after a stop signal. It may still call helpers (a training worker
        trains and publishes its model here, where the reference overrode ``run()``); if it
        raises, the run fails (exit code 1). Teardown functions still run after it, whatever
        happened. Several finish functions run in registration order.
        """
        return self._register("finish", func)

    def option(self, *param_decls: str, **attrs: Any) -> Callable[[F], F]:
        """Add a CLI option to the worker command; its value is ``ctx.args.<name>``.

        Takes the arguments of :func:`click.option`::

            @app.option("--threshold", type=float, default=0.5, help="Minimal confidence.")
        """
        self._check_not_started("option")
        spec = OptionSpec(tuple(param_decls), dict(attrs))
        try:
            option = spec.to_click()
        except TypeError as exc:
            raise RegistrationError(f"@app.option{param_decls}: {exc}") from None
        if option.name in BUILTIN_OPTION_NAMES:
            raise RegistrationError(
                f"@app.option{param_decls}: '{option.name}' is a built-in option of "
                "'arkworker run'; give your option another name."
            )
        for existing in self._options:
            if existing.name == option.name:
                raise RegistrationError(
                    f"@app.option{param_decls}: an option named '{option.name}' is already "
                    f"declared as {existing.param_decls}; give each option its own name."
                )
        self._options.append(spec)

        def decorator(func: F) -> F:
            return func

        return decorator

    def config_field(
        self, key: str | Field, type: str | type | None = None, **attrs: Any
    ) -> Callable[[F], F]:
        """Declare a configuration field, a key of ``ctx.config``; takes :class:`~arkworker.fields.Field`'s arguments::

            @app.config_field("threshold", type=float, default=0.5, help="Minimal confidence.")
            @app.config_field("advanced", children=[Field("dropout", default=0.1)])  # ctx.config["advanced.dropout"]

        ``@app.config_field(Field(...))`` takes a field made beforehand. Fields are declared in
        the order of the decorators, top first, after those of ``Worker(configuration=...)``.
        """
        self._check_not_started("config_field")
        if isinstance(key, Field):
            if type is not None or attrs:
                raise RegistrationError(
                    f"@app.config_field({key!r}, ...): give either a Field or its arguments, not both."
                )
            declared = key
        else:
            declared = Field(key, type, **attrs)
        self._add_field(declared)

        def decorator(func: F) -> F:
            return func

        return decorator

    # -- What was registered ------------------------------------------------------------

    @property
    def kind(self) -> str | None:
        """``"element"`` or ``"dataset_set"``: which loop runs this worker (None before registration)."""
        return self._handler.kind if self._handler else None

    @property
    def handler(self) -> HandlerSpec | None:
        """The main handler (element or dataset set), if one was registered."""
        return self._handler

    @property
    def setup_handlers(self) -> Sequence[HandlerSpec]:
        return tuple(self._setup)

    @property
    def teardown_handlers(self) -> Sequence[HandlerSpec]:
        return tuple(self._teardown)

    @property
    def finish_handlers(self) -> Sequence[HandlerSpec]:
        return tuple(self._finish)

    @property
    def options(self) -> Sequence[OptionSpec]:
        return tuple(self._options)

    @property
    def configuration(self) -> Sequence[Field]:
        """The declared configuration fields, in order (a group holds its children)."""
        return tuple(self._fields)

    @property
    def slug(self) -> str | None:
        """The worker's slug in Arkindex: the one given, else the name if it is a valid slug."""
        if self._slug is not None:
            return self._slug
        return self.name if SLUG_PATTERN.fullmatch(self.name) else None

    def declaration(self) -> dict[str, Any]:
        """The worker's Arkindex declaration (``arkindex/<slug>.yml``) as data, in the format's key order.

        Valid for the format's rules by construction: every part was checked when declared.
        Raises :class:`RegistrationError` when the worker has no slug to declare.
        """
        slug = self.slug
        if slug is None:
            raise RegistrationError(
                f"Worker {self.name!r} has no slug for Arkindex (1 to 100 letters, digits, dashes or "
                f"underscores): give Worker({self.name!r}, slug={_suggest_slug(self.name)!r})."
            )
        display_name = self.display_name or display_name_for(self.name)[:100]
        document: dict[str, Any] = {
            "slug": slug,
            "display_name": display_name,
            "type": self.type or DEFAULT_WORKER_TYPE,
            "description": self.description or display_name,
            "gpu_usage": self.gpu_usage,
            "model_usage": self.model_usage,
        }
        docker = {"command": self.docker_command, "shm_size": self.docker_shm_size}
        if any(value is not None for value in docker.values()):
            document["docker"] = {key: value for key, value in docker.items() if value is not None}
        if self._fields:
            document["configuration"] = [declared.to_declaration() for declared in self._fields]
        return document

    def freeze(self) -> None:
        """Refuse any further registration: called by the runner when a run starts."""
        self._started = True

    # -- Internals ---------------------------------------------------------------------

    def _check_not_started(self, method: str) -> None:
        if self._started:
            raise RegistrationError(
                f"Worker {self.name!r} is already running: @app.{method} must be used at "
                "import time, before app.run() or 'arkworker run'. Move the registration to module level."
            )

    def _add_field(self, declared: Any) -> None:
        if not isinstance(declared, Field):
            raise RegistrationError(
                f"Worker {self.name!r}: {declared!r} is not a configuration field; give Field(...)."
            )
        check_declared([*self._fields, declared])
        self._fields.append(declared)

    def _register(self, kind: str, func: Callable[..., Any] | None, **options: Any) -> Any:
        self._check_not_started(kind)
        if func is None:
            return lambda f: self._register(kind, f, **options)
        spec = HandlerSpec(kind, func, _takes_ctx(kind, func), **options)
        if kind in MAIN_KINDS:
            current = self.handler
            if current is not None and current.kind == kind:
                raise RegistrationError(
                    f"Worker {self.name!r} already has an {kind} handler, {current.name} "
                    f"({current.location}); it cannot also use {spec.name} ({spec.location}). "
                    f"A worker has exactly one {kind} handler: merge them into one function."
                )
            if current is not None:
                raise RegistrationError(
                    f"Worker {self.name!r} already has a {current.kind} handler, {current.name} "
                    f"({current.location}); it cannot also have a {kind} handler ({spec.name}). "
                    "A worker processes either elements or dataset sets: make a second Worker for the other."
                )
            self._handler = spec
        elif kind == "setup":
            self._setup.append(spec)
        elif kind == "finish":
            self._finish.append(spec)
        else:
            self._teardown.append(spec)
        return func


def _declared_text(name: str, label: str, value: Any, limit: int | None) -> str | None:
    """A text of the worker's declaration, checked: non-blank, at most ``limit`` characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise RegistrationError(f"Worker({name!r}, {label}={value!r}): give non-empty text, or leave it out.")
    if limit is not None and len(value) > limit:
        raise RegistrationError(
            f"Worker({name!r}, {label}=...): {len(value)} characters, Arkindex accepts at most {limit}."
        )
    return value


def _suggest_slug(name: str) -> str:
    """The closest valid slug to a name (``"My worker!"`` → ``my-worker``)."""
    return "-".join(re.findall(r"[a-z0-9]+", name.lower()))[:100] or "my-worker"


def _open_image_accepts(arguments: Mapping[str, Any]) -> bool:
    """Whether ``element.open_image(**arguments)`` is a valid call."""
    try:
        inspect.signature(Element.open_image).bind(None, **arguments)
    except TypeError:
        return False
    return True


def _takes_ctx(kind: str, func: Callable[..., Any]) -> bool:
    """Check that ``func`` can receive what a ``kind`` handler is given; say whether it wants ctx."""
    expected = _ARGUMENTS[kind]
    shape = f"({', '.join(expected)})" + (f" or ({expected[0]})" if len(expected) > 1 else " or ()")
    name = getattr(func, "__qualname__", repr(func))

    def refuse(problem: str) -> RegistrationError:
        return RegistrationError(f"@app.{kind} cannot use {name}: {problem}. It must accept {shape}.")

    if not callable(func):
        raise refuse(f"{func!r} is not a function")
    if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
        raise refuse("async functions are not supported; define it with 'def'")
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: trust them with ctx
        return True

    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    varargs = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    keyword_only = [p.name for p in parameters if p.kind is p.KEYWORD_ONLY and p.default is p.empty]

    if keyword_only:
        raise refuse(f"it has required keyword-only parameters ({', '.join(keyword_only)})")
    if len(required) > len(expected):
        names = ", ".join(p.name for p in required)
        raise refuse(f"it requires {len(required)} arguments ({names})")
    minimum = 1 if kind in (*MAIN_KINDS, "finish") else 0
    if len(positional) < minimum and not varargs:
        raise refuse("it takes no argument")
    return varargs or len(positional) >= len(expected)
