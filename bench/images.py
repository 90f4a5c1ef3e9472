"""Benchmark: ``element.open_image()`` throughput against the sandbox's IIIF server, side by side.

A sandbox serves one generated scan (2000 x 3000 JPEG) with many text line elements; for
each scenario, how many images per second a worker gets from ``Element(payload).open_image()``
(arkworker's ``arkworker.models.Element``, the reference's ``arkindex_worker.models.Element``):

* ``lines``: the crop of each line at full resolution;
* ``pages``: the whole page scaled down to 1000 pixels wide;
* ``tiles``: the whole page from a server limited to 1024 x 1024 (tiles, then reassembly).

    python bench/images.py [--quick] [--lines 200] [--pages 10] [--runs 3]

Both sides open the same element payloads (fetched once with the API client) in processes of
their own, the sandbox in a third one, in rounds that alternate which side goes first
(``bench/harness.py``); each side opens one line, untimed, before the scenarios (a process's
first opening sets up its HTTP session). The table gives medians and the ratio. The sandbox
decodes and encodes every answer on the same two cores: the figures compare clients, not
absolute speeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from arkindex import ArkindexClient
from harness import (
    SandboxProcess,
    common_arguments,
    machine,
    median,
    print_table,
    ratio,
    reference_found,
    rounds,
    run_process,
    side_env,
)
from PIL import Image, ImageDraw

SCENARIOS: dict[str, dict[str, Any]] = {"lines": {}, "pages": {"max_width": 1000}, "tiles": {}}

#: What each side's process runs, with its own ``Element`` class: seconds per scenario, as JSON.
MEASURE = """
import json, sys, time
from {module} import Element

payloads = json.load(open(sys.argv[1]))
first, first_kwargs = payloads["lines"][0][0], payloads["lines"][1]
Element(first).open_image(**first_kwargs)  # untimed: a process's first opening sets things up
results = {{}}
for scenario, (elements, kwargs) in payloads.items():
    start = time.perf_counter()
    for payload in elements:
        Element(payload).open_image(**kwargs)
    results[scenario] = time.perf_counter() - start
print(json.dumps(results))
"""

SIDES = {"arkworker": "arkworker.models", "reference 0.3.7": "arkindex_worker.models"}


def scan(path: Path) -> None:
    image = Image.new("RGB", (2000, 3000), (236, 230, 214))
    draw = ImageDraw.Draw(image)
    for y in range(200, 2800, 60):
        for x in range(200, 1800, 160):
            draw.rectangle((x, y + 10, x + 120, y + 40), fill=(50, 40, 40))
    image.save(path, quality=85)


def corpus(directory: Path, lines: int) -> dict[str, Any]:
    scan(directory / "scan.jpg")
    tops = [200 + (12 * i) % 2700 for i in range(lines)]  # lines wrap round on long runs
    rows = [[[200, top], [1800, top], [1800, top + 60], [200, top + 60]] for top in tops]
    return {
        "corpus": {"name": "Images bench"},
        "images": [
            {"name": "scan", "path": str(directory / "scan.jpg")},
            {"name": "limited", "path": str(directory / "scan.jpg"), "max_width": 1024, "max_height": 1024},
        ],
        "elements": [
            {"name": "Page", "type": "page", "image": "scan"},
            {"name": "Limited page", "type": "page", "image": "limited"},
            *(
                {"name": f"Line {i}", "type": "line", "image": "scan", "polygon": row}
                for i, row in enumerate(rows)
            ),
        ],
    }


def payloads(
    sandbox: SandboxProcess, env: dict[str, str], pages: int
) -> dict[str, tuple[list[Any], dict[str, Any]]]:
    """The element payloads each scenario opens, as RetrieveElement answers them."""
    client = ArkindexClient(base_url=env["ARKINDEX_API_URL"], token=env["ARKINDEX_API_TOKEN"])

    def get(row: dict[str, Any]) -> Any:
        return client.request("RetrieveElement", id=row["id"])

    lines = [get(row) for row in sandbox.objects("elements", type="line")]
    (page,) = sandbox.objects("elements", name="Page")
    (limited,) = sandbox.objects("elements", name="Limited page")
    return {
        "lines": (lines, SCENARIOS["lines"]),
        "pages": ([get(page)] * pages, SCENARIOS["pages"]),
        "tiles": ([get(limited)] * pages, SCENARIOS["tiles"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=200, help="Number of line crops.")
    parser.add_argument("--pages", type=int, default=10, help="Number of page openings per page scenario.")
    common_arguments(parser, runs=3)
    args = parser.parse_args()
    if args.quick:
        args.lines, args.pages, args.runs = 20, 2, 1
    pythons = {"arkworker": sys.executable, "reference 0.3.7": args.reference_python}
    sides = ["arkworker", *(["reference 0.3.7"] if reference_found(args.reference_python) else [])]
    seconds: dict[str, dict[str, list[float]]] = {side: {name: [] for name in SCENARIOS} for side in sides}
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="arkworker-bench-images-") as tmp:
        workdir = Path(tmp)
        with SandboxProcess(corpus(workdir, args.lines), workdir) as sandbox:
            prepared = sandbox.prepare()
            work = payloads(sandbox, prepared.env, args.pages)
            (workdir / "payloads.json").write_text(json.dumps(work))
            for side in sides:
                (workdir / f"measure_{side.split()[0]}.py").write_text(MEASURE.format(module=SIDES[side]))
            for order in rounds(sides, args.runs):
                for side in order:
                    if side in failed:
                        continue
                    reference = side != "arkworker"
                    # The reference's image module builds an API client when imported: the sandbox's env.
                    completed = run_process(
                        [
                            pythons[side],
                            str(workdir / f"measure_{side.split()[0]}.py"),
                            str(workdir / "payloads.json"),
                        ],
                        side_env(prepared.env, reference=reference),
                        workdir,
                    )
                    if completed.returncode != 0:
                        failed[side] = completed.failure()
                        continue
                    measured = json.loads(completed.stdout.strip().splitlines()[-1])
                    for name, value in measured.items():
                        seconds[side][name].append(value)
                    figures = ", ".join(f"{name} {value:.2f} s" for name, value in measured.items())
                    print(f"  {side:<16} {figures}", file=sys.stderr)
    print(f"\n## Images: open_image() on the sandbox's IIIF server, medians of {args.runs} round(s)")
    print(machine() + "\n")
    headers = ["scenario", "images", *(f"{side} img/s" for side in sides)]
    headers += ["arkworker x reference"] if len(sides) > 1 else []
    rows = []
    for name, (elements, _) in work.items():
        rates = {
            side: len(elements) / median(seconds[side][name]) if seconds[side][name] else None
            for side in sides
        }
        row = [name, str(len(elements)), *(f"{rate:.1f}" if rate else "-" for rate in rates.values())]
        if len(sides) > 1:
            row.append(ratio(rates["arkworker"], rates["reference 0.3.7"]))
        rows.append(row)
    print_table(headers, rows)
    for side, why in failed.items():
        print(f"- {side}: not measured, {why}")


if __name__ == "__main__":
    main()
