"""How an optimistic write retries a lost race (usecases.access.write_until_it_wins, core.retrying)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sessions.core import retrying
from sessions.core.errors import SessionNotFound, VersionMismatch
from sessions.store import VersionChanged, WriteConflict
from sessions.usecases import access

SESSION = {"tenant_id": "t", "session_id": "s", "incarnation": "i1", "expires_at": "2999-01-01T00:00:00.000Z"}


class Reads:
    """The store's get_session, answering with the session at a given version and counting calls."""

    def __init__(self, version: int) -> None:
        self.version, self.calls = version, 0

    def get_session(self, tenant_id: str, session_id: str) -> dict[str, Any]:
        self.calls += 1
        return {**SESSION, "version": self.version}


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    store = Reads(version=9)
    monkeypatch.setattr(access, "store", lambda: store)
    monkeypatch.setattr(retrying, "back_off", lambda attempt: None)
    monkeypatch.setattr(access, "back_off", lambda attempt: None)
    return store


def test_the_first_lost_race_retries_at_once_on_the_item_handed_back(reads: Reads) -> None:
    seen: list[int] = []

    def write(current: dict[str, Any]) -> str:
        seen.append(current["version"])
        if len(seen) == 1:
            raise VersionChanged({**SESSION, "version": 2})
        return "written"

    assert access.write_until_it_wins({**SESSION, "version": 1}, write) == "written"
    assert seen == [1, 2] and reads.calls == 0


def test_later_losses_back_off_then_read_the_session_afresh(reads: Reads) -> None:
    seen: list[int] = []

    def write(current: dict[str, Any]) -> str:
        seen.append(current["version"])
        if len(seen) < 3:
            raise VersionChanged({**SESSION, "version": 5})  # an image that a sleep would make stale
        return "written"

    assert access.write_until_it_wins({**SESSION, "version": 1}, write) == "written"
    assert seen == [1, 5, 9] and reads.calls == 1


def test_a_transaction_conflict_carries_no_image_so_the_session_is_read(reads: Reads) -> None:
    seen: list[int] = []

    def write(current: dict[str, Any]) -> str:
        seen.append(current["version"])
        if len(seen) == 1:
            raise WriteConflict("busy")
        return "written"

    assert access.write_until_it_wins({**SESSION, "version": 1}, write) == "written"
    assert seen == [1, 9] and reads.calls == 1


def test_a_session_gone_meanwhile_is_not_found(reads: Reads) -> None:
    def write(current: dict[str, Any]) -> str:
        raise VersionChanged(None)

    with pytest.raises(SessionNotFound):
        access.write_until_it_wins({**SESSION, "version": 1}, write)


def test_retries_stop_at_the_time_budget_with_version_mismatch(reads: Reads) -> None:
    def write(current: dict[str, Any]) -> str:
        raise VersionChanged({**SESSION, "version": current["version"] + 1})

    started = time.monotonic()
    with retrying.time_budget(remaining_ms=1700), pytest.raises(VersionMismatch):  # 0.2 s after the margin
        access.write_until_it_wins({**SESSION, "version": 1}, write)
    assert 0.15 < time.monotonic() - started < 1.0


def test_the_budget_follows_the_lambda_invocation_and_ends_with_it() -> None:
    with retrying.time_budget(remaining_ms=10_000):
        inside = retrying._deadline.get()
    assert inside is not None and 8 < inside - time.monotonic() <= 8.5
    assert retrying._deadline.get() is None
