"""Every `python -m bench SECTION` the README lists runs as written: from the repository root, in a
clean environment (no PYTHONPATH), at its smallest size (`--smoke`), and prints its figures.

`python -m bench growth` once stopped at once with `ModuleNotFoundError: No module named 'sessions'`:
nothing put the layer on the path. Each section here runs in a subprocess, as a user would run it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import SECTIONS
from tests.bench.test_client import figures_hold as client_figures_hold
from tests.bench.test_langgraph import figures_hold as langgraph_figures_hold

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TIMEOUT_SECONDS = 300  # a smoke run takes seconds; this only stops a hung one
DEV_SERVER_SECTIONS = {"growth", "contention", "client", "compaction", "fork"}


def readme_sections() -> set[str]:
    """Every section a `python -m bench …` in the README names, the `[a|b|…]` list included."""
    named = set(re.findall(r"python -m bench ([a-z]+)", README))
    for listed in re.findall(r"python -m bench \[([a-z|]+)\]", README):
        named.update(listed.split("|"))
    return named


def test_the_readme_lists_every_section_and_no_other() -> None:
    # `all` runs the sections one after another: running each one covers it
    assert readme_sections() == {*SECTIONS, "all"}


def _finite_positive(value: Any) -> bool:
    return isinstance(value, int | float) and value > 0


# what each section's figures must hold (its JSON report), and a line of its printed table
CHECKS: dict[str, tuple[str, Callable[[dict[str, Any]], bool]]] = {
    "cold": (
        "Cold start: import + boto3 client",
        lambda figures: (
            {"baseline: boto3.client", "GetSessionFunction"} <= set(figures["subjects"])
            and all(_finite_positive(subject["total_ms"]) for subject in figures["subjects"].values())
        ),
    ),
    "overhead": (
        "bare APIGatewayHttpResolver",
        lambda figures: _finite_positive(figures["handlers"]["GetSessionFunction"]["median_us"]),
    ),
    "calls": (
        "GetItem",
        lambda figures: figures["get"]["calls"] >= 1 and figures["create"]["operations"],
    ),
    "cost": (
        "$ per million requests",
        lambda figures: _finite_positive(figures["per_million_requests"]["total"]),
    ),
    "growth": (
        "latency on the dev server",
        lambda figures: (
            figures["items_seeded"] > 0
            and _finite_positive(figures["requests"]["append"]["median_ms_empty"])
            and _finite_positive(figures["requests"]["append"]["median_ms_full"])
        ),
    ),
    "contention": (
        "concurrent appends on the dev server",
        lambda figures: [burst["ok"] for burst in figures["bursts"]] == [True],
    ),
    "client": ("Against the dev server", client_figures_hold),
    "compaction": (
        "ADK get_session on the dev server",
        lambda figures: (
            figures["long"]["calls"] == 2
            and figures["long"]["events_shown"] == figures["events"] - figures["base_at"] + 1
            and _finite_positive(figures["long"]["median_ms"])
            and _finite_positive(figures["short"]["median_ms"])
        ),
    ),
    "fork": (
        "fork of a session on the dev server",
        lambda figures: (
            _finite_positive(figures["long"]["median_ms"])
            and _finite_positive(figures["short"]["median_ms"])
            and figures["long_total"] == figures["events"]
            # O(1): the same calls and write units whatever the parent's length
            and figures["units"]["long"]["calls"] == figures["units"]["short"]["calls"]
            and figures["units"]["long"]["wru"] == figures["units"]["short"]["wru"] > 0
        ),
    ),
    "langgraph": ("LangGraph checkpointers", langgraph_figures_hold),
    "erasure": (
        "Erasure of a user",
        lambda figures: (
            figures["status"] == "completed"
            and figures["counts"]["sessions_erased"] == figures["sessions"]
            and figures["counts"]["events_deleted"] == figures["sessions"] * figures["events_per_session"]
            and 0 < figures["dynamodb_calls_per_removed_item"] < 1
            and "Scan" not in figures["dynamodb_calls"]
        ),
    ),
}


def test_every_section_is_checked() -> None:
    assert set(CHECKS) == set(SECTIONS)


@pytest.mark.parametrize(
    "section",
    [pytest.param(name, marks=[pytest.mark.e2e] if name in DEV_SERVER_SECTIONS else []) for name in SECTIONS],
)
def test_a_section_runs_as_the_readme_shows(section: str, tmp_path: Path) -> None:
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "BENCH_SMOKE")}
    report = tmp_path / "figures.json"
    run = subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-m", "bench", section, "--smoke", "--json", str(report)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    title, holds = CHECKS[section]
    assert title in run.stdout, run.stdout[-3000:]
    figures = json.loads(report.read_text(encoding="utf-8"))
    assert figures["smoke"] is True
    assert holds(figures[section]), figures[section]
