"""The installed ``arkworker`` program, run as a user would, in a subprocess."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from arkworker.cli import cli, invoke
from arkworker.sandbox.serve import serve_forever

ROOT = Path(__file__).resolve().parent.parent


def arkworker(*args, env=None, cwd=None):
    run_env = {key: value for key, value in os.environ.items() if not key.startswith(("ARKINDEX_", "PONOS_"))}
    run_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "arkworker", *args],
        capture_output=True,
        text=True,
        check=False,
        env=run_env,
        cwd=cwd,
    )


def test_hello_on_the_demo_sandbox(tmp_path):
    completed = arkworker(
        "run", str(ROOT / "examples" / "hello.py"), "--sandbox", env={"XDG_DATA_HOME": str(tmp_path)}
    )
    assert completed.returncode == 0, completed.stderr
    assert "Ran on 3 elements: 3 completed, 0 failed" in completed.stderr
    assert "3 transcriptions" in completed.stdout
    assert "Hello Page 1" in completed.stdout
    assert "Arkindex API level: current (the instance has RetrieveWorkerRunConfiguration)" in completed.stderr


def test_the_sandbox_serves_the_level_a_run_forces(tmp_path):
    completed = arkworker(
        "run",
        str(ROOT / "examples" / "hello.py"),
        "--sandbox",
        "--api-level",
        "legacy",
        env={"XDG_DATA_HOME": str(tmp_path)},
    )
    assert completed.returncode == 0, completed.stderr
    assert "Arkindex API level: legacy (forced)" in completed.stderr
    assert "has no RetrieveWorkerRunConfiguration" not in completed.stderr  # the sandbox is legacy too
    assert "Ran on 3 elements: 3 completed, 0 failed" in completed.stderr


def test_sandbox_run_with_app_options_and_an_element(tmp_path):
    from arkworker.sandbox import Sandbox

    with Sandbox() as demo:
        first = demo.process_element_ids()[0]
    completed = arkworker(
        "run",
        f"{ROOT / 'examples' / 'hello.py'}:app",
        "--sandbox",
        "--greeting",
        "Bonjour",
        "--element",
        first,
        env={"XDG_DATA_HOME": str(tmp_path)},
    )
    assert completed.returncode == 0, completed.stderr
    assert "Ran on 1 element: 1 completed, 0 failed" in completed.stderr
    assert "Bonjour Page 1" in completed.stdout


def test_a_bad_sandbox_corpus_is_one_line(tmp_path):
    corpus = tmp_path / "corpus.yml"
    corpus.write_text("corpus: {name: x}\nelements: [{name: a, type: page, colour: red}]\n")
    completed = arkworker("run", str(ROOT / "examples" / "hello.py"), "--sandbox", str(corpus))
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1
    assert completed.stderr.startswith(f"Error: {corpus}: elements[0]") and "colour" in completed.stderr
    missing = arkworker("run", str(ROOT / "examples" / "hello.py"), "--sandbox", str(tmp_path / "no.yml"))
    assert missing.returncode == 2
    assert (
        missing.stderr
        == f"Error: The sandbox corpus file {tmp_path / 'no.yml'} does not exist: give a YAML or JSON corpus file, "
        "or a folder of images.\n"
    )


def test_the_worker_script_runs_itself(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("ARKINDEX_")}
    completed = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "hello.py"), "--sandbox", "--greeting", "Hi"],
        capture_output=True,
        text=True,
        check=False,
        env={**env, "XDG_DATA_HOME": str(tmp_path)},
    )
    assert completed.returncode == 0, completed.stderr
    assert "Hi Page 2" in completed.stdout


def test_sandbox_serve_prints_how_to_use_it():
    lines = []
    stop = threading.Event()
    thread = threading.Thread(target=serve_forever, args=(None,), kwargs={"echo": lines.append, "stop": stop})
    thread.start()
    try:
        for _ in range(100):
            if any("Press Ctrl+C" in line for line in lines):
                break
            threading.Event().wait(0.05)
    finally:
        stop.set()
        thread.join()
    text = "\n".join(lines)
    assert "Arkindex sandbox serving corpus 'Demo corpus'" in text
    assert "export ARKINDEX_API_URL=http://127.0.0.1:" in text
    assert "export ARKINDEX_WORKER_RUN_ID=" in text
    assert lines[-1] == "Sandbox stopped."


def test_sandbox_serve_stops_cleanly_on_sigterm(tmp_path):
    """``kill`` (SIGTERM) stops the server like Ctrl+C: its temporary state is removed."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ARKINDEX_", "PONOS_"))}
    env["TMPDIR"] = str(tmp_path)
    server = subprocess.Popen(
        [sys.executable, "-m", "arkworker", "sandbox", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        for line in server.stdout:
            if line.startswith("Press Ctrl+C"):
                break
        assert list(tmp_path.iterdir()), "the temporary state should exist while serving"
        server.send_signal(signal.SIGTERM)
        rest = server.stdout.read()
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
    assert server.returncode == 0
    assert rest == "Sandbox stopped.\n"
    assert list(tmp_path.iterdir()) == []


def test_sandbox_serve_errors_are_one_line(capsys, tmp_path):
    corpus = tmp_path / "bad.json"
    corpus.write_text("[]")
    assert invoke(cli, ["sandbox", "serve", str(corpus)], prog_name="arkworker") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"Error: {corpus}") and err.count("\n") == 1

    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert invoke(cli, ["sandbox", "serve", "--port", str(port)], prog_name="arkworker") == 2
    assert capsys.readouterr().err == (
        f"Error: Cannot listen on 127.0.0.1:{port} (Address already in use): pick another --port.\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["run", "--help"],
        ["run", "-h"],
        ["run", "examples/hello.py", "--help"],
        ["new", "--help"],
        ["sandbox", "--help"],
        ["sandbox", "serve", "--help"],
        ["sandbox", "import", "--help"],
        ["cache", "--help"],
        ["cache", "info", "--help"],
        ["cache", "merge", "--help"],
    ],
)
def test_help_pages(args):
    completed = arkworker(*args, cwd=ROOT)
    assert completed.returncode == 0
    assert completed.stdout.startswith("Usage: arkworker")
    # Every page offers both help flags, and no option shows a meaningless default.
    assert "-h, --help" in completed.stdout
    assert "(verbose)" not in completed.stdout
    # Command summaries are whole sentences, not cut with "...".
    assert "..." not in completed.stdout.partition("Commands:")[2]
