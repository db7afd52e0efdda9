"""The HTTP side shared by every endpoint: the resolver factory, identity, problem+json errors.

Every function builds its resolver with create_app() and exports lambda_entry(app), so all
endpoints parse, authenticate, log and fail the same way, and all read their settings at INIT.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import parse_qsl

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths

from sessions import errors
from sessions.idempotency import KEY_PATTERN
from sessions.limits import BODY_MAX_BYTES, INTEGER_DIGITS_MAX
from sessions.models import ID_PATTERN
from sessions.retrying import time_budget
from sessions.service import Identity, acting_for, public_view
from sessions.settings import ResourceName, get_settings

logger = Logger()
metrics = Metrics()  # EMF; the cold-start metric, dimensioned by function

PROBLEM_JSON = "application/problem+json"
MERGE_PATCH_JSON = "application/merge-patch+json"
JSON_MEDIA_TYPES = frozenset({"", "application/json", MERGE_PATCH_JSON})

# error class -> (status, code, title); the one place domain errors become HTTP
PROBLEMS: dict[type[errors.SessionError], tuple[int, str, str]] = {
    errors.MalformedRequest: (400, "malformed_request", "Malformed request"),
    errors.InvalidCursor: (400, "invalid_cursor", "Invalid cursor"),
    errors.Unauthenticated: (401, "unauthenticated", "Unauthenticated"),
    errors.Forbidden: (403, "forbidden", "Forbidden"),
    errors.SessionNotFound: (404, "session_not_found", "Session not found"),
    errors.EventNotFound: (404, "event_not_found", "Event not found"),
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
    errors.VersionMismatch: (412, "version_mismatch", "Version mismatch"),
    errors.PayloadTooLarge: (413, "payload_too_large", "Payload too large"),
    errors.InvalidField: (422, "validation_error", "Validation error"),
    errors.SessionLimitReached: (429, "session_limit_reached", "Session limit reached"),
}


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": f"urn:sessions:problem:{code}", "title": title, "status": status, "detail": detail, "code": code}
    body.update({key: value for key, value in extra.items() if value is not None})
    return Response(status_code=status, content_type=PROBLEM_JSON, body=json.dumps(body))


# --- request body ------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise errors.MalformedRequest(f"{name} is not a JSON number")


# Stands for a non-zero number too small for a float (1e-400): the storable-number check refuses it
# as smaller than 1E-130, where taking it as 0 would store what the client did not send.
_BELOW_FLOAT_RANGE = 5e-324


def _json_number(text: str) -> int | float:
    """A JSON number with a fraction or an exponent: an integer when it is one (`2.0`, `1e20`), exactly.

    JSON has one number type; an integral number is stored and answered as an integer, so the
    answer to a write shows it as every later read does. Its digits are taken as sent (exact up to
    the 38 the contract allows, where a float would round `12345678901234567890.0`); beyond them the
    float stands, and the storable-number check refuses it as too large, as it refuses a number below
    1E-130 in magnitude.
    """
    number = float(text)
    mantissa = text.partition("e")[0].partition("E")[0]
    if mantissa.strip("-0.") == "":
        return 0  # any zero, -0.0 and 0e999999999999999999999 alike
    if number == 0:
        return math.copysign(_BELOW_FLOAT_RANGE, number)
    try:
        exact = Decimal(text)
    except ArithmeticError:  # an exponent past what Decimal holds: the float (inf) is refused
        return number
    if exact.adjusted() < INTEGER_DIGITS_MAX and exact == exact.to_integral_value():
        return int(exact)
    return number


_LONE_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]", re.ASCII)


def parse_json_body(text: str) -> Any:
    """Strict JSON: no NaN/Infinity, no lone surrogates (they cannot be stored as UTF-8)."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_json_number)
    except (ValueError, RecursionError) as exc:
        raise errors.MalformedRequest("the body is not valid JSON") from exc
    if _LONE_SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise errors.MalformedRequest("the body holds an unpaired UTF-16 surrogate") from None
    if not isinstance(value, dict):
        # every body is an object; Powertools would otherwise validate a list's first element as the body
        raise errors.InvalidField(("body",), "the body must be a JSON object")
    return value


