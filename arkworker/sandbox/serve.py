"""``arkworker sandbox serve``: a sandbox in the foreground, for trying a worker by hand.

It prints what a user needs to point a worker at the sandbox (``export`` lines to paste in
another shell), then serves until Ctrl+C and stops cleanly. With ``db_path`` the state
survives restarts, so a worker's output can be inspected (or built upon) later. Faults given
on the command line (``--fault RetrieveElement:error=503:times=2``) are set before the first
request, to try a worker against a failing server by hand, and a latency
(``--latency 0.02``) makes every request as slow as on a remote instance.
"""

from __future__ import annotations

import shlex
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from arkworker.sandbox import Sandbox
from arkworker.sandbox.faults import FaultRule, describe
from arkworker.sandbox.importer import corpus_source


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
) -> None:
    """Serve ``corpus_path`` (a file or a folder of images; None: the demo corpus) until Ctrl+C, or until ``stop`` is set.

    ``stop`` lets a caller outside the main thread (a test, an embedding program) end the
    loop, since Ctrl+C only reaches the main thread. Raises ``CorpusError`` for a bad corpus
    and ``OSError`` when the port cannot be bound, before anything is printed. ``faults`` are
    set once the server listens (``faults.parse_fault_spec`` reads the command-line form);
    ``latency`` (seconds) is waited before every request, as on a remote instance.
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
        # SIGTERM (``kill``, a service manager) stops it like Ctrl+C, instead of killing the
        # process on the spot and leaving its temporary state behind. Only the main thread
        # may handle signals; elsewhere (tests) ``stop`` is the way out. Installed before
        # anything is printed, so that a caller reacting to the output is never too early.
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set()) if main else None
        try:
            elements = len(sandbox.objects("elements"))
            echo(
                f"Arkindex sandbox serving corpus {sandbox.corpus_name!r} ({elements} elements) at {sandbox.url}"
            )
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
            # A timed wait so that Ctrl+C is handled promptly on every platform.
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            if main:
                signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
    echo("Sandbox stopped.")
