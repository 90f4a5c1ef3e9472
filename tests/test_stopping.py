"""SIGTERM and SIGINT sent to a real ``arkworker run`` process in the middle of an element.

The worker runs in a subprocess against the test's sandbox (production mode: activities are
stored); its handler announces each element in a file and holds the first one, so that the
signal arrives while an element is in progress.
"""

import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

import pytest

from arkworker.run.stopping import Interrupted, StopControl
from arkworker.storage.cache_files import create_cache_file

WORKER = """
import os, time
from pathlib import Path
from arkworker import Worker

app = Worker("stoppable", cache=True)
marks = Path(os.environ["MARKS"])

@app.element
def process(element, ctx):
    ctx.create_transcription(element, text=f"Text of {element.name}", confidence=1.0)
    with marks.open("a") as out:
        out.write(f"started {element.name}\\n")
    if element.name == "Page 1":
        time.sleep(float(os.environ["HOLD"]))
    with marks.open("a") as out:
        out.write(f"finished {element.name}\\n")

@app.teardown
def teardown(ctx):
    with marks.open("a") as out:
        out.write("teardown\\n")
"""

#: Long enough for any machine to deliver the signal first; a test never waits for it.
FOREVER = "600"


class Worker:
    """A worker subprocess whose standard error is read as it comes."""

    def __init__(self, command, env):
        self.process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stderr:
            self.lines.append(line)

    @property
    def stderr(self):
        return "".join(self.lines)

    def send(self, signum):
        self.process.send_signal(signum)

    def wait_for(self, condition, timeout=60):
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                self._reader.join(5)
                raise AssertionError(f"the worker exited early:\n{self.stderr}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the worker did not reach the expected point:\n{self.stderr}")
            time.sleep(0.05)

    def finish(self):
        self.process.wait(timeout=60)
        self._reader.join(5)
        return self.process.returncode, self.stderr


@pytest.fixture
def start(tmp_path, arkworker_sandbox, arkworker_env):
    """Start the worker on the process's pages; return (process, marks file, cache file)."""
    script = tmp_path / "stoppable.py"
    script.write_text(WORKER)
    marks = tmp_path / "marks.txt"
    database = tmp_path / "db.sqlite"
    create_cache_file(database)
    with sqlite3.connect(database) as db:  # the pages, so that the cache takes their transcriptions
        db.executemany(
            "INSERT INTO elements (id, type, rotation_angle, mirrored, initial) VALUES (?, 'page', 0, 0, 0)",
            [(uuid.UUID(element_id).hex,) for element_id in arkworker_sandbox.process_element_ids()],
        )
    children = []

    def launch(hold, grace="10"):
        env = {**arkworker_env, "MARKS": str(marks), "HOLD": hold, "ARKWORKER_STOP_GRACE": grace}
        ids = arkworker_sandbox.process_element_ids()
        command = [sys.executable, "-m", "arkworker", "run", str(script), "--database", str(database)]
        worker = Worker([*command, "--element", *ids], env)
        children.append(worker)
        worker.wait_for(lambda: marks.is_file() and "started Page 1" in marks.read_text())
        return worker

    yield launch, marks, database
    for worker in children:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()


def activity_states(sandbox):
    return sorted(row["state"] for row in sandbox.objects("activities"))


def cached_texts(database):
    with sqlite3.connect(database) as db:
        return sorted(text for (text,) in db.execute("SELECT text FROM transcriptions"))


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_the_element_in_progress_finishes_then_the_run_stops(start, arkworker_sandbox, signum, code):
    launch, marks, database = start
    worker = launch(hold="1")
    worker.send(signum)
    returncode, stderr = worker.finish()
    name = signal.Signals(signum).name
    assert returncode == code, stderr
    assert f"Received {name}: stopping after element" in stderr
    assert "Ran on 3 elements: 1 completed, 0 failed, 2 not processed" in stderr
    assert stderr.rstrip().endswith(f"Interrupted by {name}")
    assert marks.read_text().splitlines() == ["started Page 1", "finished Page 1", "teardown"]
    assert activity_states(arkworker_sandbox) == ["processed"]
    assert [row["text"] for row in arkworker_sandbox.created()["transcriptions"]] == ["Text of Page 1"]
    assert cached_texts(database) == ["Text of Page 1"]
    assert "Traceback" not in stderr


def test_an_element_that_overruns_the_grace_is_interrupted_and_marked_error(start, arkworker_sandbox):
    launch, marks, database = start
    worker = launch(hold=FOREVER, grace="0.5")
    worker.send(signal.SIGTERM)
    returncode, stderr = worker.finish()
    assert returncode == 143, stderr
    assert "did not finish within 0.5 s: interrupting it" in stderr
    assert "Interrupted by SIGTERM while processing element" in stderr
    assert "Ran on 3 elements: 0 completed, 1 failed, 2 not processed" in stderr
    assert marks.read_text().splitlines() == ["started Page 1", "teardown"]
    assert activity_states(arkworker_sandbox) == ["error"]
    # The transcription was acknowledged before the signal: the cache has it too.
    assert cached_texts(database) == ["Text of Page 1"]


