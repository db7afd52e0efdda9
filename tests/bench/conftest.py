"""Fixtures of the benchmarks' tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def restored_env() -> Iterator[None]:
    """The process's environment as it was: the benchmarks point boto3 at their emulators through it."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
