"""POST /v1/sessions/{session_id}/events: append one event, or a batch of them, to a session's history."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Header

# every append plans with these and applies its state_patch and state_set (sessions.usecases.events imports them on use)
import sessions.domain.appending
import sessions.usecases.state  # noqa: F401
from sessions.domain.limits import LARGE_BODY_MAX_BYTES
from sessions.domain.models import AppendEventBody, AppendEventRequest, AppendEventsRequest, Event, EventBatch, Problem
from sessions.http.app import create_app, json_response, lambda_entry
from sessions.http.idempotency import idempotent
from sessions.http.identity import ActingFor, caller
from sessions.http.parameters import IdempotencyKey, parse_if_match
from sessions.usecases.events import append_events
from sessions.usecases.large_events import event_view, fit_echo, pack_append_response, unpack_append_response

app = create_app(resources=("idempotency_table_name", "event_blobs_bucket"))
# every request validates this body: its model is built at INIT (request models build on first use otherwise)
AppendEventRequest.model_rebuild()
AppendEventsRequest.model_rebuild()


@app.post(
    "/v1/sessions/<session_id>/events",
    summary="Append an event, or a batch of events",
    description='The body is one event, or `{"events": [...]}` with 1 to 20 events appended in order, '
    "all or nothing. The ETag of the answer is the session's new version.",
    responses={
        201: {
            "description": 'The stored event (one event sent), or `{"events": [...]}` (a batch)',
            "content": {"application/json": {"model": Event | EventBatch}},
        },
        403: {
            "description": "forbidden (user_id names another user; state_patch.app or state_set.app without "
            "role service or admin)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        404: {"description": "session_not_found", "content": {"application/problem+json": {"model": Problem}}},
        409: {
            "description": "session_closed, token_budget_exceeded, history_full, idempotency_key_reused, "
            "session_has_no_app (state_patch, state_set), rewind_too_large (replace_from_seq)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        412: {"description": "version_mismatch", "content": {"application/problem+json": {"model": Problem}}},
        413: {
            "description": "payload_too_large (body over 6,000,000 bytes, content and payload over 5 MiB)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        422: {"description": "validation_error", "content": {"application/problem+json": {"model": Problem}}},
    },
)
def append_event(
    session_id: str,
    request: Annotated[AppendEventBody, Body()],
    idempotency_key: IdempotencyKey = None,
    if_match: Annotated[
        str | None, Header(alias="if-match", description='"<version>" from the ETag: append only to that version')
    ] = None,
    user_id: ActingFor = None,
):
    identity = caller(app)
    batch = isinstance(request, AppendEventsRequest)
    requests = request.events if isinstance(request, AppendEventsRequest) else [request]
    expected = parse_if_match(if_match)
    replace_from_seq = request.replace_from_seq if isinstance(request, AppendEventsRequest) else None

    def append():
        events, session = append_events(
            identity, session_id, requests, if_match=expected, replace_from_seq=replace_from_seq
        )
        views = fit_echo([event_view(event) for event in events])  # within Lambda's response limit
        body = {"events": views} if batch else views[0]
        return json_response(body, 201, {"ETag": f'"{session["version"]}"'})

    return idempotent(
        idempotency_key,
        scope=("append", session_id),
        identity=identity,
        body=app.current_event.json_body,
        lambda_context=app.lambda_context,
        operation=append,
        stored_form=(pack_append_response, unpack_append_response),  # records stay small with 5 MiB events
    )


lambda_handler = lambda_entry(app, body_max_bytes=LARGE_BODY_MAX_BYTES)
