"""Logging during a run.

Log lines use the reference's format (``<time> <LEVEL>/<logger>: <message>``) on standard
error. Handlers are installed for the duration of a run only, so importing arkworker never
changes the logging of the program that imports it, and two runs in one test session do
not print every line twice.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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


#: The redactor of the current run (secrets are known once the run is configured).
REDACTOR = SecretRedactor()


def redact_secrets(secrets: Any) -> None:
    """Hide every value of ``secrets`` (nested in mappings and lists too) from the logs.

    A value also hides in the forms a worker or a traceback prints it in: stripped (a
    file's content ends with a newline), line by line (one line of a key file), escaped
    as ``repr`` and JSON show it, and long numbers as digits.
    """
    if isinstance(secrets, str):
        REDACTOR.values.update(
            variant for variant in _printed_forms(secrets) if len(variant) >= MIN_SECRET_LENGTH
        )
    elif isinstance(secrets, (int, float)) and not isinstance(secrets, bool):
        if len(str(secrets)) >= MIN_SECRET_NUMBER_LENGTH:
            REDACTOR.values.add(str(secrets))
    elif isinstance(secrets, dict):
        for value in secrets.values():
            redact_secrets(value)
    elif isinstance(secrets, (list, tuple)):
        for value in secrets:
            redact_secrets(value)


def _printed_forms(value: str) -> set[str]:
    texts = {value, value.strip(), *(line.strip() for line in value.splitlines())}
    return texts | {repr(text)[1:-1] for text in texts} | {json.dumps(text)[1:-1] for text in texts}


def redact(text: str) -> str:
    """``text`` with the current run's secret values hidden (for messages printed outside logging)."""
    return REDACTOR.redact(text)


@contextmanager
def run_logging(stream: TextIO | None = None, *, verbose: bool = False) -> Iterator[logging.Handler]:
    """Send arkworker's log lines (and the root logger's, if it has no handler) to ``stream``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(REDACTOR)
    root = logging.getLogger()
    saved = logger.level, logger.propagate, root.level
    adopt_root = not root.handlers
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    if adopt_root:
        # Like a script that called logging.basicConfig(): the worker's own loggers show too.
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        if adopt_root:
            root.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        root.setLevel(saved[2])
        handler.flush()
        REDACTOR.values.clear()


def enable_debug() -> None:
    """Turn on debug lines for the rest of the run (``--verbose``, ``ARKINDEX_DEBUG``, ``debug``)."""
    logger.setLevel(logging.DEBUG)
    logger.debug("Debug output enabled")
