"""PATCH /v1/sessions/{session_id}: change a session with a JSON merge patch."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Header

import sessions.domain.patching  # noqa: F401 - plans every patch (sessions.usecases.session_writes imports it on use)
from sessions.domain.models import Problem, Session, UpdateSessionRequest
from sessions.http.app import create_app, lambda_entry, session_response
from sessions.http.identity import ActingFor, caller
from sessions.http.parameters import parse_if_match
from sessions.usecases import session_writes

app = create_app()
# every request validates this body: its model is built at INIT (request models build on first use otherwise)
UpdateSessionRequest.model_rebuild()


@app.patch(
    "/v1/sessions/<session_id>",
    summary="Change a session (JSON merge patch)",
    responses={
        200: {"description": "The changed session", "content": {"application/json": {"model": Session}}},
        403: {
            "description": "forbidden (user_id names another user)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        404: {"description": "session_not_found", "content": {"application/problem+json": {"model": Problem}}},
        409: {
            "description": "invalid_transition or session_closed",
            "content": {"application/problem+json": {"model": Problem}},
        },
        412: {"description": "version_mismatch", "content": {"application/problem+json": {"model": Problem}}},
        413: {"description": "payload_too_large", "content": {"application/problem+json": {"model": Problem}}},
        422: {
            "description": "validation_error, or ttl_above_tenant_max (ttl_seconds above the tenant's "
            "max_session_ttl_seconds)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        429: {"description": "session_limit_reached", "content": {"application/problem+json": {"model": Problem}}},
    },
)
def update_session(
    session_id: str,
    patch: Annotated[UpdateSessionRequest, Body()],
    if_match: Annotated[str | None, Header(alias="if-match", description='"<version>" from the ETag')] = None,
    user_id: ActingFor = None,
):
    updated = session_writes.update_session(caller(app), session_id, patch, parse_if_match(if_match))
    return session_response(updated)


lambda_handler = lambda_entry(app)
