"""Domain errors. Each means one thing to a client; http/problems.py maps them to problem+json once."""

from __future__ import annotations

from typing import Any


class SessionError(Exception):
    """Base of every error a client can cause through the domain rules."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class MalformedRequest(SessionError):
    """The body is not JSON (or not UTF-8)."""


class PayloadTooLarge(SessionError):
    """The body or one of its fields is over its size limit."""


class InvalidCursor(SessionError):
    """The cursor was not issued by us, or was issued for another caller or query."""


class Unauthenticated(SessionError):
    """No caller identity on the request."""


class Forbidden(SessionError):
    """The caller lacks the role an option needs."""


class SessionNotFound(SessionError):
    """Missing, expired, deleted, or not the caller's to see."""


class EventNotFound(SessionError):
    """No event with this seq in the session's history (never given, or removed)."""


class RewindTooLarge(SessionError):
    """A rewind would remove more events than one transaction can hold."""


class ForkLineageTooLong(SessionError):
    """A fork would read from more sessions than one fork may (lineage.SOURCES_MAX)."""


class SessionIdTaken(SessionError):
    """Another user of the tenant already holds this session id."""


class InvalidTransition(SessionError):
    """The status machine does not allow this change."""


class SessionClosed(SessionError):
    """The session is completed; only title, metadata and ttl_seconds may change."""


class VersionMismatch(SessionError):
    """If-Match names a version that is not the current one, or the session kept changing under a write."""

    def __init__(self, current_version: int, detail: str | None = None) -> None:
        super().__init__(
            detail or f"If-Match does not match the current version {current_version}",
            current_version=current_version,
        )


class SessionLimitReached(SessionError):
    """The caller already holds the maximum number of open sessions."""


class InvalidField(SessionError):
    """Well-formed JSON whose value breaks a rule that only shows once merged or looked up."""

    def __init__(self, loc: tuple[str | int, ...], msg: str) -> None:
        super().__init__(msg, errors=[{"loc": list(loc), "msg": msg}])


class TokenBudgetExceeded(SessionError):
    """The append would take tokens_used past the session's token_budget."""


class HistoryFull(SessionError):
    """The session's history holds the configured maximum of events."""


class SessionHasNoApp(SessionError):
    """A state_patch on an append to a session without app_name: there is no app state to patch."""


class IdempotencyKeyReused(SessionError):
    """The Idempotency-Key was used with another body within the hour."""


class IdempotencyKeyInProgress(SessionError):
    """A request with this Idempotency-Key is still being processed."""


class UserErasureInProgress(SessionError):
    """The user is being erased: nothing new of theirs (a session, a state document) is created until it ends."""


class ErasureNotFound(SessionError):
    """No erasure with this id in the caller's tenant, or not the caller's to see."""


class ExportNotFound(SessionError):
    """No export with this id in the caller's tenant, or not the caller's to see."""


class TtlAboveTenantMax(SessionError):
    """ttl_seconds is above the tenant's max_session_ttl_seconds (GET /v1/tenant/settings)."""
