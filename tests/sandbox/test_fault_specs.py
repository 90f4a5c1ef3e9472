"""The command-line form of faults: ``arkworker sandbox serve --fault SPEC``."""

import threading

import pytest
import requests
from arkindex import ArkindexClient
from arkindex.exceptions import ArkindexServerError

from arkworker.cli import cli, invoke
from arkworker.sandbox import IIIF, SCHEMA
from arkworker.sandbox.faults import build_fault, describe, parse_fault_spec
from arkworker.sandbox.serve import serve_forever


@pytest.mark.parametrize(
    ("spec", "target", "kind", "options", "times"),
    [
        ("RetrieveElement:error", "RetrieveElement", "error", {}, 1),
        ("RetrieveElement:error=503:times=2", "RetrieveElement", "error", {"status": 503}, 2),
        (
            "RetrieveElement:error:status=429:delay=0.5",
            "RetrieveElement",
            "error",
            {"status": 429, "delay": 0.5},
            1,
        ),
        ("CreateTranscription:reset-mid-answer:times=3", "CreateTranscription", "reset-mid-answer", {}, 3),
        (
            "CreateTranscription:reset-mid-answer=100",
            "CreateTranscription",
            "reset-mid-answer",
            {"after_bytes": 100},
            1,
        ),
        (
            "DownloadArtifact:truncate:after_bytes=1024:times=always",
            "DownloadArtifact",
            "truncate",
            {"after_bytes": 1024},
            None,
        ),
        ("RetrieveElement:stall=5", "RetrieveElement", "stall", {"seconds": 5}, 1),
        ("schema:slow=2.5", SCHEMA, "slow", {"seconds": 2.5}, 1),
        ("iiif:reset:times=always", IIIF, "reset", {}, None),
        ("RetrieveElement:malformed", "RetrieveElement", "malformed", {}, 1),
        (
            'CreateTranscription:malformed:apply:content_type=application/json:body={"id": 1}',
            "CreateTranscription",
            "malformed",
            {"apply": True, "content_type": "application/json", "body": '{"id": 1}'},
            1,
        ),
        ("iiif:error=503:body=down: try later", IIIF, "error", {"status": 503, "body": "down: try later"}, 1),
    ],
)
def test_specs(spec, target, kind, options, times):
    rule = parse_fault_spec(spec)
    assert (rule.target, rule.times) == (target, times)
    assert rule.fault == build_fault(target, kind, **options)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("RetrieveElement", "expected a target and a kind separated by ':'"),
        (":reset", "expected a target and a kind separated by ':'"),
        ("RetrieveElemnt:reset", "Unknown fault target 'RetrieveElemnt'"),
        ("RetrieveElement:explode", "Unknown fault kind 'explode'"),
        ("RetrieveElement:reset=3", "'reset' takes no =VALUE"),
        ("RetrieveElement:error=abc", "status must be a whole number, got 'abc'"),
        ("RetrieveElement:error=200", "HTTP error status (400 to 599), got 200"),
        ("RetrieveElement:stall", "needs seconds="),
        ("RetrieveElement:stall=soon", "seconds must be a number of seconds, got 'soon'"),
        ("RetrieveElement:stall=inf", "seconds must be a number of seconds, got 'inf'"),
        ("RetrieveElement:reset:times=0", "times must be a positive integer"),
        ("RetrieveElement:reset:times=never", "times must be a whole number, got 'never'"),
        ("RetrieveElement:reset:color=red", "unknown option 'color=red'"),
        ("RetrieveElement:stall=1:seconds=2", "seconds is given twice"),
        ("RetrieveElement:reset:after_bytes=3", "takes no parameter (besides times), not after_bytes"),
        ("schema:malformed:apply", "changes no state"),
    ],
)
def test_bad_specs_are_one_line_naming_the_forms(spec, problem):
    with pytest.raises(ValueError) as raised:
        parse_fault_spec(spec)
    message = str(raised.value)
    assert message.startswith(f"Invalid fault {spec!r}: ") and problem in message
    assert "A fault is TARGET:KIND[=VALUE][:OPTION=VALUE]..." in message and "\n" not in message


def test_describe_gives_the_spec_back():
    for spec in (
        "RetrieveElement:error=503:times=2",
        "CreateTranscription:reset-mid-answer:times=always",
        "CreateTranscription:reset-mid-answer=10:times=1",
        "RetrieveElement:stall=5:times=1",
        "CreateTranscription:malformed:apply:delay=0.5:times=3",
    ):
        assert describe(parse_fault_spec(spec)) == spec


def test_a_bad_fault_option_is_one_error_line_and_exit_2(capsys):
    assert invoke(cli, ["sandbox", "serve", "--fault", "RetrieveElement:stall"], prog_name="arkworker") == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: Invalid fault 'RetrieveElement:stall': A 'stall' fault needs seconds=")
    assert err.count("\n") == 1 and "e.g. RetrieveElement:error=503:times=2" in err


def test_served_faults_are_printed_and_applied():
    lines = []
    serving, stop = threading.Event(), threading.Event()

    def echo(line):
        lines.append(line)
        if line == "Press Ctrl+C to stop.":
            serving.set()

    faults = [parse_fault_spec("RetrieveCorpus:error=503:times=2"), parse_fault_spec("schema:reset")]
    thread = threading.Thread(
        target=serve_forever, args=(None,), kwargs={"echo": echo, "stop": stop, "faults": faults}
    )
    thread.start()
    try:
        assert serving.wait(30)
        assert "Fault: RetrieveCorpus:error=503:times=2" in lines and "Fault: schema:reset:times=1" in lines
        exports = dict(
            line.strip().removeprefix("export ").split("=", 1) for line in lines if "export " in line
        )
        url, token = exports["ARKINDEX_API_URL"], exports["ARKINDEX_API_TOKEN"]
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/api/v1/openapi/", timeout=30)
        client = ArkindexClient(base_url=url, token=token)
        for _ in range(2):
            with pytest.raises(ArkindexServerError):
                client.single_request("RetrieveCorpus", id=exports["ARKINDEX_CORPUS_ID"])
        assert (
            client.single_request("RetrieveCorpus", id=exports["ARKINDEX_CORPUS_ID"])["name"] == "Demo corpus"
        )
    finally:
        stop.set()
        thread.join(30)
