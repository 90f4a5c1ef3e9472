"""The retry policy knows what is safe to repeat: against the sandbox, through a proxy that cuts connections.

The sandbox's own faults are HTTP answers; :class:`~tests.faulty_proxy.FaultyProxy` adds the
transport's (a reset before or after the request reached the sandbox, a stalled or cut
answer). The sandbox's rows tell what was applied.
"""

import logging

import pytest
import requests
from arkindex.exceptions import ErrorResponse

from arkworker.api.client import (
    LANDED_EARLIER,
    AmbiguousWrite,
    connect,
    earlier_attempt_may_have_landed,
)
from arkworker.api.failures import Failure, classify, describe
from arkworker.sandbox import Sandbox
from tests.faulty_proxy import FaultyProxy

CORPUS = {
    "corpus": {"name": "Retries"},
    "types": ["page"],
    "elements": [{"name": f"Page {n}", "type": "page"} for n in range(1, 6)],
    "worker_run": {"process": {"elements": [f"Page {n}" for n in range(1, 6)]}},
}

#: What the proxy's faults look like from the client.
RESET = "connection reset while waiting for the answer"
CUT = "connection reset while reading the answer"
STALLED = "no answer within 0.5 s"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with Sandbox(CORPUS, db_path=tmp_path_factory.mktemp("retry") / "state.sqlite") as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def proxy(sandbox):
    with FaultyProxy(sandbox) as proxy:
        yield proxy


@pytest.fixture
def api(sandbox, proxy, caplog):
    sandbox.clear_faults()
    sandbox.clear_requests()
    proxy.clear()
    caplog.set_level(logging.WARNING, logger="arkworker")
    return connect(proxy.env(ARKWORKER_API_READ_TIMEOUT="0.5"))


def page(sandbox, n=1):
    (row,) = sandbox.objects("elements", name=f"Page {n}")
    return row["id"]


def create(api, sandbox, text, **options):
    body = {"text": text, "confidence": 0.5, "worker_run_id": sandbox.worker_run_id}
    return api.request("CreateTranscription", id=page(sandbox), body=body, **options)


def rows(sandbox, text):
    return sandbox.objects("transcriptions", text=text)


def find(api, sandbox, text):
    """A ``landed`` check: the transcription with this text, if the sandbox has it."""
    listing = api.paginate("ListTranscriptions", id=page(sandbox), worker_run=sandbox.worker_run_id)
    return next((item for item in listing if item["text"] == text), None)


@pytest.mark.parametrize(
    ("fault", "options", "seen"),
    [
        ("reset", {}, RESET),
        ("reset_after", {}, RESET),
        ("cut_after", {}, CUT),
        ("stall_after", {"seconds": 5}, STALLED),
    ],
)
def test_a_read_is_retried_after_any_transport_failure(api, sandbox, proxy, caplog, fault, options, seen):
    proxy.add("RetrieveElement", fault, **options)
    assert api.request("RetrieveElement", id=page(sandbox))["name"] == "Page 1"
    assert proxy.faults_of("RetrieveElement") == [fault, None]
    assert f"RetrieveElement failed ({seen}); attempt 2 of 5 in 0.0 s" in caplog.messages


@pytest.mark.parametrize(
    ("fault", "options", "seen", "applied"),
    [
        ("reset", {}, RESET, 0),  # it never reached the sandbox, but the client cannot know
        ("reset_after", {}, RESET, 1),
        ("cut_after", {}, CUT, 1),
        ("stall_after", {"seconds": 5}, STALLED, 1),
    ],
)
def test_a_post_that_may_have_been_applied_is_not_sent_again(
    api, sandbox, proxy, fault, options, seen, applied
):
    proxy.add("CreateTranscription", fault, **options)
    with pytest.raises(AmbiguousWrite) as raised:
        create(api, sandbox, f"ambiguous {fault}")
    assert str(raised.value) == (
        f"CreateTranscription may or may not have been applied ({seen}): not sent again to avoid a duplicate"
    )
    assert raised.value.operation_id == "CreateTranscription"
    assert isinstance(raised.value.__cause__, requests.RequestException)
    assert proxy.faults_of("CreateTranscription") == [fault]
    assert len(rows(sandbox, f"ambiguous {fault}")) == applied