def _prepare_body(event: dict[str, Any], max_bytes: int = BODY_MAX_BYTES) -> Response | None:
    """Check size and encoding before routing; the resolver then only sees a UTF-8 JSON body."""
    body = event.get("body")
    if not body and event.get("requestContext", {}).get("http", {}).get("method") in ("POST", "PATCH", "PUT"):
        event["body"] = "{}"  # every field of a create is optional: no body means all defaults
    if body and event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except binascii.Error:
            return problem(400, "malformed_request", "Malformed request", "the body is not valid base64")
    else:
        raw = (body or "").encode("utf-8", errors="surrogatepass")
    if len(raw) > max_bytes:
        return problem(413, "payload_too_large", "Payload too large", f"the body is over {max_bytes} bytes")
    if event.get("isBase64Encoded") and body:
        try:
            event["body"] = raw.decode("utf-8")
        except UnicodeDecodeError:
            return problem(400, "malformed_request", "Malformed request", "the body is not UTF-8")
        event["isBase64Encoded"] = False
    headers = event.get("headers") or {}
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if body and media_type not in JSON_MEDIA_TYPES:
        # bodies are JSON; no content type at all is taken as JSON (clients often leave it out)
        return problem(415, "unsupported_media_type", "Unsupported media type", "the body must be application/json")
    if media_type == MERGE_PATCH_JSON:
        # a merge patch is JSON to the validator; the endpoint knows it is a patch
        headers["content-type"] = "application/json"
    return None


# --- identity ----------------------------------------------------------------------------------


def _claims(event: dict[str, Any]) -> dict[str, Any]:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    return (authorizer.get("jwt") or {}).get("claims") or {}


def _roles(raw: Any) -> frozenset[str]:
    # API Gateway flattens array claims to "[a b]"; a plain list or comma list is taken as is
    if isinstance(raw, list):
        return frozenset(str(role) for role in raw)
    return frozenset(part for part in re.split(r"[\s,]+", str(raw or "").strip("[]")) if part)


def identity_of(event: dict[str, Any]) -> Identity:
    """The caller, from the claims API Gateway's JWT authorizer put in the request context.

    A token without the tenant claim belongs to DEFAULT_TENANT when the stack names one (a
    single-tenant deployment says so explicitly); otherwise it is refused.
    """
    settings = get_settings()
    claims = _claims(event)
    user_id = str(claims.get("sub") or "").strip()
    if not user_id:
        raise errors.Unauthenticated("no caller identity")
    # Cognito access tokens carry no custom claims: a missing claim must not merge every tenant into one
    tenant_id = str(claims.get(settings.tenant_claim) or "").strip() or settings.default_tenant
    if not tenant_id:
        raise errors.Unauthenticated(f"the token carries no {settings.tenant_claim!r} claim naming the tenant")
    return Identity(tenant_id=tenant_id, user_id=user_id, roles=_roles(claims.get(settings.roles_claim)))


USER_ID_PARAMETER = "user_id"
# What every session and event endpoint declares (`user_id: ActingFor = None`), so the OpenAPI
# document states it; caller(app) reads it from the request, whatever the handler does with it.
ActingFor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=256,
        description="Role service: act for this user of the caller's tenant. Admins may name another user to read "
        "(not to change). Anyone else may name only themselves (another user: 403 forbidden).",
    ),
]
READ_METHODS = frozenset({"GET", "HEAD"})
# the Idempotency-Key header of the POSTs that write (create, append)
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="idempotency-key",
        pattern=KEY_PATTERN,
        description="Retries within an hour replay the first response; 1-255 visible ASCII characters",
    ),
]
# the path parameters of the state documents' routes (GET and PATCH functions alike)
AppNamePath = Annotated[str, Path(pattern=ID_PATTERN, description="The app, as sessions name it (app_name)")]
UserIdPath = Annotated[str, Path(min_length=1, max_length=256, description="The user whose state it is")]


def caller(app: APIGatewayHttpResolver, user_id: str | None = None) -> Identity:
    """The identity a request acts as: the token's caller, acting for the user the request names.

    The user is named by the `user_id` query parameter (create: the body's `user_id`, passed in).
    A `service` caller acts for any user of its tenant; an admin may name another user to read
    (GET), never to write; anyone else may name only themselves (sessions.service.acting_for).
    Every handler declares the query parameter so the OpenAPI document states it; this reads it.
    """
    event = app.current_event
    named = event.get_query_string_value(USER_ID_PARAMETER)
    if user_id is not None:
        if named is not None and named != user_id:
            raise errors.InvalidField(("query", USER_ID_PARAMETER), "user_id differs from the body's user_id")
        named = user_id
    identity = acting_for(identity_of(event.raw_event), named, reading=event.http_method.upper() in READ_METHODS)
    logger.append_keys(principal=identity.principal, user_id=identity.user_id)
    return identity


