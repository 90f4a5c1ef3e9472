"""Benchmark: start-up of arkworker against arkindex-base-worker 0.3.7, side by side.

Two things a worker's author waits for: importing the framework, and a worker's ``--help``.
Each is timed as the wall time of a fresh process, the two frameworks interleaved (the order
alternating from one round to the next, after one warm-up round), and the medians printed
with their ratio (arkworker's time over the reference's: below 1 is faster):

    python bench/startup.py [--runs 15] [--reference-python /path/to/python]

- ``import``: ``python -c "import arkworker"`` against ``python -c "import arkindex_worker.worker"``;
- ``--help``: ``python -m arkworker run examples/hello.py --help`` against the same worker
  written for the reference (an ``ElementsWorker`` with the same description and option),
  run with ``--help``.

The reference downloads the API's OpenAPI schema while it is imported (teklia-toolbox builds
a client at import time); it is given the sandbox's schema as a local file instead
(``ARKINDEX_API_SCHEMA_URL``), which is cheaper than any download, so the ratios flatter the
reference rather than arkworker. Each interpreter's bare start (``python -c pass``) is
printed too: the two run in different environments, whose ``site`` start-up may differ.

The reference lives in its own virtualenv (``bench/.refenv``, see ``bench/reference.py``);
without it only arkworker is measured.
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
import time
import urllib.request
from pathlib import Path

from reference import add_reference_argument

from arkworker.sandbox import Sandbox

HELLO = Path(__file__).resolve().parent.parent / "examples" / "hello.py"

#: examples/hello.py, written for the reference.
REFERENCE_HELLO = """
from arkindex_worker.worker import ElementsWorker


class Hello(ElementsWorker):
    def add_arguments(self):
        self.parser.add_argument("--greeting", default="Hello", help="The word written before the name.")

    def process_element(self, element):
        self.create_transcription(element, text=f"{self.args.greeting} {element.name}", confidence=1.0)


if __name__ == "__main__":
    Hello(description="Writes a greeting transcription on every element.").run()
"""


def write_schema(path: Path) -> None:
    """Save the sandbox's OpenAPI schema to ``path``, for the reference to read at import."""
    with Sandbox() as sandbox, urllib.request.urlopen(f"{sandbox.url}/api/v1/openapi/?format=json") as answer:
        path.write_text(json.dumps(json.load(answer)))


def wall_time(command: list[str], env: dict[str, str]) -> float:
    """Seconds that ``command`` takes from start to exit; a failing command stops the benchmark."""
    start = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        sys.exit(f"{' '.join(command)} failed (exit {completed.returncode}):\n{completed.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="Measured rounds (after one warm-up).")
    add_reference_argument(parser)
    args = parser.parse_args()
    has_reference = Path(args.reference_python).exists()
    if not has_reference:
        print(f"(reference not found at {args.reference_python}: only arkworker is measured)")

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ours_env = dict(os.environ)
        reference_env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
        reference_env["XDG_DATA_HOME"] = str(workdir)  # the reference creates its work folder there
        reference_hello = workdir / "reference_hello.py"
        reference_hello.write_text(textwrap.dedent(REFERENCE_HELLO))
        schema = workdir / "schema.json"
        write_schema(schema)
        reference_env["ARKINDEX_API_SCHEMA_URL"] = str(schema)

        ours, ref = sys.executable, args.reference_python
        cases: dict[str, dict[str, tuple[list[str], dict[str, str]]]] = {
            "import": {
                "arkworker": ([ours, "-c", "import arkworker"], ours_env),
                "reference": ([ref, "-c", "import arkindex_worker.worker"], reference_env),
            },
            "worker --help": {
                "arkworker": ([ours, "-m", "arkworker", "run", str(HELLO), "--help"], ours_env),
                "reference": ([ref, str(reference_hello), "--help"], reference_env),
            },
            "python -c pass": {
                "arkworker": ([ours, "-c", "pass"], ours_env),
                "reference": ([ref, "-c", "pass"], reference_env),
            },
        }
        sides = ["arkworker", "reference"] if has_reference else ["arkworker"]
        times: dict[tuple[str, str], list[float]] = {(case, side): [] for case in cases for side in sides}
        for round_number in range(args.runs + 1):
            order = sides if round_number % 2 else sides[::-1]
            for case, commands in cases.items():
                for side in order:
                    seconds = wall_time(*commands[side])
                    if round_number:  # round 0 warms the disk cache and writes the bytecode
                        times[case, side].append(seconds)

    print(f"Start-up wall time, median of {args.runs} interleaved runs each:")
    print(f"  {'':<16}{'arkworker':>12}{'reference':>12}{'ratio':>9}")
    for case in cases:
        medians = {side: statistics.median(times[case, side]) * 1000 for side in sides}
        row = f"  {case:<16}{medians['arkworker']:>9.1f} ms"
        if has_reference:
            row += f"{medians['reference']:>9.1f} ms{medians['arkworker'] / medians['reference']:>8.2f}x"
        print(row)


if __name__ == "__main__":
    main()
