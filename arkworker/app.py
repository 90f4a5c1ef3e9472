"""The :class:`Worker` object: a worker's declaration (:class:`~arkworker.spec.WorkerSpec`) that can run itself.

Everything a worker module does at import time (the decorators, their checks) is in
:mod:`arkworker.spec`, which imports neither the runner nor the command line; this module
only adds :meth:`Worker.run`, which is what ``arkworker run`` does, so the command line sits
below it and every layer imports downwards.

Example::

    from arkworker import Worker

    app = Worker("demo", description="Demo worker")

    @app.option("--threshold", type=float, default=0.5)
    @app.element
    def process(element, ctx):
        ctx.request("RetrieveElement", id=element.id)

    if __name__ == "__main__":
        raise SystemExit(app.run())
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from arkworker.cli.worker import run_app
from arkworker.spec import WorkerSpec


class Worker(WorkerSpec):
    """An Arkindex worker: a name, handlers and options.

    :param name: the worker's name, shown in logs and in ``--help``.
    :param description: one sentence shown in ``--help``.
    :param cache: whether the worker can use the SQLite cache of an Arkindex process.
    :param jobs: how many elements are processed at once by default (``--jobs`` overrides it).
    """

    def run(self, argv: Sequence[str] | None = None, *, env: Mapping[str, str] | None = None) -> int:
        """Run the worker as ``arkworker run`` would, and return the exit code.

        ``argv`` defaults to ``sys.argv[1:]`` and ``env`` to ``os.environ``. Use it in tests,
        or at the bottom of a worker script::

            if __name__ == "__main__":
                raise SystemExit(app.run())
        """
        return run_app(self, argv, env=env)
