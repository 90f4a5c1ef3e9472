"""Two runs in one process at the same time share nothing: cache, download settings, secrets.

Each test starts two sandboxes and runs a worker on each from its own thread; the handlers
meet at a :class:`threading.Barrier`, so both runs are truly in flight together.
"""

import contextlib
import io
import json
import logging
import os
import sqlite3
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from arkworker import Worker
from arkworker.cli.sandbox import sandbox_environment
from arkworker.cli.worker import invoke_app
from arkworker.images import ImageError, open_image
from arkworker.sandbox import Sandbox
from arkworker.storage.cache_files import create_cache_file

#: Long enough never to be reached unless a run broke; a broken barrier fails both handlers.
MEETING_TIMEOUT = 30


def corpus(tmp_path, name, secrets=None):
    """A corpus named ``name``: one page on a small scan of its own, the process running on it.

    ``secrets`` (``{name: value}``) are the worker version's secrets, as the API holds them.
    """
    Image.new("RGB", (40, 30), "white").save(tmp_path / f"{name}.png")
    worker_run = {"process": {"elements": [f"Page {name}"]}}
    if secrets:
        worker_run["version"] = {"configuration": {"secrets": list(secrets)}}
    return {
        "corpus": {"name": f"Corpus {name}"},
        "types": ["page", "line"],
        "images": [{"name": "scan", "path": str(tmp_path / f"{name}.png")}],
        "elements": [{"name": f"Page {name}", "type": "page", "image": "scan"}],
        "worker_run": worker_run,
        **({"secrets": secrets} if secrets else {}),
    }


@contextlib.contextmanager
def sandbox_pair(tmp_path, corpora):
    """Two running sandboxes, with the environment a run on each gets (as ``arkworker_env``)."""
    with contextlib.ExitStack() as stack:
        pairs = []
        for name, seed in corpora.items():
            sandbox = stack.enter_context(Sandbox(corpus=seed, db_path=tmp_path / f"{name}-sandbox.sqlite"))
            env = sandbox_environment(os.environ, sandbox)
            env.update(
                ARKWORKER_RETRY_BACKOFF="0",
                XDG_DATA_HOME=str(tmp_path / name / "data"),
                XDG_CONFIG_HOME=str(tmp_path / name / "config"),
            )
            pairs.append((sandbox, env))
        yield pairs


class Run:
    """A run of ``app`` in a thread of its own; :meth:`join` gives (exit code, output)."""

    def __init__(self, app, argv, env):
        self.stream = io.StringIO()
        self.code = None
        self.thread = threading.Thread(target=self._run, args=(app, argv, env))
        self.thread.start()

    def _run(self, app, argv, env):
        self.code, _ = invoke_app(app, argv, env=env, stream=self.stream, prog_name=app.name)

    def join(self):
        self.thread.join()
        return self.code, self.stream.getvalue()


def run_both(apps, pairs, *args):
    """Run ``apps[i]`` on ``pairs[i]``'s sandbox, both at once; their (exit code, output)."""
    runs = [
        Run(app, [*args[index], "--element", *sandbox.process_element_ids()], env)
        for index, (app, (sandbox, env)) in enumerate(zip(apps, pairs, strict=True))
    ]
    return [run.join() for run in runs]


def iiif_requests(sandbox):
    return [record for record in sandbox.requests if record.path.startswith("/iiif/")]


# -- the cache ---------------------------------------------------------------------------------


def test_each_cache_holds_only_its_own_runs_rows(tmp_path):
    barrier = threading.Barrier(2, timeout=MEETING_TIMEOUT)
    seen = {}

    def cached_worker(name):
        app = Worker(f"cache-{name}", cache=True)

        @app.element
        def process(element, ctx):
            barrier.wait()
            ctx.create_sub_element(element, "line", f"Line of {name}", [[0, 0], [10, 0], [10, 10], [0, 10]])
            barrier.wait()  # both rows written: each run now reads its own cache
            seen[name] = {row.id.hex for row in ctx.cache.CachedElement.select()}

        return app

    databases = {name: tmp_path / f"{name}.sqlite" for name in "AB"}
    for path in databases.values():
        create_cache_file(path)
    with sandbox_pair(tmp_path, {name: corpus(tmp_path, name) for name in "AB"}) as pairs:
        outcomes = run_both(
            [cached_worker("A"), cached_worker("B")],
            pairs,
            *[["--database", str(databases[name])] for name in "AB"],
        )
        created = {
            name: {uuid.UUID(row["id"]).hex for row in sandbox.created()["elements"]}
            for name, (sandbox, _) in zip("AB", pairs, strict=True)
        }
    assert [code for code, _ in outcomes] == [0, 0], outcomes
    assert created["A"].isdisjoint(created["B"]) and all(len(ids) == 1 for ids in created.values())
    for name, path in databases.items():
        with sqlite3.connect(path) as connection:
            rows = {row[0] for row in connection.execute("SELECT id FROM elements")}
            images = connection.execute("SELECT COUNT(*) FROM images").fetchone()[0]
        assert rows == created[name] == seen[name]
        assert images == 1


