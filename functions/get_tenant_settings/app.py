"""GET /v1/tenant/settings: the caller's tenant's session TTL bounds and history retention."""

from sessions.domain.tenant_settings import TenantSettings
from sessions.http.app import create_app, lambda_entry, versioned_response
from sessions.http.identity import token_caller
from sessions.usecases import tenant_settings

app = create_app()


@app.get(
    "/v1/tenant/settings",
    summary="The tenant's settings",
    responses={
        200: {
            "description": "The settings in effect (the stack's where the tenant set none); ETag is their version",
            "content": {"application/json": {"model": TenantSettings}},
        },
    },
)
def get_tenant_settings():
    return versioned_response(tenant_settings.get_tenant_settings(token_caller(app)))


lambda_handler = lambda_entry(app)
