"""Several elements at once (``--jobs``), batched handlers and elements fetched ahead (``--prefetch``).

Every assertion is read from what the sandbox recorded: the requests in the order it
received them, the activities and results it stored. Concurrency is proven with barriers
(N handlers meet, or the test fails), never with timings.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections import defaultdict

import pytest

from arkworker import Worker
from arkworker.errors import RegistrationError
from tests.conftest import requests_of

PAGES = 12
CORPUS = {
    "corpus": {"name": "Many pages"},
    "types": [{"slug": "folder", "folder": True}, "page"],
    "images": [{"name": "scan", "width": 400, "height": 600}],
    "elements": [
        {
            "name": "Volume",
            "type": "folder",
            "children": [{"name": f"Page {n}", "type": "page", "image": "scan"} for n in range(1, PAGES + 1)],
        }
    ],
    "worker_run": {"process": {"elements": [f"Page {n}" for n in range(1, PAGES + 1)]}},
}

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: How long a test waits for threads to meet before it fails (never reached when all is well).
PATIENCE = 30


@pytest.fixture
def arkworker_corpus():
    return CORPUS


def steps_by_element(sandbox):
    """Each element's calls in the order the sandbox received them: retrieve, started, text, processed."""
    steps = defaultdict(list)
    for record in sandbox.requests:
        if record.operation_id == "UpdateWorkerActivity":
            steps[record.body["element_id"]].append(record.body["state"])
        elif record.operation_id in ("RetrieveElement", "CreateTranscription"):
            element_id = UUID.search(record.path).group(0)
            steps[element_id].append("retrieve" if record.operation_id == "RetrieveElement" else "text")
    return dict(steps)


def activity_states(sandbox):
    return {row["element_id"]: row["state"] for row in sandbox.objects("activities")}


def transcribing(jobs=1, meet=0, **element_options):
    """An app writing one transcription per element; the first ``meet`` handlers wait for each other."""
    app = Worker("transcriber", jobs=jobs)
    barrier = threading.Barrier(meet) if meet else None
    threads = set()

    @app.element(**element_options)
    def process(element, ctx):
        threads.add(threading.current_thread().name)
        if barrier is not None and not barrier.broken:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(PATIENCE)
        ctx.create_transcription(element, text=f"Text of {element.name}", confidence=1.0)

    return app, barrier, threads


@pytest.mark.parametrize("jobs", [4, 8])
def test_jobs_process_each_element_once_in_the_reference_order(arkworker_run, arkworker_sandbox, jobs):
    app, barrier, threads = transcribing(meet=4)
    run = arkworker_run(app, "--jobs", str(jobs))
    assert run.exit_code == 0, run.output
    assert run.summary == f"Ran on {PAGES} elements: {PAGES} completed, 0 failed"
    assert not barrier.broken  # four handlers ran at the same time
    assert len(threads) >= 4 and all(name.startswith("arkworker-job-") for name in threads)
    steps = steps_by_element(arkworker_sandbox)
    assert sorted(steps) == sorted(arkworker_sandbox.process_element_ids())
    assert all(calls == ["retrieve", "started", "text", "processed"] for calls in steps.values())
    texts = sorted(row["text"] for row in arkworker_sandbox.created()["transcriptions"])
    assert texts == sorted(f"Text of Page {n}" for n in range(1, PAGES + 1))


def test_the_app_default_and_the_option(arkworker_run, arkworker_sandbox):
    app, barrier, _ = transcribing(jobs=3, meet=3)
    run = arkworker_run(app)
    assert run.exit_code == 0 and not barrier.broken
    arkworker_sandbox.reset()
    app, barrier, threads = transcribing(jobs=3)
    assert arkworker_run(app, "--jobs", "1").exit_code == 0
    assert threads == {"MainThread"}  # one at a time: in the main thread, as always


def test_lines_of_a_job_name_their_element(arkworker_run, arkworker_sandbox):
    app = Worker("talker")

    @app.element
    def process(element, ctx):
        ctx.logger.info("looking at %s", element.name)

    run = arkworker_run(app, "--jobs", "2", "--progress", "none")
    first = arkworker_sandbox.process_element_ids()[0]
    assert f"INFO/arkworker: [{first}] Processing page Page 1 ({first}) (1/{PAGES})" in run.output
    assert f"INFO/arkworker.worker: [{first}] looking at Page 1" in run.output
    assert f"INFO/arkworker: Ran on {PAGES} elements" in run.output  # the run's own lines are not


