"""problem+json: the one place errors become HTTP answers (RFC 9457, with the contract's `code`)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from sessions.core import errors

logger = Logger(child=True)

PROBLEM_JSON = "application/problem+json"
UNKNOWN_QUERY_MSG = "unknown query parameter"

# error class -> (status, code, title); the one place domain errors become HTTP
PROBLEMS: dict[type[errors.SessionError], tuple[int, str, str]] = {
    errors.MalformedRequest: (400, "malformed_request", "Malformed request"),
    errors.InvalidCursor: (400, "invalid_cursor", "Invalid cursor"),
    errors.Unauthenticated: (401, "unauthenticated", "Unauthenticated"),
    errors.Forbidden: (403, "forbidden", "Forbidden"),
    errors.SessionNotFound: (404, "session_not_found", "Session not found"),
    errors.EventNotFound: (404, "event_not_found", "Event not found"),
    errors.ErasureNotFound: (404, "erasure_not_found", "Erasure not found"),
    errors.ExportNotFound: (404, "export_not_found", "Export not found"),
    errors.SessionIdTaken: (409, "session_id_taken", "Session id taken"),
    errors.InvalidTransition: (409, "invalid_transition", "Invalid status transition"),
    errors.SessionClosed: (409, "session_closed", "Session closed"),
    errors.TokenBudgetExceeded: (409, "token_budget_exceeded", "Token budget exceeded"),
    errors.HistoryFull: (409, "history_full", "History full"),
    errors.SessionHasNoApp: (409, "session_has_no_app", "Session has no app"),
    errors.IdempotencyKeyReused: (409, "idempotency_key_reused", "Idempotency key reused"),
    errors.IdempotencyKeyInProgress: (409, "idempotency_key_in_progress", "Idempotency key in progress"),
    errors.RewindTooLarge: (409, "rewind_too_large", "Rewind too large"),
    errors.ForkLineageTooLong: (409, "fork_lineage_too_long", "Fork lineage too long"),
    errors.UserErasureInProgress: (409, "user_erasure_in_progress", "User erasure in progress"),
    errors.VersionMismatch: (412, "version_mismatch", "Version mismatch"),
    errors.PayloadTooLarge: (413, "payload_too_large", "Payload too large"),
    errors.InvalidField: (422, "validation_error", "Validation error"),
    errors.TtlAboveTenantMax: (422, "ttl_above_tenant_max", "TTL above the tenant's maximum"),
    errors.SessionLimitReached: (429, "session_limit_reached", "Session limit reached"),
}


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> Response[str]:
    body = {"type": f"urn:sessions:problem:{code}", "title": title, "status": status, "detail": detail, "code": code}
    body.update({key: value for key, value in extra.items() if value is not None})
    return Response(status_code=status, content_type=PROBLEM_JSON, body=json.dumps(body))


def domain_problem(exc: errors.SessionError) -> Response[str]:
    status, code, title = next(PROBLEMS[cls] for cls in type(exc).__mro__ if cls in PROBLEMS)
    return problem(status, code, title, exc.detail, **exc.extra)


# Tags of a body that takes one of several shapes (models.AppendEventBody): pydantic puts the tag
# in the location, right after "body"; a client only knows the fields it sent.
_BODY_SHAPE_TAGS = frozenset({"event", "batch"})


def _location(loc: tuple[Any, ...]) -> list[Any]:
    if len(loc) > 1 and loc[0] == "body":
        loc = loc[2:] if loc[1] in _BODY_SHAPE_TAGS else loc[1:]
    return list(loc) or ["body"]


def validation_problem(
    exc: RequestValidationError, unknown: list[str] | None = None, declared: list[str] | None = None
) -> Response[str]:
    issues = [
        {"loc": _location(tuple(error.get("loc", ()))), "msg": error.get("msg", "invalid")} for error in exc.errors()
    ]
    if any(error.get("type") == "payload_too_large" for error in exc.errors()):
        return problem(413, "payload_too_large", "Payload too large", "a field is over its size limit", errors=issues)
    detail = "the request does not match the schema"
    if unknown:
        detail = f"{detail}; {unknown_query_detail(unknown, declared)}"
        issues += [{"loc": ["query", name], "msg": UNKNOWN_QUERY_MSG} for name in unknown]
    return problem(422, "validation_error", "Validation error", detail, errors=issues)


def unknown_query_detail(unknown: list[str], declared: list[str] | None = None) -> str:
    listed = ", ".join(repr(name) for name in unknown)
    text = f"unknown query parameter{'s' if len(unknown) > 1 else ''} {listed}"
    if declared is not None:
        text += f" (this route takes {', '.join(declared)})" if declared else " (this route takes none)"
    return text


def route_not_found(_: NotFoundError) -> Response[str]:
    return problem(404, "route_not_found", "Not found", "no such route")


# AWS errors a retry can fix: throttling and a service briefly unavailable, once botocore's own retries
# ran out. They answer 503 with Retry-After (what clients retry); anything else is a 500, which they do not.
TRANSIENT_AWS_ERRORS = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "SlowDown",
    }
)
RETRY_AFTER_SECONDS = "1"


def unexpected(exc: Exception) -> Response[str]:
    aws_code = ((getattr(exc, "response", None) or {}).get("Error") or {}).get("Code")
    if aws_code in TRANSIENT_AWS_ERRORS:
        logger.warning("AWS is throttling or briefly unavailable", extra={"aws_error": aws_code})
        response = problem(503, "service_unavailable", "Service unavailable", "the service is busy; retry shortly")
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return response
    logger.exception("unexpected failure")  # the correlation id is on every log line
    return problem(500, "internal_error", "Internal error", "the request failed")
