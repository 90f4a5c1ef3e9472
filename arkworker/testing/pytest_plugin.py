"""pytest fixtures to test workers against a sandbox Arkindex, over real HTTP.

Installed with arkworker (entry point ``pytest11``), so a worker's test suite can use them
without any import::

    def test_one_transcription_per_page(arkworker_run):
        run = arkworker_run(app)
        assert run.exit_code == 0
        assert len(run.created["transcriptions"]) == 3

Override ``arkworker_corpus`` in a ``conftest.py`` to seed the sandbox from your corpus file.
A run goes through exactly the loop of ``arkworker run`` (no shortcut mode), in production
mode on the corpus's worker run, with retry waits turned off and private data directories.

pytest loads this plugin in every session of a project that has arkworker installed, so the
sandbox (Werkzeug) and the runner are imported by the fixtures that use them, not here.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from arkworker.cli.sandbox import sandbox_environment
from arkworker.cli.worker import invoke_app
from arkworker.spec import WorkerSpec

if TYPE_CHECKING:
    from arkworker.run.loop import RunResult
    from arkworker.sandbox import Sandbox


@dataclass
class SandboxRun:
    """The outcome of one run on the sandbox."""

    exit_code: int
    #: The run's accounting; None when the run stopped before processing (bad input...).
    result: RunResult | None
    #: Everything the run logged, and its error line if it stopped.
    output: str
    sandbox: Sandbox = field(repr=False)

    @property
    def created(self) -> dict[str, list[dict[str, Any]]]:
        """What the sandbox's worker run created, by kind (``run.created["transcriptions"]``)."""
        return self.sandbox.created()

    @property
    def summary(self) -> str | None:
        return self.result.summary if self.result else None


@pytest.fixture
def arkworker_corpus() -> str | Path | dict[str, Any] | None:
    """The corpus the sandbox is seeded from (a file, a folder of images or a dict); None: the demo.

    Override it in your ``conftest.py``::

        @pytest.fixture
        def arkworker_corpus():
            return Path(__file__).parent / "corpus.yml"
    """
    return None


@pytest.fixture
def arkworker_sandbox(arkworker_corpus: Any, tmp_path: Path) -> Iterator[Sandbox]:
    """A running sandbox seeded from ``arkworker_corpus``, fresh for each test.

    Besides its state (``objects()``, ``created()``, ``requests``), it injects faults, to test
    how a worker copes with a bad server or network; each spoils the next ``times`` requests
    of an operationId, of ``"schema"`` (the schema download) or of ``"iiif"`` (images)::

        arkworker_sandbox.fail("RetrieveElement", status=502, times=2)   # error answers
        arkworker_sandbox.reset_connection("CreateTranscription")        # no answer, not applied
        arkworker_sandbox.reset_mid_answer("CreateTranscription")        # applied, answer cut
        arkworker_sandbox.stall("UpdateWorkerActivity", seconds=5)       # applied, answer late
        arkworker_sandbox.slow("ListElementChildren", seconds=2)         # applied, answer trickles
        arkworker_sandbox.malformed("RetrieveElement")                   # a 200 HTML page
        arkworker_sandbox.truncate("DownloadArtifact", after=1024)       # a download cut short
        arkworker_sandbox.fault("iiif", "reset", times=None)             # any kind, until cleared

    ``clear_faults()`` drops them; every faulty request is in ``requests`` with its ``fault``.
    """
    from arkworker.sandbox import Sandbox

    with Sandbox(corpus=arkworker_corpus, db_path=tmp_path / "arkworker-sandbox.sqlite") as sandbox:
        yield sandbox


