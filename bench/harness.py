"""What the side-by-side benchmarks share: a sandbox in a process of its own, each side in its own.

A fair comparison gives both frameworks the same work on the same server, and no side an
advantage of place or turn:

* the sandbox serves from a process of its own (:class:`SandboxProcess`), so that neither
  side shares the server's interpreter and GIL; it is reset to its seeded state before every
  run, so every run meets the same corpus and no activity is already started;
* every side runs in a process of its own (:func:`run_process`), which gives its wall time
  and its peak memory (RSS);
* the configurations run in rounds (:func:`rounds`), every other round in reverse order,
  so that no side always goes first (a warm disk cache, a busy neighbour);
* the figures are medians over the rounds, and the comparisons ratios, the only figures
  that mean something on a shared machine.

The sandbox stamps every request with its own clock (:class:`Stamps`), so an element loop's
length is measured the same way for both sides, from the first ``RetrieveElement`` to the
last answer, without their start-up (measured by ``bench/startup.py``).

Latency per API call is injected by :func:`set_latency` (the sandbox's ``latency`` setting).

Run as ``python bench/harness.py --serve CORPUS.json [API_LEVEL]`` it is that sandbox process
(the benchmarks start it themselves).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from reference import add_reference_argument

#: The checkout the benchmarks live in: the arkworker they measure, whatever is installed.
ROOT = Path(__file__).resolve().parent.parent

#: Variables of the caller's environment that would change what a worker does: left out.
_WORKER_PREFIXES = ("ARKINDEX_", "PONOS_", "TASK_", "SKIP_TASK_ELEMENTS", "ARKWORKER_")


# -- the processes -----------------------------------------------------------------------------------


def side_env(extra: Mapping[str, str], *, reference: bool) -> dict[str, str]:
    """The environment of a side's process: the caller's, less what configures a worker, plus ``extra``.

    arkworker's side imports this checkout (``PYTHONPATH``); the reference's gets no
    ``PYTHONPATH`` at all, so that nothing but its own virtualenv is on its path.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith(_WORKER_PREFIXES)}
    env.pop("PYTHONPATH", None)
    if not reference:
        env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


@dataclass
class Completed:
    """One finished process: what it took and what it said."""

    seconds: float
    peak_mib: float
    returncode: int
    stdout: str
    stderr: str

    def failure(self) -> str:
        """The last line of its error output, to say why a run failed."""
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1].strip() if lines else f"exit code {self.returncode}, no error output"


