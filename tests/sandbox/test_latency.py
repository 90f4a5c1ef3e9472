"""A sandbox-wide latency: every request waits, as on a remote instance, and the wait is never used up."""

from __future__ import annotations

import math
import threading

import pytest
import requests

from arkworker import Worker
from arkworker.cli import cli, invoke
from arkworker.sandbox import Sandbox
from arkworker.sandbox.serve import serve_forever


def test_every_request_waits_and_the_latency_is_never_used_up(tmp_path):
    """A latency longer than the client's read timeout times out every call, of every target."""
    with Sandbox(db_path=tmp_path / "state.sqlite", latency=3600) as sandbox:
        (page, *_) = sandbox.process_element_ids()
        (image,) = sandbox.objects("images", name="demo-scan-1")
        headers = {"Authorization": f"Token {sandbox.token}"}
        urls = [
            f"{sandbox.url}/api/v1/openapi/",
            f"{sandbox.url}/api/v1/element/{page}/",
            f"{sandbox.url}/iiif/{image['id']}/info.json",
        ]
        for url in urls * 2:
            with pytest.raises(requests.exceptions.ReadTimeout):
                requests.get(url, headers=headers, timeout=(30, 0.2))
        assert sandbox.latency == 3600 and sandbox.pending_faults() == []
        sandbox.reset()
        assert sandbox.latency == 3600  # not a fault: a reset keeps it
        sandbox.latency = 0
        assert requests.get(urls[1], headers=headers, timeout=30).status_code == 200
        assert sandbox.requests[-1].fault is None


@pytest.mark.parametrize("bad", [-0.01, math.nan, math.inf, True, "0.02", None])
def test_a_latency_is_a_number_of_seconds(tmp_path, bad):
    with pytest.raises(ValueError, match="latency must be a number of seconds, 0 or more"):
        Sandbox(db_path=tmp_path / "state.sqlite", latency=bad)
    sandbox = Sandbox(db_path=tmp_path / "other.sqlite")
    with pytest.raises(ValueError, match="latency must be a number of seconds, 0 or more"):
        sandbox.latency = bad
    assert sandbox.latency == 0


def test_serve_prints_its_latency():
    lines: list[str] = []
    serving, stop = threading.Event(), threading.Event()

    def echo(line: str) -> None:
        lines.append(line)
        if line == "Press Ctrl+C to stop.":
            serving.set()

    thread = threading.Thread(
        target=serve_forever, args=(None,), kwargs={"echo": echo, "stop": stop, "latency": 0.02}
    )
    thread.start()
    try:
        assert serving.wait(30)
        assert "Latency: 20 ms before every request" in lines
    finally:
        stop.set()
        thread.join(30)


@pytest.mark.parametrize(
    ("args", "env", "source"),
    [
        (["--latency", "soon"], {}, "--latency"),
        (["--latency", "-1"], {}, "--latency"),
        ([], {"ARKWORKER_SANDBOX_LATENCY": "nan"}, "--latency"),
    ],
)
def test_a_bad_serve_latency_is_one_line(capsys, monkeypatch, args, env, source):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert invoke(cli, ["sandbox", "serve", *args], prog_name="arkworker") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"Error: {source} must be a number of seconds, 0 or more (0.02 for 20 ms")
    assert err.count("\n") == 1


def test_a_sandbox_run_takes_its_latency_from_the_environment(capsys, tmp_path):
    app = Worker("latency")

    @app.element
    def process(element, ctx):
        ctx.create_transcription(element, text="late", confidence=1.0)

    env = {"XDG_DATA_HOME": str(tmp_path), "ARKWORKER_SANDBOX_LATENCY": "soon"}
    assert app.run(["--sandbox"], env=env) == 2
    assert capsys.readouterr().err == (
        "Error: ARKWORKER_SANDBOX_LATENCY must be a number of seconds, 0 or more "
        "(0.02 for 20 ms per request), got 'soon'\n"
    )
    env["ARKWORKER_SANDBOX_LATENCY"] = "0.001"
    assert app.run(["--sandbox"], env=env) == 0
    assert "3 transcriptions" in capsys.readouterr().out