def test_failures_and_skips_are_counted_per_element_under_jobs(arkworker_run, arkworker_sandbox, make_app):
    ids = arkworker_sandbox.process_element_ids()
    assert arkworker_run(make_app(name="earlier"), elements=ids[:3]).exit_code == 0  # 409 for these
    failing = {"Page 5", "Page 9"}

    def process(element, ctx):
        if element.name in failing:
            raise ValueError(f"cannot read {element.name}")
        ctx.create_transcription(element, text=element.name, confidence=1.0)

    arkworker_sandbox.clear_requests()
    run = arkworker_run(make_app(process), "--jobs", "4")
    assert run.exit_code == 0, run.output
    assert run.summary == f"Ran on {PAGES} elements: {PAGES - 2} completed, 2 failed"
    assert run.result.skipped == 3
    assert (
        "Failed running worker on element" in run.output and "ValueError('cannot read Page 5')" in run.output
    )
    states = activity_states(arkworker_sandbox)
    assert sorted(states.values()) == ["error"] * 2 + ["processed"] * (PAGES - 2)
    steps = steps_by_element(arkworker_sandbox)
    assert all(steps[element_id] == ["retrieve", "started"] for element_id in ids[:3])  # skipped


def test_a_batched_handler_gets_full_batches_then_a_partial_one(arkworker_run, arkworker_sandbox):
    app = Worker("batcher")
    sizes = []

    @app.element(batch_size=5)
    def process(batch, ctx):
        sizes.append(len(batch))
        for element in batch:
            ctx.create_transcription(element, text=element.name, confidence=1.0)

    run = arkworker_run(app)
    assert run.exit_code == 0, run.output
    assert sizes == [5, 5, 2]
    assert run.summary == f"Ran on {PAGES} elements: {PAGES} completed, 0 failed"
    steps = steps_by_element(arkworker_sandbox)
    assert all(calls == ["retrieve", "started", "text", "processed"] for calls in steps.values())
    # Every element of a batch is started before the call, and processed after it.
    operations = [r.body["state"] for r in requests_of(arkworker_sandbox, "UpdateWorkerActivity")]
    assert operations[:10] == ["started"] * 5 + ["processed"] * 5


def test_a_batch_fails_single_elements_or_all_of_them(arkworker_run, arkworker_sandbox):
    app = Worker("picky")
    crashed = []

    @app.element(batch_size=4)
    def process(batch, ctx):
        if any(element.name == "Page 6" for element in batch):
            crashed.extend(element.name for element in batch)
            raise RuntimeError("model crashed")
        for element in batch:
            if element.name == "Page 2":
                batch.fail(element, "unreadable")
            elif element.name == "Page 3":
                batch.fail(element.id, ValueError("too dark"))

    run = arkworker_run(app, "--jobs", "2")  # two jobs fill their batches from one list
    assert run.exit_code == 0, run.output
    failed = {*crashed, "Page 2", "Page 3"}
    assert run.summary == f"Ran on {PAGES} elements: {PAGES - len(failed)} completed, {len(failed)} failed"
    assert run.output.count("RuntimeError('model crashed')") == len(crashed) == 4
    if "Page 2" not in crashed:
        assert "Failed running worker on element" in run.output and ": unreadable" in run.output
    if "Page 3" not in crashed:
        assert "ValueError('too dark')" in run.output
    states = activity_states(arkworker_sandbox)
    assert sorted(states.values()) == ["error"] * len(failed) + ["processed"] * (PAGES - len(failed))


def test_batch_fail_refuses_an_element_of_another_batch(arkworker_run):
    app = Worker("confused")

    @app.element(batch_size=3)
    def process(batch):
        batch.fail("00000000-0000-4000-8000-000000000000", "wrong one")

    run = arkworker_run(app)
    assert run.summary == f"Ran on {PAGES} elements: 0 completed, {PAGES} failed"
    assert "is not in this batch" in run.output


def test_prefetching_never_goes_beyond_its_bound(arkworker_run, arkworker_sandbox):
    app = Worker("patient")
    seen = []

    def retrieved():
        return len(requests_of(arkworker_sandbox, "RetrieveElement"))

    @app.element
    def process(element):
        if not seen:
            deadline = time.monotonic() + PATIENCE
            while retrieved() < 1 + 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.2)  # room for a fetcher that would not respect the bound
        seen.append(retrieved() - len(seen) - 1)

    run = arkworker_run(app, "--prefetch", "3")
    assert run.exit_code == 0, run.output
    assert seen[0] == 3  # three elements ready while the first one was processed, and no more
    assert max(seen) <= 3
    steps = steps_by_element(arkworker_sandbox)
    assert all(calls == ["retrieve", "started", "processed"] for calls in steps.values())


