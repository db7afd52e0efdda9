"""POST /v1/sessions/{session_id}/fork: a new session whose history is the parent's up to a seq, then its own."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body

from sessions.domain.lineage import SOURCES_MAX
from sessions.domain.models import ForkSessionRequest, Problem, Session
from sessions.http.app import create_app, lambda_entry, session_response
from sessions.http.idempotency import idempotent
from sessions.http.identity import ActingFor, caller
from sessions.http.parameters import IdempotencyKey
from sessions.usecases import forks

app = create_app(resources=("idempotency_table_name",))
# every request validates this body: its model is built at INIT (request models build on first use otherwise)
ForkSessionRequest.model_rebuild()


@app.post(
    "/v1/sessions/<session_id>/fork",
    summary="Fork a session",
    description="Creates a session whose history is the parent's up to at_seq (default: the parent's highest seq) "
    "plus its own appends after it: the parent's events are read where they are, not copied, so a fork costs the "
    "same few writes whatever the parent's length. The new session's seqs continue at at_seq + 1. It is a create "
    "in every other way (open-session cap, Idempotency-Key, stats, session.created carrying forked_from). Its "
    "context is the body's when given (the state at an earlier fork point), else the parent's as it is now. Whoever "
    "may append to the parent may fork it. Nothing the parent does later (rewind, redaction, delete, expiry, "
    f"cleanup) changes what the fork reads. A fork reads from at most {SOURCES_MAX} sessions (its ancestors).",
    responses={
        201: {"description": "Created", "content": {"application/json": {"model": Session}}},
        403: {
            "description": "forbidden (user_id names another user, without role service)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        404: {"description": "session_not_found", "content": {"application/problem+json": {"model": Problem}}},
        409: {
            "description": "session_id_taken, fork_lineage_too_long, idempotency_key_reused, "
            "idempotency_key_in_progress",
            "content": {"application/problem+json": {"model": Problem}},
        },
        412: {
            "description": "version_mismatch: the parent kept changing past the retries",
            "content": {"application/problem+json": {"model": Problem}},
        },
        422: {
            "description": "validation_error, or ttl_above_tenant_max (ttl_seconds above the tenant's "
            "max_session_ttl_seconds)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        429: {"description": "session_limit_reached", "content": {"application/problem+json": {"model": Problem}}},
    },
)
def fork_session(
    session_id: str,
    request: Annotated[ForkSessionRequest, Body()],
    idempotency_key: IdempotencyKey = None,
    user_id: ActingFor = None,
):
    identity = caller(app)
    return idempotent(
        idempotency_key,
        scope=("fork", session_id),
        identity=identity,
        body=app.current_event.json_body,
        lambda_context=app.lambda_context,
        operation=lambda: session_response(forks.fork_session(identity, session_id, request), 201, location=True),
    )


lambda_handler = lambda_entry(app)