def token_caller(app: APIGatewayHttpResolver) -> Identity:
    """The token's caller as it is, for routes that name their user in the path (state documents)."""
    identity = identity_of(app.current_event.raw_event)
    logger.append_keys(principal=identity.principal, user_id=identity.user_id)
    return identity


def repeated_query(app: APIGatewayHttpResolver, name: str) -> list[str]:
    """Every value of a repeated query parameter as sent: API Gateway joins them with commas, values may hold one."""
    raw = app.current_event.raw_event.get("rawQueryString")
    if raw is None:  # a direct invoke without the raw query string: its (comma-joined) values
        joined = (app.current_event.raw_event.get("queryStringParameters") or {}).get(name)
        return [] if joined is None else [joined]
    return [value for key, value in parse_qsl(raw, keep_blank_values=True) if key == name]


# --- responses ---------------------------------------------------------------------------------


def json_response(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    # compact and UTF-8 unescaped: what large_events sizes a response by (Lambda's 6 MB counts these bytes)
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(status_code=status_code, content_type="application/json", body=text, headers=headers)


def session_response(record: dict[str, Any], status_code: int = 200, *, location: bool = False) -> Response:
    headers = {"ETag": f'"{record["version"]}"'}
    if location:
        headers["Location"] = f"/v1/sessions/{record['session_id']}"
    return json_response(public_view(record), status_code, headers)


def versioned_response(body: dict[str, Any]) -> Response:
    """A versioned document (a state document) with its ETag."""
    return json_response(body, headers={"ETag": f'"{body["version"]}"'})


def parse_if_match(header: str | None) -> int | None:
    """The version an If-Match names; None when absent or '*'. Unparseable never matches (-1)."""
    if header is None or header.strip() == "*":
        return None
    tag = header.strip().removeprefix("W/").strip('"')
    return int(tag) if tag.isascii() and tag.isdigit() and len(tag) <= 18 else -1


# --- the resolver factory ----------------------------------------------------------------------


def _domain_problem(exc: errors.SessionError) -> Response:
    status, code, title = next(PROBLEMS[cls] for cls in type(exc).__mro__ if cls in PROBLEMS)
    return problem(status, code, title, exc.detail, **exc.extra)


# Tags of a body that takes one of several shapes (models.AppendEventBody): pydantic puts the tag
# in the location, right after "body"; a client only knows the fields it sent.
_BODY_SHAPE_TAGS = frozenset({"event", "batch"})


def _location(loc: tuple[Any, ...]) -> list[Any]:
    if len(loc) > 1 and loc[0] == "body":
        loc = loc[2:] if loc[1] in _BODY_SHAPE_TAGS else loc[1:]
    return list(loc) or ["body"]


def _validation_problem(
    exc: RequestValidationError, unknown: list[str] | None = None, declared: list[str] | None = None
) -> Response:
    issues = [
        {"loc": _location(tuple(error.get("loc", ()))), "msg": error.get("msg", "invalid")} for error in exc.errors()
    ]
    if any(error.get("type") == "payload_too_large" for error in exc.errors()):
        return problem(413, "payload_too_large", "Payload too large", "a field is over its size limit", errors=issues)
    detail = "the request does not match the schema"
    if unknown:
        detail = f"{detail}; {_unknown_query_detail(unknown, declared)}"
        issues += [{"loc": ["query", name], "msg": UNKNOWN_QUERY_MSG} for name in unknown]
    return problem(422, "validation_error", "Validation error", detail, errors=issues)


# --- unknown query parameters ------------------------------------------------------------------
# Unknown body fields are 422 (the models forbid extras); an unknown query parameter is too, on every
# route: `?order_by=…` answered as if no sort was asked for would make a client believe it was applied.
# Powertools validates only the parameters a handler declares, so the names the request carries are
# compared here with the matched route's declared ones. Repeated and empty-valued parameters count.

UNKNOWN_QUERY_MSG = "unknown query parameter"


def _query_names(event: dict[str, Any]) -> list[str]:
    """Every query parameter name the request carries, in order, once each (percent-decoded)."""
    names = [name for name, _ in parse_qsl(event.get("rawQueryString") or "", keep_blank_values=True)]
    names += list(event.get("queryStringParameters") or {})  # an event without rawQueryString (a direct invoke)
    return list(dict.fromkeys(names))


def _unknown_query(app: APIGatewayHttpResolver) -> tuple[list[str], list[str]]:
    """(the request's undeclared query parameters, the route's declared ones); nothing off a route.

    A path no route matches runs Powertools' own stand-in route: its answer stays 404 route_not_found.
    """
    route = app.context.get("_route")
    if route is None or not any(route is ours for ours in (*app._static_routes, *app._dynamic_routes)):
        return [], []
    declared = [field.alias for field in route.dependant.query_params]
    return [name for name in _query_names(app.current_event.raw_event) if name not in declared], declared


def _unknown_query_detail(unknown: list[str], declared: list[str] | None = None) -> str:
    listed = ", ".join(repr(name) for name in unknown)
    text = f"unknown query parameter{'s' if len(unknown) > 1 else ''} {listed}"
    if declared is not None:
        text += f" (this route takes {', '.join(declared)})" if declared else " (this route takes none)"
    return text


def _refuse_unknown_query(app: APIGatewayHttpResolver, next_middleware: Callable[..., Any]) -> Any:
    """Runs after Powertools validated the declared parameters and body, before the handler: nothing is written."""
    unknown, declared = _unknown_query(app)
    if unknown:
        issues = [{"loc": ["query", name], "msg": UNKNOWN_QUERY_MSG} for name in unknown]
        detail = _unknown_query_detail(unknown, declared)
        return problem(422, "validation_error", "Validation error", detail, errors=issues)
    return next_middleware(app)


def _route_not_found(_: NotFoundError) -> Response:
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


def _unexpected(exc: Exception) -> Response:
    aws_code = ((getattr(exc, "response", None) or {}).get("Error") or {}).get("Code")
    if aws_code in TRANSIENT_AWS_ERRORS:
        logger.warning("AWS is throttling or briefly unavailable", extra={"aws_error": aws_code})
        response = problem(503, "service_unavailable", "Service unavailable", "the service is busy; retry shortly")
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return response
    logger.exception("unexpected failure")  # the correlation id is on every log line
    return problem(500, "internal_error", "Internal error", "the request failed")


def create_app(*, resources: tuple[ResourceName, ...] = ()) -> APIGatewayHttpResolver:
    """The function's resolver, built at INIT with its settings: a missing or bad variable fails the cold start.

    `resources`: what the function uses beyond the sessions table (its template.yaml Environment gives them).
    """
    get_settings().require(*resources)
    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=parse_json_body)
    app.exception_handler(errors.SessionError)(_domain_problem)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        # a request refused for its declared parameters or body names its unknown query parameters too
        return _validation_problem(exc, *_unknown_query(app))

    app.use(middlewares=[_refuse_unknown_query])
    app.not_found(_route_not_found)
    app.exception_handler(Exception)(_unexpected)
    return app


