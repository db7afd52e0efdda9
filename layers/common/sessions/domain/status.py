"""The status machine of a session and what a status means for the per-user open-session cap."""

from __future__ import annotations

from enum import StrEnum

from sessions.core.errors import InvalidTransition


class Status(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    CRASHED = "crashed"


OPEN_STATUSES = frozenset({Status.ACTIVE, Status.PAUSED})

ALLOWED_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.ACTIVE: frozenset({Status.PAUSED, Status.COMPLETED, Status.CRASHED}),
    Status.PAUSED: frozenset({Status.ACTIVE, Status.COMPLETED, Status.CRASHED}),
    # crashed -> active is the recovery from the checkpoint
    Status.CRASHED: frozenset({Status.ACTIVE, Status.COMPLETED}),
    Status.COMPLETED: frozenset(),
}


def check_transition(current: Status, new: Status) -> None:
    if new not in ALLOWED_TRANSITIONS[current]:
        raise InvalidTransition(f"status cannot change from {current} to {new}")


def is_open(status: Status | str) -> bool:
    return status in OPEN_STATUSES