def test_landed_gives_the_answer_that_was_lost(api, sandbox, proxy, caplog):
    proxy.add("CreateTranscription", "reset_after")
    answer = create(api, sandbox, "lost answer", landed=lambda: find(api, sandbox, "lost answer"))
    (row,) = rows(sandbox, "lost answer")
    assert answer["id"] == row["id"]
    assert proxy.faults_of("CreateTranscription") == ["reset_after"]
    assert caplog.messages[-2:] == [
        f"CreateTranscription failed ({RESET}); checking in 0.0 s whether it was applied",
        "CreateTranscription: the answer was lost but the transcription was created; not sending it again",
    ]


def test_landed_none_sends_the_request_again(api, sandbox, proxy, caplog):
    proxy.add("CreateTranscription", "reset")
    answer = create(api, sandbox, "never arrived", landed=lambda: find(api, sandbox, "never arrived"))
    assert [row["id"] for row in rows(sandbox, "never arrived")] == [answer["id"]]
    assert proxy.faults_of("CreateTranscription") == ["reset", None]
    assert "CreateTranscription was not applied; attempt 2 of 5" in caplog.messages


def test_landed_is_asked_after_every_ambiguous_attempt(api, sandbox, proxy):
    proxy.add("CreateTranscription", "reset", times=2)
    proxy.add("CreateTranscription", "cut_after")
    checks = []

    def landed():
        checks.append(1)
        return find(api, sandbox, "third time")

    answer = create(api, sandbox, "third time", landed=landed)
    assert [row["id"] for row in rows(sandbox, "third time")] == [answer["id"]]
    assert proxy.faults_of("CreateTranscription") == ["reset", "reset", "cut_after"]
    assert len(checks) == 3


def test_a_check_that_fails_leaves_the_write_ambiguous(api, sandbox, proxy):
    proxy.add("CreateTranscription", "reset_after")
    missing = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(AmbiguousWrite) as raised:
        create(api, sandbox, "unchecked", landed=lambda: api.request("RetrieveElement", id=missing))
    assert str(raised.value) == (
        f"CreateTranscription may or may not have been applied ({RESET}; checking failed: "
        "HTTP 404 Not Found): not sent again to avoid a duplicate"
    )


def test_a_post_is_retried_when_the_server_says_it_did_nothing(api, sandbox):
    sandbox.fail("CreateTranscription", status=503, times=2)
    answer = create(api, sandbox, "after 503")
    assert [row["id"] for row in rows(sandbox, "after 503")] == [answer["id"]]
    statuses = [r.status for r in sandbox.requests if r.operation_id == "CreateTranscription"]
    assert statuses == [503, 503, 201]


@pytest.mark.parametrize(
    ("status", "title"),
    [(500, "500 Internal Server Error"), (502, "502 Bad Gateway"), (504, "504 Gateway Timeout")],
)
def test_other_server_errors_leave_a_post_ambiguous(api, sandbox, status, title):
    sandbox.fail("CreateTranscription", status=status)
    with pytest.raises(AmbiguousWrite, match=rf"\(HTTP {title}\): not sent again"):
        create(api, sandbox, f"after {status}")
    assert [r.status for r in sandbox.requests if r.operation_id == "CreateTranscription"] == [status]


def test_a_server_error_of_a_checked_post_is_sent_again(api, sandbox):
    sandbox.fail("CreateTranscription", status=502)
    answer = create(api, sandbox, "checked 502", landed=lambda: find(api, sandbox, "checked 502"))
    assert [row["id"] for row in rows(sandbox, "checked 502")] == [answer["id"]]


