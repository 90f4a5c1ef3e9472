"""Benchmark: ``element.open_image()`` throughput against the sandbox's IIIF server.

A sandbox serves one generated scan (2000 x 3000 JPEG) with many text line elements; the
script times, for each scenario, how many images per second a worker gets:

* ``lines``: the crop of each line at full resolution;
* ``pages``: the whole page scaled down to 1000 pixels wide;
* ``tiles``: the whole page from a server limited to 1024 x 1024 (tiles, then reassembly).

    python bench/images.py [--lines 200] [--reference-python /path/to/python]

The reference (arkindex-base-worker 0.3.7) is measured on the same element payloads when
its virtualenv is found (``$ARKWORKER_REFERENCE_PYTHON`` or ``bench/.refenv/bin/python``, see ``bench/reference.py``),
in a subprocess: it is never a dependency. Both sides share the machine with the sandbox,
which decodes and encodes every answer: figures compare clients, not absolute speeds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from arkindex import ArkindexClient
from PIL import Image, ImageDraw
from reference import add_reference_argument

from arkworker.models import Element
from arkworker.sandbox import Sandbox

SCENARIOS = {"lines": {}, "pages": {"max_width": 1000}, "tiles": {}}

REFERENCE_SCRIPT = """
import json, sys, time
from arkindex_worker.models import Element

payloads = json.load(open(sys.argv[1]))
results = {}
for scenario, (elements, kwargs) in payloads.items():
    start = time.perf_counter()
    for payload in elements:
        Element(payload).open_image(**kwargs)
    results[scenario] = time.perf_counter() - start
print(json.dumps(results))
"""


def scan(path: Path) -> None:
    image = Image.new("RGB", (2000, 3000), (236, 230, 214))
    draw = ImageDraw.Draw(image)
    for y in range(200, 2800, 60):
        for x in range(200, 1800, 160):
            draw.rectangle((x, y + 10, x + 120, y + 40), fill=(50, 40, 40))
    image.save(path, quality=85)


def corpus(directory: Path, lines: int) -> dict:
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


def payloads(sandbox: Sandbox, pages: int) -> dict[str, tuple[list[dict], dict]]:
    client = ArkindexClient(base_url=sandbox.url, token=sandbox.token)

    def get(name: str) -> dict:
        return client.request("RetrieveElement", id=sandbox.objects("elements", name=name)[0]["id"])

    lines = [
        client.request("RetrieveElement", id=row["id"]) for row in sandbox.objects("elements", type="line")
    ]
    return {
        "lines": (lines, SCENARIOS["lines"]),
        "pages": ([get("Page")] * pages, SCENARIOS["pages"]),
        "tiles": ([get("Limited page")] * pages, SCENARIOS["tiles"]),
    }


def measure(work: dict[str, tuple[list[dict], dict]]) -> dict[str, float]:
    results = {}
    for scenario, (elements, kwargs) in work.items():
        start = time.perf_counter()
        for payload in elements:
            Element(payload).open_image(**kwargs)
        results[scenario] = time.perf_counter() - start
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=200, help="Number of line crops.")
    parser.add_argument("--pages", type=int, default=10, help="Number of page openings per page scenario.")
    add_reference_argument(parser)
    args = parser.parse_args()
    os.environ.setdefault("ARKWORKER_RETRY_BACKOFF", "0")
    with tempfile.TemporaryDirectory() as tmp, Sandbox(corpus(Path(tmp), args.lines)) as sandbox:
        work = payloads(sandbox, args.pages)
        ours = measure(work)
        reference = None
        if Path(args.reference_python).exists():
            (Path(tmp) / "payloads.json").write_text(json.dumps(work))
            (Path(tmp) / "reference.py").write_text(REFERENCE_SCRIPT)
            completed = subprocess.run(
                [args.reference_python, str(Path(tmp) / "reference.py"), str(Path(tmp) / "payloads.json")],
                capture_output=True,
                text=True,
                check=False,
                # The reference's image module builds an API client when imported.
                env={**os.environ, **sandbox.env()},
            )
            if completed.returncode == 0:
                reference = json.loads(completed.stdout.strip().splitlines()[-1])
            else:
                print(f"reference failed:\n{completed.stderr[-2000:]}", file=sys.stderr)
    print(f"{'scenario':<8} {'images':>6} {'arkworker':>16} {'reference':>16}")
    for scenario, (elements, _) in work.items():
        count = len(elements)
        line = f"{scenario:<8} {count:>6} {count / ours[scenario]:>10.1f} img/s"
        if reference:
            line += f" {count / reference[scenario]:>10.1f} img/s"
        else:
            line += f" {'(not found)':>16}"
        print(line)


if __name__ == "__main__":
    main()