# -- download settings -------------------------------------------------------------------------


def open_in_bare_thread(element, ctx):
    result = {}
    thread = threading.Thread(target=lambda: result.update(image=attempt(element.open_image)))
    thread.start()
    thread.join()
    return result["image"]


def open_in_bare_executor(element, ctx):
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(attempt, element.open_image).result()


def open_url_with_ctx_submit(element, ctx):
    """A download that no element carries: only the context handed over gives the run's settings."""
    return ctx.submit(attempt, open_image, element.image_url()).result()


def open_in_ctx_executor(element, ctx):
    with ctx.executor(max_workers=2) as pool:
        return next(pool.map(attempt, [element.open_image]))


def attempt(opener, *args):
    """What opening gave: the image's size, or the ImageError's message."""
    try:
        return opener(*args).size
    except ImageError as error:
        return str(error)


def image_worker(name, barrier, outcomes, opener, cache=False):
    app = Worker(f"images-{name}", cache=cache)

    @app.element
    def process(element, ctx):
        barrier.wait()
        outcomes[name] = opener(element, ctx)

    return app


OPENERS = [open_in_bare_thread, open_in_bare_executor, open_url_with_ctx_submit, open_in_ctx_executor]


@pytest.mark.parametrize("opener", OPENERS, ids=lambda opener: opener.__name__)
def test_each_runs_retry_policy_applies_in_threads_its_handler_starts(tmp_path, monkeypatch, opener):
    monkeypatch.setenv("ARKWORKER_RETRY_ATTEMPTS", "1")  # what a thread falling back would get
    barrier = threading.Barrier(2, timeout=MEETING_TIMEOUT)
    outcomes = {}
    with sandbox_pair(tmp_path, {name: corpus(tmp_path, name) for name in "AB"}) as pairs:
        for sandbox, _ in pairs:
            sandbox.fail_iiif(503, times=2)
        pairs[0][1]["ARKWORKER_RETRY_ATTEMPTS"] = "1"
        pairs[1][1]["ARKWORKER_RETRY_ATTEMPTS"] = "3"
        apps = [image_worker(name, barrier, outcomes, opener) for name in "AB"]
        results = run_both(apps, pairs, [], [])
        attempts = [len(iiif_requests(sandbox)) for sandbox, _ in pairs]
    assert [code for code, _ in results] == [0, 0], results
    assert "failed: HTTP 503 SERVICE UNAVAILABLE" in outcomes["A"]
    assert outcomes["B"] == (40, 30)
    assert attempts == [1, 3]


def test_each_runs_download_timeout_applies_in_threads_its_handler_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("ARKWORKER_DOWNLOAD_TIMEOUT", "0.1")  # what a thread falling back would get
    barrier = threading.Barrier(2, timeout=MEETING_TIMEOUT)
    outcomes = {}
    with sandbox_pair(tmp_path, {name: corpus(tmp_path, name) for name in "AB"}) as pairs:
        for sandbox, env in pairs:
            sandbox.fail_iiif(200, delay=1)
            env["ARKWORKER_RETRY_ATTEMPTS"] = "1"
        pairs[0][1]["ARKWORKER_DOWNLOAD_TIMEOUT"] = "0.1"
        pairs[1][1]["ARKWORKER_DOWNLOAD_TIMEOUT"] = "30"
        apps = [image_worker(name, barrier, outcomes, open_in_bare_thread) for name in "AB"]
        results = run_both(apps, pairs, [], [])
    assert [code for code, _ in results] == [0, 0], results
    assert "failed: waited 0.1 s for an answer, 1 time(s)" in outcomes["A"]
    assert outcomes["B"] == (40, 30)


