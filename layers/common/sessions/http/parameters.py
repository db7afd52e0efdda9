"""What a request carries besides its identity: a strict JSON body, query parameters, If-Match, Idempotency-Key."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import parse_qsl

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Header, Path

from sessions.core import errors
from sessions.domain.limits import INTEGER_DIGITS_MAX
from sessions.domain.models import ID_PATTERN
from sessions.http.idempotency import KEY_PATTERN
from sessions.http.problems import UNKNOWN_QUERY_MSG, problem, unknown_query_detail

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


def repeated_query(app: APIGatewayHttpResolver, name: str) -> list[str]:
    """Every value of a repeated query parameter as sent: API Gateway joins them with commas, values may hold one."""
    raw = app.current_event.raw_event.get("rawQueryString")
    if raw is None:  # a direct invoke without the raw query string: its (comma-joined) values
        joined = (app.current_event.raw_event.get("queryStringParameters") or {}).get(name)
        return [] if joined is None else [joined]
    return [value for key, value in parse_qsl(raw, keep_blank_values=True) if key == name]


def parse_if_match(header: str | None) -> int | None:
    """The version an If-Match names; None when absent or '*'. Unparseable never matches (-1)."""
    if header is None or header.strip() == "*":
        return None
    tag = header.strip().removeprefix("W/").strip('"')
    return int(tag) if tag.isascii() and tag.isdigit() and len(tag) <= 18 else -1


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


# --- unknown query parameters ------------------------------------------------------------------
# Unknown body fields are 422 (the models forbid extras); an unknown query parameter is too, on every
# route: `?order_by=…` answered as if no sort was asked for would make a client believe it was applied.
# Powertools validates only the parameters a handler declares, so the names the request carries are
# compared here with the matched route's declared ones. Repeated and empty-valued parameters count.


def _query_names(event: dict[str, Any]) -> list[str]:
    """Every query parameter name the request carries, in order, once each (percent-decoded)."""
    names = [name for name, _ in parse_qsl(event.get("rawQueryString") or "", keep_blank_values=True)]
    names += list(event.get("queryStringParameters") or {})  # an event without rawQueryString (a direct invoke)
    return list(dict.fromkeys(names))


def unknown_query(app: APIGatewayHttpResolver) -> tuple[list[str], list[str]]:
    """(the request's undeclared query parameters, the route's declared ones); nothing off a route.

    A path no route matches runs Powertools' own stand-in route: its answer stays 404 route_not_found.
    """
    route = app.context.get("_route")
    if route is None or not any(route is ours for ours in (*app._static_routes, *app._dynamic_routes)):
        return [], []
    declared = [field.alias for field in route.dependant.query_params]
    return [name for name in _query_names(app.current_event.raw_event) if name not in declared], declared


def refuse_unknown_query(app: APIGatewayHttpResolver, next_middleware: Callable[..., Any]) -> Any:
    """Runs after Powertools validated the declared parameters and body, before the handler: nothing is written."""
    unknown, declared = unknown_query(app)
    if unknown:
        issues = [{"loc": ["query", name], "msg": UNKNOWN_QUERY_MSG} for name in unknown]
        detail = unknown_query_detail(unknown, declared)
        return problem(422, "validation_error", "Validation error", detail, errors=issues)
    return next_middleware(app)
