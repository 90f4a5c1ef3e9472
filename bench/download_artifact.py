"""Benchmark: downloading a dataset archive, streamed to disk versus read whole by the client.

A sandbox serves one artifact of ``--size`` megabytes. Each way of downloading it runs in
its own process, which prints its wall time and the growth of its peak memory (RSS):

* ``arkworker``: :func:`arkworker.api.artifacts.download_file`, blocks written to a temporary
  file then renamed (what the dataset loop does);
* ``client``: ``ArkindexClient.request("DownloadArtifact")``, which reads the whole answer
  into memory before writing it to a temporary file.

    python bench/download_artifact.py [--size 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from arkworker.sandbox import Sandbox

DATASET = "aaaaaaaa-0000-4000-8000-000000000001"
TASK = "aaaaaaaa-1111-4000-8000-000000000001"

MEASURE = """
import resource, sys, time
from pathlib import Path
way, url, token, target, task, path = sys.argv[1:7]
params = {"id": task, "path": path}
if way == "arkworker":
    from arkworker.api.client import connect
    from arkworker.api.artifacts import download_file
    api = connect({"ARKINDEX_API_URL": url, "ARKINDEX_API_TOKEN": token})
    download = lambda: download_file(api, "DownloadArtifact", Path(target), **params)
else:
    from arkindex import ArkindexClient
    client = ArkindexClient(base_url=url, token=token)
    download = lambda: client.request("DownloadArtifact", **params).close()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
download()
elapsed = time.perf_counter() - start
growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(f"{way:>10}: {elapsed:6.2f} s, peak memory +{growth:7.1f} MiB")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200, help="Size of the artifact in MiB.")
    size = parser.parse_args().size
    with tempfile.TemporaryDirectory() as directory:
        archive = Path(directory) / "archive.tar.zst"
        with archive.open("wb") as out:
            for _ in range(size):
                out.write(os.urandom(1 << 20))
        corpus = {
            "corpus": {"name": "Bench"},
            "datasets": [{"id": DATASET, "task": TASK, "name": "D", "archive": str(archive)}],
        }
        with Sandbox(corpus) as sandbox:
            print(f"Downloading a {size} MiB artifact from {sandbox.url}")
            for way in ("arkworker", "client"):
                target = str(Path(directory) / f"{way}.tar.zst")
                subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        MEASURE,
                        way,
                        sandbox.url,
                        sandbox.token,
                        target,
                        TASK,
                        f"{DATASET}.tar.zst",
                    ],
                    check=True,
                )


if __name__ == "__main__":
    main()
