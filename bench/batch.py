"""Benchmark: a batched handler against per-element handlers, on a model stand-in.

The stand-in costs what a GPU model roughly does: 10 ms per call plus 1 ms per item
(``time.sleep``, which releases the GIL as native code does). Every configuration runs it
on the same 200 pages of the sandbox (its own process, activities on) and writes one
transcription per element through its framework's helper:

* the reference (arkindex-base-worker 0.3.7) and arkworker's ``@app.element``: one model
  call per element;
* arkworker's ``@app.element(batch_size=N)``, N = 1, 8, 16, 32: one model call per batch,
  the handler getting ``(batch, ctx)``, then one transcription per element by the helper;
* the same with its results published as a batched worker would, one ``CreateTranscriptions``
  per batch (``ctx.create_transcriptions``), N = 16 (``--bulk``).

    python bench/batch.py [--quick] [--elements 200] [--runs 3] [--batch 1 8 16 32] [--latency 0] [--jobs N]

The configurations run interleaved (``bench/harness.py``); the table gives medians and the
ratios to the per-element handlers. Until this checkout has batched handlers, their rows say
why they were not measured.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from harness import (
    LOOP_LEGEND,
    Config,
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
    run_process,
    side_env,
)

#: The model stand-in, the same in every worker.
MODEL = '''
import time


def model(elements):
    """10 ms per call, 1 ms per item: what batching saves is the per-call part."""
    time.sleep(0.010 + 0.001 * len(elements))
    return [element.name for element in elements]
'''

ARKWORKER_PER_ELEMENT = f"""
from arkworker import Worker
{MODEL}
app = Worker("bench-batch")


@app.element
def process(element, ctx):
    (text,) = model([element])
    ctx.create_transcription(element, text=text, confidence=1.0)
"""

ARKWORKER_BATCHED = f"""
from arkworker import Worker
{MODEL}
app = Worker("bench-batch")


@app.element(batch_size=BATCH_SIZE)
def process(batch, ctx):
    for element, text in zip(batch, model(list(batch))):
        ctx.create_transcription(element, text=text, confidence=1.0)
"""

#: A batched handler publishing its results as a batched worker would: one CreateTranscriptions a batch.
ARKWORKER_BATCHED_BULK = f"""
from arkworker import Worker
{MODEL}
app = Worker("bench-batch")


@app.element(batch_size=BATCH_SIZE)
def process(batch, ctx):
    texts = model(list(batch))
    ctx.create_transcriptions(
        [{{"element_id": element.id, "text": text, "confidence": 1.0}} for element, text in zip(batch, texts)]
    )
"""

REFERENCE_PER_ELEMENT = f"""
from arkindex_worker.worker import ElementsWorker
{MODEL}

class Bench(ElementsWorker):
    def process_element(self, element):
        (text,) = model([element])
        self.create_transcription(element, text=text, confidence=1.0)


if __name__ == "__main__":
    Bench(description="bench").run()
"""

#: Registers a batched handler: fails where ``@app.element`` takes no ``batch_size``.
BATCH_PROBE = "from arkworker import Worker\nWorker('probe').element(batch_size=2)(lambda batch, ctx: None)\n"

REFERENCE = "reference per-element"
PER_ELEMENT = "arkworker per-element"


def batch_support(workdir: Path) -> str | None:
    """None when this checkout's ``@app.element`` takes ``batch_size``, else why not."""
    completed = run_process([sys.executable, "-c", BATCH_PROBE], side_env({}, reference=False), workdir)
    if completed.returncode == 0:
        return None
    return f"@app.element(batch_size=...) is refused in this checkout ({completed.failure()})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=200, help="Pages processed per run (default 200).")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 16, 32], help="Batch sizes.")
    parser.add_argument(
        "--bulk",
        type=int,
        nargs="*",
        default=[16],
        help="Batch sizes also run with one CreateTranscriptions a batch.",
    )
    parser.add_argument("--latency", type=float, default=0, help="Milliseconds added to every API call.")
    parser.add_argument(
        "--jobs", type=int, help="Give arkworker's runs --jobs N (default: not given, one element at a time)."
    )
    common_arguments(parser, runs=3)
    args = parser.parse_args()
    if args.quick:
        args.elements, args.runs = 20, 1
    with tempfile.TemporaryDirectory(prefix="arkworker-bench-batch-") as tmp:
        workdir = Path(tmp)
        per_element = workdir / "per_element.py"
        per_element.write_text(ARKWORKER_PER_ELEMENT)
        reference_app = workdir / "reference_worker.py"
        reference_app.write_text(REFERENCE_PER_ELEMENT)
        extra: list[str] = []
        jobs_note = None
        if args.jobs is not None:
            if "--jobs" in arkworker_run_help(per_element, workdir):
                extra = ["--jobs", str(args.jobs)]
            else:
                jobs_note = "(`arkworker run APP --help` lists no --jobs: arkworker runs without it)"
                print(jobs_note)
        shown_extra = f" {' '.join(extra)}" if extra else ""
        run = [sys.executable, "-m", "arkworker", "run"]
        table = []
        if reference_found(args.reference_python):
            table.append(
                Config(
                    REFERENCE,
                    [args.reference_python, str(reference_app)],
                    "python reference_worker.py",
                    reference=True,
                )
            )
        table.append(
            Config(
                PER_ELEMENT, [*run, str(per_element), *extra], f"arkworker run per_element.py{shown_extra}"
            )
        )
        unsupported = batch_support(workdir)
        for size in args.batch:
            app = workdir / f"batch_{size}.py"
            app.write_text(ARKWORKER_BATCHED.replace("BATCH_SIZE", str(size)))
            table.append(
                Config(
                    f"arkworker batch {size}",
                    [*run, str(app), *extra],
                    f"arkworker run batch_{size}.py{shown_extra}",
                    unavailable=unsupported,
                )
            )
        for size in args.bulk:
            app = workdir / f"batch_{size}_bulk.py"
            app.write_text(ARKWORKER_BATCHED_BULK.replace("BATCH_SIZE", str(size)))
            table.append(
                Config(
                    f"arkworker batch {size}, bulk results",
                    [*run, str(app), *extra],
                    f"arkworker run batch_{size}_bulk.py{shown_extra}",
                    unavailable=unsupported,
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
    bases = [PER_ELEMENT, *([REFERENCE] if any(config.reference for config in table) else [])]
    print(f"\n## Batched handlers: {args.elements} pages, medians of {args.runs} round(s)")
    print(machine())
    print(
        "Model stand-in: time.sleep(0.010 + 0.001 * items) per call; one transcription per element by the helper; "
        f"{args.latency:g} ms injected per API call."
    )
    print(LOOP_LEGEND + "\n")
    headers, rows, notes = loop_rows(table, figures, args.elements, bases)
    print_table(headers, rows)
    for note in [*notes, *([jobs_note] if jobs_note else [])]:
        print(f"- {note}")
    print("\nTarget: arkworker batch 16 >= 5x arkworker per-element (loop elements/s), measured:")
    for name in ("arkworker batch 16", "arkworker batch 16, bulk results"):
        rate = figures[name].loop_rate(args.elements) if name in figures else None
        print(f"- {name}: {ratio(rate, figures[PER_ELEMENT].loop_rate(args.elements))}")


if __name__ == "__main__":
    main()