def test_a_second_signal_stops_at_once(start, arkworker_sandbox):
    launch, marks, _ = start
    worker = launch(hold=FOREVER, grace="600")
    worker.send(signal.SIGTERM)
    worker.wait_for(lambda: "send SIGTERM again to stop now" in worker.stderr)
    worker.send(signal.SIGTERM)
    returncode, stderr = worker.finish()
    assert returncode == 143, stderr
    assert "send SIGTERM again to stop now" in stderr
    assert "Ran on 3 elements: 0 completed, 1 failed, 2 not processed" in stderr
    assert marks.read_text().splitlines() == ["started Page 1", "teardown"]
    assert activity_states(arkworker_sandbox) == ["error"]


def test_a_bad_grace_is_a_usage_error(tmp_path, arkworker_env):
    script = tmp_path / "worker.py"
    script.write_text("from arkworker import Worker\napp = Worker('w')\napp.element(lambda element: None)\n")
    completed = subprocess.run(
        [sys.executable, "-m", "arkworker", "run", str(script), "--element", str(uuid.uuid4())],
        env={**arkworker_env, "ARKWORKER_STOP_GRACE": "soon"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert "ARKWORKER_STOP_GRACE='soon' is not valid: expected a number >= 0." in completed.stderr


def test_the_signal_handlers_are_restored_after_a_run(arkworker_run, make_app):
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    assert arkworker_run(make_app()).exit_code == 0
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_a_handler_sees_the_stop_request(arkworker_run, make_app):
    seen = []

    def process(element, ctx):
        seen.append(ctx.stop_requested)
        signal.raise_signal(signal.SIGTERM)  # the run is in this (main) thread: the loop gets it

    run = arkworker_run(make_app(process))
    assert seen == [False]
    assert run.exit_code == 143
    assert run.summary == "Ran on 3 elements: 1 completed, 0 failed, 2 not processed"


def test_an_interruption_once_the_api_answered_waits_for_the_cache_rows():
    stop = StopControl(grace=0)
    written = []
    with stop.working_on("element x"), pytest.raises(Interrupted) as raised, stop.step():
        stop.answered()  # the API holds the result now
        stop.handle(signal.SIGTERM)  # a grace of 0 would interrupt here: it is deferred
        written.append("cache row")
    assert written == ["cache row"]
    assert raised.value.exit_code == 143


def test_an_interruption_before_the_answer_is_raised_at_once():
    stop = StopControl(grace=0)
    with stop.working_on("element x"), stop.step(), pytest.raises(Interrupted):
        stop.handle(signal.SIGINT)
    assert stop.requested


JOBS_WORKER = """
import os, time
from pathlib import Path
from arkworker import Worker

app = Worker("stoppable-jobs")
marks = Path(os.environ["MARKS"])

@app.element
def process(element, ctx):
    with marks.open("a") as out:
        out.write(f"started {element.name}\\n")
    time.sleep(float(os.environ["HOLD"]))
    ctx.create_transcription(element, text=f"Text of {element.name}", confidence=1.0)
    with marks.open("a") as out:
        out.write(f"finished {element.name}\\n")
"""


@pytest.fixture
def start_jobs(tmp_path, arkworker_sandbox, arkworker_env):
    """Start the worker with --jobs 2 on the process's 3 pages; return once two elements are in progress."""
    script = tmp_path / "stoppable_jobs.py"
    script.write_text(JOBS_WORKER)
    marks = tmp_path / "marks.txt"
    children = []

    def launch(hold, grace="10"):
        env = {**arkworker_env, "MARKS": str(marks), "HOLD": hold, "ARKWORKER_STOP_GRACE": grace}
        ids = arkworker_sandbox.process_element_ids()
        worker = Worker(
            [sys.executable, "-m", "arkworker", "run", str(script), "--jobs", "2", "--element", *ids], env
        )
        children.append(worker)
        worker.wait_for(lambda: marks.is_file() and marks.read_text().count("started") == 2)
        return worker

    yield launch, marks
    for worker in children:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()


def test_with_jobs_the_elements_in_progress_finish_then_the_run_stops(start_jobs, arkworker_sandbox):
    launch, marks = start_jobs
    worker = launch(hold="1")
    worker.send(signal.SIGTERM)
    returncode, stderr = worker.finish()
    assert returncode == 143, stderr
    assert "Received SIGTERM: stopping after the elements in progress (2 jobs)" in stderr
    assert "Ran on 3 elements: 2 completed, 0 failed, 1 not processed" in stderr
    assert sorted(marks.read_text().splitlines()) == [
        "finished Page 1",
        "finished Page 2",
        "started Page 1",
        "started Page 2",
    ]
    assert activity_states(arkworker_sandbox) == ["processed", "processed"]


def test_with_jobs_elements_that_overrun_the_grace_are_cut_off_and_marked_error(
    start_jobs, arkworker_sandbox
):
    launch, _marks = start_jobs
    worker = launch(hold="3", grace="0.5")
    worker.send(signal.SIGTERM)
    returncode, stderr = worker.finish()
    assert returncode == 143, stderr
    assert "did not finish within 0.5 s: interrupting it" in stderr
    assert stderr.count("Interrupted by SIGTERM while processing element") == 2
    assert "Ran on 3 elements: 0 completed, 2 failed, 1 not processed" in stderr
    assert activity_states(arkworker_sandbox) == ["error", "error"]
    # The jobs were cut off: their late transcriptions were never sent.
    assert arkworker_sandbox.created().get("transcriptions", []) == []
    assert "Traceback" not in stderr
