"""POST /v1/sessions: create a session (or return the caller's own session under a supplied id)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Header

import sessions.domain.appending  # noqa: F401 - plans every create (sessions.usecases.session_writes imports it on use)
from sessions.core.errors import VersionMismatch
from sessions.domain.models import CreateSessionRequest, Problem, Session
from sessions.http.app import create_app, lambda_entry, session_response
from sessions.http.content_free_records import pack_create_response, unpack_create_response
from sessions.http.idempotency import idempotent
from sessions.http.identity import ActingFor, caller
from sessions.http.parameters import IdempotencyKey
from sessions.usecases import session_writes

app = create_app(resources=("idempotency_table_name",))
# every request validates this body: its model is built at INIT (request models build on first use otherwise)
CreateSessionRequest.model_rebuild()


@app.post(
    "/v1/sessions",
    summary="Create a session",
    responses={
        201: {"description": "Created", "content": {"application/json": {"model": Session}}},
        200: {
            "description": "The caller already holds this session_id",
            "content": {"application/json": {"model": Session}},
        },
        403: {
            "description": "forbidden (user_id names another user, without role service; state_patch.app or "
            "state_set.app without role service or admin)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        409: {
            "description": "session_id_taken, token_budget_exceeded (initial events), idempotency_key_reused, "
            "session_has_no_app (state_patch or state_set without app_name)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        412: {
            "description": "version_mismatch: If-None-Match: * and the caller already holds this session_id",
            "content": {"application/problem+json": {"model": Problem}},
        },
        413: {"description": "payload_too_large", "content": {"application/problem+json": {"model": Problem}}},
        422: {
            "description": "validation_error, or ttl_above_tenant_max (ttl_seconds above the tenant's "
            "max_session_ttl_seconds)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        429: {"description": "session_limit_reached", "content": {"application/problem+json": {"model": Problem}}},
    },
)
def create_session(
    request: Annotated[CreateSessionRequest, Body()],
    idempotency_key: IdempotencyKey = None,
    user_id: ActingFor = None,  # taken as well as the body's user_id (they must agree); caller() reads it
    if_none_match: Annotated[
        str | None,
        Header(
            alias="if-none-match", pattern=r"^ *\* *$", description='"*": create only, never answer an existing session'
        ),
    ] = None,
):
    identity = caller(app, request.user_id)  # the body names the user (role service)
    only_new = if_none_match is not None  # the only value it takes is "*"

    def create():
        session, created = session_writes.create_session(identity, request)
        if not created and only_new:
            # HTTP's conditional create (as S3's PutObject takes it): the id is held, nothing was written
            raise VersionMismatch(session["version"], f"session {session['session_id']!r} already exists")
        return session_response(session, 201 if created else 200, location=created)

    body = app.current_event.json_body
    return idempotent(
        idempotency_key,
        scope=("create",),
        identity=identity,
        body=body,
        lambda_context=app.lambda_context,
        operation=create,
        # the record keeps no content and no user id: an erasure cannot find it by the user (its TTL is 1 h)
        stored_form=(
            lambda answer: pack_create_response(answer, body),
            lambda stored, request_body: unpack_create_response(stored, request_body, identity.user_id),
        ),
    )


lambda_handler = lambda_entry(app)
