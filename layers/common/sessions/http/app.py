"""The HTTP side shared by every endpoint: the resolver factory, the Lambda entry and JSON responses.

Every function builds its resolver with create_app() and exports lambda_entry(app), so all
endpoints parse, authenticate, log and fail the same way, and all read their settings at INIT.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths

from sessions.core import errors
from sessions.core.retrying import time_budget
from sessions.core.settings import ResourceName, get_settings
from sessions.domain.limits import BODY_MAX_BYTES
from sessions.domain.records import SessionRecord, StateView
from sessions.http.identity import identity_of
from sessions.http.parameters import parse_json_body, refuse_unknown_query, unknown_query
from sessions.http.problems import (
    PROBLEM_JSON,
    domain_problem,
    problem,
    route_not_found,
    unexpected,
    validation_problem,
)
from sessions.usecases.access import public_view

logger = Logger()
metrics = Metrics()  # EMF; the cold-start metric, dimensioned by function

MERGE_PATCH_JSON = "application/merge-patch+json"
JSON_MEDIA_TYPES = frozenset({"", "application/json", MERGE_PATCH_JSON})


def json_response(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response[str]:
    # compact and UTF-8 unescaped: what large_events sizes a response by (Lambda's 6 MB counts these bytes)
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(status_code=status_code, content_type="application/json", body=text, headers=headers)


def session_response(record: SessionRecord, status_code: int = 200, *, location: bool = False) -> Response[str]:
    headers = {"ETag": f'"{record["version"]}"'}
    if location:
        headers["Location"] = f"/v1/sessions/{record['session_id']}"
    return json_response(public_view(record), status_code, headers)


def versioned_response(body: StateView | dict[str, Any]) -> Response[str]:
    """A versioned document (a state document, a session with its state documents) with its ETag."""
    return json_response(body, headers={"ETag": f'"{body["version"]}"'})


def _prepare_body(event: dict[str, Any], max_bytes: int = BODY_MAX_BYTES) -> Response[str] | None:
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


# --- the resolver factory ----------------------------------------------------------------------


def create_app(*, resources: tuple[ResourceName, ...] = ()) -> APIGatewayHttpResolver:
    """The function's resolver, built at INIT with its settings: a missing or bad variable fails the cold start.

    `resources`: what the function uses beyond the sessions table (its template.yaml Environment gives them).
    """
    get_settings().require(*resources)
    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=parse_json_body)
    app.exception_handler(errors.SessionError)(domain_problem)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response[str]:
        # a request refused for its declared parameters or body names its unknown query parameters too
        return validation_problem(exc, *unknown_query(app))

    app.use(middlewares=[refuse_unknown_query])
    app.not_found(route_not_found)
    app.exception_handler(Exception)(unexpected)
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

    handler: Callable[[dict[str, Any], Any], dict[str, Any]] = lambda_handler  # as decorated: Powertools' are untyped
    return handler


def _refuse_anonymous(event: dict[str, Any]) -> Response[str] | None:
    # no caller is refused before the body is looked at, as API Gateway's authorizer does deployed
    if not (event.get("requestContext") or {}).get("http"):
        return None  # not an HTTP API request at all: the resolver refuses it
    try:
        identity_of(event)
    except errors.Unauthenticated as exc:
        return domain_problem(exc)
    return None


def _as_proxy(response: Response[str]) -> dict[str, Any]:
    return {
        "statusCode": response.status_code,
        "headers": {"Content-Type": response.headers.get("Content-Type", PROBLEM_JSON)},
        "body": response.body,
        "isBase64Encoded": False,
    }