def run_process(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> Completed:
    """Run ``argv`` to its end; its wall time and its own peak RSS (``wait4``, not the children's maximum)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(
            list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Completed(
            seconds,
            usage.ru_maxrss / 1024,  # KiB on Linux
            process.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


@dataclass
class Prepared:
    """A sandbox just reset: how to point a worker at it, and the elements of its process."""

    env: dict[str, str]
    element_ids: list[str]


@dataclass
class ServerReport:
    """What the sandbox saw during one run."""

    requests: int
    operations: dict[str, int]
    #: From the arrival of the first RetrieveElement to the end of the last answer (None: no element retrieved).
    loop_seconds: float | None
    created: dict[str, int]
    activities: dict[str, int]


class SandboxProcess:
    """A sandbox served from a process of its own, driven by one JSON line per command.

    ``corpus`` is a corpus mapping (files in it by absolute path); ``directory`` holds what
    the process needs. The process stops with the object (``with`` or :meth:`close`).
    """

    def __init__(self, corpus: Mapping[str, Any], directory: Path, api_level: str | None = None) -> None:
        path = directory / "sandbox-corpus.json"
        path.write_text(json.dumps(corpus))
        self._process = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(path), api_level or ""],
            env=side_env({}, reference=False),
            cwd=directory,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started = self._answer()
        self.url: str = started["url"]

    def _answer(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            self._process.wait()
            raise RuntimeError(f"The sandbox process stopped (exit {self._process.returncode}): see above")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"The sandbox process failed: {answer['error']}")
        return answer

    def _call(self, command: str, **arguments: Any) -> dict[str, Any]:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps({"command": command, **arguments}) + "\n")
        self._process.stdin.flush()
        return self._answer()

    def prepare(self, latency: float = 0.0) -> Prepared:
        """Back to the seeded state, ``latency`` seconds added to every API call; the run's env and elements."""
        answer = self._call("prepare", latency=latency)
        return Prepared(answer["env"], answer["element_ids"])

    def report(self) -> ServerReport:
        """What the sandbox received and stored since the last :meth:`prepare`."""
        return ServerReport(**self._call("report"))

    def objects(self, kind: str, **filters: Any) -> list[dict[str, Any]]:
        """Rows of one table of the sandbox's state, as ``Sandbox.objects`` gives them."""
        rows: list[dict[str, Any]] = self._call("objects", kind=kind, filters=filters)["rows"]
        return rows

    def close(self) -> None:
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()  # end of commands: the process stops its sandbox and exits
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# -- the sandbox process ------------------------------------------------------------------------------

_RETRIEVE_ELEMENT = re.compile(r"/api/v1/element/[0-9a-fA-F-]{36}/?")


class Stamps:
    """WSGI middleware over the sandbox's app: when each request arrived and when its answer ended.

    The end is when the server closes the answer's body, after a stalled (latency) answer
    was sent. Every other attribute is the sandbox app's, so the sandbox serves it as its own.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        #: (arrival, end, is a RetrieveElement) per answered request.
        self.spans: list[tuple[float, float, bool]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        arrival = time.perf_counter()
        retrieve = environ["REQUEST_METHOD"] == "GET" and bool(
            _RETRIEVE_ELEMENT.fullmatch(environ["PATH_INFO"])
        )
        body = self.app(environ, start_response)
        return _Closing(body, lambda: self.spans.append((arrival, time.perf_counter(), retrieve)))

    def loop_seconds(self) -> float | None:
        starts = [arrival for arrival, _, retrieve in self.spans if retrieve]
        if not starts:
            return None
        first = min(starts)
        return max(end for _, end, _ in self.spans) - first


class _Closing:
    """An answer's body that calls ``done`` once the server closed it (WSGI's ``close``)."""

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]) -> None:
        self.body = body
        self.done = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.done()


def set_latency(sandbox: Any, seconds: float) -> None:
    """Every request to ``sandbox`` waited ``seconds`` before it is handled (0: none).

    The sandbox's own setting (``Sandbox.latency``): a wait in each request's thread, never
    used up, as a remote instance's round trip would add. Set on the sandbox's own app, under
    the :class:`Stamps` wrapped around it.
    """
    app = sandbox.app
    (app.app if isinstance(app, Stamps) else app).latency = seconds


def serve(corpus_path: Path, api_level: str | None) -> None:
    """The sandbox process: serve, answer commands from stdin, stop at its end."""
    from arkworker.sandbox import Sandbox

    sandbox = Sandbox(json.loads(corpus_path.read_text()), api_level=api_level)
    stamps = Stamps(sandbox.app)
    sandbox.app = stamps  # type: ignore[assignment]  # served by start(); it passes the rest through

    def say(answer: Mapping[str, Any]) -> None:
        print(json.dumps(answer), flush=True)

    with sandbox:
        say({"url": sandbox.url})
        for line in sys.stdin:
            command = json.loads(line)
            try:
                say(_command(sandbox, stamps, command))
            except Exception as exc:
                say({"error": f"{command.get('command')}: {exc!r}"})


def _command(sandbox: Any, stamps: Stamps, command: Mapping[str, Any]) -> dict[str, Any]:
    name = command["command"]
    if name == "prepare":
        sandbox.reset()
        set_latency(sandbox, float(command["latency"]))
        stamps.spans.clear()
        return {"env": sandbox.env(), "element_ids": sandbox.process_element_ids()}
    if name == "report":
        requests = sandbox.requests
        activities = Counter(row["state"] for row in sandbox.objects("activities"))
        return {
            "requests": len(requests),
            "operations": dict(Counter(str(request.operation_id) for request in requests)),
            "loop_seconds": stamps.loop_seconds(),
            "created": {kind: len(rows) for kind, rows in sandbox.created().items()},
            "activities": dict(activities),
        }
    if name == "objects":
        return {"rows": sandbox.objects(command["kind"], **command.get("filters", {}))}
    raise ValueError(f"unknown command {name!r}")


# -- rounds, medians, tables ----------------------------------------------------------------------------


def rounds(labels: Sequence[str], runs: int) -> Iterator[list[str]]:
    """``runs`` rounds, each running every configuration once, every other one in reverse order."""
    for index in range(runs):
        yield list(labels) if index % 2 == 0 else list(reversed(labels))


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def ratio(value: float | None, base: float | None) -> str:
    """``value / base`` as ``2.31x``, or a dash when either is missing."""
    if not value or not base:
        return "-"
    return f"{value / base:.2f}x"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A markdown table, columns padded so it reads in a terminal too."""
    widths = [max(len(str(row[index])) for row in [headers, *rows]) for index in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True))
            + " |"
        )

    print(line(headers))
    print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    for row in rows:
        print(line(row))


