"""Fail fast: every input is checked, ``ARKINDEX_API_URL`` included, before the first connection.

No connection is proven, not timed: a listening socket stands for the instance (or, without
``ARKINDEX_API_URL``, for the proxy every request would go through) and must have no
connection waiting in its backlog after the run. Sandbox runs and the pytest fixtures work
in temporary directories: a fake ``HOME`` stays empty.
"""

import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from arkworker import Worker
from arkworker.cli.worker import invoke_app

ROOT = Path(__file__).resolve().parent.parent
ELEMENT = "4a1e3c52-0000-4000-8000-000000000001"
MISSING_URL = (
    "Error: ARKINDEX_API_URL is not set: set it to the address of your Arkindex instance "
    "(ARKINDEX_API_URL=https://arkindex.example.com/), or run on a local sandbox with --sandbox."
)


@pytest.fixture
def listener():
    """A listening socket that accepts nothing: any connection attempt stays in its backlog."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as server:
        server.setblocking(False)
        yield server


def contacted(server):
    """Whether anything connected to ``server`` (a connection waits in its backlog)."""
    try:
        connection, _ = server.accept()
    except BlockingIOError:
        return False
    connection.close()
    return True


def address(server):
    host, port = server.getsockname()
    return f"http://{host}:{port}"


def no_url_env(server, **extra):
    """An environment without ARKINDEX_API_URL whose every request would go through ``server`` as proxy."""
    kept = {key: value for key, value in os.environ.items() if not key.startswith(("ARKINDEX_", "PONOS_"))}
    kept = {key: value for key, value in kept.items() if not key.lower().endswith("_proxy")}
    proxy = address(server)
    return {**kept, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "ARKWORKER_RETRY_BACKOFF": "0", **extra}


def url_env(server, **extra):
    """An environment whose instance is ``server``."""
    env = no_url_env(server, ARKINDEX_API_URL=address(server), **extra)
    del env["HTTP_PROXY"], env["HTTPS_PROXY"]
    return env


def element_app(**kwargs):
    app = Worker("fail-fast", **kwargs)
    app.element(lambda element: None)
    return app


def dataset_app():
    app = Worker("fail-fast-sets")
    app.dataset_set(lambda dataset_set: None)
    return app


def run(app, argv, env):
    """Run ``app`` as its command does; the exit code and everything the run wrote."""
    stream = io.StringIO()
    code, _ = invoke_app(app, argv, env=env, stream=stream, prog_name=app.name)
    return code, stream.getvalue()


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["--element", ELEMENT], {}),  # read-only mode
        (["--element", ELEMENT], {"ARKINDEX_WORKER_RUN_ID": str(uuid.uuid4())}),  # production
        ([], {"ARKINDEX_WORKER_RUN_ID": str(uuid.uuid4())}),  # the process could hand out elements
        ([], {}),  # nothing to process either: the usage error comes first
        (["--no-elements-list"], {}),  # the queue, which only the instance can say it has
    ],
)
def test_no_api_url_is_one_line_before_any_connection(listener, argv, extra):
    code, output = run(element_app(), argv, no_url_env(listener, **extra))
    assert code == 2
    assert output == MISSING_URL + "\n"
    assert not contacted(listener)


def test_a_dataset_worker_without_api_url(listener):
    code, output = run(dataset_app(), ["--set", f"{uuid.uuid4()}:train"], no_url_env(listener))
    assert (code, output) == (2, MISSING_URL + "\n")
    assert not contacted(listener)


BAD_INPUTS = [
    "elements-list",
    "task-elements",
    "config",
    "database",
    "set",
    "report",
    "retry-failed",
    "extras-dir",
    "task-chunk",
    "retry-attempts",
    "api-timeout",
    "keep",
]


def bad_input(name, tmp_path):
    """The command line, the environment and the start of the error line of the bad input ``name``."""
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    config = tmp_path / "config.yml"
    config.write_text("a: [\n")
    return {
        "elements-list": (
            ["--elements-list", str(broken)],
            {},
            f"Error: The --elements-list file {broken} is not valid JSON",
        ),
        "task-elements": (
            [],
            {"TASK_ELEMENTS": str(tmp_path / "none.json")},
            "Error: The TASK_ELEMENTS file",
        ),
        "config": (
            ["--element", ELEMENT, "--config", str(config)],
            {},
            f"Error: The configuration file {config} is not valid YAML",
        ),
        "database": (
            ["--element", ELEMENT, "--database", str(tmp_path / "db.sqlite")],
            {},
            "Error: --database was given but worker 'fail-fast' does not use a cache",
        ),
        "set": (["--set", f"{uuid.uuid4()}:train"], {}, "Error: --set is for dataset workers"),
        "report": (
            ["--element", ELEMENT, "--report", str(tmp_path / "nowhere" / "report.json")],
            {},
            "Error: --report",
        ),
        "retry-failed": (
            ["--retry-failed", str(tmp_path / "old.json")],
            {},
            "Error: The --retry-failed report",
        ),
        "extras-dir": (
            ["--element", ELEMENT, "--extras-dir", str(tmp_path / "extras")],
            {},
            "Error: The --extras-dir",
        ),
        "task-chunk": (
            ["--element", ELEMENT],
            {"ARKINDEX_TASK_CHUNK": "two"},
            "Error: ARKINDEX_TASK_CHUNK='two'",
        ),
        "retry-attempts": (
            ["--element", ELEMENT],
            {"ARKWORKER_RETRY_ATTEMPTS": "0"},
            "Error: ARKWORKER_RETRY_ATTEMPTS='0'",
        ),
        "api-timeout": (
            ["--element", ELEMENT],
            {"ARKWORKER_API_TIMEOUT": "-1"},
            "Error: ARKWORKER_API_TIMEOUT='-1'",
        ),
        "keep": (["--element", ELEMENT, "--keep"], {}, "Error: --keep is for --sandbox runs"),
    }[name]


@pytest.mark.parametrize("name", BAD_INPUTS)
@pytest.mark.parametrize("with_url", [False, True], ids=["no-url", "url"])
def test_a_bad_input_wins_and_nothing_is_contacted(listener, tmp_path, name, with_url):
    argv, extra, error = bad_input(name, tmp_path)
    env = (url_env if with_url else no_url_env)(listener, **extra)
    code, output = run(element_app(), argv, env)
    assert code == 2
    assert output.startswith(error), output
    assert output.count("\n") == 1
    assert not contacted(listener)


def test_nothing_to_process_in_read_only_mode_is_known_without_a_call(listener):
    code, output = run(element_app(), [], url_env(listener))
    assert code == 1
    assert output.endswith(
        "WARNING/arkworker: No elements to process, stopping. Give them with --element, --elements-list or "
        "TASK_ELEMENTS, or take them from the process queue with --no-elements-list.\n"
    )
    assert not contacted(listener)


def test_nothing_to_process_at_a_forced_legacy_level_is_known_without_a_call(listener):
    env = url_env(listener, ARKINDEX_WORKER_RUN_ID=str(uuid.uuid4()), ARKWORKER_API_LEVEL="legacy")
    code, output = run(element_app(), [], env)
    assert code == 1
    assert output.endswith(
        "No elements to process, stopping. Give them with --element, --elements-list or TASK_ELEMENTS.\n"
    )
    code, output = run(element_app(), ["--dev", "--no-elements-list"], env)
    assert code == 2
    assert output == (
        "Error: --no-elements-list needs the process queue (StartWorkerActivity), which API level legacy "
        "(forced) does not have: give the elements with --element or --elements-list.\n"
    )
    assert not contacted(listener)


def test_a_dataset_worker_without_sets_in_read_only_mode_is_known_without_a_call(listener):
    code, output = run(dataset_app(), ["--dev"], url_env(listener))
    assert code == 1
    assert output.endswith(
        "No sets to process, stopping. In read-only mode only the --set sets are processed: give them as "
        "--set <dataset_uuid>:<set_name>.\n"
    )
    assert not contacted(listener)


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        ([], {"ARKINDEX_WORKER_RUN_ID": str(uuid.uuid4())}),  # production: the process decides
        (["--no-elements-list"], {}),  # the queue: does the instance have it?
        ([], {"SKIP_TASK_ELEMENTS": ""}),  # the same, from the environment
    ],
)
def test_where_the_instance_decides_the_run_asks_it(listener, argv, extra):
    env = url_env(listener, ARKWORKER_API_TIMEOUT="0.2", ARKWORKER_RETRY_ATTEMPTS="1", **extra)
    code, output = run(element_app(), argv, env)
    assert code == 1
    assert "Could not load the Arkindex API schema from" in output
    assert contacted(listener)


def test_a_cache_may_hold_the_elements(listener, tmp_path):
    from arkworker.storage.cache_files import create_cache_file

    database = tmp_path / "db.sqlite"
    create_cache_file(database)
    env = url_env(listener, ARKWORKER_API_TIMEOUT="0.2", ARKWORKER_RETRY_ATTEMPTS="1")
    code, output = run(element_app(cache=True), ["--database", str(database)], env)
    assert code == 1
    assert "Could not load the Arkindex API schema from" in output
    assert contacted(listener)


# -- the home directory ------------------------------------------------------------------------------


def home_env(tmp_path, **extra):
    """The caller's environment with a fake, empty HOME, without XDG directories, temporary files in tmp_path."""
    home = tmp_path / "home"
    temporary = tmp_path / "tmp"
    home.mkdir()
    temporary.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ARKINDEX_", "PONOS_", "XDG_")) and key not in ("TMPDIR", "TEMP", "TMP")
    }
    return home, temporary, {**env, "HOME": str(home), "TMPDIR": str(temporary), **extra}


