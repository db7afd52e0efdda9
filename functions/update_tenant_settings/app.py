"""PATCH /v1/tenant/settings: an admin changes the tenant's session TTL bounds and history retention."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Header

from sessions.domain.models import Problem
from sessions.domain.tenant_settings import TenantSettings, UpdateTenantSettingsRequest
from sessions.http.app import create_app, lambda_entry, versioned_response
from sessions.http.identity import token_caller
from sessions.http.parameters import parse_if_match
from sessions.usecases import tenant_settings

app = create_app()
UpdateTenantSettingsRequest.model_rebuild()  # every request validates it: built at INIT


@app.patch(
    "/v1/tenant/settings",
    summary="Change the tenant's settings (JSON merge patch)",
    responses={
        200: {
            "description": "The settings in effect after the change",
            "content": {"application/json": {"model": TenantSettings}},
        },
        403: {
            "description": "forbidden (without role admin)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        412: {"description": "version_mismatch", "content": {"application/problem+json": {"model": Problem}}},
        422: {"description": "validation_error", "content": {"application/problem+json": {"model": Problem}}},
    },
)
def update_tenant_settings(
    patch: Annotated[UpdateTenantSettingsRequest, Body()],
    if_match: Annotated[str | None, Header(alias="if-match", description='"<version>" from the ETag')] = None,
):
    updated = tenant_settings.update_tenant_settings(token_caller(app), patch, parse_if_match(if_match))
    return versioned_response(updated)


lambda_handler = lambda_entry(app)
