"""Benchmark: how many elements per second a worker run on the sandbox processes.

Each run is ``arkworker run WORKER --sandbox CORPUS`` (a production run on a sandbox started
for it, as worker authors run it) in a process of its own, on a corpus of ``--elements`` pages,
with a hello-like handler that creates one transcription per element. The rate is the
element loop's alone: the handler stamps the time it starts on each element, and the rate is
``(elements - 1) / (last stamp - first stamp)``, so that imports, seeding, the schema
download and the final report do not count; the wall time of the whole run is printed too.

    python bench/sandbox_speed.py [--elements 200] [--runs 5] [--compare /path/to/other/checkout ...]

``--compare`` also measures other checkouts of arkworker (``PYTHONPATH`` set to each), one run
of each in turn, so that the load of the machine weighs on all of them alike, and prints the
medians and the ratio of this checkout to each other one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import yaml
from harness import pages_corpus

HERE = Path(__file__).resolve().parent.parent

CHILD = """
import json
import sys
import time

from arkworker import Worker

app = Worker("bench-sandbox")
stamps = []


@app.element
def process(element, ctx):
    stamps.append(time.perf_counter())
    ctx.create_transcription(element, text=element.name, confidence=1.0)


start = time.perf_counter()
code = app.run(["--sandbox", sys.argv[1]])
wall = time.perf_counter() - start
with open(sys.argv[2], "w") as out:
    json.dump({"code": code, "stamps": stamps, "wall": wall}, out)
"""


def measure(checkout: Path, workdir: Path, count: int) -> tuple[float, float]:
    """One run with ``checkout`` on the path, in its own process: (elements/s, wall seconds)."""
    result = workdir / "result.json"
    result.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARKINDEX_", "PONOS_"))}
    env.update(PYTHONPATH=str(checkout), XDG_DATA_HOME=str(workdir))
    completed = subprocess.run(
        [sys.executable, str(workdir / "child.py"), str(workdir / "corpus.yml"), str(result)],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0 or not result.exists():
        sys.exit(f"The run with {checkout} failed (exit {completed.returncode}):\n{completed.stderr[-3000:]}")
    figures = json.loads(result.read_text())
    stamps = figures["stamps"]
    if figures["code"] != 0 or len(stamps) != count:
        sys.exit(f"The run with {checkout} processed {len(stamps)}/{count} elements (exit {figures['code']})")
    return (count - 1) / (stamps[-1] - stamps[0]), figures["wall"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=200, help="Pages in the corpus (default 200).")
    parser.add_argument("--runs", type=int, default=5, help="Runs of each checkout (default 5).")
    parser.add_argument(
        "--compare",
        type=Path,
        action="append",
        default=[],
        metavar="CHECKOUT",
        help="Another arkworker checkout to measure alongside this one (repeatable).",
    )
    args = parser.parse_args()
    if args.elements < 2 or args.runs < 1:
        parser.error("--elements must be 2 or more and --runs 1 or more")
    checkouts = [HERE, *(path.resolve() for path in args.compare)]
    for checkout in checkouts:
        if not (checkout / "arkworker" / "__init__.py").exists():
            parser.error(f"{checkout} is not an arkworker checkout (no arkworker/__init__.py in it)")

    rates: dict[Path, list[float]] = {checkout: [] for checkout in checkouts}
    walls: dict[Path, list[float]] = {checkout: [] for checkout in checkouts}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "child.py").write_text(textwrap.dedent(CHILD))
        (workdir / "corpus.yml").write_text(yaml.safe_dump(pages_corpus(args.elements)))
        for run in range(args.runs):
            # Alternate the order too: the first of a round never always gets the quietest moment.
            for checkout in checkouts if run % 2 == 0 else checkouts[::-1]:
                rate, wall = measure(checkout, workdir, args.elements)
                rates[checkout].append(rate)
                walls[checkout].append(wall)

    print(
        f"Sandbox run (arkworker run --sandbox), {args.elements} pages, one transcription each, "
        f"median of {args.runs} runs:"
    )
    for checkout in checkouts:
        print(
            f"  {checkout!s:<40} {statistics.median(rates[checkout]):7.1f} elements/s  "
            f"(whole run {statistics.median(walls[checkout]):5.2f} s; "
            f"runs: {', '.join(f'{rate:.0f}' for rate in rates[checkout])})"
        )
    ours = statistics.median(rates[HERE])
    for checkout in checkouts[1:]:
        print(f"  {HERE.name} is {ours / statistics.median(rates[checkout]):.2f}x {checkout.name}")


if __name__ == "__main__":
    main()
