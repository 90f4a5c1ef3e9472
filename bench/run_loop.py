"""Benchmark: the element loop of arkworker against arkindex-base-worker 0.3.7, side by side.

Both frameworks run the same production-like worker on the sandbox (a worker run and a
process with activities): per element ``RetrieveElement``, activity ``started``, one
transcription created through the framework's helper (``ctx.create_transcription``,
``self.create_transcription``), activity ``processed``. The sandbox serves from its own
process and is reset before every run; the two sides run in their own processes, in rounds
that alternate which one goes first (``bench/harness.py``); the table gives medians and the
ratio.

    python bench/run_loop.py [--quick] [--elements 500] [--runs 5] [--latency MS]

The reference is not a dependency of arkworker: it is looked for in a separate virtualenv
(default ``$ARKWORKER_REFERENCE_PYTHON`` or ``bench/.refenv/bin/python``, see
``bench/reference.py``); without it only arkworker is measured. ``bench/jobs.py`` runs the
same loop with ``--jobs`` and latency.
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
    SandboxProcess,
    common_arguments,
    loop_rows,
    machine,
    pages_corpus,
    print_table,
    reference_found,
    run_loops,
)

ARKWORKER = "arkworker"
REFERENCE = "reference 0.3.7"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=500, help="Pages processed per run (default 500).")
    parser.add_argument("--latency", type=float, default=0, help="Milliseconds added to every API call.")
    common_arguments(parser, runs=5)
    args = parser.parse_args()
    if args.quick:
        args.elements, args.runs = 20, 1
    with tempfile.TemporaryDirectory(prefix="arkworker-bench-loop-") as tmp:
        workdir = Path(tmp)
        app = workdir / "bench_worker.py"
        app.write_text(ARKWORKER_TRANSCRIBER)
        reference_app = workdir / "reference_worker.py"
        reference_app.write_text(REFERENCE_TRANSCRIBER)
        table = [Config(ARKWORKER, [sys.executable, "-m", "arkworker", "run", str(app)], "arkworker run APP")]
        if reference_found(args.reference_python):
            table.append(
                Config(
                    REFERENCE,
                    [args.reference_python, str(reference_app)],
                    "python reference_worker.py",
                    reference=True,
                )
            )
        with SandboxProcess(pages_corpus(args.elements), workdir) as sandbox:
            figures = run_loops(
                sandbox,
                table,
                count=args.elements,
                runs=args.runs,
                latency=args.latency / 1000,
                workdir=workdir,
            )
    bases = [REFERENCE] if len(table) > 1 else [ARKWORKER]
    print(f"\n## Element loop: {args.elements} pages, medians of {args.runs} round(s)")
    print(machine())
    print(f"One transcription per element by the helper; {args.latency:g} ms injected per API call.")
    print(LOOP_LEGEND + "\n")
    headers, rows, notes = loop_rows(table, figures, args.elements, bases)
    print_table(headers, rows)
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
