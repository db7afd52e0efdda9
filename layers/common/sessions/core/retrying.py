"""How long an optimistic write may keep retrying a lost race, and how it waits between tries.

A time, not a count: how many races a write loses depends on how many writers share its session
(40 at once cost the last one 10-15 losses on the dev server). A write retries until shortly before
its function would time out (the handler sets the budget from the Lambda context), so contention
ends as a clear `412 version_mismatch`, never as a timed-out 500.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

DEFAULT_BUDGET_SECONDS = 5.0  # outside a Lambda invocation (tests, scripts)
MARGIN_SECONDS = 1.5  # left for the response (and the last attempt) before the function's timeout

_deadline: ContextVar[float | None] = ContextVar("write_deadline", default=None)


@contextmanager
def time_budget(remaining_ms: int) -> Iterator[None]:
    """Retries within this block stop MARGIN_SECONDS before `remaining_ms` runs out."""
    token = _deadline.set(time.monotonic() + remaining_ms / 1000 - MARGIN_SECONDS)
    try:
        yield
    finally:
        _deadline.reset(token)


def write_attempts() -> Iterator[int]:
    """Attempt numbers 0, 1, 2 … until the budget is spent (the first attempt always runs)."""
    deadline = _deadline.get() or time.monotonic() + DEFAULT_BUDGET_SECONDS
    attempt = 0
    while attempt == 0 or time.monotonic() < deadline:
        yield attempt
        attempt += 1


def back_off(attempt: int) -> None:
    # full jitter over a doubling window keeps racing writers from colliding again in lockstep; it
    # grows to half a second so that dozens of writers on one session spread out (measured with
    # `python -m bench contention`: 40 at once take ~6 attempts each, at most ~11-16)
    time.sleep(random.uniform(0, min(0.5, 0.005 * 2**attempt)))  # noqa: S311 - not for secrets
