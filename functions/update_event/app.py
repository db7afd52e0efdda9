"""PATCH /v1/sessions/{session_id}/events/{seq}: redact or amend one event with a JSON merge patch."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path

from sessions.domain.limits import LARGE_BODY_MAX_BYTES
from sessions.domain.models import SEQ_MAX, Event, Problem, UpdateEventRequest
from sessions.http.app import create_app, json_response, lambda_entry
from sessions.http.identity import ActingFor, caller
from sessions.http.parameters import parse_if_match
from sessions.usecases import event_edits

app = create_app(resources=("event_blobs_bucket",))
# every request validates this body: its model is built at INIT (request models build on first use otherwise)
UpdateEventRequest.model_rebuild()


@app.patch(
    "/v1/sessions/<session_id>/events/<seq>",
    summary="Change one event (JSON merge patch over content, payload, metadata)",
    description="Allowed on completed sessions too, so that redaction is always possible. The session's "
    "version grows by one; the ETag of the answer is the new version. Usage cannot change.",
    responses={
        200: {"description": "The changed event", "content": {"application/json": {"model": Event}}},
        403: {
            "description": "forbidden (user_id names another user)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        404: {
            "description": "session_not_found, event_not_found",
            "content": {"application/problem+json": {"model": Problem}},
        },
        412: {"description": "version_mismatch", "content": {"application/problem+json": {"model": Problem}}},
        413: {
            "description": "payload_too_large (body over 6,000,000 bytes, content and payload over 5 MiB once patched)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        422: {"description": "validation_error", "content": {"application/problem+json": {"model": Problem}}},
    },
)
def update_event(
    session_id: str,
    seq: Annotated[int, Path(ge=1, le=SEQ_MAX)],
    patch: Annotated[UpdateEventRequest, Body()],
    if_match: Annotated[str | None, Header(alias="if-match", description='"<version>" of the session')] = None,
    user_id: ActingFor = None,
):
    event, session = event_edits.update_event(caller(app), session_id, seq, patch, parse_if_match(if_match))
    return json_response(event, headers={"ETag": f'"{session["version"]}"'})


lambda_handler = lambda_entry(app, body_max_bytes=LARGE_BODY_MAX_BYTES)
