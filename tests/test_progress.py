"""The progress display: a bar on a terminal (a pseudo-terminal here), periodic lines elsewhere."""

import io
import os
import pty
import re
import select
import struct
import subprocess
import sys
import threading
import time

import pytest

from arkworker import Worker
from arkworker.cli.worker import invoke_app
from arkworker.run import logs, progress
from arkworker.run.observers import COMPLETED, FAILED, Outcome
from tests.conftest import PAGES_CORPUS, with_worker_run

WORKER = """
from arkworker import Worker

app = Worker("shown")

@app.element
def process(element, ctx):
    ctx.logger.info("Looked at %s", element.name)
    if element.name == "Page 2":
        raise ValueError("boom")
"""

#: The pages handed out by the process queue (StartWorkerActivity), which says no total.
QUEUE = with_worker_run(process={**PAGES_CORPUS["worker_run"]["process"], "skip_elements_json": True})

#: A safety bound for waits on another process or thread; never an expected duration.
PATIENCE = 60


def log_line(level, message, logger="arkworker"):
    """A pattern matching the log line of ``message`` at ``level``, whole."""
    return r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} " + re.escape(f"{level}/{logger}: {message}")


def run_on_a_terminal(tmp_path, env, *args):
    """Run the worker above in a subprocess whose standard error is a pseudo-terminal; its output."""
    import fcntl
    import termios

    script = tmp_path / "shown.py"
    script.write_text(WORKER)
    main, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # 120 columns
    command = [sys.executable, "-m", "arkworker", "run", str(script), *args]
    process = subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=secondary
    )
    os.close(secondary)
    output = b""
    deadline = time.monotonic() + PATIENCE
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 1)
            if not ready:
                continue
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the other end is closed
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(main)
        process.wait(PATIENCE)
    return process.returncode, output.decode()


def assert_whole_lines(output, *lines):
    """Each log line is printed whole, on a line of its own (the bar cleared before it)."""
    for level, message, *logger in lines:
        pattern = r"(?:^|[\r\n])" + log_line(level, message, *logger) + r"\r?\n"
        assert re.search(pattern, output), (message, output)


RATE = r" *(?:[\d.]+element/s|[\d.]+s/element)"  # tqdm gives seconds per element below one a second


def test_a_terminal_shows_a_bar_with_rate_and_eta(tmp_path, arkworker_sandbox, arkworker_env):
    ids = arkworker_sandbox.process_element_ids()
    code, output = run_on_a_terminal(tmp_path, arkworker_env, "--element", *ids)
    assert code == 0, output
    # The count, the total, the elapsed time < the ETA, the rate, the failures.
    assert re.search(
        r"Elements: 100%\|[^|\r\n]*\| 3/3 \[\d\d:\d\d<\d\d:\d\d," + RATE + r", failed=1\]", output
    ), output
    assert_whole_lines(
        output,
        ("INFO", "Looked at Page 1", "arkworker.worker"),
        ("INFO", "Looked at Page 2", "arkworker.worker"),
        ("WARNING", f"Failed running worker on element {ids[1]}: ValueError('boom')"),
        ("INFO", "Looked at Page 3", "arkworker.worker"),
        ("ERROR", "Ran on 3 elements: 2 completed, 1 failed"),
    )
    assert "Processing page" not in output  # the bar says it
    assert "Progress:" not in output


@pytest.mark.parametrize("arkworker_corpus", [QUEUE])
def test_the_queue_bar_counts_without_a_total(tmp_path, arkworker_sandbox, arkworker_env):
    code, output = run_on_a_terminal(tmp_path, arkworker_env)
    assert code == 0, output
    assert "Elements come from the process queue (StartWorkerActivity)" in output
    assert re.search(r"Elements: 3element \[\d\d:\d\d," + RATE + r", failed=1\]", output), output
    bars = re.findall(r"Elements:[^\r\n]*", output)
    assert bars and not any("%|" in bar or "<" in bar for bar in bars)  # no total, no ETA
    assert_whole_lines(
        output,
        ("INFO", "Looked at Page 3", "arkworker.worker"),
        ("ERROR", "Ran on 3 elements: 2 completed, 1 failed"),
    )


def wait_for(condition):
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, "the expected output never came"
        time.sleep(0.01)


class Logged:
    """A run of ``app`` on the sandbox whose log is read while it runs (a stream, not a terminal)."""

    def __init__(self, env):
        self.env = {**env, "ARKWORKER_PROGRESS_INTERVAL": "0.01"}
        self.stream = io.StringIO()

    def holds(self, text):
        return text in self.stream.getvalue()

    def __call__(self, app, *args):
        code, _ = invoke_app(app, list(args), env=self.env, stream=self.stream)
        return code, self.stream.getvalue()


