"""Logging during a run.

Log lines use the reference's format (``<time> <LEVEL>/<logger>: <message>``) on standard
error. Handlers are installed for the duration of a run only, so importing arkworker never
changes the logging of the program that imports it, and two runs in one test session do
not print every line twice.

Each run logs through its own :class:`RunLogHandler`, which owns the run's
:class:`SecretRedactor`; :func:`run_logging` makes it the current one in its context (a
context variable), where :func:`redact_secrets` and :func:`redact` find it. Two runs at
once (two threads) thus keep their secrets and their lines apart: a handler prints the
lines logged in its own run's context (its thread, the tasks handed to ``ctx.submit``) and
the lines logged outside any run (a thread started with :class:`threading.Thread`), which
it hides every running run's secrets from.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TextIO

FORMAT = "%(asctime)s %(levelname)s/%(name)s: %(message)s"

logger = logging.getLogger("arkworker")

#: What replaces a secret value in a log line or a traceback.
REDACTED = "[secret]"

#: Shorter values are not redacted: hiding every "id" or "1" would make logs unreadable.
MIN_SECRET_LENGTH = 4

#: Shorter numbers in a secret are ports, sizes or timeouts, not secrets: hiding "1000"
#: everywhere would garble every count and duration of the logs.
MIN_SECRET_NUMBER_LENGTH = 6


class SecretRedactor(logging.Filter):
    """Replaces known secret values in a record's message, traceback and stack.

    Installed on the run's log handler, it sees every line the run prints, whichever
    logger emitted it, also with ``--verbose`` (tracebacks are formatted and redacted here).
    """

    def __init__(self) -> None:
        super().__init__()
        self.values: set[str] = set()

    def add(self, secrets: Any) -> None:
        """Hide every value of ``secrets`` (nested in mappings and lists too).

        A value also hides in the forms a worker or a traceback prints it in: stripped (a
        file's content ends with a newline), line by line (one line of a key file), escaped
        as ``repr`` and JSON show it, and long numbers as digits.
        """
        if isinstance(secrets, str):
            self.values.update(
                variant for variant in _printed_forms(secrets) if len(variant) >= MIN_SECRET_LENGTH
            )
        elif isinstance(secrets, (int, float)) and not isinstance(secrets, bool):
            if len(str(secrets)) >= MIN_SECRET_NUMBER_LENGTH:
                self.values.add(str(secrets))
        elif isinstance(secrets, dict):
            for value in secrets.values():
                self.add(value)
        elif isinstance(secrets, (list, tuple)):
            for value in secrets:
                self.add(value)

    def redact(self, text: str) -> str:
        for value in sorted(self.values, key=len, reverse=True):
            text = text.replace(value, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.values:
            return True
        record.msg, record.args = self.redact(record.getMessage()), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def _printed_forms(value: str) -> set[str]:
    texts = {value, value.strip(), *(line.strip() for line in value.splitlines())}
    return texts | {repr(text)[1:-1] for text in texts} | {json.dumps(text)[1:-1] for text in texts}


#: What the line being logged is about, when a run processes several elements at once: the
#: element (or batch) the logging thread works on, set by :func:`about`.
_ABOUT: ContextVar[str | None] = ContextVar("arkworker_log_about", default=None)


@contextmanager
def about(label: str | None) -> Iterator[None]:
    """Start the lines logged in this context with ``[label]`` (an element ID) for the block."""
    token = _ABOUT.set(label)
    try:
        yield
    finally:
        _ABOUT.reset(token)


class LabelledFormatter(logging.Formatter):
    """The reference's format; a line logged :func:`about` an element names it after the logger."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        label = _ABOUT.get()
        if label is None:
            return super().formatMessage(record)
        labelled = logging.makeLogRecord(record.__dict__)
        labelled.message = f"[{label}] {record.message}"
        return super().formatMessage(labelled)


class RunLogHandler(logging.StreamHandler):
    """The log handler of one run: its stream, its level, its redactor, its lines only."""

    def __init__(self, stream: TextIO, *, verbose: bool) -> None:
        super().__init__(stream)
        self.setFormatter(LabelledFormatter(FORMAT))
        self.setLevel(logging.DEBUG if verbose else logging.INFO)
        #: The run's secrets (:func:`redact_secrets` adds them once the run is configured).
        self.redactor = SecretRedactor()
        self.addFilter(self.redactor)
        #: The loggers as they were before the first of the runs logging at the same time.
        self.saved = _LoggerState.capture()

    def filter(self, record: logging.LogRecord) -> bool:
        current = _CURRENT.get()
        if current is None:
            # Logged outside any run's context: every running run may print it, so every
            # running run's secrets are hidden from it before any of them does.
            for handler in _run_handlers():
                handler.redactor.filter(record)
        elif current is not self:
            return False  # another run's line
        return bool(super().filter(record))


#: The run handler of the run in progress in this context (set by :func:`run_logging`).
_CURRENT: ContextVar[RunLogHandler | None] = ContextVar("arkworker_run_log", default=None)


def _run_handlers() -> list[RunLogHandler]:
    """The handlers of the runs in progress, as logging itself records them."""
    return [handler for handler in logger.handlers if isinstance(handler, RunLogHandler)]


@dataclass(frozen=True)
class _LoggerState:
    """What :func:`run_logging` changes on the arkworker and root loggers, to put it back."""

    level: int
    propagate: bool
    root_level: int
    adopt_root: bool

    @classmethod
    def capture(cls) -> _LoggerState:
        running = _run_handlers()
        if running:
            return running[0].saved  # another run configured the loggers: keep what it saved
        root = logging.getLogger()
        return cls(logger.level, logger.propagate, root.level, not root.handlers)

    def restore(self) -> None:
        logger.setLevel(self.level)
        logger.propagate = self.propagate
        logging.getLogger().setLevel(self.root_level)


def _apply_levels() -> None:
    """The arkworker logger lets through what the most verbose running run prints."""
    running = _run_handlers()
    if running:
        logger.setLevel(min(handler.level for handler in running))


def redact_secrets(secrets: Any) -> None:
    """Hide every value of ``secrets`` from the logs of the run in progress in this context.

    See :meth:`SecretRedactor.add`; outside :func:`run_logging` nothing prints the run's
    lines, so there is nothing to hide them from.
    """
    current = _CURRENT.get()
    if current is not None:
        current.redactor.add(secrets)


def redact(text: str) -> str:
    """``text`` with the secret values of the run in progress hidden (for messages printed outside logging)."""
    current = _CURRENT.get()
    return text if current is None else current.redactor.redact(text)


def current_handler() -> RunLogHandler | None:
    """The log handler of the run in progress in this context: its stream is the run's log stream
    (the progress display draws its bar there); None outside :func:`run_logging`."""
    return _CURRENT.get()


@contextmanager
def run_logging(stream: TextIO | None = None, *, verbose: bool = False) -> Iterator[logging.Handler]:
    """Send a run's log lines (and the root logger's, if it has no handler) to ``stream``.

    The handler and its redactor are the run's, current in this context for the block.
    """
    handler = RunLogHandler(stream or sys.stderr, verbose=verbose)
    root = logging.getLogger()
    logger.addHandler(handler)
    logger.propagate = False
    _apply_levels()
    if handler.saved.adopt_root:
        # Like a script that called logging.basicConfig(): the worker's own loggers show too.
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    token = _CURRENT.set(handler)
    try:
        yield handler
    finally:
        _CURRENT.reset(token)
        logger.removeHandler(handler)
        root.removeHandler(handler)
        if _run_handlers():
            _apply_levels()
        else:
            handler.saved.restore()
        handler.flush()


def enable_debug() -> None:
    """Turn on debug lines for the rest of the run (``--verbose``, ``ARKINDEX_DEBUG``, ``debug``)."""
    current = _CURRENT.get()
    if current is not None:
        current.setLevel(logging.DEBUG)
        _apply_levels()
    else:
        logger.setLevel(logging.DEBUG)
    logger.debug("Debug output enabled")


def is_verbose() -> bool:
    """Whether the run in progress prints debug lines (tracebacks of failures go with them)."""
    current = _CURRENT.get()
    if current is not None:
        return current.level <= logging.DEBUG
    return logger.isEnabledFor(logging.DEBUG)
