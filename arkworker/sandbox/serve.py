"""``arkworker sandbox serve``: a sandbox in the foreground, for trying a worker by hand.

It prints what a user needs to point a worker at the sandbox (``export`` lines to paste in
another shell), then serves until Ctrl+C and stops cleanly. With ``db_path`` the state
survives restarts, so a worker's output can be inspected (or built upon) later. Faults given
on the command line (``--fault RetrieveElement:error=503:times=2``) are set before the first
request, to try a worker against a failing server by hand, and a latency
(``--latency 0.02``) makes every request as slow as on a remote instance. The results viewer
is served at the sandbox's ``/`` (:mod:`arkworker.sandbox.viewer`).
"""

from __future__ import annotations

import shlex
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from arkworker.sandbox import Sandbox
from arkworker.sandbox.faults import FaultRule, describe
from arkworker.sandbox.importer import corpus_source
from arkworker.sandbox.viewer import ReportReader


def serve_forever(
    corpus_path: str | Path | None,
    *,
    port: int = 0,
    db_path: str | Path | None = None,
    echo: Callable[[str], object] = print,
    stop: threading.Event | None = None,
    faults: Sequence[FaultRule] = (),
    api_level: str | None = None,
    latency: float = 0.0,
    report: ReportReader | None = None,
) -> None:
    """Serve ``corpus_path`` (a file or a folder of images; None: the demo corpus) until Ctrl+C, or until ``stop`` is set.

    ``stop`` lets a caller outside the main thread (a test, an embedding program) end the
    loop, since Ctrl+C only reaches the main thread. Raises ``CorpusError`` for a bad corpus
    and ``OSError`` when the port cannot be bound, before anything is printed. ``faults`` are
    set once the server listens (``faults.parse_fault_spec`` reads the command-line form);
    ``latency`` (seconds) is waited before every request, as on a remote instance.
    ``report`` gives the viewer's run page its run report (:meth:`Sandbox.show_report`).
    """
    sandbox = Sandbox(
        corpus_source(corpus_path) if corpus_path else None,
        db_path=db_path,
        port=port,
        api_level=api_level,
        latency=latency,
    )
    stop = stop or threading.Event()
    with sandbox:
        for rule in faults:
            sandbox.add_fault(rule)
        sandbox.show_report(report)
        with stop_on_sigterm(stop):
            elements = len(sandbox.objects("elements"))
            echo(
                f"Arkindex sandbox serving corpus {sandbox.corpus_name!r} ({elements} elements) at {sandbox.url}"
            )
            echo(f"Results viewer: {sandbox.viewer_url}")
            echo("Point a worker at it with:")
            for name, value in sandbox.env().items():
                echo(f"  export {name}={shlex.quote(value)}")
            echo(f"API level: {sandbox.api_level}")
            echo(f"State: {sandbox.db_path}{'' if db_path else ' (temporary)'}")
            if latency:
                echo(f"Latency: {latency * 1000:g} ms before every request")
            for rule in faults:
                echo(f"Fault: {describe(rule)}")
            echo("Press Ctrl+C to stop.")
            wait_for(stop)
    echo("Sandbox stopped.")


@contextmanager
def stop_on_sigterm(stop: threading.Event) -> Iterator[None]:
    """In the main thread, make SIGTERM set ``stop`` for the block (elsewhere: nothing).

    SIGTERM (``kill``, a service manager) then stops a server like Ctrl+C, instead of killing
    the process on the spot and leaving its temporary state behind. Only the main thread may
    handle signals; elsewhere (tests) ``stop`` is the way out. Enter it before printing the
    address, so that a caller reacting to the output is never too early.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def wait_for(stop: threading.Event) -> None:
    """Return once ``stop`` is set or Ctrl+C is pressed.

    A timed wait, so that Ctrl+C is handled promptly on every platform.
    """
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
