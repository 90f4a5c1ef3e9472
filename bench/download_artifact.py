"""Benchmark: a dataset worker downloading its dataset's archive, arkworker against the reference.

A sandbox (its own process, a 0.3.7-era instance) serves a dataset process whose one set's
dataset has an archive of ``--size`` MiB. Each side runs a dataset worker that does nothing
but let its framework fetch the archive before the set's handler (``ListArtifacts``, then
``DownloadArtifact`` into the extras directory), in a process of its own:

* arkworker's ``@app.dataset_set`` worker: the archive streamed to disk in blocks;
* arkindex-base-worker 0.3.7's ``DatasetWorker``: the whole answer read into memory, then
  written.

    python bench/download_artifact.py [--quick] [--size 200] [--runs 3]

The sides run in rounds that alternate which one goes first (``bench/harness.py``); the table
gives the medians of the wall time and of the peak memory (RSS) of each process, start-up
included, and the ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness import (
    Completed,
    SandboxProcess,
    common_arguments,
    machine,
    median,
    print_table,
    reference_found,
    rounds,
    run_process,
    side_env,
)

ARKWORKER_WORKER = '''
from arkworker import Worker

app = Worker("bench-download")


@app.dataset_set
def process(dataset_set, ctx):
    """The archive is on disk before this is called: nothing more to do."""
'''

REFERENCE_WORKER = '''
from arkindex_worker.worker import DatasetWorker


class Bench(DatasetWorker):
    def process_set(self, set):
        """The archive is on disk before this is called: nothing more to do."""


if __name__ == "__main__":
    Bench(description="bench").run()
'''

ARKWORKER = "arkworker"
REFERENCE = "reference 0.3.7"


def corpus(archive: Path) -> dict[str, Any]:
    """A dataset process on one set of one dataset whose task serves ``archive``."""
    return {
        "api_level": "legacy",  # the reference's generation: the archive is a task artifact
        "corpus": {"name": "Download bench"},
        "types": ["page"],
        "elements": [{"name": "Page", "type": "page"}],
        "worker_run": {"process": {"mode": "dataset"}},
        "datasets": [{"name": "Bench dataset", "sets": {"train": ["Page"]}, "archive": str(archive)}],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200, help="Size of the archive in MiB (default 200).")
    common_arguments(parser, runs=3)
    args = parser.parse_args()
    if args.quick:
        args.size, args.runs = 20, 1
    with tempfile.TemporaryDirectory(prefix="arkworker-bench-download-") as tmp:
        workdir = Path(tmp)
        archive = workdir / "archive.tar.zst"
        with archive.open("wb") as out:
            for _ in range(args.size):
                out.write(os.urandom(1 << 20))
        (workdir / "bench_worker.py").write_text(ARKWORKER_WORKER)
        (workdir / "reference_worker.py").write_text(REFERENCE_WORKER)
        commands = {ARKWORKER: [sys.executable, "-m", "arkworker", "run", str(workdir / "bench_worker.py")]}
        shown = {
            ARKWORKER: "arkworker run APP --extras-dir DIR",
            REFERENCE: "python reference_worker.py --extras-dir DIR",
        }
        if reference_found(args.reference_python):
            commands[REFERENCE] = [args.reference_python, str(workdir / "reference_worker.py")]
        results: dict[str, list[Completed]] = {side: [] for side in commands}
        failed: dict[str, str] = {}
        with SandboxProcess(corpus(archive), workdir) as sandbox:
            for order in rounds(list(commands), args.runs):
                for side in order:
                    if side in failed:
                        continue
                    prepared = sandbox.prepare()
                    extras = Path(tempfile.mkdtemp(dir=workdir))
                    completed = run_process(
                        [*commands[side], "--extras-dir", str(extras)],
                        side_env({**prepared.env, "XDG_DATA_HOME": str(extras)}, reference=side == REFERENCE),
                        extras,
                    )
                    downloads = sandbox.report().operations.get("DownloadArtifact", 0)
                    if completed.returncode != 0 or downloads != 1:
                        failed[side] = (
                            f"exit {completed.returncode}, {downloads} download(s): {completed.failure()}"
                        )
                        continue
                    results[side].append(completed)
                    print(
                        f"  {side:<16} {completed.seconds:6.2f} s, peak RSS {completed.peak_mib:7.1f} MiB",
                        file=sys.stderr,
                    )
    print(f"\n## Dataset archive download: {args.size} MiB, medians of {args.runs} round(s)")
    print(machine() + "\n")
    base = results.get(REFERENCE)  # the ratios' denominator, when the reference ran
    headers = ["side", "command", "wall s", "MiB/s (wall)", "peak RSS MiB"]
    headers += ["wall / reference's", "peak RSS / reference's"] if base else []
    rows = []
    for side, runs in results.items():
        if not runs:
            rows.append([side, shown[side], *["-"] * (len(headers) - 2)])
            continue
        seconds, peak = median(run.seconds for run in runs), median(run.peak_mib for run in runs)
        row = [side, shown[side], f"{seconds:.2f}", f"{args.size / seconds:.0f}", f"{peak:.0f}"]
        if base:
            row += [
                f"{seconds / median(run.seconds for run in base):.2f}x",
                f"{peak / median(run.peak_mib for run in base):.2f}x",
            ]
        rows.append(row)
    print_table(headers, rows)
    for side, why in failed.items():
        print(f"- {side}: not measured, {why}")


if __name__ == "__main__":
    main()
