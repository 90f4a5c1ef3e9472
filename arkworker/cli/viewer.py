"""``arkworker run APP --sandbox --view``: after the run, serve the sandbox's results viewer until Ctrl+C.

The viewer (:mod:`arkworker.sandbox.viewer`) is the sandbox's own web pages, at its ``/``;
this module gives it the run's report and keeps the sandbox serving once the run is over.
Its run summary (failures and their errors, durations) comes from the run report, so a
``--view`` run without ``--report`` writes one in a temporary folder, removed at the end.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from arkworker.options import RunOptions

if TYPE_CHECKING:
    from arkworker.sandbox import Sandbox
    from arkworker.sandbox.viewer import ReportReader


@contextmanager
def report_for_view(options: RunOptions) -> Iterator[RunOptions]:
    """``options``, with a report path in a temporary folder for ``--view`` without ``--report``."""
    if not options.view or options.report is not None:
        yield options
        return
    with tempfile.TemporaryDirectory(prefix="arkworker-view-") as folder:
        yield replace(options, report=Path(folder) / "report.json")


def report_reader(path: Path) -> ReportReader:
    """What gives the viewer the run report at ``path``, read again at each visit of the run page.

    A report missing, unreadable or of another format is a :class:`~arkworker.errors.BadInput`,
    whose line the run page shows.
    """
    from arkworker.run.report import read_report

    return lambda: read_report(path, "run", "view it with the arkworker that wrote it")


def view_results(sandbox: Sandbox, report: Path | None, out: TextIO | None) -> None:
    """Serve the results viewer of ``sandbox`` until Ctrl+C (or SIGTERM), after printing its URL.

    A browser is opened only in a terminal of a desktop session: elsewhere (CI, a test, a
    remote shell) the URL is printed and nothing else is tried.
    """
    from arkworker.sandbox.serve import stop_on_sigterm, wait_for

    sandbox.show_report(report_reader(report) if report else None)
    stop = threading.Event()
    with stop_on_sigterm(stop):
        click.echo(f"Results viewer: {sandbox.viewer_url} (press Ctrl+C to stop)", file=out)
        _open_browser(sandbox.viewer_url)
        wait_for(stop)
    click.echo("Viewer stopped.", file=out)


def _open_browser(url: str) -> None:
    """Open ``url`` in a graphical browser, if the command runs in a terminal of a desktop session.

    A text browser (``lynx``, what ``webbrowser`` falls back to without a graphical one) would
    take the terminal over until it is closed: it is never used.
    """
    import webbrowser

    desktop = (
        sys.platform in ("darwin", "win32") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if not (desktop and sys.stdout.isatty()):
        return
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return
    if isinstance(browser, webbrowser.GenericBrowser) and not isinstance(
        browser, webbrowser.BackgroundBrowser
    ):
        return
    browser.open(url)