def common_arguments(parser: argparse.ArgumentParser, *, runs: int) -> None:
    """``--quick``, ``--runs`` and ``--reference-python``, as every side-by-side benchmark takes them."""
    parser.add_argument(
        "--quick", action="store_true", help="A fast smoke run: little work, one round (figures mean little)."
    )
    parser.add_argument(
        "--runs", type=int, default=runs, help=f"Rounds; figures are medians (default {runs})."
    )
    add_reference_argument(parser)


def reference_found(python: str) -> bool:
    """Whether the reference's interpreter exists; says how to make it when it does not."""
    if Path(python).exists():
        return True
    print(
        f"(reference not found at {python}: only arkworker is measured; make it with "
        "`python -m venv bench/.refenv && bench/.refenv/bin/pip install arkindex-base-worker==0.3.7`)"
    )
    return False


def machine() -> str:
    """One line about where the figures come from."""
    return f"Python {sys.version.split()[0]}, {os.cpu_count()} cores (shared: compare ratios, not absolute figures)"


# -- element loops: a worker run on a corpus of pages ---------------------------------------------------

#: The arkworker worker of the element-loop benchmarks: one transcription per element, by the helper.
ARKWORKER_TRANSCRIBER = """
from arkworker import Worker

app = Worker("bench")


@app.element
def process(element, ctx):
    ctx.create_transcription(element, text=element.name, confidence=1.0)
"""

#: The same worker on the reference.
REFERENCE_TRANSCRIBER = """
from arkindex_worker.worker import ElementsWorker


class Bench(ElementsWorker):
    def process_element(self, element):
        self.create_transcription(element, text=element.name, confidence=1.0)


if __name__ == "__main__":
    Bench(description="bench").run()
"""


def pages_corpus(count: int) -> dict[str, Any]:
    """``count`` pages in a folder, all of them the process's elements, activities on."""
    return {
        "corpus": {"name": "Bench corpus"},
        "types": [{"slug": "folder", "folder": True}, "page"],
        "elements": [
            {
                "name": "Folder",
                "type": "folder",
                "children": [{"name": f"Page {i}", "type": "page"} for i in range(count)],
            }
        ],
        "worker_run": {
            "process": {"elements": [f"Page {i}" for i in range(count)], "activity_state": "ready"}
        },
    }


@dataclass
class Config:
    """One configuration of a benchmark: a side and how it is run."""

    label: str
    argv: list[str]
    #: How the command is shown in the table (paths shortened).
    shown: str
    reference: bool = False
    #: Why it cannot run here (a feature not available yet), instead of running it.
    unavailable: str | None = None


@dataclass
class Figures:
    """A configuration's runs."""

    wall: list[float] = field(default_factory=list)
    loop: list[float] = field(default_factory=list)
    peak_mib: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    failed: str | None = None

    def loop_rate(self, count: int) -> float | None:
        return count / median(self.loop) if self.loop else None

    def wall_rate(self, count: int) -> float | None:
        return count / median(self.wall) if self.wall else None


