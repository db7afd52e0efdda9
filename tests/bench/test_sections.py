"""Every `python -m bench SECTION` docs/benchmarks.md lists runs as written: from the repository root, in a
clean environment (no PYTHONPATH), at its smallest size (`--smoke`), and prints its figures; and the page's
figures are what a run wrote (`--write-docs`), never a smoke run's, never hand-copied.

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

from bench import docs_page
from bench.__main__ import SECTIONS, parse_args
from tests.bench.test_client import figures_hold as client_figures_hold
from tests.bench.test_langgraph import figures_hold as langgraph_figures_hold

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS_PAGE = ROOT / "docs" / "benchmarks.md"
PAGE = BENCHMARKS_PAGE.read_text(encoding="utf-8")
TIMEOUT_SECONDS = 300  # a smoke run takes seconds; this only stops a hung one
DEV_SERVER_SECTIONS = {"growth", "load", "contention", "client", "compaction", "fork"}


def documented_sections() -> set[str]:
    """Every section a `python -m bench …` on the page names, the `[a|b|…]` list included."""
    named = set(re.findall(r"python -m bench ([a-z]+)", PAGE))
    for listed in re.findall(r"python -m bench \[([a-z|]+)\]", PAGE):
        named.update(listed.split("|"))
    return named


def test_the_page_lists_every_section_and_no_other() -> None:
    # `all` runs the sections one after another: running each one covers it
    assert documented_sections() == {*SECTIONS, "all"}


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
            # the same user made through the dev server's API, erased there by its worker
            and figures["dev_server"]["counts"]["sessions_erased"] == figures["sessions"]
            and figures["dev_server"]["counts"]["events_deleted"] == figures["sessions"] * figures["events_per_session"]
            and figures["dev_server"]["seconds"] > 0
        ),
    ),
    "load": (
        "the dev server under load",
        # the no-loss checks: every answer as written, no 5xx, every lifecycle event on the bus
        lambda figures: (
            all(
                run["failure_count"] == 0
                and run["status_5xx"] == 0
                and run["events_lost"] == 0
                and run["events_expected"] > 0
                and run["operations"]["append"]["count"] > 0
                and _finite_positive(run["requests_per_s"])
                for run in figures["runs"].values()
            )
            and bool(figures["runs"])
        ),
    ),
    "export": (
        "Export of a user",
        lambda figures: (
            figures["status"] == "completed"
            and figures["counts"]["sessions"] == figures["sessions"]
            and figures["counts"]["events"] == figures["sessions"] * figures["events_per_session"]
            and figures["counts"]["state_documents"] == 1
            and figures["s3_calls"]["GetObject"] == figures["sessions"]  # each session's large part, inline
            and 0 < figures["dynamodb_calls_per_exported_item"] < 1
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
def test_a_section_runs_as_the_page_shows(section: str, tmp_path: Path) -> None:
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


# --- the page's figures: written by runs (`--write-docs`), one block per section -----------------------------


def _block(page: str, section: str) -> str:
    begin, end = docs_page.begin_marker(section), docs_page.end_marker(section)
    return page.split(begin, 1)[1].split(end, 1)[0]


def test_the_page_has_one_block_per_section_and_no_other() -> None:
    docs_page.check_blocks(BENCHMARKS_PAGE, SECTIONS)  # raises MissingMarkers otherwise
    assert set(re.findall(r"<!-- bench:([a-z]+):begin -->", PAGE)) == set(SECTIONS)
    assert set(re.findall(r"<!-- bench:([a-z]+):end -->", PAGE)) == set(SECTIONS)


@pytest.mark.parametrize("section", SECTIONS)
def test_each_block_holds_what_a_real_run_printed_with_its_date(section: str) -> None:
    block = _block(PAGE, section).strip()
    header = re.match(rf"`python -m bench {section}( [^`]*)?`, (\d{{4}}-\d\d-\d\d) \d\d:\d\d UTC \(python ", block)
    assert header, f"{section}: its block was not written by `python -m bench {section} --write-docs`:\n{block[:300]}"
    assert "--smoke" not in (header.group(1) or ""), f"{section}: a smoke run's figures mean nothing"
    assert re.search(r"```text\n.+\n```$", block, re.DOTALL), block[-300:]
    title, _ = CHECKS[section]
    assert title in block, f"{section}: the block lacks the section's own table ({title!r})"


def test_rewrite_replaces_only_its_own_block() -> None:
    page = "intro\n<!-- bench:calls:begin -->\nold calls\n<!-- bench:calls:end -->\nmiddle\n"
    page += "<!-- bench:cost:begin -->\nold cost\n<!-- bench:cost:end -->\nend\n"
    rewritten = docs_page.rewrite(page, "calls", "new calls\nsecond line")
    assert rewritten == page.replace("old calls", "new calls\nsecond line")
    assert docs_page.rewrite(rewritten, "calls", "old calls") == page  # and again, in place


@pytest.mark.parametrize(
    "page",
    [
        "no markers at all\n",
        "<!-- bench:calls:begin -->\nonly the beginning\n",
        "<!-- bench:calls:begin -->\nfigures\n<!-- bench:calls:end -->\n" * 2,
    ],
)
def test_rewrite_refuses_a_page_without_exactly_one_block_for_the_section(page: str) -> None:
    with pytest.raises(docs_page.MissingMarkers, match="calls"):
        docs_page.rewrite(page, "calls", "figures")


def test_tables_of_leaves_out_the_handlers_json_lines() -> None:
    printed = (
        '\nbench title\n{"_aws": {"Timestamp": 1}, "ColdStart": [1.0]}\n{"level": "INFO", "message": "x"}\nrow  1  \n\n'
    )
    assert docs_page.tables_of(printed) == "bench title\nrow  1"


@pytest.mark.parametrize("page", [None, "docs/benchmarks.md", str(BENCHMARKS_PAGE)])
def test_a_smoke_run_never_writes_the_page(page: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit):
        parse_args(["calls", "--smoke", "--write-docs", *([page] if page else [])])


def _smoke_run_writing_docs(section: str, page: Path) -> subprocess.CompletedProcess[str]:
    """`python -m bench SECTION --smoke --write-docs PAGE`, as a user runs it from the repository root."""
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "BENCH_SMOKE")}
    return subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-m", "bench", section, "--smoke", "--write-docs", str(page)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


def test_write_docs_rewrites_the_block_of_the_section_that_ran_and_nothing_else(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text(PAGE, encoding="utf-8")
    run = _smoke_run_writing_docs("calls", page)
    assert run.returncode == 0, run.stderr[-3000:]
    written = page.read_text(encoding="utf-8")
    block = _block(written, "calls")
    assert block.startswith("\n`python -m bench calls --smoke`, "), block[:200]
    assert "DynamoDB (and S3) round trips per request" in block and "GetItem" in block
    assert '{"_aws"' not in block  # the handlers' metrics lines are not figures
    # every line outside the block is the page's as it was
    assert written.replace(block, "") == PAGE.replace(_block(PAGE, "calls"), "")


def test_write_docs_fails_before_running_when_the_page_lacks_the_block(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text(PAGE.replace(docs_page.begin_marker("cost"), ""), encoding="utf-8")
    run = _smoke_run_writing_docs("cost", page)
    assert run.returncode != 0
    assert "bench:cost:begin" in run.stderr and "Traceback" not in run.stderr
    assert "Per request" not in run.stdout  # it stopped before measuring anything
