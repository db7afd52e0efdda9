"""GET /v1/sessions/{session_id}/events/{seq}: one event of a session's history, payload included."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path

from sessions.domain.models import SEQ_MAX, Event, Problem
from sessions.http.app import create_app, json_response, lambda_entry
from sessions.http.identity import ActingFor, caller
from sessions.usecases import event_edits

app = create_app(resources=("event_blobs_bucket",))


@app.get(
    "/v1/sessions/<session_id>/events/<seq>",
    summary="Read one event",
    description="The event with this seq, payload included. The ETag is the session's version.",
    responses={
        200: {"description": "The event", "content": {"application/json": {"model": Event}}},
        403: {
            "description": "forbidden (user_id names another user)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        404: {
            "description": "session_not_found, event_not_found",
            "content": {"application/problem+json": {"model": Problem}},
        },
        422: {"description": "validation_error", "content": {"application/problem+json": {"model": Problem}}},
    },
)
def get_event(session_id: str, seq: Annotated[int, Path(ge=1, le=SEQ_MAX)], user_id: ActingFor = None):
    event, session = event_edits.get_event(caller(app), session_id, seq)
    return json_response(event, headers={"ETag": f'"{session["version"]}"'})


lambda_handler = lambda_entry(app)