def test_a_post_that_cannot_connect_is_retried(sandbox, caplog):
    """Nothing was sent: repeating cannot duplicate, so every attempt is made."""
    caplog.set_level(logging.WARNING, logger="arkworker")
    with FaultyProxy(sandbox) as gone:
        api = connect(gone.env(ARKWORKER_RETRY_ATTEMPTS="3"))
    with pytest.raises(requests.ConnectionError) as raised:  # not an AmbiguousWrite
        create(api, sandbox, "no server")
    assert classify(raised.value) is Failure.NOT_SENT
    assert describe(raised.value) == "connection refused"
    assert not earlier_attempt_may_have_landed(raised.value)
    assert caplog.messages[-2:] == [
        "CreateTranscription failed (connection refused); attempt 2 of 3 in 0.0 s",
        "CreateTranscription failed (connection refused); attempt 3 of 3 in 0.0 s",
    ]


def activity(api, sandbox, n, state, **options):
    body = {"element_id": page(sandbox, n), "process_id": sandbox.process_id, "state": state}
    return api.request("UpdateWorkerActivity", id=sandbox.worker_run_id, body=body, **options)


def test_a_put_is_retried_after_sending_and_knows_its_earlier_attempt(api, sandbox, proxy):
    proxy.add("UpdateWorkerActivity", "reset_after")
    with pytest.raises(ErrorResponse) as raised:
        activity(api, sandbox, 2, "started")
    assert raised.value.status_code == 409  # our own first attempt started the element
    assert earlier_attempt_may_have_landed(raised.value)
    assert proxy.faults_of("UpdateWorkerActivity") == ["reset_after", None]


def test_accept_after_repeat_turns_our_own_conflict_into_success(api, sandbox, proxy, caplog):
    proxy.add("UpdateWorkerActivity", "cut_after")
    assert activity(api, sandbox, 3, "started", accept_after_repeat={409}) is LANDED_EARLIER
    assert (
        "UpdateWorkerActivity: the repeat was answered HTTP 409 Conflict: an earlier attempt was applied"
        in (caplog.messages)
    )
    proxy.add("UpdateWorkerActivity", "reset_after")
    # The sandbox refuses "processed" after "processed" as a 400 invalid transition.
    assert activity(api, sandbox, 3, "processed", accept_after_repeat={400, 409}) is LANDED_EARLIER
    (row,) = sandbox.objects("activities", element_id=page(sandbox, 3))
    assert row["state"] == "processed"


def test_a_conflict_without_an_earlier_attempt_is_someone_elses(api, sandbox):
    activity(api, sandbox, 4, "started")
    with pytest.raises(ErrorResponse) as raised:
        activity(api, sandbox, 4, "started", accept_after_repeat={409})
    assert raised.value.status_code == 409
    assert not earlier_attempt_may_have_landed(raised.value)


def test_a_put_answered_503_never_landed(api, sandbox):
    """503 says the server did nothing: a 409 on the repeat is not ours."""
    activity(api, sandbox, 5, "started")
    sandbox.fail("UpdateWorkerActivity", status=503)
    with pytest.raises(ErrorResponse) as raised:
        activity(api, sandbox, 5, "started", accept_after_repeat={409})
    assert raised.value.status_code == 409
    assert not earlier_attempt_may_have_landed(raised.value)


def test_reads_never_claim_an_earlier_landing(api, sandbox, proxy):
    proxy.add("RetrieveElement", "reset_after")
    with pytest.raises(ErrorResponse) as raised:
        api.request("RetrieveElement", id="00000000-0000-4000-8000-000000000000", accept_after_repeat={404})
    assert raised.value.status_code == 404
    assert not earlier_attempt_may_have_landed(raised.value)


def test_a_post_declaring_its_duplicate_answer_is_repeated(api, sandbox, proxy):
    """The API refuses a second classification by one worker run: repeating is safe."""
    ml_class = api.request("CreateMLClass", id=sandbox.corpus_id, body={"name": "repeated"})
    body = {"element": page(sandbox), "ml_class": ml_class["id"], "worker_run_id": sandbox.worker_run_id}

    def duplicate(error):
        return error.status_code == 400 and "unique" in str(error.content)

    proxy.add("CreateClassification", "reset_after")
    assert api.request(
        "CreateClassification", body={**body, "confidence": 0.5}, accept_after_repeat=duplicate
    ) is (LANDED_EARLIER)
    assert len(sandbox.objects("classifications", ml_class_id=ml_class["id"])) == 1
    assert proxy.faults_of("CreateClassification") == ["reset_after", None]
