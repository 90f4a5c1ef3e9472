"""Benchmark: merging parent caches totalling 1,000,000 elements into a task cache.

Builds the parent caches in a temporary directory (20 parents of 50,000 elements by
default, each element with a polygon, as an initialisation task writes them), then
merges them with arkworker in a child process and prints the wall time of the merge and
the peak resident memory of that process.

    python bench/merge_caches.py [--parents 20] [--elements 50000] [--reference-python PATH]

The reference is not a dependency of arkworker: it is looked for in a separate virtualenv
(default ``$ARKWORKER_REFERENCE_PYTHON`` or ``bench/.refenv/bin/python``, see ``bench/reference.py``, with
``pip install arkindex-base-worker==0.3.7``). Its merge attaches every parent without
detaching it, so it cannot merge more than ten parents: the side-by-side comparison uses
the same 1,000,000 elements split into ten parents, merged by both, each in its own process.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from reference import add_reference_argument

from arkworker.storage.cache_files import create_cache_file

ARKWORKER_CHILD = """
import json, resource, sys, time
from pathlib import Path
from arkworker.storage.cache_files import merge_caches
target, parents = Path(sys.argv[1]), [Path(path) for path in sys.argv[2:]]
start = time.perf_counter()
merge_caches(target, parents)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

# The reference prepares its own cache before merging (configure_cache_db): same here.
REFERENCE_CHILD = """
import json, resource, sys, time
from pathlib import Path
from arkindex_worker import cache
target, parents = Path(sys.argv[1]), [Path(path) for path in sys.argv[2:]]
cache.init_cache_db(target)
cache.create_version_table()
cache.create_tables()
start = time.perf_counter()
cache.merge_parents_cache(parents, target)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

POLYGON = json.dumps([[0, 0], [0, 100], [100, 100], [100, 0], [0, 0]])


def build_parents(directory: Path, parents: int, elements: int) -> list[Path]:
    """``parents`` version-3 caches of ``elements`` elements each (all ids distinct)."""
    paths = []
    for index in range(parents):
        path = directory / f"parent-{index:02d}" / "db.sqlite"
        path.parent.mkdir(parents=True)
        create_cache_file(path)
        connection = sqlite3.connect(path)
        connection.execute("PRAGMA synchronous = OFF")
        image = uuid.uuid4().hex
        connection.execute("INSERT INTO images VALUES (?, 100, 100, ?)", (image, f"https://iiif/{image}"))
        connection.executemany(
            "INSERT INTO elements VALUES (?, NULL, 'page', ?, ?, 0, 0, ?, NULL, NULL, NULL)",
            ((uuid.uuid4().hex, image, POLYGON, int(index == 0)) for _ in range(elements)),
        )
        connection.commit()
        connection.close()
        paths.append(path)
    return paths


def measure(python: str, child: str, target: Path, parents: list[Path]) -> dict:
    completed = subprocess.run(
        [python, "-c", child, str(target), *map(str, parents)], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(
            completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else "failed"
        )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def show(label: str, figures: dict) -> None:
    print(f"  {label:<28} {figures['seconds']:7.2f} s   peak RSS {figures['peak_kib'] / 1024:7.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parents", type=int, default=20)
    parser.add_argument("--elements", type=int, default=50_000, help="elements per parent")
    add_reference_argument(parser)
    args = parser.parse_args()
    total = args.parents * args.elements
    with tempfile.TemporaryDirectory(prefix="arkworker-merge-bench-") as scratch:
        root = Path(scratch)
        start = time.perf_counter()
        parents = build_parents(root / "many", args.parents, args.elements)
        size = sum(path.stat().st_size for path in parents) / 2**20
        print(
            f"Built {args.parents} parent caches, {total:,} elements, {size:.0f} MiB "
            f"in {time.perf_counter() - start:.1f} s"
        )
        print(f"Merge of {args.parents} parents ({total:,} elements):")
        show("arkworker", measure(sys.executable, ARKWORKER_CHILD, root / "many" / "db.sqlite", parents))
        shutil.rmtree(root / "many")

        if not Path(args.reference_python).exists():
            print(f"Reference not available ({args.reference_python} does not exist): no comparison.")
            return
        ten = build_parents(root / "ten", 10, total // 10)
        print(f"Merge of 10 parents ({total:,} elements), side by side:")
        ours = measure(sys.executable, ARKWORKER_CHILD, root / "ten" / "arkworker.sqlite", ten)
        show("arkworker", ours)
        copies = []
        for path in ten:  # the reference writes into its parents: give it copies
            copy = path.with_name("reference-parent.sqlite")
            shutil.copyfile(path, copy)
            copies.append(copy)
        try:
            theirs = measure(
                args.reference_python, REFERENCE_CHILD, root / "ten" / "reference.sqlite", copies
            )
        except RuntimeError as exc:
            print(f"  reference merge failed: {exc}")
            return
        show("arkindex-base-worker 0.3.7", theirs)
        print(
            f"  ratio (reference / arkworker): time {theirs['seconds'] / ours['seconds']:.2f}, "
            f"peak memory {theirs['peak_kib'] / ours['peak_kib']:.2f}"
        )


if __name__ == "__main__":
    main()
