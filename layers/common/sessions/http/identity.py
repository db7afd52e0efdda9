"""The caller: identity from the JWT claims API Gateway's authorizer checked, and the user a request acts for."""

from __future__ import annotations

import re
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Query

from sessions.core import errors
from sessions.core.settings import get_settings
from sessions.domain.identity import Identity, acting_for

logger = Logger(child=True)


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


def caller(app: APIGatewayHttpResolver, user_id: str | None = None) -> Identity:
    """The identity a request acts as: the token's caller, acting for the user the request names.

    The user is named by the `user_id` query parameter (create: the body's `user_id`, passed in).
    A `service` caller acts for any user of its tenant; an admin may name another user to read
    (GET), never to write; anyone else may name only themselves (sessions.domain.identity.acting_for).
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