def run_loops(
    sandbox: SandboxProcess,
    configs: Sequence[Config],
    *,
    count: int,
    runs: int,
    latency: float,
    workdir: Path,
) -> dict[str, Figures]:
    """Run every available configuration ``runs`` times in rounds; each must transcribe all ``count`` elements."""
    figures = {config.label: Figures() for config in configs}
    by_label = {config.label: config for config in configs}
    runnable = [config.label for config in configs if config.unavailable is None]
    for number, order in enumerate(rounds(runnable, runs), 1):
        for label in order:
            config, result = by_label[label], figures[label]
            if result.failed:
                continue
            prepared = sandbox.prepare(latency)
            elements = workdir / "elements.json"
            elements.write_text(json.dumps([{"id": element_id} for element_id in prepared.element_ids]))
            scratch = Path(tempfile.mkdtemp(dir=workdir))
            env = side_env(
                {**prepared.env, "TASK_ELEMENTS": str(elements), "XDG_DATA_HOME": str(scratch)},
                reference=config.reference,
            )
            completed = run_process(config.argv, env, scratch)
            report = sandbox.report()
            transcribed = report.created.get("transcriptions", 0)
            processed = report.activities.get("processed", 0)
            if completed.returncode != 0 or transcribed != count or processed != count:
                result.failed = (
                    f"exit {completed.returncode}, {transcribed}/{count} transcribed, "
                    f"{processed}/{count} processed: {completed.failure()}"
                )
                print(f"  {label}: failed ({result.failed})", file=sys.stderr)
                continue
            result.wall.append(completed.seconds)
            if report.loop_seconds:
                result.loop.append(report.loop_seconds)
            result.peak_mib.append(completed.peak_mib)
            result.requests.append(report.requests)
            print(
                f"  round {number}: {label:<28} {completed.seconds:6.2f} s wall, "
                f"loop {report.loop_seconds or 0:6.2f} s, {report.requests} requests",
                file=sys.stderr,
            )
    return figures


#: How to read the table :func:`loop_rows` makes.
LOOP_LEGEND = (
    "elements/s: of the loop, from the first RetrieveElement to the last answer by the sandbox's clock; "
    "x BASE: over the base's (higher is faster); wall: the whole process, start-up included."
)


def loop_rows(
    configs: Sequence[Config], figures: Mapping[str, Figures], count: int, bases: Sequence[str]
) -> tuple[list[str], list[list[str]], list[str]]:
    """The table of an element-loop benchmark, and a note per configuration not measured.

    Rates are elements per second of the loop (by the sandbox's clock), with their ratio to
    each of ``bases``; the wall time is the whole process, start-up included, with its ratio
    to the first base.
    """
    headers = ["configuration", "command", "elements/s", *(f"x {base}" for base in bases)]
    headers += ["loop s", "wall s"]
    headers += [f"wall x {bases[0]}"] if bases else []
    headers += ["requests", "peak RSS MiB"]
    rows: list[list[str]] = []
    skipped: dict[str, list[str]] = {}  # why → the configurations it stopped
    for config in configs:
        result = figures[config.label]
        if config.unavailable or result.failed or not result.wall:
            skipped.setdefault(config.unavailable or result.failed or "no run", []).append(config.label)
            rows.append([config.label, config.shown, "-", *["-"] * (len(headers) - 3)])
            continue
        rate = result.loop_rate(count)
        row = [config.label, config.shown, f"{rate:.1f}" if rate else "-"]
        row += [ratio(rate, figures[base].loop_rate(count)) for base in bases]
        row += [f"{median(result.loop):.2f}" if result.loop else "-", f"{median(result.wall):.2f}"]
        if bases:
            row.append(ratio(result.wall_rate(count), figures[bases[0]].wall_rate(count)))
        row += [f"{median(result.requests):.0f}", f"{median(result.peak_mib):.0f}"]
        rows.append(row)
    notes = [f"{', '.join(labels)}: not measured, {why}" for why, labels in skipped.items()]
    return headers, rows, notes


def arkworker_run_help(app: Path, workdir: Path) -> str:
    """What ``arkworker run APP --help`` prints, to find out which options this checkout has."""
    completed = run_process(
        [sys.executable, "-m", "arkworker", "run", str(app), "--help"], side_env({}, reference=False), workdir
    )
    return completed.stdout


def main_serve() -> None:
    parser = argparse.ArgumentParser(description="The benchmarks' sandbox process (started by them).")
    parser.add_argument("--serve", type=Path, required=True, metavar="CORPUS_JSON")
    parser.add_argument("api_level", nargs="?", default="")
    args = parser.parse_args()
    serve(args.serve, args.api_level or None)


if __name__ == "__main__":
    main_serve()
