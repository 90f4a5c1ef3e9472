"""Benchmark: the element loop of arkworker against arkindex-base-worker 0.3.7, side by side.

Both frameworks run the same worker (one transcription per element) in production mode
against identical fresh sandboxes (same corpus, same machine, same run), each in its own
process, and this script prints the wall time, the number of API requests and the ratio.

    python bench/run_loop.py [--elements 500] [--reference-python /path/to/python]

The reference is not a dependency of arkworker: it is looked for in a separate virtualenv
(default ``$ARKWORKER_REFERENCE_PYTHON`` or ``bench/.refenv/bin/python``, see ``bench/reference.py``, with
``pip install arkindex-base-worker==0.3.7``); without it only arkworker is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from reference import add_reference_argument

from arkworker.sandbox import Sandbox

ARKWORKER_WORKER = """
from arkworker import Worker

app = Worker("bench")


@app.element
def process(element, ctx):
    ctx.request(
        "CreateTranscription",
        id=element.id,
        body={"text": element.name, "confidence": 1.0, "orientation": "horizontal-lr",
              "worker_run_id": ctx.worker_run_id},
    )
"""

REFERENCE_WORKER = """
import sys
from arkindex_worker.worker import ElementsWorker


class Bench(ElementsWorker):
    def process_element(self, element):
        self.create_transcription(element, text=element.name, confidence=1.0)


if __name__ == "__main__":
    Bench(description="bench").run()
"""


def corpus(count: int) -> dict:
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
        "worker_run": {"process": {"elements": [f"Page {i}" for i in range(count)]}},
    }


def measure(command: list[str], count: int, workdir: Path, label: str) -> dict:
    """Run ``command`` on a fresh sandbox; return its wall time and the requests it made."""
    with Sandbox(corpus(count), db_path=workdir / f"{label}.sqlite") as sandbox:
        elements = workdir / f"{label}-elements.json"
        elements.write_text(json.dumps([{"id": i} for i in sandbox.process_element_ids()]))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ARKINDEX_", "PONOS_"))}
        env.update(sandbox.env(), TASK_ELEMENTS=str(elements), XDG_DATA_HOME=str(workdir))
        start = time.perf_counter()
        completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        created = len(sandbox.objects("transcriptions", worker_run_id=sandbox.worker_run_id))
    if completed.returncode != 0 or created != count:
        sys.exit(
            f"{label} failed (exit {completed.returncode}, {created}/{count} created):\n{completed.stderr[-2000:]}"
        )
    return {"seconds": seconds, "requests": len(sandbox.requests)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=500)
    add_reference_argument(parser)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ours = workdir / "bench_worker.py"
        ours.write_text(textwrap.dedent(ARKWORKER_WORKER))
        reference = workdir / "reference_worker.py"
        reference.write_text(textwrap.dedent(REFERENCE_WORKER))

        results = {
            "arkworker": measure(
                [sys.executable, "-m", "arkworker", "run", str(ours)], args.elements, workdir, "arkworker"
            )
        }
        if Path(args.reference_python).exists():
            results["reference"] = measure(
                [args.reference_python, str(reference)], args.elements, workdir, "reference"
            )
        else:
            print(f"(reference not found at {args.reference_python}: only arkworker is measured)")

    print(f"Element loop, {args.elements} elements, one transcription each, on the sandbox:")
    for label, figures in results.items():
        rate = args.elements / figures["seconds"]
        print(
            f"  {label:<10} {figures['seconds']:7.2f} s  {rate:7.1f} elements/s  {figures['requests']} requests"
        )
    if "reference" in results:
        ratio = results["reference"]["seconds"] / results["arkworker"]["seconds"]
        print(f"  arkworker is {ratio:.2f}x the reference's speed")


if __name__ == "__main__":
    main()