def lambda_entry(
    app: APIGatewayHttpResolver, *, body_max_bytes: int = BODY_MAX_BYTES
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The function's handler: body checks, then the resolver, with request-scoped logging.

    `body_max_bytes`: the largest body its routes take (LARGE_BODY_MAX_BYTES where events up to 5 MiB come in).
    """

    @metrics.log_metrics(capture_cold_start_metric=True)
    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        early = _refuse_anonymous(event) or _prepare_body(event, body_max_bytes)
        if early is not None:
            return _as_proxy(early)
        with time_budget(context.get_remaining_time_in_millis()):
            return app.resolve(event, context)

    return lambda_handler


def _refuse_anonymous(event: dict[str, Any]) -> Response | None:
    # no caller is refused before the body is looked at, as API Gateway's authorizer does deployed
    if not (event.get("requestContext") or {}).get("http"):
        return None  # not an HTTP API request at all: the resolver refuses it
    try:
        identity_of(event)
    except errors.Unauthenticated as exc:
        return _domain_problem(exc)
    return None


def _as_proxy(response: Response) -> dict[str, Any]:
    return {
        "statusCode": response.status_code,
        "headers": {"Content-Type": response.headers.get("Content-Type", PROBLEM_JSON)},
        "body": response.body,
        "isBase64Encoded": False,
    }