@pytest.fixture
def arkworker_env(arkworker_sandbox: Sandbox, tmp_path: Path) -> dict[str, str]:
    """The environment a test run gets: the sandbox's variables, no retry waits, private dirs."""
    env = sandbox_environment(os.environ, arkworker_sandbox)
    env.update(
        ARKWORKER_RETRY_BACKOFF="0",
        XDG_DATA_HOME=str(tmp_path / "xdg-data"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
    )
    return env


@pytest.fixture
def arkworker_run(arkworker_sandbox: Sandbox, arkworker_env: dict[str, str]) -> Callable[..., SandboxRun]:
    """A function running a Worker on the sandbox: ``arkworker_run(app, *args, env=None, elements=None)``.

    ``args`` are command-line arguments (``"--dev"``, ``"--threshold", "0.8"``...).
    Unless the arguments name elements (``--retry-failed`` does too), an element worker
    processes ``elements`` (IDs), by default the sandbox process's elements (none when the
    process hands them out itself: a queue, ``skip_elements_json: true``, or a dataset or
    export process); a dataset worker gets no element (its sets come from the process, and
    from ``"--set", "<dataset_uuid>:<set_name>"`` arguments).
    ``env`` adds or overrides environment variables.
    """

    def run(
        app: WorkerSpec,
        *args: str,
        env: Mapping[str, str] | None = None,
        elements: Sequence[str] | None = None,
    ) -> SandboxRun:
        argv = list(args)
        names_elements = any(
            arg.startswith(("--element", "--elements-list", "--retry-failed")) for arg in argv
        )
        if app.kind != "dataset_set" and not names_elements:
            ids = arkworker_sandbox.listed_element_ids() if elements is None else list(elements)
            if ids:
                argv += ["--element", *ids]
        stream = io.StringIO()
        code, result = invoke_app(
            app, argv, env={**arkworker_env, **(env or {})}, stream=stream, prog_name=app.name
        )
        return SandboxRun(code, result, stream.getvalue(), arkworker_sandbox)

    return run


@dataclass
class PonosTree:
    """A ``PONOS_DATA`` tree for one test: the task the worker runs as, and its parent tasks.

    The task exists in the sandbox (``RetrieveTaskFromAgent`` answers with its parents) and
    on disk (``data_dir/<task_id>/``); runs of ``arkworker_run`` get ``PONOS_DATA`` and
    ``PONOS_TASK``. :meth:`add_parent` adds a parent task with its directory and, by
    default, an empty cache file to fill.
    """

    sandbox: Sandbox
    data_dir: Path
    task_id: str
    parents: list[str] = field(default_factory=list)

    @property
    def task_dir(self) -> Path:
        return self.data_dir / self.task_id

    @property
    def cache_path(self) -> Path:
        """The task's own cache, once a cache-capable worker ran."""
        return self.task_dir / "db.sqlite"

    def add_parent(self, slug: str | None = None, *, cache: bool = True, chunk: str | None = None) -> Path:
        """Add a parent task and return its directory; ``cache`` creates its ``db.sqlite``
        (``db_<chunk>.sqlite`` with ``chunk``), empty with the version-3 schema.
        """
        from arkworker.storage.cache_files import create_cache_file

        parent_id = self.sandbox.add_task(slug or f"parent-{len(self.parents) + 1}")
        self.parents.append(parent_id)
        self.sandbox.set_task_parents(self.task_id, self.parents)
        directory = self.data_dir / parent_id
        directory.mkdir()
        if cache:
            create_cache_file(directory / ("db.sqlite" if chunk is None else f"db_{chunk}.sqlite"))
        return directory


@pytest.fixture
def arkworker_ponos(arkworker_sandbox: Sandbox, arkworker_env: dict[str, str], tmp_path: Path) -> PonosTree:
    """Runs of ``arkworker_run`` happen in a Ponos task with a ``PONOS_DATA`` tree (:class:`PonosTree`)."""
    data_dir = tmp_path / "ponos-data"
    (data_dir / "current").mkdir(parents=True)
    task_id = arkworker_sandbox.add_task("worker")
    (data_dir / task_id).mkdir()
    arkworker_env.update(PONOS_DATA=str(data_dir), PONOS_TASK=task_id)
    return PonosTree(arkworker_sandbox, data_dir, task_id)
