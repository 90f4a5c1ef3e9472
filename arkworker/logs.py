"""Logging during a run.

Log lines use the reference's format (``<time> <LEVEL>/<logger>: <message>``) on standard
error. Handlers are installed for the duration of a run only, so importing arkworker never
changes the logging of the program that imports it, and two runs in one test session do
not print every line twice.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s/%(name)s: %(message)s"

logger = logging.getLogger("arkworker")


@contextmanager
def run_logging(stream: TextIO | None = None, *, verbose: bool = False) -> Iterator[logging.Handler]:
    """Send arkworker's log lines (and the root logger's, if it has no handler) to ``stream``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
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


def enable_debug() -> None:
    """Turn on debug lines for the rest of the run (``--verbose``, ``ARKINDEX_DEBUG``, ``debug``)."""
    logger.setLevel(logging.DEBUG)
    logger.debug("Debug output enabled")
