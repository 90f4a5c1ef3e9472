"""The viewer from the command line: ``arkworker run APP --sandbox --view`` and ``arkworker sandbox serve --report``."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import requests
from arkindex import ArkindexClient

from arkworker.cli.locate import locate_app
from arkworker.cli.viewer import report_reader
from arkworker.cli.worker import invoke_app
from arkworker.sandbox.serve import serve_forever
from tests.html_tree import parse

ROOT = Path(__file__).resolve().parents[2]
LINES = ROOT / "examples" / "lines.py"


def test_view_after_a_run_serves_the_viewer_until_ctrl_c(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ARKINDEX_", "PONOS_"))}
    env.update(
        TMPDIR=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "xdg"), DISPLAY=":0"
    )  # no terminal: no browser
    command = [
        sys.executable,
        "-m",
        "arkworker",
        "run",
        str(LINES),
        "--sandbox",
        "--view",
        "--progress",
        "none",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        printed = []
        for line in process.stdout:
            printed.append(line)
            if line.startswith("Results viewer: "):
                break
        match = re.fullmatch(
            r"Results viewer: (http://127\.0\.0\.1:\d+/) \(press Ctrl\+C to stop\)\n", printed[-1]
        )
        assert match, printed
        assert printed[0].startswith("Created by worker run ")
        url = match.group(1)
        front = parse(requests.get(url, timeout=10).text)
        assert front.one("h1").text == "Demo corpus"
        run = parse(requests.get(url + "view/run", timeout=10).text)
        totals = {
            cell.attrs["data-total"]: cell.text for cell in run.find("td") if "data-total" in cell.attrs
        }
        assert (totals["total"], totals["completed"], totals["failed"]) == ("3", "3", "0")
        assert "Worker lines" in run.one("section", class_="report").text
        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, errors
    assert rest.startswith("Viewer stopped.\nThe run's work directory ")
    written = re.search(r"Run report written to (\S+)", errors)
    assert written, errors
    assert not Path(written.group(1)).exists()
    assert not list(tmp_path.glob("arkworker-*")), "the temporary state and report are removed"


def test_view_needs_a_sandbox() -> None:
    stream = io.StringIO()
    code, _ = invoke_app(locate_app(str(LINES)), ["--view"], env={}, stream=stream)
    assert code == 2
    assert stream.getvalue() == (
        "Error: --view shows what a run made on a sandbox: add --sandbox (arkworker run APP --sandbox --view).\n"
    )


def test_serve_shows_a_report_written_later(tmp_path: Path) -> None:
    """``arkworker sandbox serve --report FILE``, then a worker run pointed at it with ``--report FILE``."""
    report = tmp_path / "run.json"
    lines: list[str] = []
    stop = threading.Event()
    serving = threading.Event()

    def echo(line: str) -> None:
        lines.append(line)
        if line == "Press Ctrl+C to stop.":
            serving.set()

    thread = threading.Thread(
        target=serve_forever,
        args=(None,),
        kwargs={"echo": echo, "stop": stop, "report": report_reader(report)},
    )
    thread.start()
    try:
        assert serving.wait(10)
        (viewer,) = [
            line.removeprefix("Results viewer: ") for line in lines if line.startswith("Results viewer: ")
        ]
        assert viewer == lines[0].rsplit(" ", 1)[-1] + "/"
        problem = parse(requests.get(viewer + "view/run", timeout=10).text).one("p", class_="problem")
        assert problem.text.startswith(f"The run report {report} does not exist")

        exports = dict(
            line.strip().removeprefix("export ").split("=", 1) for line in lines if "export " in line
        )
        env = {**exports, "ARKWORKER_RETRY_BACKOFF": "0", "XDG_DATA_HOME": str(tmp_path / "xdg")}
        client = ArkindexClient(base_url=exports["ARKINDEX_API_URL"], token=exports["ARKINDEX_API_TOKEN"])
        pages = [
            page["id"]
            for page in client.paginate("ListElements", corpus=exports["ARKINDEX_CORPUS_ID"], type="page")
        ]
        arguments = ["--report", str(report), "--progress", "none", "--element", *pages]
        stream = io.StringIO()
        code, _ = invoke_app(locate_app(str(LINES)), arguments, env=env, stream=stream)
        assert code == 0, stream.getvalue()
        page = parse(requests.get(viewer + "view/run", timeout=10).text)
        assert "Worker lines" in page.one("section", class_="report").text
        tree = parse(requests.get(viewer, timeout=10).text).one("table", class_="tree")
        assert "9 text_line 9 transcriptions" in tree.find("tr", class_="node")[0].text
    finally:
        stop.set()
        thread.join(10)
    assert lines[-1] == "Sandbox stopped."
