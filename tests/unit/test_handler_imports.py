"""Handlers stay thin: a function's app.py reaches the table only through the use cases.

The layers of layers/common/sessions are import-linter's contract (pyproject.toml, `make lint`); handlers
are not a package it can see, so this holds them above the store: http, usecases, domain and core only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = sorted((ROOT / "functions").glob("*/app.py"))
ALLOWED = ("sessions.http", "sessions.usecases", "sessions.domain", "sessions.core")


def sessions_imports(path: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.append(node.module)
    return [module for module in modules if module == "sessions" or module.startswith("sessions.")]


def test_every_function_has_a_handler() -> None:
    assert len(HANDLERS) >= 16


@pytest.mark.parametrize("handler", HANDLERS, ids=lambda path: path.parent.name)
def test_a_handler_imports_only_the_layers_above_the_store(handler: Path) -> None:
    imported = sessions_imports(handler)
    assert imported, "a handler with no use case is not a handler"
    assert [module for module in imported if not module.startswith(ALLOWED)] == []


def test_the_check_sees_a_store_import(tmp_path: Path) -> None:
    handler = tmp_path / "app.py"
    handler.write_text("from sessions.store import default_store\nimport sessions.usecases.events\n")
    assert sessions_imports(handler) == ["sessions.store", "sessions.usecases.events"]
