"""GET /v1/sessions/{session_id}: read one session."""

from sessions import service
from sessions.api import ActingFor, caller, create_app, lambda_entry, session_response
from sessions.models import Problem, Session

app = create_app()


@app.get(
    "/v1/sessions/<session_id>",
    summary="Read a session",
    responses={
        200: {"description": "The session", "content": {"application/json": {"model": Session}}},
        403: {
            "description": "forbidden (user_id names another user)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        404: {"description": "session_not_found", "content": {"application/problem+json": {"model": Problem}}},
    },
)
def get_session(session_id: str, user_id: ActingFor = None):
    return session_response(service.get_session(caller(app), session_id))


lambda_handler = lambda_entry(app)
