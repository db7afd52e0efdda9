"""Test order for `make test`'s two xdist workers: the longest test files first.

A pytest plugin (tests/conftest.py and client/tests/conftest.py load it). `make test` hands tests
to the workers one at a time (`--dist load --maxschedchunk 1`), so whichever worker is free takes
the next; with the files whose tests run longest (a fuzzing run, dev servers started and stopped,
thousands of items written) at the front, no worker is left finishing a long test alone at the end.
(tests/e2e/test_events_e2e.py, with its 61-second wait for a TTL, is left out: its first test times
the first event of a dev server that other tests have used, and as collected it is among the first
of the rest, so it starts about two thirds of the way through, not at the end.)
The order changes nothing else: every test sets up what it needs. A file's tests stay in order
but may run on both workers, so a module-scoped fixture may be set up once on each.
Files missing from the list keep their collection order, after the listed ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# longest first: files by their longest test (a long test started last leaves the other worker idle),
# from `pytest --durations=0` of `make test` on 2026-12-06 (after the emulator's item serialization,
# update-expression parses and walks were made cheaper); a name that no longer exists is ignored
LONGEST_FIRST = (
    "tests/fuzz/test_fuzz.py",
    "client/tests/adapters/test_langgraph_conformance.py",
    "tests/bench/test_sections.py",
    # 10,000 events (most seeded, local/seeding.py) exported and read back: about 20 s each (measured alone,
    # 2026-12-06, load average 3 to 5; about 35 s when they were appended through the API)
    "tests/e2e/test_export_e2e.py",
    "tests/integration/test_export.py",
    "client/tests/adapters/test_langgraph.py",
    "client/tests/adapters/test_readme_examples.py",
    "tests/integration/test_cleanup.py",
    "tests/integration/test_fork_copies.py",
    "tests/e2e/test_poison_isolation.py",
    "tests/e2e/test_server_process.py",
    "client/tests/adapters/test_langgraph_bounded_reads.py",
    "tests/e2e/test_concurrency.py",
    "client/tests/adapters/test_strands.py",
    "client/tests/adapters/test_langgraph_removal.py",
    "tests/integration/test_fork_races.py",
    "tests/e2e/test_forks_e2e.py",
    "client/tests/adapters/test_openai_compaction_hooks.py",
    "tests/integration/test_forks.py",
    "client/tests/adapters/test_adk_contract.py",
    "client/tests/adapters/test_openai_compaction.py",
)


def _rank(item: pytest.Item) -> int:
    try:
        path = item.path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return len(LONGEST_FIRST)
    return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)


@pytest.hookimpl(trylast=True)  # after other plugins' reordering or deselection
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items[:] = sorted(items, key=_rank)  # stable: collection order within a file and among the rest
