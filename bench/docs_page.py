"""docs/benchmarks.md's figures, written from a run's own printed tables (`python -m bench --write-docs`).

The page holds, per section, a block between two markers:

    <!-- bench:calls:begin -->
    …written by the run: the command, when and where it ran, the section's printed tables…
    <!-- bench:calls:end -->

A run rewrites the blocks of the sections it ran and leaves every other line of the page as it is,
so the figures on the page are always those a run printed, each with its date, and cannot drift
from the code the way hand-copied tables did.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

DOCS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


class MissingMarkers(ValueError):
    """The page has no block for a section: add its two markers where its figures belong."""


def begin_marker(section: str) -> str:
    return f"<!-- bench:{section}:begin -->"


def end_marker(section: str) -> str:
    return f"<!-- bench:{section}:end -->"


@dataclass(frozen=True)
class SectionRun:
    """One section as it ran: how it was called, when, on what, and what it printed."""

    section: str
    command: str
    started: str  # UTC, minutes
    machine: str
    seconds: float
    printed: str


def machine_description() -> str:
    """What a reader needs to weigh timings: the interpreter, the CPU count and how busy the machine was."""
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"python {sys.version.split()[0]}, {platform.machine()}, {os.cpu_count()} cores{load}"


def utc_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


class _Tee(io.TextIOBase):
    """Writes go to the terminal as before and are kept for the page."""

    def __init__(self, terminal: TextIO) -> None:
        self.terminal = terminal
        self.kept = io.StringIO()

    def write(self, text: str) -> int:
        self.kept.write(text)
        return self.terminal.write(text)

    def flush(self) -> None:
        self.terminal.flush()


@contextmanager
def captured_stdout() -> Iterator[io.StringIO]:
    """What the block prints, still shown as it runs; the StringIO holds it once the block ends."""
    tee = _Tee(sys.stdout)
    sys.stdout = tee
    try:
        yield tee.kept
    finally:
        sys.stdout = tee.terminal


def _is_json_object(line: str) -> bool:
    if not line.startswith("{"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def tables_of(printed: str) -> str:
    """The section's own lines: what the handlers print (their log and metrics lines, JSON objects) left out."""
    lines = [line.rstrip() for line in printed.splitlines() if not _is_json_object(line.strip())]
    return "\n".join(lines).strip("\n")


def block(run: SectionRun) -> str:
    """The lines between a section's markers."""
    return (
        f"`{run.command}`, {run.started} ({run.machine}; {run.seconds:.0f} s).\n"
        "Written by the run (`--write-docs`): edits here are overwritten by the next one.\n\n"
        f"```text\n{tables_of(run.printed)}\n```"
    )


def rewrite(page: str, section: str, lines: str) -> str:
    """The page with the section's block replaced by `lines`; every other line as it was."""
    begin, end = begin_marker(section), end_marker(section)
    pattern = re.compile(rf"{re.escape(begin)}.*?{re.escape(end)}", re.DOTALL)
    if len(pattern.findall(page)) != 1 or page.count(begin) != 1 or page.count(end) != 1:
        raise MissingMarkers(f"{section}: the page needs exactly one {begin} … {end} block")
    return pattern.sub(lambda _: f"{begin}\n{lines}\n{end}", page)


def check_blocks(path: Path, sections: list[str] | tuple[str, ...]) -> None:
    """Fail before a long run, not after it, when the page has no block for a section it would write."""
    page = path.read_text(encoding="utf-8")
    for section in sections:
        rewrite(page, section, "")


def write_runs(path: Path, runs: list[SectionRun]) -> None:
    """Rewrite the blocks of the sections that ran; the page is written only once all of them fit."""
    page = path.read_text(encoding="utf-8")
    for run in runs:
        page = rewrite(page, run.section, block(run))
    path.write_text(page, encoding="utf-8")