def arkworker(args, env):
    """The ``arkworker`` program, run as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "arkworker", *args], capture_output=True, text=True, check=False, env=env
    )


def everything_under(directory):
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*"))


def test_a_sandbox_run_leaves_home_untouched_and_removes_its_work_dir(tmp_path):
    home, temporary, env = home_env(tmp_path)
    completed = arkworker(["run", str(ROOT / "examples" / "brightness.py"), "--sandbox"], env)
    assert completed.returncode == 0, completed.stderr
    assert everything_under(home) == []
    assert everything_under(temporary) == []  # the work dir and the sandbox's state are gone
    last = completed.stdout.splitlines()[-1]
    assert last.startswith(f"The run's work directory {temporary}") and last.endswith(
        "/arkindex was removed (--keep keeps it)."
    )
    assert f"Wrote the report of 3 pages to {last.split()[4]}/brightness.json" in completed.stderr


def test_keep_keeps_the_work_dir_of_a_sandbox_run(tmp_path, monkeypatch):
    home, temporary, env = home_env(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))  # TMPDIR, for this process
    app = Worker("writer")

    @app.element
    def process(element, ctx):
        (ctx.work_dir / f"{element.id}.txt").write_text(element.name)

    code, output = run(app, ["--sandbox", "--keep"], env)
    assert code == 0, output
    assert everything_under(home) == []
    prefix = "The run's work directory is kept: "
    (line,) = [line for line in output.splitlines() if line.startswith(prefix)]
    work_dir = Path(line.removeprefix(prefix))
    assert work_dir.parent.parent == temporary and work_dir.parent.name.startswith("arkworker-sandbox-run-")
    assert sorted(path.read_text() for path in work_dir.iterdir()) == ["Page 1", "Page 2", "Page 3"]


def test_a_sandbox_run_refused_for_a_bad_input_leaves_no_work_dir(tmp_path):
    _, temporary, env = home_env(tmp_path)
    argv = ["run", str(ROOT / "examples" / "hello.py"), "--sandbox", "--keep", "--report", "/nowhere/r.json"]
    completed = arkworker(argv, env)
    assert completed.returncode == 2
    assert completed.stderr.startswith("Error: --report") and completed.stdout == ""
    assert everything_under(temporary) == []


@pytest.fixture
def fake_home(tmp_path, monkeypatch):
    """A fake, empty HOME without XDG directories, set before the plugin's fixtures read the environment."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.mark.usefixtures("fake_home")
def test_the_fixtures_leave_home_untouched(arkworker_run, arkworker_env, fake_home, tmp_path):
    app = Worker("writer")

    @app.element
    def process(element, ctx):
        (ctx.work_dir / f"{element.id}.json").write_text(json.dumps(element.name))

    assert arkworker_run(app).exit_code == 0
    assert arkworker_run(app, "--dev").exit_code == 0
    assert everything_under(fake_home) == []
    work_dir = Path(arkworker_env["XDG_DATA_HOME"]) / "arkindex"
    assert work_dir.is_relative_to(tmp_path)
    assert len(list(work_dir.iterdir())) == 3
