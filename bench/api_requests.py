"""Benchmark: the CPU time one API call costs in the worker's process, through arkworker's Api.

The sandbox serves from a process of its own, so the CPU time measured here
(``time.process_time()`` of this process) is the client's alone: arkworker's retry policy,
arkindex-client's request building and answer decoding, requests and urllib3. The same
calls go through ``ArkindexClient.single_request`` (arkindex-client with a plain session,
what arkworker wraps) for comparison, interleaved, with the median of several rounds.

    python bench/api_requests.py [--calls 1000] [--rounds 3] [--threads 1] [--profile out.prof]

``--threads N`` sends the calls from N threads sharing one Api (the wall time then shows
what a shared connection pool gives); ``--profile`` writes a cProfile of one more round
of the Api's calls (read it with ``python -m pstats`` or snakeviz).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from arkindex import ArkindexClient

from arkworker.api.client import client_options, connect

SERVE = """
import json, sys
from arkworker.sandbox import Sandbox
with Sandbox() as sandbox:
    print(json.dumps({"env": sandbox.env(), "elements": sandbox.listed_element_ids()}), flush=True)
    sys.stdin.read()
"""


def timed(call: Callable[[str], Any], elements: list[str], calls: int, threads: int) -> tuple[float, float]:
    """CPU seconds (this process) and wall seconds of ``calls`` calls of ``call``, from ``threads`` threads."""
    ids = [elements[i % len(elements)] for i in range(calls)]
    cpu, wall = time.process_time(), time.perf_counter()
    if threads == 1:
        for element_id in ids:
            call(element_id)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(call, ids))
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", help="write a cProfile of the Api's calls to this file")
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, "-c", SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        started = json.loads(server.stdout.readline())
        env, elements = started["env"], started["elements"]
        api = connect(env)
        plain = ArkindexClient(**client_options(env))
        sides: dict[str, Callable[[str], Any]] = {
            "arkworker Api.request": lambda i: api.request("RetrieveElement", id=i),
            "ArkindexClient.single_request": lambda i: plain.single_request("RetrieveElement", id=i),
        }
        for call in sides.values():  # warm up: connections, caches
            timed(call, elements, 50, args.threads)
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
        for _ in range(args.rounds):
            for name, call in sides.items():
                results[name].append(timed(call, elements, args.calls, args.threads))
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(timed, sides["arkworker Api.request"], elements, args.calls, args.threads)
            profiler.dump_stats(args.profile)
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait()

    print(
        f"{args.calls} RetrieveElement calls from {args.threads} thread(s), sandbox in its own process, "
        f"median of {args.rounds} rounds:"
    )
    for name, figures in results.items():
        cpu = statistics.median(c for c, _ in figures)
        wall = statistics.median(w for _, w in figures)
        print(
            f"  {name:<30} {cpu / args.calls * 1e6:7.0f} µs CPU per call  "
            f"{wall / args.calls * 1e6:7.0f} µs wall per call"
        )


if __name__ == "__main__":
    main()
