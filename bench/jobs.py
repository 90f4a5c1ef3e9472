"""Benchmark: concurrent elements, ``arkworker run APP --jobs N`` against the reference's one at a time.

Both sides run the same production-like worker on the sandbox (a worker run and a process
with activities): per element ``RetrieveElement``, activity ``started``, one transcription
created through the framework's helper, activity ``processed``. arkindex-base-worker 0.3.7
processes elements one after the other, its only mode; arkworker runs with ``--jobs`` 1, 4,
8 and 16. Every configuration runs at each injected latency per API call (0 and 20 ms by
default: a remote Arkindex), the sandbox in its own process, the configurations interleaved
(``bench/harness.py``), and the table gives medians and ratios to the reference.

    python bench/jobs.py [--quick] [--elements 200] [--runs 3] [--latency 0 20] [--jobs 1 4 8 16]

Until this checkout's ``arkworker run`` has ``--jobs``, only one arkworker row runs (without
the option) and the others say why they were not measured.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from harness import (
    ARKWORKER_TRANSCRIBER,
    LOOP_LEGEND,
    REFERENCE_TRANSCRIBER,
    Config,
    Figures,
    SandboxProcess,
    arkworker_run_help,
    common_arguments,
    loop_rows,
    machine,
    pages_corpus,
    print_table,
    ratio,
    reference_found,
    run_loops,
)

REFERENCE = "reference 0.3.7"


def configs(app: Path, reference_app: Path, python: str, jobs: list[int], has_jobs: bool) -> list[Config]:
    """The reference (when found) and one arkworker configuration per ``--jobs`` value."""
    found = []
    if reference_found(python):
        found.append(
            Config(REFERENCE, [python, str(reference_app)], "python reference_worker.py", reference=True)
        )
    run = [sys.executable, "-m", "arkworker", "run", str(app)]
    for count in jobs:
        if has_jobs:
            found.append(
                Config(
                    f"arkworker --jobs {count}",
                    [*run, "--jobs", str(count)],
                    f"arkworker run APP --jobs {count}",
                )
            )
        elif count == 1:
            found.append(Config("arkworker --jobs 1", run, "arkworker run APP (no --jobs yet)"))
        else:
            found.append(
                Config(
                    f"arkworker --jobs {count}",
                    [],
                    f"arkworker run APP --jobs {count}",
                    unavailable="`arkworker run APP --help` lists no --jobs in this checkout",
                )
            )
    return found


def target_ratio(
    tables: list[tuple[float, dict[str, Figures]]], count: int, latency: float, label: str
) -> str:
    """The loop rate of ``label`` over the reference's at ``latency`` ms, if both were measured."""
    for measured, figures in tables:
        if measured == latency and label in figures and REFERENCE in figures:
            return ratio(figures[label].loop_rate(count), figures[REFERENCE].loop_rate(count))
    return "- (not measured)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=200, help="Pages processed per run (default 200).")
    parser.add_argument(
        "--latency", type=float, nargs="+", default=[0, 20], help="Milliseconds added to every API call."
    )
    parser.add_argument(
        "--jobs", type=int, nargs="+", default=[1, 4, 8, 16], help="arkworker's --jobs values."
    )
    common_arguments(parser, runs=3)
    args = parser.parse_args()
    if args.quick:
        args.elements, args.runs = 20, 1
    with tempfile.TemporaryDirectory(prefix="arkworker-bench-jobs-") as tmp:
        workdir = Path(tmp)
        app = workdir / "bench_worker.py"
        app.write_text(ARKWORKER_TRANSCRIBER)
        reference_app = workdir / "reference_worker.py"
        reference_app.write_text(REFERENCE_TRANSCRIBER)
        has_jobs = "--jobs" in arkworker_run_help(app, workdir)
        if not has_jobs:
            print(
                "(`arkworker run APP --help` lists no --jobs: only --jobs 1 is measured, without the option)"
            )
        table = configs(app, reference_app, args.reference_python, args.jobs, has_jobs)
        tables = []
        with SandboxProcess(pages_corpus(args.elements), workdir) as sandbox:
            for latency in args.latency:
                print(f"{latency:g} ms per API call:", file=sys.stderr)
                figures = run_loops(
                    sandbox,
                    table,
                    count=args.elements,
                    runs=args.runs,
                    latency=latency / 1000,
                    workdir=workdir,
                )
                tables.append((latency, figures))
    bases = [REFERENCE] if any(config.reference for config in table) else []
    bases += ["arkworker --jobs 1"] if 1 in args.jobs else []
    print(f"\n## Concurrent elements: {args.elements} pages, medians of {args.runs} round(s)")
    print(machine())
    print("APP: one ctx.create_transcription per element; the reference: one self.create_transcription.")
    print(LOOP_LEGEND)
    for latency, figures in tables:
        print(f"\n### {latency:g} ms injected per API call\n")
        headers, rows, notes = loop_rows(table, figures, args.elements, bases)
        print_table(headers, rows)
        for note in notes:
            print(f"- {note}")
    print("\nTargets (loop elements/s over the reference's):")
    for latency, label, target in ((20, "arkworker --jobs 8", 6.0), (0, "arkworker --jobs 1", 1.0)):
        print(
            f"- {latency} ms, {label}: target >= {target:g}x, measured {target_ratio(tables, args.elements, latency, label)}"
        )


if __name__ == "__main__":
    main()
