"""One exception per problem `code` the service answers, all under `SessionsError`.

Intermediate classes group them by HTTP status (`NotFound`, `Conflict`, `ServerError`, ...), so
`except NotFound` catches a missing session and a missing event alike.
"""

from __future__ import annotations

from typing import Any


class SessionsError(Exception):
    """A request the service refused or could not answer.

    `status` is the HTTP status (None when no answer came at all), `code` the problem's stable slug
    (`""` when the answer had none, e.g. API Gateway's own), `detail` its human text, `body` the
    parsed JSON body (or the text, or None).
    """

    default_code = ""

    def __init__(
        self,
        detail: str = "",
        *,
        status: int | None = None,
        code: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code if code is not None else self.default_code
        self.detail = detail
        self.body = body
        self.headers = headers or {}
        super().__init__(self._message())

    def _message(self) -> str:
        parts = [str(self.status) if self.status is not None else "no response"]
        if self.code:
            parts.append(self.code)
        text = " ".join(parts)
        return f"{text}: {self.detail}" if self.detail else text


class TransportError(SessionsError):
    """No answer: connection refused or reset, or a timeout (after the client's retries)."""

    default_code = "transport_error"


class BadRequest(SessionsError):
    default_code = "malformed_request"


class MalformedRequest(BadRequest):
    default_code = "malformed_request"


class InvalidCursor(BadRequest):
    default_code = "invalid_cursor"


class Unauthenticated(SessionsError):
    default_code = "unauthenticated"


class Forbidden(SessionsError):
    default_code = "forbidden"


class NotFound(SessionsError):
    default_code = "not_found"


class SessionNotFound(NotFound):
    default_code = "session_not_found"


class EventNotFound(NotFound):
    default_code = "event_not_found"


class ErasureNotFound(NotFound):
    """No erasure with that id in the tenant, or not one the caller may see."""

    default_code = "erasure_not_found"


class ExportNotFound(NotFound):
    """No export with that id in the tenant, or not one the caller may see."""

    default_code = "export_not_found"


class RouteNotFound(NotFound):
    """The server has no such route (an older server without this endpoint)."""

    default_code = "route_not_found"


class Conflict(SessionsError):
    default_code = "conflict"


class SessionIdTaken(Conflict):
    default_code = "session_id_taken"


class InvalidTransition(Conflict):
    default_code = "invalid_transition"


class SessionClosed(Conflict):
    default_code = "session_closed"


class TokenBudgetExceeded(Conflict):
    default_code = "token_budget_exceeded"


class HistoryFull(Conflict):
    default_code = "history_full"


class IdempotencyKeyReused(Conflict):
    default_code = "idempotency_key_reused"


class RewindTooLarge(Conflict):
    """409: a rewind would remove more events than one call may (the detail says how many)."""

    default_code = "rewind_too_large"


class ForkLineageTooLong(Conflict):
    """409: a fork would read from more sessions (its ancestors) than one fork may; fork an earlier point."""

    default_code = "fork_lineage_too_long"


class SessionHasNoApp(Conflict):
    """409: a `state_patch` or `state_set` on a session without `app_name` (an append, or a create without one)."""

    default_code = "session_has_no_app"


class VersionMismatch(SessionsError):
    """`If-Match` named another version; `current_version` is the one the server holds."""

    default_code = "version_mismatch"

    @property
    def current_version(self) -> int | None:
        value = self.body.get("current_version") if isinstance(self.body, dict) else None
        return value if isinstance(value, int) else None


class PayloadTooLarge(SessionsError):
    default_code = "payload_too_large"


class UnsupportedMediaType(SessionsError):
    default_code = "unsupported_media_type"


class ValidationError(SessionsError):
    """422: `errors` lists `{"loc": [...], "msg": ...}` per field."""

    default_code = "validation_error"

    @property
    def errors(self) -> list[dict[str, Any]]:
        value = self.body.get("errors") if isinstance(self.body, dict) else None
        return list(value) if isinstance(value, list) else []


class TooManyRequests(SessionsError):
    """429 without a more precise code: throttling (retried by the client)."""

    default_code = "too_many_requests"


class SessionLimitReached(TooManyRequests):
    """429: the user holds the maximum of open sessions (not retried: waiting does not help)."""

    default_code = "session_limit_reached"


class ServerError(SessionsError):
    default_code = "server_error"


class InternalError(ServerError):
    default_code = "internal_error"


class UserErasureInProgress(Conflict):
    """409: the user's data is being erased: creates, forks and state writes for that user wait until it is done."""

    default_code = "user_erasure_in_progress"


class TtlAboveTenantMax(ValidationError):
    """422: `ttl_seconds` is above the tenant's `max_session_ttl_seconds` (in the body, and `get_tenant_settings`)."""

    default_code = "ttl_above_tenant_max"

    @property
    def max_session_ttl_seconds(self) -> int | None:
        value = self.body.get("max_session_ttl_seconds") if isinstance(self.body, dict) else None
        return value if isinstance(value, int) else None


BY_CODE: dict[str, type[SessionsError]] = {
    cls.default_code: cls
    for cls in (
        MalformedRequest,
        InvalidCursor,
        Unauthenticated,
        Forbidden,
        SessionNotFound,
        EventNotFound,
        ErasureNotFound,
        ExportNotFound,
        RouteNotFound,
        SessionIdTaken,
        InvalidTransition,
        SessionClosed,
        TokenBudgetExceeded,
        HistoryFull,
        IdempotencyKeyReused,
        RewindTooLarge,
        ForkLineageTooLong,
        SessionHasNoApp,
        UserErasureInProgress,
        VersionMismatch,
        PayloadTooLarge,
        UnsupportedMediaType,
        ValidationError,
        TtlAboveTenantMax,
        SessionLimitReached,
        InternalError,
    )
}
BY_STATUS: dict[int, type[SessionsError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: VersionMismatch,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationError,
    429: TooManyRequests,
}


def error_for(status: int, body: Any, headers: dict[str, str] | None = None) -> SessionsError:
    """The exception for an error answer: by problem `code`, else by status."""
    code = body.get("code") if isinstance(body, dict) else None
    detail = ""
    if isinstance(body, dict):
        detail = str(body.get("detail") or body.get("message") or body.get("title") or "")
    elif isinstance(body, str):
        detail = body[:500]
    cls = BY_CODE.get(code) if isinstance(code, str) else None
    if cls is None:
        cls = BY_STATUS.get(status) or (ServerError if status >= 500 else SessionsError)
    return cls(detail, status=status, code=code if isinstance(code, str) else None, body=body, headers=headers)


__all__ = [
    "BY_CODE",
    "BadRequest",
    "Conflict",
    "ErasureNotFound",
    "EventNotFound",
    "ExportNotFound",
    "Forbidden",
    "ForkLineageTooLong",
    "HistoryFull",
    "IdempotencyKeyReused",
    "InternalError",
    "InvalidCursor",
    "InvalidTransition",
    "MalformedRequest",
    "NotFound",
    "PayloadTooLarge",
    "RewindTooLarge",
    "RouteNotFound",
    "ServerError",
    "SessionClosed",
    "SessionHasNoApp",
    "SessionIdTaken",
    "SessionLimitReached",
    "SessionNotFound",
    "SessionsError",
    "TokenBudgetExceeded",
    "TooManyRequests",
    "TransportError",
    "Unauthenticated",
    "UnsupportedMediaType",
    "UserErasureInProgress",
    "ValidationError",
    "VersionMismatch",
    "error_for",
]