def test_cached_elements_open_under_their_runs_settings_in_any_thread(tmp_path, monkeypatch):
    monkeypatch.setenv("ARKWORKER_RETRY_ATTEMPTS", "1")
    barrier = threading.Barrier(2, timeout=MEETING_TIMEOUT)
    outcomes = {}
    kinds = []

    def opener(element, ctx):
        kinds.append(type(element).__name__)
        return open_in_bare_thread(element, ctx)

    with sandbox_pair(tmp_path, {name: corpus(tmp_path, name) for name in "AB"}) as pairs:
        databases = []
        for name, (sandbox, env), attempts in zip("AB", pairs, ("1", "3"), strict=True):
            databases.append(cached_page(tmp_path / f"{name}.sqlite", sandbox))
            sandbox.fail_iiif(503, times=2)
            env["ARKWORKER_RETRY_ATTEMPTS"] = attempts
        apps = [image_worker(name, barrier, outcomes, opener, cache=True) for name in "AB"]
        results = run_both(apps, pairs, *[["--database", str(path)] for path in databases])
    assert [code for code, _ in results] == [0, 0], results
    assert kinds == ["CachedElement", "CachedElement"]
    assert "failed: HTTP 503 SERVICE UNAVAILABLE" in outcomes["A"]
    assert outcomes["B"] == (40, 30)


def cached_page(path, sandbox):
    """A cache whose initial element is the sandbox's page, with its image."""
    create_cache_file(path)
    (page,) = sandbox.objects("elements")
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO images (id, width, height, url) VALUES (?, 40, 30, ?)",
            (uuid.UUID(page["image_id"]).hex, f"{sandbox.url}/iiif/{page['image_id']}"),
        )
        connection.execute(
            "INSERT INTO elements (id, type, image_id, polygon, rotation_angle, mirrored, initial)"
            " VALUES (?, 'page', ?, ?, 0, 0, 1)",
            (uuid.UUID(page["id"]).hex, uuid.UUID(page["image_id"]).hex, json.dumps(page["polygon"])),
        )
    return path


# -- secrets -----------------------------------------------------------------------------------

SECRETS = {"A": "alpha-SECRET-1111", "B": "bravo-SECRET-2222"}


def test_each_runs_secrets_are_hidden_in_its_logs_and_stay_out_of_the_others(tmp_path):
    """A's lines stay in A's log, B's in B's; A ending does not un-hide B's secret."""
    barrier = threading.Barrier(2, timeout=MEETING_TIMEOUT)
    a_ended = threading.Event()
    app_a, app_b = Worker("secrets-A"), Worker("secrets-B")

    @app_a.element
    def process_a(element, ctx):
        barrier.wait()
        barrier.wait()  # B's thread has logged
        ctx.logger.info("A says %s", ctx.secrets["token.txt"])
        ctx.submit(ctx.logger.info, "A's task says %s", ctx.secrets["token.txt"]).result()

    @app_b.element
    def process_b(element, ctx):
        barrier.wait()
        # A line logged outside any run's context may be printed by every run in progress.
        thread = threading.Thread(
            target=logging.getLogger("arkworker.worker").info, args=("B's thread says %s", SECRETS["B"])
        )
        thread.start()
        thread.join()
        barrier.wait()
        assert a_ended.wait(MEETING_TIMEOUT)
        ctx.logger.info("B says %s", ctx.secrets["token.txt"])

    corpora = {name: corpus(tmp_path, name, {"token.txt": SECRETS[name]}) for name in "AB"}
    with sandbox_pair(tmp_path, corpora) as pairs:
        (sandbox_a, env_a), (sandbox_b, env_b) = pairs
        run_a = Run(app_a, ["--element", *sandbox_a.process_element_ids()], env_a)
        run_b = Run(app_b, ["--element", *sandbox_b.process_element_ids()], env_b)
        code_a, output_a = run_a.join()
        a_ended.set()
        code_b, output_b = run_b.join()
    assert (code_a, code_b) == (0, 0), (output_a, output_b)
    assert "A says [secret]" in output_a and "B says [secret]" in output_b
    assert "A's task says [secret]" in output_a and "A's task says" not in output_b
    assert "B's thread says [secret]" in output_a and "B's thread says [secret]" in output_b
    for output in (output_a, output_b):
        assert not any(secret in output for secret in SECRETS.values()), output
    assert "B says" not in output_a and "A says" not in output_b
    assert "Processing page Page B" not in output_a and "Processing page Page A" not in output_b
