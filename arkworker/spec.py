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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar, overload

import click

from arkworker.errors import RegistrationError
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


class WorkerSpec:
    """An Arkindex worker's declaration: a name, handlers and options.

    Use :class:`arkworker.Worker`, which adds :meth:`~arkworker.app.Worker.run`; the runner
    and the command line accept any ``WorkerSpec``.

    :param name: the worker's name, shown in logs and in ``--help``.
    :param description: one sentence shown in ``--help``.
    :param cache: whether the worker can use the SQLite cache of an Arkindex process.
    :param jobs: how many elements are processed at once by default (``--jobs`` overrides it).
    """

    def __init__(
        self, name: str, description: str | None = None, *, cache: bool = False, jobs: int = 1
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise RegistrationError("Worker() needs a non-empty name, e.g. Worker('my-worker').")
        if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= MAX_JOBS:
            raise RegistrationError(
                f"Worker({name!r}, jobs={jobs!r}): jobs is how many elements are processed at once, "
                f"a whole number from 1 to {MAX_JOBS}."
            )
        self.name = name
        self.description = description
        self.cache = bool(cache)
        self.jobs = jobs
        self._handler: HandlerSpec | None = None
        self._setup: list[HandlerSpec] = []
        self._teardown: list[HandlerSpec] = []
        self._finish: list[HandlerSpec] = []
        self._options: list[OptionSpec] = []
        self._started = False

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
