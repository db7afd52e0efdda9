"""Writers racing on one session, on the dev server: how many attempts each write takes.

Appends to one session serialize on its version (see docs/architecture.md, Concurrency): each write that
loses a race plans again on the session its failure handed back. This runs bursts of concurrent
appends to one session, checks the contract (every append 201, seq 1..N, exact usage), and reads
from the functions' own logs how many attempts each write took (`write_attempts`, logged when a
write had to retry).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import DevServerApi, percentile, table, verdict
from local.launcher import launch_dev_server


def burst(api: DevServerApi, writers: int) -> dict[str, Any]:
    """`writers` appends to one new session, released together; the contract checked; timings."""
    _, session = api.call("POST", "/v1/sessions", {})
    sid = session["session_id"]
    barrier = threading.Barrier(writers)

    def append(index: int) -> tuple[int, Any, float]:
        barrier.wait()
        started = time.perf_counter()
        status, body = api.call("POST", f"/v1/sessions/{sid}/events", {"type": "message", "usage": {"tokens": 1}})
        return status, body, time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=writers) as pool:
        replies = list(pool.map(append, range(writers)))
    elapsed = time.perf_counter() - started
    _, stored = api.call("GET", f"/v1/sessions/{sid}")
    seqs = sorted(body.get("seq", 0) for status, body, _ in replies if status == 201)
    return {
        "writers": writers,
        "all_201": all(status == 201 for status, _, _ in replies),
        "seq_exact": seqs == list(range(1, writers + 1)),
        "usage_exact": stored["usage"]["event_count"] == writers and stored["usage"]["tokens_used"] == writers,
        "burst_s": elapsed,
        "slowest_s": max(seconds for _, _, seconds in replies),
    }


def attempts_logged(stdout: str) -> list[int]:
    counts = []
    for line in stdout.splitlines():
        if '"write_attempts"' in line:
            try:
                counts.append(int(json.loads(line)["write_attempts"]))
            except (ValueError, KeyError):
                continue
    return counts


def run(writers: tuple[int, ...] = (10, 20, 40), rounds: int = 2) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as log_dir:
        server = launch_dev_server(Path(log_dir), {**os.environ, "POWERTOOLS_LOG_LEVEL": "INFO"})
        try:
            api = DevServerApi(server.api_url, "growth", "u-growth")
            burst(api, 16)  # start the execution environments first, as a warm service has them
            results = []
            for count in writers:
                before = len(attempts_logged((Path(log_dir) / "stdout.log").read_text(errors="replace")))
                runs = [burst(api, count) for _ in range(rounds)]
                time.sleep(0.5)  # the last log lines
                retried = attempts_logged((Path(log_dir) / "stdout.log").read_text(errors="replace"))[before:]
                appends = count * rounds
                attempts = [*retried, *([1] * (appends - len(retried)))]
                results.append(
                    {
                        "writers": count,
                        "ok": all(r["all_201"] and r["seq_exact"] and r["usage_exact"] for r in runs),
                        "attempts_mean": statistics.fmean(attempts),
                        "attempts_p95": percentile(attempts, 0.95),
                        "attempts_max": max(attempts),
                        "burst_s": statistics.median(r["burst_s"] for r in runs),
                        "slowest_s": max(r["slowest_s"] for r in runs),
                    }
                )
        finally:
            server.stop(signal.SIGINT)
    rows = [
        [
            f"{r['writers']} appends at once",
            verdict(r["ok"]),
            r["attempts_mean"],
            r["attempts_p95"],
            r["attempts_max"],
            r["burst_s"],
            r["slowest_s"],
        ]
        for r in results
    ]
    headers = ["one session", "201, seq, usage", "attempts mean", "p95", "max", "burst s", "slowest s"]
    print(table(headers, rows, title=f"  concurrent appends on the dev server, {rounds} bursts each"))
    return {"bursts": results}