def test_prefetched_images_are_downloaded_before_the_handler(arkworker_run, arkworker_sandbox):
    app = Worker("looker")
    downloads_in_handler = []

    def iiif_requests():
        return sum(1 for record in arkworker_sandbox.requests if record.path.startswith("/iiif/"))

    @app.element(prefetch_images={"max_width": 100})
    def process(element):
        before = iiif_requests()
        image = element.open_image(max_width=100)
        downloads_in_handler.append(iiif_requests() - before)
        assert image.width == 100
        element.open_image(max_width=100)  # a second call downloads again

    run = arkworker_run(app, "--jobs", "2")
    assert run.exit_code == 0, run.output
    assert len(downloads_in_handler) == PAGES and set(downloads_in_handler) == {0}
    assert iiif_requests() >= 2 * PAGES


@pytest.mark.parametrize(
    "arkworker_corpus",
    [{**CORPUS, "worker_run": {"process": {**CORPUS["worker_run"]["process"], "skip_elements_json": True}}}],
)
def test_the_queue_serves_several_jobs_each_element_once(arkworker_run, arkworker_sandbox):
    app, barrier, _ = transcribing(meet=3)
    run = arkworker_run(app, "--jobs", "3")
    assert run.exit_code == 0, run.output
    assert "Elements come from the process queue" in run.output
    assert run.summary == f"Ran on {PAGES} elements: {PAGES} completed, 0 failed"
    assert not barrier.broken
    assert sorted(activity_states(arkworker_sandbox).values()) == ["processed"] * PAGES
    handed_out = len(requests_of(arkworker_sandbox, "StartWorkerActivity"))
    assert PAGES + 1 <= handed_out <= PAGES + 3  # each job may learn on its own that it is empty
    steps = steps_by_element(arkworker_sandbox)
    assert all(calls == ["retrieve", "text", "processed"] for calls in steps.values())


def test_a_handler_that_is_not_thread_safe_refuses_jobs(arkworker_run, arkworker_sandbox):
    app = Worker("single")
    app.element(thread_safe=False)(lambda element: None)
    run = arkworker_run(app, "--jobs", "2")
    assert run.exit_code == 2
    assert "is declared thread_safe=False" in run.output and "drop --jobs" in run.output
    assert arkworker_sandbox.requests == []  # refused before any call
    assert arkworker_run(app).exit_code == 0


@pytest.mark.parametrize(
    ("value", "message"), [("0", "0 is not in the range 1<=x<=256"), ("x", "'x' is not")]
)
def test_bad_jobs_values_are_usage_errors(arkworker_run, make_app, value, message):
    run = arkworker_run(make_app(), "--jobs", value)
    assert run.exit_code == 2
    assert message in run.output


def test_a_dataset_worker_refuses_jobs(arkworker_run):
    app = Worker("sets")
    app.dataset_set(lambda dataset_set: None)
    run = arkworker_run(app, "--jobs", "2")
    assert run.exit_code == 2
    assert "--jobs is for element workers" in run.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "the batch size is a whole number from 1 to"),
        ({"batch_size": True}, "the batch size is a whole number"),
        ({"prefetch_images": {"width": 3}}, "the keyword arguments of element.open_image()"),
        ({"prefetch_images": "yes"}, "give True, or the keyword arguments"),
    ],
)
def test_bad_element_options_are_refused_at_registration(options, message):
    with pytest.raises(RegistrationError, match=re.escape(message)):
        Worker("bad").element(**options)(lambda element: None)


@pytest.mark.parametrize("jobs", [0, 257, "4", True])
def test_bad_app_jobs_are_refused(jobs):
    with pytest.raises(RegistrationError, match="jobs is how many elements are processed at once"):
        Worker("bad", jobs=jobs)


def test_a_batch_of_one_is_still_a_batch(arkworker_run):
    app = Worker("single-batches")
    kinds = set()

    @app.element(batch_size=1)  # e.g. read from the configuration: the handler takes lists
    def process(batch):
        kinds.add((type(batch).__name__, len(batch)))

    assert arkworker_run(app).exit_code == 0
    assert kinds == {("Batch", 1)}
