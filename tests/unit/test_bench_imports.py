"""Only the benchmarks' own tests (tests/bench/) import bench/: what other tests share lives in local/
(testing.py, seeding.py).

A test that imports a benchmark's helper breaks when the benchmark changes for reasons of its own, and
hides the helper from whoever looks for it where tests are.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH_TESTS = ROOT / "tests" / "bench"


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def test_no_test_but_the_benchmarks_own_imports_bench() -> None:
    test_files = [*(ROOT / "tests").rglob("*.py"), *(ROOT / "client" / "tests").rglob("*.py")]
    importing = sorted(
        str(path.relative_to(ROOT))
        for path in test_files
        if not path.is_relative_to(BENCH_TESTS)
        and any(module == "bench" or module.startswith("bench.") for module in imported_modules(path))
    )
    assert importing == []
    # the check sees imports: the benchmarks' tests are found importing it
    assert "bench" in imported_modules(BENCH_TESTS / "test_client.py")
