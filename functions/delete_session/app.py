"""DELETE /v1/sessions/{session_id}: delete a session; idempotent."""

from aws_lambda_powertools.event_handler import Response

from sessions.domain.models import Problem
from sessions.http.app import create_app, lambda_entry
from sessions.http.identity import ActingFor, caller
from sessions.usecases import session_writes

app = create_app()


@app.delete(
    "/v1/sessions/<session_id>",
    summary="Delete a session",
    responses={
        204: {"description": "Deleted, or there was nothing to delete"},
        403: {
            "description": "forbidden (user_id names another user)",
            "content": {"application/problem+json": {"model": Problem}},
        },
    },
)
def delete_session(session_id: str, user_id: ActingFor = None):
    session_writes.delete_session(caller(app), session_id)
    return Response(status_code=204)


lambda_handler = lambda_entry(app)
