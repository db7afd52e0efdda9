"""GET /v1/sessions/{session_id}: read one session (with `include=state`, its app's and user's state documents)."""

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query

from sessions.domain.models import Problem, SessionWithState
from sessions.http.app import create_app, lambda_entry, session_response, versioned_response
from sessions.http.identity import ActingFor, caller
from sessions.usecases import access
from sessions.usecases.access import public_view

app = create_app()


@app.get(
    "/v1/sessions/<session_id>",
    summary="Read a session",
    responses={
        200: {
            "description": "The session (with include=state, its state documents too)",
            "content": {"application/json": {"model": SessionWithState}},
        },
        403: {
            "description": "forbidden (user_id names another user)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        404: {"description": "session_not_found", "content": {"application/problem+json": {"model": Problem}}},
        422: {"description": "validation_error", "content": {"application/problem+json": {"model": Problem}}},
    },
)
def get_session(
    session_id: str,
    include: Annotated[
        Literal["state"] | None,
        Query(
            description="state: the answer adds `state`, the state documents of the session's app and of its user "
            "in that app, read with the session (null without an app_name)"
        ),
    ] = None,
    user_id: ActingFor = None,
):
    identity = caller(app)
    if include != "state":
        return session_response(access.get_session(identity, session_id))
    # imported here: a plain read (the common one) does not load the state documents' module at cold start
    from sessions.usecases.state import session_with_state  # noqa: PLC0415

    record, states = session_with_state(identity, session_id)
    return versioned_response({**public_view(record), "state": states})


lambda_handler = lambda_entry(app)
