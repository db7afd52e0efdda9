"""POST /v1/sessions/{session_id}/events: append a turn or event to a session's history."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Header

from sessions import conversation
from sessions.api import ActingFor, caller, create_app, json_response, lambda_entry
from sessions.idempotency import KEY_PATTERN, idempotent
from sessions.large_events import pack_append_response, unpack_append_response
from sessions.limits import LARGE_BODY_MAX_BYTES
from sessions.models import AppendEventRequest, Event, Problem

app = create_app()


@app.post(
    "/v1/sessions/<session_id>/events",
    summary="Append an event",
    responses={
        201: {"description": "The stored event", "content": {"application/json": {"model": Event}}},
        403: {
            "description": "forbidden (user_id names another user; state_patch.app without role service or admin)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        404: {"description": "session_not_found", "content": {"application/problem+json": {"model": Problem}}},
        409: {
            "description": "session_closed, token_budget_exceeded, history_full, idempotency_key_reused, "
            "session_has_no_app (state_patch)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        413: {
            "description": "payload_too_large (body over 6,000,000 bytes, content and payload over 5 MiB)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        422: {"description": "validation_error", "content": {"application/problem+json": {"model": Problem}}},
    },
)
def append_event(
    session_id: str,
    request: Annotated[AppendEventRequest, Body()],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="idempotency-key",
            pattern=KEY_PATTERN,
            description="Retries within an hour replay the first response; 1-255 visible ASCII characters",
        ),
    ] = None,
    user_id: ActingFor = None,
):
    identity = caller(app)
    return idempotent(
        idempotency_key,
        scope=("append", session_id),
        identity=identity,
        body=app.current_event.json_body,
        lambda_context=app.lambda_context,
        operation=lambda: json_response(conversation.append_event(identity, session_id, request), 201),
        stored_form=(pack_append_response, unpack_append_response),  # records stay small with 5 MiB events
    )


lambda_handler = lambda_entry(app, body_max_bytes=LARGE_BODY_MAX_BYTES)