def test_without_a_terminal_a_line_now_and_then_replaces_the_element_lines(arkworker_sandbox, arkworker_env):
    run = Logged(arkworker_env)
    app = Worker("logged")

    @app.element
    def process(element):
        if element.name == "Page 1":  # hold the first element until a periodic line came
            wait_for(lambda: run.holds("Progress: 0/3"))
        if element.name == "Page 2":
            raise ValueError("boom")

    code, output = run(app, "--element", *arkworker_sandbox.process_element_ids())
    assert code == 0, output
    assert "INFO/arkworker: Progress: 0/3 elements done (0 failed), 0.00 elements/s, ETA unknown\n" in output
    assert re.search(
        r"INFO/arkworker: Progress: 3/3 elements done \(1 failed\) in [\d.]+ s, [\d.]+ elements/s\n", output
    )
    assert "Processing page" not in output
    assert "Ran on 3 elements: 2 completed, 1 failed" in output
    assert "\r" not in output  # no bar


@pytest.mark.parametrize("arkworker_corpus", [QUEUE])
def test_the_queue_lines_count_without_a_total(arkworker_sandbox, arkworker_env):
    run = Logged(arkworker_env)
    app = Worker("logged")

    @app.element
    def process(element):
        if element.name == "Page 2":
            wait_for(lambda: run.holds("Progress: 1 element done"))

    code, output = run(app)
    assert code == 0, output
    assert "INFO/arkworker: Progress: 1 element done (0 failed), " in output
    assert re.search(r"Progress: 3 elements done \(0 failed\) in [\d.]+ s, [\d.]+ elements/s\n", output)
    assert "ETA" not in output and "Processing page" not in output


DATASET = "0f5d3c43-5f5e-5b3e-9d5a-000000000001"


@pytest.mark.parametrize(
    "arkworker_corpus",
    [{**PAGES_CORPUS, "datasets": [{"id": DATASET, "name": "D", "sets": {"train": ["Page 1"], "dev": []}}]}],
)
def test_dataset_sets_are_counted_as_sets(arkworker_sandbox, arkworker_env):
    app = Worker("sets")
    app.dataset_set(lambda dataset_set: None)
    code, output = Logged(arkworker_env)(app)
    assert code == 0, output
    assert re.search(r"Progress: 2/2 sets done \(0 failed\) in [\d.]+ s, [\d.]+ sets/s\n", output), output


def test_progress_none_keeps_a_line_per_element(arkworker_run, make_app):
    run = arkworker_run(make_app(), "--progress", "none", env={"ARKWORKER_PROGRESS_INTERVAL": "0.01"})
    assert "INFO/arkworker: Processing page Page 1 (" in run.output and "(3/3)" in run.output
    assert "Progress:" not in run.output


def test_verbose_still_shows_each_element(arkworker_run, make_app):
    run = arkworker_run(make_app(), "--verbose")
    assert "DEBUG/arkworker: Processing page Page 2 (" in run.output
    assert "INFO/arkworker: Progress: 3/3 elements done (0 failed) in " in run.output


def test_a_bar_can_be_asked_for_on_any_stream(arkworker_run, make_app):
    app = make_app(lambda element, ctx: ctx.logger.info("Looked at %s", element.name))
    run = arkworker_run(app, "--progress", "bar")
    assert re.search(r"\rElements: 100%\|[^|]*\| 3/3 \[", run.output), run.output
    for name in ("Page 1", "Page 2", "Page 3"):
        assert re.search(r"\r" + log_line("INFO", f"Looked at {name}", "arkworker.worker") + "\n", run.output)


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_bad_interval_is_refused_before_any_call(arkworker_run, arkworker_sandbox, make_app, value):
    run = arkworker_run(make_app(), env={"ARKWORKER_PROGRESS_INTERVAL": value})
    assert run.exit_code == 2
    assert (
        run.output == f"Error: ARKWORKER_PROGRESS_INTERVAL={value!r} is not valid: expected a number > 0.\n"
    )
    assert arkworker_sandbox.requests == []


def test_a_bar_takes_outcomes_and_lines_from_many_threads():
    """As with --jobs: outcomes one at a time under the loop's lock, lines logged from every thread."""
    stream = io.StringIO()
    lock = threading.Lock()
    with logs.run_logging(stream):
        bar = progress.for_run("bar", {})
        assert isinstance(bar, progress.Bar)
        bar.begin("element", 8 * 50)

        def work(thread):
            for index in range(50):
                logs.logger.info("thread %d line %d", thread, index)
                with lock:
                    bar.done(Outcome(f"{thread}-{index}", FAILED if index == 0 else COMPLETED, 0.0))

        threads = [threading.Thread(target=work, args=(number,)) for number in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        bar.close()
        logs.logger.info("after the bar")
    output = stream.getvalue()
    assert re.search(r"\| 400/400 \[[^\]]*, failed=8\]\n", output), output[-500:]
    for thread in range(8):
        for index in range(50):
            assert re.search(r"\r" + log_line("INFO", f"thread {thread} line {index}") + "\n", output)
    assert output.endswith("INFO/arkworker: after the bar\n")
